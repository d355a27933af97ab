/* SPDX-License-Identifier: Apache-2.0 */
/*
 * execve / execveat.  A file of the I/O node cannot be executed here
 * (EACCES).  What the kernel does not carry into the new image, the runtime
 * passes in its environment, where the new image's runtime adopts (and
 * removes) it at start:
 *
 *   FERRY_CWD=/pfs/dir                the forwarded working directory
 *   FERRY_FD_<n>=<flags>:<offset>:<path>
 *                                     a forwarded descriptor without
 *                                     close-on-exec, reopened there by path
 *                                     at the offset it had at exec
 *
 * The reopened descriptor is a new open file on the I/O node: its offset is
 * no longer shared with descriptors other processes kept (the next issue
 * shares handles across processes).  A forwarded descriptor that cannot be
 * carried (a fork child's inherited one, or any in a vfork child) becomes an
 * O_PATH descriptor before exec, so the new program fails loudly (EBADF) on
 * it instead of reading and writing /dev/null.
 *
 * Before an exec that will probably succeed, the session is closed (see
 * cnk_session_before_exec).  This runs in vfork children too (posix_spawn),
 * which share the parent's memory: there nothing is allocated, and the new
 * environment lives in a private anonymous mapping that exec discards.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include <ferry/log.h>

#include "fdtable.h"
#include "forward.h"
#include "policy.h"
#include "raw_syscall.h"
#include "session.h"

#define CWD_VAR "FERRY_CWD="
#define FD_VAR "FERRY_FD_"
#define EXEC_MAX_CARRIED 256

static bool is_runtime_var(const char *entry)
{
	return !strncmp(entry, CWD_VAR, sizeof(CWD_VAR) - 1) ||
	       !strncmp(entry, FD_VAR, sizeof(FD_VAR) - 1);
}

/* envp without the runtime's variables, plus extra[0..nextra), in a fresh
 * mapping.  NULL when nothing changes, MAP_FAILED on error. */
static char **env_rebuild(char *const *envp, char *const *extra, size_t nextra, size_t *map_len)
{
	size_t n, i, o = 0, strings = 0, len;
	bool has_var = false;
	char **out, *p;
	long map;

	for (n = 0; envp && envp[n]; n++)
		has_var |= is_runtime_var(envp[n]);
	if (!nextra && !has_var)
		return NULL;
	for (i = 0; i < nextra; i++)
		strings += strlen(extra[i]) + 1;
	len = (n + nextra + 1) * sizeof(char *) + strings;
	map = cnk_raw_syscall6(SYS_mmap, 0, (long)len, PROT_READ | PROT_WRITE,
			       MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (map < 0 && map > -4096)
		return MAP_FAILED;
	out = (char **)map;
	p = (char *)(out + n + nextra + 1);
	for (i = 0; i < n; i++)
		if (!is_runtime_var(envp[i]))
			out[o++] = envp[i];
	for (i = 0; i < nextra; i++) {
		size_t l = strlen(extra[i]) + 1;

		memcpy(p, extra[i], l);
		out[o++] = p;
		p += l;
	}
	out[o] = NULL;
	*map_len = len;
	return out;
}

/* Is fd a /dev/null placeholder (and not, say, a pipe a vfork child put on
 * the number since)? */
static bool is_placeholder(int fd)
{
	struct stat st;

	return cnk_raw_syscall(SYS_fstat, fd, &st, 0) == 0 && S_ISCHR(st.st_mode) &&
	       st.st_rdev == makedev(1, 3);
}

/* Make a placeholder an O_PATH descriptor: reads and writes fail with
 * EBADF. */
static void make_unusable(int fd)
{
	long path_fd;

	if (!is_placeholder(fd))
		return;
	path_fd = cnk_raw_syscall6(SYS_openat, AT_FDCWD, (long)"/dev/null", O_PATH, 0, 0, 0);
	if (path_fd < 0)
		return;
	cnk_raw_syscall(SYS_dup3, path_fd, fd, 0);
	cnk_raw_syscall(SYS_close, path_fd, 0, 0);
}

static long remote_offset(const struct cnk_file *f)
{
	struct ferry_msg m;

	cnk_session_msg(&m, FERRY_OP_LSEEK);
	ferry_msg_add_arg(&m, f->handle);
	ferry_msg_add_arg(&m, 0);
	ferry_msg_add_arg(&m, SEEK_CUR);
	return cnk_session_call(&m, NULL, NULL, 0, NULL, CNK_CALL_DEFAULT);
}

/* The forwarded descriptors that survive exec: carried ones get an
 * environment entry (allocated; only when carry is set), the others are
 * made unusable.  Returns the number of entries. */
static size_t collect_surviving_fds(bool carry, char **entries, size_t cap)
{
	int fd, high = cnk_fdtable_high();
	size_t n = 0;

	for (fd = 0; fd < high; fd++) {
		struct cnk_file *f;
		long fdflags, off;

		if (!cnk_fd_is_forwarded(fd))
			continue;
		fdflags = cnk_raw_syscall(SYS_fcntl, fd, F_GETFD, 0);
		if (fdflags < 0 || (fdflags & FD_CLOEXEC))
			continue;
		f = carry ? cnk_fd_get(fd) : NULL;
		if (!f || atomic_load(&f->stale) || !f->path || n == cap ||
		    (off = remote_offset(f)) < 0 ||
		    asprintf(&entries[n], FD_VAR "%d=%d:%ld:%s", fd, f->flags, off, f->path) < 0) {
			make_unusable(fd);
		} else {
			n++;
		}
		if (f)
			cnk_file_put(f);
	}
	return n;
}

long cnk_fwd_exec(long nr, const long *a)
{
	bool at = (nr == SYS_execveat), runnable, owner, closed = false;
	int env_index = at ? 3 : 2;
	char *extra[EXEC_MAX_CARRIED + 1];
	char cwd_entry[sizeof(CWD_VAR) + FERRY_PATH_MAX];
	size_t nextra = 0, nfds, map_len = 0, i;
	struct cnk_target t;
	long b[6], ret;
	char **envp;

	ret = cnk_policy_resolve(at ? (int)a[0] : AT_FDCWD, (const char *)a[at ? 1 : 0], &t);
	if (ret < 0)
		return ret;
	if (ret > 0) {
		cnk_target_release(&t);
		return cnk_fwd_refuse(nr, EACCES, "cannot execute a file of the I/O node");
	}
	/* A PATH search fails exec after exec: only a file we may run is worth
	 * the work below. */
	runnable = cnk_raw_syscall6(SYS_faccessat, at ? a[0] : AT_FDCWD, a[at ? 1 : 0], X_OK, 0,
				    0, 0) == 0;
	owner = runnable && cnk_session_owns_endpoint();
	memcpy(cwd_entry, CWD_VAR, sizeof(CWD_VAR) - 1);
	if (cnk_cwd_get(cwd_entry + sizeof(CWD_VAR) - 1, FERRY_PATH_MAX) >= 0)
		extra[nextra++] = cwd_entry;
	nfds = runnable ? collect_surviving_fds(owner, extra + nextra, EXEC_MAX_CARRIED) : 0;
	envp = env_rebuild((char *const *)a[env_index], extra, nextra + nfds, &map_len);
	ret = -ENOMEM;
	if (envp == MAP_FAILED)
		goto out;
	memcpy(b, a, sizeof(b));
	if (envp)
		b[env_index] = (long)envp;
	closed = owner && cnk_session_before_exec();
	ret = cnk_native(nr, b);
	if (closed) {
		/* Still us: the handles died with the session. */
		cnk_session_after_failed_exec();
		cnk_fdtable_mark_all_stale();
	}
	if (envp)
		cnk_raw_syscall(SYS_munmap, envp, map_len, 0);
out:
	for (i = 0; i < nfds; i++)
		free(extra[nextra + i]);
	return ret;
}

/* Reopen one FERRY_FD_<n>=<flags>:<offset>:<path> entry on its fd. */
static int adopt_fd(const char *entry)
{
	int fd, flags, open_flags, ret;
	long long offset;
	struct cnk_file *f;
	struct ferry_msg m;
	const char *path;
	long handle;
	int used = 0;

	if (sscanf(entry, FD_VAR "%d=%d:%lld:%n", &fd, &flags, &offset, &used) != 3 || !used)
		return -EINVAL;
	path = entry + used;
	if (path[0] != '/' || !is_placeholder(fd))
		return -EBADF;
	open_flags = flags & ~(O_CREAT | O_EXCL | O_TRUNC | O_CLOEXEC);
	cnk_session_msg(&m, FERRY_OP_OPENAT);
	ferry_msg_add_arg(&m, FERRY_AT_ROOT);
	ferry_msg_add_arg(&m, open_flags);
	ferry_msg_add_arg(&m, 0);
	ferry_msg_add_arg(&m, 0);
	ret = ferry_msg_add_path(&m, path);
	if (ret < 0)
		goto fail;
	handle = cnk_session_call(&m, NULL, NULL, 0, NULL, CNK_CALL_DEFAULT);
	if (handle < 0) {
		ret = (int)handle;
		goto fail;
	}
	f = cnk_file_new(handle, open_flags, path);
	if (!f) {
		cnk_remote_close(handle);
		ret = -ENOMEM;
		goto fail;
	}
	cnk_fd_install_at(fd, f);
	cnk_file_put(f);
	if (!(flags & O_APPEND) && offset > 0) {
		long args[6] = { fd, (long)offset, SEEK_SET, 0, 0, 0 };

		ret = (int)cnk_fwd_lseek(SYS_lseek, args);
		if (ret < 0)
			return ret;
	}
	return 0;
fail:
	make_unusable(fd);
	return ret;
}

void cnk_exec_adopt_inherited(void)
{
	char *names[EXEC_MAX_CARRIED];
	size_t n = 0, i;
	char **env;

	for (env = environ; env && *env && n < EXEC_MAX_CARRIED; env++) {
		char *eq;
		int ret;

		if (strncmp(*env, FD_VAR, sizeof(FD_VAR) - 1))
			continue;
		ret = adopt_fd(*env);
		if (ret < 0)
			FLOG_WARN(cnk_session_id(), cnk_session_job(),
				  "a forwarded descriptor inherited across exec (%s) cannot be "
				  "reopened: %s",
				  *env, strerror(-ret));
		eq = strchr(*env, '=');
		names[n] = strndup(*env, eq ? (size_t)(eq - *env) : strlen(*env));
		if (names[n])
			n++;
	}
	for (i = 0; i < n; i++) {
		unsetenv(names[i]);
		free(names[i]);
	}
}
