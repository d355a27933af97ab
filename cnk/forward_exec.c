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
 * carried (a fork child's inherited one) becomes an O_PATH descriptor before
 * exec, so the new program fails loudly (EBADF) on it instead of reading and
 * writing /dev/null.
 *
 * Before an exec that will probably succeed, the session is closed (see
 * cnk_session_before_exec).  This runs in vfork children too (dash,
 * posix_spawn, system), which share the parent's memory and must not use
 * its session or its heap: nothing is allocated (the entries and the new
 * environment live in private anonymous mappings that exec discards), the
 * offsets are the ones the parent noted just before the vfork
 * (cnk_exec_before_vfork), and the descriptors are matched to the parent's
 * table by open file (kcmp), since the child may have moved them.  A file
 * a vfork child carried is no longer usable by the parent (EBADF): its
 * offset moved on in the new program only.
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
#include <linux/kcmp.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include <ferry/log.h>

#include "fdtable.h"
#include "forward.h"
#include "profile.h"
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

/* Where the carried entries are written: a private anonymous mapping,
 * never the heap (a vfork child shares the parent's allocator). */
#define ENTRY_MAX (sizeof(FD_VAR) + 3 * 24 + FERRY_PATH_MAX)
#define ENTRIES_LEN (EXEC_MAX_CARRIED * ENTRY_MAX)
/* A vfork child may have moved descriptors (posix_spawn's dup2): how far it
 * looks for the placeholders it holds. */
#define VFORK_FD_SCAN 256

/* Its handle is this session's and its offset still ours. */
static bool file_carriable(struct cnk_file *f)
{
	return !atomic_load(&f->stale) && !atomic_load(&f->carried) && f->path;
}

/* Carried by a vfork child, a file's offset moves on in the new program
 * only: a later use here (or by another child) would read or overwrite at
 * the old one, silently, so it fails with EBADF instead.  A write-only
 * O_APPEND file has no offset to lose. */
static void note_carried(struct cnk_file *f)
{
	if ((f->flags & O_ACCMODE) != O_WRONLY || !(f->flags & O_APPEND))
		atomic_store(&f->carried, true);
}

void cnk_exec_before_vfork(void)
{
	int fd, high = cnk_fdtable_high();

	for (fd = 0; fd < high; fd++) {
		struct cnk_file *f;

		if (!cnk_fd_is_forwarded(fd))
			continue;
		f = cnk_fd_get(fd);
		if (!f)
			continue;
		atomic_store(&f->vfork_offset, !file_carriable(f) ? -1 : remote_offset(f));
		cnk_file_put(f);
	}
}

/* The forwarded file behind this process's fd, referenced, or NULL.  In a
 * vfork child the table describes the parent's descriptors: the file is the
 * one of the parent's descriptor that shares fd's open file (kcmp), or, where
 * kcmp is missing, of the same number if fd is still a placeholder. */
static struct cnk_file *surviving_file(int fd, bool vfork_child, int high)
{
	long self, owner;
	int p;

	if (!vfork_child)
		return cnk_fd_is_forwarded(fd) ? cnk_fd_get(fd) : NULL;
	if (!is_placeholder(fd))
		return NULL;
	self = cnk_raw_syscall(SYS_getpid, 0, 0, 0);
	owner = cnk_dispatch_owner_pid();
	for (p = 0; p < high; p++) {
		long same;

		if (!cnk_fd_is_forwarded(p))
			continue;
		same = cnk_raw_syscall6(SYS_kcmp, owner, self, KCMP_FILE, p, fd, 0);
		if (same == 0 || (same < 0 && p == fd))
			return cnk_fd_get(p);
	}
	return NULL;
}

/* The forwarded descriptors that survive exec: carried ones get an
 * environment entry written in `buf` (only when carry is set), the others
 * are made unusable.  Returns the number of entries. */
static size_t collect_surviving_fds(bool carry, bool vfork_child, char *buf, char **entries,
				    size_t cap)
{
	int fd, high = cnk_fdtable_high();
	int limit = vfork_child && high < VFORK_FD_SCAN ? VFORK_FD_SCAN : high;
	size_t n = 0;

	for (fd = 0; fd < limit; fd++) {
		struct cnk_file *f = surviving_file(fd, vfork_child, high);
		long fdflags, off = -1;
		int len = -1;

		if (!f)
			continue;
		fdflags = cnk_raw_syscall(SYS_fcntl, fd, F_GETFD, 0);
		if (fdflags < 0 || (fdflags & FD_CLOEXEC)) {
			cnk_file_put(f);
			continue;
		}
		if (carry && buf && file_carriable(f) && n < cap)
			off = vfork_child ? (long)atomic_load(&f->vfork_offset) : remote_offset(f);
		if (off >= 0) {
			entries[n] = buf + n * ENTRY_MAX;
			len = snprintf(entries[n], ENTRY_MAX, FD_VAR "%d=%d:%ld:%s", fd, f->flags,
				       off, f->path);
		}
		if (len < 0 || (size_t)len >= ENTRY_MAX) {
			make_unusable(fd);
		} else {
			n++;
			if (vfork_child)
				note_carried(f);
		}
		cnk_file_put(f);
	}
	return n;
}

long cnk_fwd_exec(long nr, const long *a)
{
	bool at = (nr == SYS_execveat), runnable, owner, vfork_child, closed = false;
	int env_index = at ? 3 : 2;
	char *extra[EXEC_MAX_CARRIED + 1];
	char cwd_entry[sizeof(CWD_VAR) + FERRY_PATH_MAX];
	size_t nextra = 0, nfds = 0, map_len = 0;
	struct cnk_target t;
	char *entries = NULL;
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
	/* A vfork child carries what its parent noted before the vfork; it
	 * must leave the parent's session alone. */
	vfork_child = cnk_raw_syscall(SYS_getpid, 0, 0, 0) != cnk_dispatch_owner_pid();
	memcpy(cwd_entry, CWD_VAR, sizeof(CWD_VAR) - 1);
	if (cnk_cwd_get(cwd_entry + sizeof(CWD_VAR) - 1, FERRY_PATH_MAX) >= 0)
		extra[nextra++] = cwd_entry;
	if (runnable && !cnk_fdtable_empty()) {
		long map = cnk_raw_syscall6(SYS_mmap, 0, ENTRIES_LEN, PROT_READ | PROT_WRITE,
					    MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);

		/* Without room the descriptors are made unusable, not lost. */
		entries = (map < 0 && map > -4096) ? NULL : (char *)map;
		nfds = collect_surviving_fds(owner || (vfork_child && runnable), vfork_child,
					     entries, extra + nextra, EXEC_MAX_CARRIED);
	}
	envp = env_rebuild((char *const *)a[env_index], extra, nextra + nfds, &map_len);
	ret = -ENOMEM;
	if (envp == MAP_FAILED)
		goto out;
	memcpy(b, a, sizeof(b));
	if (envp)
		b[env_index] = (long)envp;
	closed = owner && !vfork_child && cnk_session_before_exec();
	if (runnable && !vfork_child)
		cnk_profile_flush();
	ret = cnk_native(nr, b);
	if (closed) {
		/* Still us: the handles died with the session. */
		cnk_session_after_failed_exec();
		cnk_fdtable_mark_all_stale();
	}
	if (envp)
		cnk_raw_syscall(SYS_munmap, envp, map_len, 0);
out:
	if (entries)
		cnk_raw_syscall(SYS_munmap, entries, ENTRIES_LEN, 0);
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
