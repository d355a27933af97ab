/* SPDX-License-Identifier: Apache-2.0 */
/*
 * execve / execveat.  A file of the I/O node cannot be executed here
 * (EACCES).  A forwarded working directory is not the kernel's, so it would
 * be lost across exec: it travels in the new image's environment as
 * FERRY_CWD, which the runtime there adopts (and removes) at start.
 *
 * This runs in vfork children too (posix_spawn), which share the parent's
 * memory: no malloc, the new environment lives in a private anonymous
 * mapping that exec discards.  Before an exec that will probably succeed,
 * the session is closed (see cnk_session_before_exec).
 */
#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "fdtable.h"
#include "forward.h"
#include "policy.h"
#include "raw_syscall.h"
#include "session.h"

#define CWD_VAR "FERRY_CWD="
#define CWD_VAR_LEN (sizeof(CWD_VAR) - 1)

/* Build envp with FERRY_CWD set to cwd (or removed when cwd is NULL) in a
 * fresh mapping.  Returns the mapping (its length in *map_len), or NULL when
 * envp needs no change, or MAP_FAILED. */
static char **env_with_cwd(char *const *envp, const char *cwd, size_t *map_len)
{
	size_t n = 0, i, o = 0, cwd_len = cwd ? strlen(cwd) : 0, len;
	bool has_var = false;
	char **out, *entry;
	long map;

	for (n = 0; envp && envp[n]; n++)
		if (!strncmp(envp[n], CWD_VAR, CWD_VAR_LEN))
			has_var = true;
	if (!cwd && !has_var)
		return NULL;
	len = (n + 2) * sizeof(char *) + CWD_VAR_LEN + cwd_len + 1;
	map = cnk_raw_syscall6(SYS_mmap, 0, (long)len, PROT_READ | PROT_WRITE,
			       MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (map < 0 && map > -4096)
		return MAP_FAILED;
	out = (char **)map;
	for (i = 0; i < n; i++)
		if (strncmp(envp[i], CWD_VAR, CWD_VAR_LEN))
			out[o++] = envp[i];
	if (cwd) {
		entry = (char *)(out + n + 2);
		memcpy(entry, CWD_VAR, CWD_VAR_LEN);
		memcpy(entry + CWD_VAR_LEN, cwd, cwd_len + 1);
		out[o++] = entry;
	}
	out[o] = NULL;
	*map_len = len;
	return out;
}

long cnk_fwd_exec(long nr, const long *a)
{
	bool at = (nr == SYS_execveat);
	int env_index = at ? 3 : 2;
	char cwd[FERRY_PATH_MAX];
	struct cnk_target t;
	size_t map_len = 0;
	bool closed = false;
	long b[6], ret;
	char **envp;

	ret = cnk_policy_resolve(at ? (int)a[0] : AT_FDCWD, (const char *)a[at ? 1 : 0], &t);
	if (ret < 0)
		return ret;
	if (ret > 0) {
		cnk_target_release(&t);
		return cnk_fwd_refuse(nr, EACCES, "cannot execute a file of the I/O node");
	}
	envp = env_with_cwd((char *const *)a[env_index],
			    cnk_cwd_get(cwd, sizeof(cwd)) >= 0 ? cwd : NULL, &map_len);
	if (envp == MAP_FAILED)
		return -ENOMEM;
	memcpy(b, a, sizeof(b));
	if (envp)
		b[env_index] = (long)envp;
	/* A PATH search fails exec after exec: only a file we may run is worth
	 * closing the session for. */
	if (cnk_raw_syscall6(SYS_faccessat, at ? a[0] : AT_FDCWD, a[at ? 1 : 0], X_OK, 0, 0, 0) == 0)
		closed = cnk_session_before_exec();
	ret = cnk_native(nr, b);
	if (closed) {
		/* Still us: the handles died with the session. */
		cnk_session_after_failed_exec();
		cnk_fdtable_mark_all_stale();
	}
	if (envp)
		cnk_raw_syscall(SYS_munmap, envp, map_len, 0);
	return ret;
}
