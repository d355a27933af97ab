/* SPDX-License-Identifier: Apache-2.0 */
/*
 * A ceiling on warnings caused by what clients send (malformed messages,
 * unknown sessions, escapes): a client looping on bad requests must not
 * flood the log or slow the daemon down with it.  Beyond the ceiling lines
 * are counted, and the count is logged once the next second begins.
 */
#ifndef IOND_WARN_LIMIT_H
#define IOND_WARN_LIMIT_H

#include <stdbool.h>

#define IOND_WARN_PER_SECOND 100

/* Whether one more client-caused warning may be logged now. */
bool iond_warn_allowed(void);

#define IOND_CLIENT_WARN(s, j, ...)                                            \
	do {                                                                   \
		if (iond_warn_allowed())                                       \
			FLOG_WARN((s), (j), __VA_ARGS__);                      \
	} while (0)

#endif
