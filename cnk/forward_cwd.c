/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The forwarded working directory, and the process-wide state the runtime
 * tracks beside the kernel (umask, exit).  A forwarded cwd is a compute path
 * kept here; the process's real cwd is left where it was, and relative paths
 * are joined to the forwarded one before they travel.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdatomic.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>

#include "fdtable.h"
#include "forward.h"
#include "policy.h"
#include "raw_syscall.h"
#include "runtime.h"
#include "session.h"

static atomic_uint process_umask = 022;

void cnk_umask_init(void)
{
	/* Called from the constructor, before any thread exists. */
	long old = cnk_raw_syscall(SYS_umask, 0, 0, 0);

	cnk_raw_syscall(SYS_umask, old, 0, 0);
	atomic_store(&process_umask, (unsigned)old & 0777);
}

unsigned cnk_apply_umask(unsigned mode)
{
	return mode & ~atomic_load(&process_umask) & 07777;
}

long cnk_fwd_umask(long nr, const long *a)
{
	long old = cnk_native(nr, a);

	atomic_store(&process_umask, (unsigned)a[0] & 0777);
	return old;
}

long cnk_fwd_exit_group(long nr, const long *a)
{
	cnk_dispatch_exit();
	return cnk_native(nr, a);
}

/* Is the remote path (or handle) a directory?  0, -ENOTDIR or -errno. */
static long remote_is_dir(int64_t dh, const char *path)
{
	uint8_t wire[FERRY_WIRE_STATX_SIZE];
	struct ferry_msg m;
	struct statx stx;
	size_t len = 0;
	long ret;

	cnk_session_msg(&m, FERRY_OP_STATX);
	ferry_msg_add_arg(&m, dh);
	ferry_msg_add_arg(&m, path[0] ? 0 : AT_EMPTY_PATH);
	ferry_msg_add_arg(&m, STATX_TYPE | STATX_MODE);
	ferry_msg_add_path(&m, path);
	ret = cnk_session_call(&m, NULL, wire, sizeof(wire), &len, CNK_CALL_DEFAULT);
	if (ret < 0)
		return ret;
	if (ferry_statx_decode(wire, len, &stx) < 0)
		return -EIO;
	return S_ISDIR(stx.stx_mode) ? 0 : -ENOTDIR;
}

/* Make path (absolute, confirmed a directory) the forwarded cwd; if it
 * lexically leaves every mount, the cwd goes back to local. */
static long enter_directory(char *path)
{
	long ret;

	cnk_path_collapse_dotdot(path);
	if (cnk_mounts_match(cnk_policy_mounts(), path))
		return cnk_cwd_set(path);
	ret = cnk_raw_syscall(SYS_chdir, path, 0, 0);
	if (ret == 0)
		cnk_cwd_set(NULL);
	return ret;
}

/* chdir/fchdir to a local directory: the kernel does it, and the cwd is no
 * longer forwarded. */
static long native_chdir(long nr, const long *a)
{
	long ret = cnk_native(nr, a);

	if (ret == 0)
		cnk_cwd_set(NULL);
	return ret;
}

long cnk_fwd_chdir(long nr, const long *a)
{
	struct cnk_target t;
	long ret = cnk_policy_resolve(AT_FDCWD, (const char *)a[0], &t);

	if (ret < 0)
		return ret;
	if (ret == 0)
		return native_chdir(nr, a);
	ret = remote_is_dir(t.dh, t.path);
	if (ret == 0)
		ret = enter_directory(t.buf);
	cnk_target_release(&t);
	return ret;
}

long cnk_fwd_fchdir(long nr, const long *a)
{
	char path[FERRY_PATH_MAX];
	struct cnk_file *f = NULL;
	long ret = cnk_fd_acquire((int)a[0], &f);

	if (ret < 0)
		return ret;
	if (ret == 0)
		return native_chdir(nr, a);
	ret = -ENOENT;
	if (!f->path || strlen(f->path) >= sizeof(path))
		goto out;
	ret = f->is_dir ? 0 : remote_is_dir(f->handle, "");
	if (ret < 0)
		goto out;
	strcpy(path, f->path);
	ret = enter_directory(path);
out:
	cnk_file_put(f);
	return ret;
}

long cnk_fwd_getcwd(long nr, const long *a)
{
	char cwd[FERRY_PATH_MAX];
	size_t size = (size_t)a[1];
	long len = cnk_cwd_get(cwd, sizeof(cwd));

	if (len < 0)
		return cnk_native(nr, a);
	if ((size_t)len + 1 > size)
		return -ERANGE;
	if (!cnk_user_range_mapped((char *)a[0], (size_t)len + 1))
		return -EFAULT;
	memcpy((char *)a[0], cwd, (size_t)len + 1);
	return len + 1;
}

/* chdir/fchdir in a vfork child: the child's own cwd (cnk_cwd_vfork_set),
 * checked with the I/O node when forwarded; the parent's stays put. */
long cnk_vfork_chdir(long nr, const long *a)
{
	char path[FERRY_PATH_MAX];
	struct cnk_target t;
	long ret;

	if (nr == SYS_fchdir) {
		struct cnk_file *f = NULL;

		ret = cnk_fd_acquire((int)a[0], &f);
		if (ret < 0)
			return ret;
		if (ret == 0) {
			ret = cnk_native(nr, a);
			return ret == 0 ? cnk_cwd_vfork_set(NULL) : ret;
		}
		ret = -ENOENT;
		if (f->path && strlen(f->path) < sizeof(path)) {
			strcpy(path, f->path);
			ret = f->is_dir ? 0 : remote_is_dir(f->handle, "");
		}
		cnk_file_put(f);
	} else {
		ret = cnk_policy_resolve(AT_FDCWD, (const char *)a[0], &t);
		if (ret < 0)
			return ret;
		if (ret == 0) {
			ret = cnk_native(nr, a);
			return ret == 0 ? cnk_cwd_vfork_set(NULL) : ret;
		}
		ret = remote_is_dir(t.dh, t.path);
		strcpy(path, t.buf);
		cnk_target_release(&t);
	}
	if (ret < 0)
		return ret;
	cnk_path_collapse_dotdot(path);
	if (!cnk_mounts_match(cnk_policy_mounts(), path)) {
		ret = cnk_raw_syscall(SYS_chdir, (long)path, 0, 0);
		return ret == 0 ? cnk_cwd_vfork_set(NULL) : ret;
	}
	return cnk_cwd_vfork_set(path);
}
