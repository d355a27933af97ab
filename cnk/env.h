/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The runtime reads and edits the environment array itself, never through
 * getenv/setenv/unsetenv: a program may define those symbols (bash does, and
 * its versions switch to the shell's variable table once setenv was called,
 * before main), and the preloaded runtime would get the program's.
 */
#ifndef FERRY_CNK_ENV_H
#define FERRY_CNK_ENV_H

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* The value of name in envp (an exec's environment, or environ), or NULL. */
static inline const char *cnk_env_find(char *const *envp, const char *name)
{
	size_t len = strlen(name);

	for (; envp && *envp; envp++)
		if (!strncmp(*envp, name, len) && (*envp)[len] == '=')
			return *envp + len + 1;
	return NULL;
}

/* The value of name in environ, or NULL. */
static inline const char *cnk_env_get(const char *name)
{
	return cnk_env_find(environ, name);
}

/* execvp's search for name along a ':'-separated list of directories:
 * each call writes the next candidate path into out (an empty entry is the
 * working directory, "./name") and returns its length, or -1 after the
 * last; start with *cursor at the list.  Candidates too long for out are
 * skipped. */
static inline int cnk_path_next(const char **cursor, const char *name, char *out, size_t cap)
{
	while (*cursor) {
		const char *dir = *cursor, *end = strchrnul(dir, ':');
		int n = end == dir ? snprintf(out, cap, "./%s", name)
				   : snprintf(out, cap, "%.*s/%s", (int)(end - dir), dir, name);

		*cursor = *end ? end + 1 : NULL;
		if (n > 0 && (size_t)n < cap)
			return n;
	}
	return -1;
}

/* Remove every name=... entry from environ, in place: main's envp is the
 * same array, so the program never sees them. */
static inline void cnk_env_unset(const char *name)
{
	size_t len = strlen(name);
	char **r, **w;

	for (r = w = environ; r && *r; r++)
		if (strncmp(*r, name, len) || (*r)[len] != '=')
			*w++ = *r;
	if (w)
		*w = NULL;
}

#endif
