/* SPDX-License-Identifier: Apache-2.0 */
#include "auth_seen.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>

#include <ferry/log.h>

struct seen {
	uint64_t key; /* 0: empty slot */
	time_t expires;
};

static pthread_mutex_t seen_lock = PTHREAD_MUTEX_INITIALIZER;
static struct seen *seen_tab;
static size_t seen_cap; /* a power of two, or 0 */
static size_t seen_n;
static uint64_t seen_seed;
static bool seen_full_logged;

/* FNV-1a over the bytes, from a random seed, then a 64-bit finaliser. */
static uint64_t seen_hash(const void *data, size_t len)
{
	const unsigned char *p = data;
	uint64_t h = seen_seed;

	for (size_t i = 0; i < len; i++) {
		h ^= p[i];
		h *= 0x100000001b3ULL;
	}
	h ^= h >> 33;
	h *= 0xff51afd7ed558ccdULL;
	h ^= h >> 33;
	h *= 0xc4ceb9fe1a85ec53ULL;
	h ^= h >> 33;
	return h ? h : 1;
}

static struct seen *seen_slot(struct seen *tab, size_t cap, uint64_t key)
{
	size_t i = (size_t)key & (cap - 1);

	while (tab[i].key && tab[i].key != key)
		i = (i + 1) & (cap - 1);
	return &tab[i];
}

/* Rebuild into cap slots, dropping what expired before now.  false on
 * allocation failure (the old table stays). */
static bool seen_rebuild(size_t cap, time_t now)
{
	struct seen *tab = calloc(cap, sizeof(*tab));
	size_t n = 0;

	if (!tab)
		return false;
	for (size_t i = 0; i < seen_cap; i++) {
		if (!seen_tab[i].key || seen_tab[i].expires < now)
			continue;
		*seen_slot(tab, cap, seen_tab[i].key) = seen_tab[i];
		n++;
	}
	free(seen_tab);
	seen_tab = tab;
	seen_cap = cap;
	seen_n = n;
	return true;
}

bool iond_auth_seen_add(const void *cred, size_t len, time_t expires, time_t now)
{
	struct seen *s;
	uint64_t key;
	bool fresh = true;

	pthread_mutex_lock(&seen_lock);
	if (!seen_seed) {
		if (getrandom(&seen_seed, sizeof(seen_seed), 0) != sizeof(seen_seed))
			seen_seed = (uint64_t)now * 0x9e3779b97f4a7c15ULL ^ (uintptr_t)&seen_seed;
		seen_seed |= 1;
	}
	key = seen_hash(cred, len);
	/* Keep the load under a half: first drop the expired, then grow. */
	if ((seen_n + 1) * 2 > seen_cap) {
		size_t cap = seen_cap ? seen_cap : 1024;

		if (seen_cap)
			seen_rebuild(seen_cap, now);
		while ((seen_n + 1) * 4 > cap && cap < 2 * (size_t)IOND_AUTH_SEEN_MAX)
			cap *= 2;
		if ((cap != seen_cap && !seen_rebuild(cap, now)) || (seen_n + 1) * 2 > seen_cap) {
			if (!seen_full_logged)
				FLOG_WARN(0, 0,
					  "auth munge: %zu credentials remembered, no room for more: "
					  "replays are now refused by munged alone",
					  seen_n);
			seen_full_logged = true;
			goto out;
		}
	}
	s = seen_slot(seen_tab, seen_cap, key);
	if (s->key && s->expires >= now) {
		fresh = false;
		goto out;
	}
	if (!s->key)
		seen_n++;
	s->key = key;
	s->expires = expires;
out:
	pthread_mutex_unlock(&seen_lock);
	return fresh;
}

void iond_auth_seen_reset(void)
{
	pthread_mutex_lock(&seen_lock);
	free(seen_tab);
	seen_tab = NULL;
	seen_cap = 0;
	seen_n = 0;
	seen_full_logged = false;
	pthread_mutex_unlock(&seen_lock);
}

size_t iond_auth_seen_count(void)
{
	size_t n;

	pthread_mutex_lock(&seen_lock);
	n = seen_n;
	pthread_mutex_unlock(&seen_lock);
	return n;
}
