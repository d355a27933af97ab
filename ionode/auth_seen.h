/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Credentials this daemon has already accepted, remembered until they
 * expire, so that one is never accepted twice.  munged refuses a replayed
 * credential itself, but forgets them when it restarts; this table does not
 * depend on it.  Entries are keyed by a seeded 64-bit hash of the
 * credential's text (the seed is random per daemon, so collisions cannot be
 * aimed at), and dropped once their expiry has passed.
 */
#ifndef IOND_AUTH_SEEN_H
#define IOND_AUTH_SEEN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

/* At most this many credentials are remembered at once (16 bytes each);
 * beyond, only munged's own replay check applies (logged once). */
#define IOND_AUTH_SEEN_MAX (1u << 20)

/* Record cred (len bytes), valid until expires (seconds, the realtime
 * clock), at time now.  Returns true if it was new, false if this daemon
 * has seen it before and it has not expired since. */
bool iond_auth_seen_add(const void *cred, size_t len, time_t expires, time_t now);
/* Forget everything (tests; shutdown). */
void iond_auth_seen_reset(void);
/* How many are remembered now. */
size_t iond_auth_seen_count(void);

#endif
