/* SPDX-License-Identifier: Apache-2.0 */
/*
 * posix_spawn's children are vfork children: they share this process's
 * memory and may reach the I/O node only through its session, which they
 * cannot open themselves.  The session opens lazily, at the first forwarded
 * call, so a program whose first contact with a forwarded path is a spawn
 * -- a file action that opens one, or a program stored there -- would find
 * it closed.  These wrappers open it first, and only then (a spawn of a
 * local program with local file actions costs nothing more).  The checks
 * are the dispatcher's (CNK_NR_SPAWN_PREPARE); the real functions follow.
 */
#include <dlfcn.h>
#include <errno.h>
#include <spawn.h>
#include <stddef.h>

#include "runtime.h"
#include "thread_block.h"

#define CNK_EXPORT __attribute__((visibility("default")))

static void spawn_prepare(const char *path, int search)
{
	uint8_t selector;

	if (!cnk_intercept_active())
		return;
	/* The dispatcher runs with the selector ALLOW, as from the trampoline. */
	selector = cnk_selector_get();
	cnk_selector_set(CNK_SELECTOR_ALLOW);
	cnk_dispatch(CNK_NR_SPAWN_PREPARE, (long)path, search, 0, 0, 0, 0);
	cnk_selector_set(selector);
}

typedef int spawn_fn(pid_t *, const char *, const posix_spawn_file_actions_t *,
		     const posix_spawnattr_t *, char *const[], char *const[]);
typedef int addopen_fn(posix_spawn_file_actions_t *, int, const char *, int, mode_t);

/* The next definition (libc's), or NULL when there is none. */
static void *next_symbol(const char *name)
{
	return dlsym(RTLD_NEXT, name);
}

int posix_spawn(pid_t *pid, const char *path, const posix_spawn_file_actions_t *actions,
		const posix_spawnattr_t *attr, char *const argv[], char *const envp[]) CNK_EXPORT;
int posix_spawn(pid_t *pid, const char *path, const posix_spawn_file_actions_t *actions,
		const posix_spawnattr_t *attr, char *const argv[], char *const envp[])
{
	static spawn_fn *next;

	if (!next)
		next = (spawn_fn *)next_symbol("posix_spawn");
	if (!next)
		return ENOSYS;
	spawn_prepare(path, 0);
	return next(pid, path, actions, attr, argv, envp);
}

int posix_spawnp(pid_t *pid, const char *file, const posix_spawn_file_actions_t *actions,
		 const posix_spawnattr_t *attr, char *const argv[], char *const envp[]) CNK_EXPORT;
int posix_spawnp(pid_t *pid, const char *file, const posix_spawn_file_actions_t *actions,
		 const posix_spawnattr_t *attr, char *const argv[], char *const envp[])
{
	static spawn_fn *next;

	if (!next)
		next = (spawn_fn *)next_symbol("posix_spawnp");
	if (!next)
		return ENOSYS;
	spawn_prepare(file, 1);
	return next(pid, file, actions, attr, argv, envp);
}

/* The open is made by the child; the session it will use opens here, when
 * the action is added (the spawn itself does not show its actions). */
int posix_spawn_file_actions_addopen(posix_spawn_file_actions_t *actions, int fd,
				     const char *path, int oflag, mode_t mode) CNK_EXPORT;
int posix_spawn_file_actions_addopen(posix_spawn_file_actions_t *actions, int fd,
				     const char *path, int oflag, mode_t mode)
{
	static addopen_fn *next;

	if (!next)
		next = (addopen_fn *)next_symbol("posix_spawn_file_actions_addopen");
	if (!next)
		return ENOSYS;
	spawn_prepare(path, 0);
	return next(actions, fd, path, oflag, mode);
}
