/* SPDX-License-Identifier: Apache-2.0 */
#include "session.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>
#include <unistd.h>

#include <ferry/log.h>

#include "stats.h"
#include "warn_limit.h"

#define SESSION_BUCKETS 1024
#define SEQ_WINDOW 64 /* sequence numbers remembered below the highest seen */

/* Who owns descriptor number fd; indexed by fd. */
struct fd_slot {
	struct iond_session *owner; /* NULL: not a session's descriptor */
	uint32_t index;             /* position in owner->fds */
	uint32_t borrowed;          /* calls using it right now */
	bool closing;               /* close(2) when the last borrower is done */
};

struct iond_session {
	struct iond_session_info info;
	struct iond_sessions *table;
	struct iond_session *next; /* hash chain */
	unsigned int refs;         /* table's (while open) + callers' */
	bool closed;
	uint64_t seq_high;
	uint64_t seq_seen; /* bit i: seq_high - i was seen */
	int *fds;
	size_t nfds;
	size_t fds_cap;
	/* Held for a fork or exec child (iond_session_detach): no peer can
	 * use it; only iond_session_adopt with the token takes it. */
	bool held;
	uint64_t held_token;
	uint64_t held_since_ms;
	uint64_t held_from; /* the session it was detached from */
	uint64_t interrupt_seq; /* an INTERRUPT that came before its call ran */
	void *sockets;          /* sockets.c's state, or NULL */
};

/*
 * One lock for the session table and the descriptor map: every operation
 * under it is a few loads and stores (close(2) is done outside it).
 */
struct iond_sessions {
	pthread_mutex_t lock;
	struct iond_session *buckets[SESSION_BUCKETS];
	size_t nsessions;
	size_t max_sessions;
	size_t max_fds;
	uint64_t next_id;
	size_t nheld;
	struct fd_slot *slots;
	size_t nslots;
	struct iond_stats *stats;
	const struct iond_session_sockets_ops *sockets_ops;
};

int iond_sessions_new(size_t max_sessions, size_t max_fds, struct iond_stats *stats,
		      struct iond_sessions **out)
{
	struct iond_sessions *t = calloc(1, sizeof(*t));
	int rc;

	if (!t)
		return -ENOMEM;
	rc = pthread_mutex_init(&t->lock, NULL);
	if (rc) {
		free(t);
		return -rc;
	}
	t->max_sessions = max_sessions;
	t->max_fds = max_fds;
	t->next_id = 1;
	t->stats = stats;
	*out = t;
	return 0;
}

size_t iond_sessions_count(struct iond_sessions *t)
{
	size_t n;

	pthread_mutex_lock(&t->lock);
	n = t->nsessions;
	pthread_mutex_unlock(&t->lock);
	return n;
}

static size_t bucket_of(uint64_t id)
{
	return (size_t)((id * 0x9E3779B97F4A7C15ull) >> 54) % SESSION_BUCKETS;
}

int iond_session_open(struct iond_sessions *t, uint64_t peer, const struct iond_cred *cred,
		      struct iond_session **out)
{
	struct iond_session *s;
	size_t b;
	int rc = 0;

	s = calloc(1, sizeof(*s));
	if (!s)
		return -ENOMEM;
	s->info.peer = peer;
	s->info.cred = *cred;
	s->table = t;
	s->refs = 2; /* the table's and the caller's */

	pthread_mutex_lock(&t->lock);
	if (t->nsessions >= t->max_sessions) {
		rc = -EUSERS;
		goto out_unlock;
	}
	s->info.id = t->next_id++;
	b = bucket_of(s->info.id);
	s->next = t->buckets[b];
	t->buckets[b] = s;
	t->nsessions++;
out_unlock:
	pthread_mutex_unlock(&t->lock);
	if (rc) {
		free(s);
		return rc;
	}
	iond_stats_add(&t->stats->sessions_open, 1);
	iond_stats_add(&t->stats->sessions_total, 1);
	FLOG_INFO(s->info.id, cred->jobid,
		  "session opened: pid %lld uid %u gid %u peer %#llx", (long long)cred->pid,
		  cred->uid, cred->gid, (unsigned long long)peer);
	*out = s;
	return 0;
}

int iond_session_get(struct iond_sessions *t, uint64_t id, uint64_t peer,
		     struct iond_session **out)
{
	struct iond_session *s;
	int rc = -ENOTCONN;

	pthread_mutex_lock(&t->lock);
	for (s = t->buckets[bucket_of(id)]; s; s = s->next) {
		if (s->info.id != id)
			continue;
		if (s->closed || s->held || s->info.peer != peer)
			break;
		s->refs++;
		*out = s;
		rc = 0;
		break;
	}
	pthread_mutex_unlock(&t->lock);
	return rc;
}

static void session_free(struct iond_session *s)
{
	if (s->sockets)
		s->table->sockets_ops->release(s->sockets);
	free(s->fds);
	free(s);
}

void iond_session_put(struct iond_session *s)
{
	struct iond_sessions *t = s->table;
	bool last;

	pthread_mutex_lock(&t->lock);
	last = --s->refs == 0;
	pthread_mutex_unlock(&t->lock);
	if (last)
		session_free(s);
}

const struct iond_session_info *iond_session_info(const struct iond_session *s)
{
	return &s->info;
}

/* Drop fd from its owner's list (swap with the last).  Caller holds lock. */
static void fds_remove_locked(struct iond_sessions *t, struct iond_session *s, int fd)
{
	uint32_t i = t->slots[fd].index;
	int last = s->fds[--s->nfds];

	s->fds[i] = last;
	t->slots[last].index = i;
}

/* Mark fd closing; returns true when the caller must close(2) it now. */
static bool slot_release_locked(struct iond_sessions *t, int fd)
{
	struct fd_slot *slot = &t->slots[fd];

	if (slot->borrowed) {
		slot->closing = true;
		return false;
	}
	memset(slot, 0, sizeof(*slot));
	return true;
}

static void close_fd(struct iond_session *s, int fd)
{
	/* close(2) errors (EIO from a deferred NFS write) cannot be returned
	 * to anyone here; the file is released either way. */
	if (close(fd) != 0)
		FLOG_WARN(s->info.id, s->info.cred.jobid, "close of descriptor %d: %s", fd,
			  strerror(errno));
}

long iond_session_close(struct iond_session *s, const char *reason)
{
	struct iond_sessions *t = s->table;
	struct iond_session **pp;
	int *to_close = NULL;
	size_t nclose = 0, nfds;
	bool drop_table_ref = false;

	pthread_mutex_lock(&t->lock);
	if (s->closed) {
		pthread_mutex_unlock(&t->lock);
		return -ENOTCONN;
	}
	s->closed = true;
	for (pp = &t->buckets[bucket_of(s->info.id)]; *pp; pp = &(*pp)->next) {
		if (*pp == s) {
			*pp = s->next;
			drop_table_ref = true;
			break;
		}
	}
	t->nsessions--;
	if (s->held)
		t->nheld--;
	nfds = s->nfds;
	/* Reuse the fd list in place: descriptors nobody borrows are closed
	 * after unlocking, borrowed ones by their last borrower. */
	to_close = s->fds;
	for (size_t i = 0; i < s->nfds; i++) {
		int fd = s->fds[i];

		if (slot_release_locked(t, fd))
			to_close[nclose++] = fd;
	}
	s->fds = NULL;
	s->nfds = 0;
	s->fds_cap = 0;
	pthread_mutex_unlock(&t->lock);

	if (s->sockets)
		t->sockets_ops->close(s, s->sockets);
	for (size_t i = 0; i < nclose; i++)
		close_fd(s, to_close[i]);
	free(to_close);
	atomic_fetch_sub_explicit(&t->stats->sessions_open, 1, memory_order_relaxed);
	if (s->held)
		FLOG_INFO(s->info.id, s->info.cred.jobid,
			  "held descriptors of session %llu released (%s): %zu fds closed",
			  (unsigned long long)s->held_from, reason, nclose);
	else
		FLOG_INFO(s->info.id, s->info.cred.jobid,
			  "session closed (%s): pid %lld uid %u peer %#llx, %zu fds closed", reason,
			  (long long)s->info.cred.pid, s->info.cred.uid,
			  (unsigned long long)s->info.peer, nfds);
	if (drop_table_ref)
		iond_session_put(s);
	return (long)nfds;
}

void iond_sessions_set_sockets_ops(struct iond_sessions *t,
				   const struct iond_session_sockets_ops *ops)
{
	t->sockets_ops = ops;
}

void *iond_session_sockets(struct iond_session *s, void *fresh)
{
	void *state;

	pthread_mutex_lock(&s->table->lock);
	if (!s->sockets && !s->closed && fresh && s->table->sockets_ops)
		s->sockets = fresh;
	state = s->closed ? NULL : s->sockets;
	pthread_mutex_unlock(&s->table->lock);
	return state;
}

bool iond_session_is_closed(struct iond_session *s)
{
	struct iond_sessions *t = s->table;
	bool closed;

	pthread_mutex_lock(&t->lock);
	closed = s->closed;
	pthread_mutex_unlock(&t->lock);
	return closed;
}

/* Close every session matching peer (or all when all is set). */
static size_t close_matching(struct iond_sessions *t, uint64_t peer, bool all, const char *reason)
{
	size_t closed = 0;

	for (;;) {
		struct iond_session *victim = NULL;

		pthread_mutex_lock(&t->lock);
		for (size_t b = 0; b < SESSION_BUCKETS && !victim; b++) {
			for (struct iond_session *s = t->buckets[b]; s; s = s->next) {
				if (all || (!s->held && s->info.peer == peer)) {
					victim = s;
					victim->refs++;
					break;
				}
			}
		}
		pthread_mutex_unlock(&t->lock);
		if (!victim)
			return closed;
		if (iond_session_close(victim, reason) >= 0)
			closed++;
		iond_session_put(victim);
	}
}

size_t iond_sessions_close_peer(struct iond_sessions *t, uint64_t peer, const char *reason)
{
	return close_matching(t, peer, false, reason);
}

size_t iond_sessions_close_all(struct iond_sessions *t, const char *reason)
{
	return close_matching(t, 0, true, reason);
}

void iond_sessions_free(struct iond_sessions *t)
{
	if (!t)
		return;
	iond_sessions_close_all(t, "shutdown");
	pthread_mutex_destroy(&t->lock);
	free(t->slots);
	free(t);
}

int iond_session_note_seq(struct iond_session *s, uint64_t seq, uint16_t opcode)
{
	struct iond_sessions *t = s->table;
	const char *what = NULL;
	uint64_t high;

	pthread_mutex_lock(&t->lock);
	if (seq > s->seq_high) {
		uint64_t shift = seq - s->seq_high;

		s->seq_seen = shift >= SEQ_WINDOW ? 0 : s->seq_seen << shift;
		s->seq_seen |= 1;
		s->seq_high = seq;
	} else if (s->seq_high - seq >= SEQ_WINDOW) {
		what = "stale";
	} else if (s->seq_seen & (1ull << (s->seq_high - seq))) {
		what = "duplicate";
	} else {
		/* Out of order but new: concurrent calls from threads. */
		s->seq_seen |= 1ull << (s->seq_high - seq);
	}
	high = s->seq_high;
	pthread_mutex_unlock(&t->lock);
	if (!what)
		return 0;
	IOND_CLIENT_WARN(s->info.id, s->info.cred.jobid,
			 "%s sequence number %llu (highest %llu) on op %u", what,
			 (unsigned long long)seq, (unsigned long long)high, opcode);
	return -EALREADY;
}

/* Grow the descriptor map to cover fd.  Caller holds lock. */
static int slots_reserve_locked(struct iond_sessions *t, int fd)
{
	size_t want = t->nslots ? t->nslots : 1024;
	struct fd_slot *grown;

	if ((size_t)fd < t->nslots)
		return 0;
	while (want <= (size_t)fd)
		want *= 2;
	grown = realloc(t->slots, want * sizeof(*grown));
	if (!grown)
		return -ENOMEM;
	memset(grown + t->nslots, 0, (want - t->nslots) * sizeof(*grown));
	t->slots = grown;
	t->nslots = want;
	return 0;
}

int iond_session_add_fd(struct iond_session *s, int fd)
{
	struct iond_sessions *t = s->table;
	int rc = 0;

	if (fd < 0)
		return -EBADF;
	pthread_mutex_lock(&t->lock);
	if (s->closed) {
		rc = -ENOTCONN;
		goto out_unlock;
	}
	if (s->nfds >= t->max_fds) {
		rc = -EMFILE;
		goto out_unlock;
	}
	rc = slots_reserve_locked(t, fd);
	if (rc)
		goto out_unlock;
	if (s->nfds == s->fds_cap) {
		size_t cap = s->fds_cap ? s->fds_cap * 2 : 16;
		int *grown = realloc(s->fds, cap * sizeof(*grown));

		if (!grown) {
			rc = -ENOMEM;
			goto out_unlock;
		}
		s->fds = grown;
		s->fds_cap = cap;
	}
	t->slots[fd].owner = s;
	t->slots[fd].index = (uint32_t)s->nfds;
	t->slots[fd].borrowed = 0;
	t->slots[fd].closing = false;
	s->fds[s->nfds++] = fd;
out_unlock:
	pthread_mutex_unlock(&t->lock);
	if (rc) {
		close_fd(s, fd);
		return rc;
	}
	return fd;
}

/* The slot for handle if s owns it and it is not closing.  Caller holds lock. */
static struct fd_slot *owned_slot_locked(struct iond_session *s, int64_t handle)
{
	struct iond_sessions *t = s->table;
	struct fd_slot *slot;

	if (handle < 0 || (uint64_t)handle >= t->nslots)
		return NULL;
	slot = &t->slots[handle];
	if (slot->owner != s || slot->closing)
		return NULL;
	return slot;
}

int iond_session_fd_get(struct iond_session *s, int64_t handle, int *fd)
{
	struct iond_sessions *t = s->table;
	struct fd_slot *slot;
	int rc = -EBADF;

	pthread_mutex_lock(&t->lock);
	slot = owned_slot_locked(s, handle);
	if (slot) {
		slot->borrowed++;
		*fd = (int)handle;
		rc = 0;
	}
	pthread_mutex_unlock(&t->lock);
	return rc;
}

void iond_session_fd_put(struct iond_session *s, int fd)
{
	struct iond_sessions *t = s->table;
	struct fd_slot *slot;
	bool close_now = false;

	pthread_mutex_lock(&t->lock);
	slot = &t->slots[fd];
	if (--slot->borrowed == 0 && slot->closing) {
		memset(slot, 0, sizeof(*slot));
		close_now = true;
	}
	pthread_mutex_unlock(&t->lock);
	if (close_now)
		close_fd(s, fd);
}

int iond_session_fd_close(struct iond_session *s, int64_t handle)
{
	struct iond_sessions *t = s->table;
	struct fd_slot *slot;
	bool close_now = false;
	int rc = -EBADF;
	int fd = (int)handle;

	pthread_mutex_lock(&t->lock);
	slot = owned_slot_locked(s, handle);
	if (slot) {
		fds_remove_locked(t, s, fd);
		close_now = slot_release_locked(t, fd);
		rc = 0;
	}
	pthread_mutex_unlock(&t->lock);
	if (!close_now)
		return rc;
	/* close(2) can report a deferred write error: the client wants it. */
	if (close(fd) != 0)
		return -errno;
	return 0;
}

/* ---- fork and exec: held sessions ---- */

static uint64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

/* Append fd to s's list and point its slot at s.  Caller holds lock and has
 * reserved the slot. */
static int fds_append_locked(struct iond_sessions *t, struct iond_session *s, int fd)
{
	if (s->nfds == s->fds_cap) {
		size_t cap = s->fds_cap ? s->fds_cap * 2 : 16;
		int *grown = realloc(s->fds, cap * sizeof(*grown));

		if (!grown)
			return -ENOMEM;
		s->fds = grown;
		s->fds_cap = cap;
	}
	t->slots[fd].owner = s;
	t->slots[fd].index = (uint32_t)s->nfds;
	s->fds[s->nfds++] = fd;
	return 0;
}

int iond_session_detach(struct iond_session *s, int64_t *pairs, size_t max_pairs, size_t *npairs,
			uint64_t *held_id, uint64_t *token)
{
	struct iond_sessions *t = s->table;
	struct iond_session *h;
	int *originals = NULL;
	size_t n = 0, done = 0;
	int rc = 0;

	*npairs = 0;
	if (getrandom(token, sizeof(*token), 0) != (ssize_t)sizeof(*token))
		return -EAGAIN;
	h = calloc(1, sizeof(*h));
	if (!h)
		return -ENOMEM;
	h->info = s->info;
	h->info.peer = 0;
	h->table = t;
	h->refs = 1; /* the table's */
	h->held = true;
	h->held_token = *token;
	h->held_since_ms = now_ms();
	h->held_from = s->info.id;

	/* Borrow the originals so that a concurrent CLOSE cannot reuse a
	 * number under the dup. */
	pthread_mutex_lock(&t->lock);
	if (s->closed) {
		rc = -ENOTCONN;
	} else if (s->nfds > max_pairs) {
		rc = -E2BIG;
	} else if (t->nsessions >= t->max_sessions) {
		rc = -EUSERS;
	} else if (s->nfds) {
		originals = malloc(s->nfds * sizeof(*originals));
		if (!originals)
			rc = -ENOMEM;
		for (size_t i = 0; originals && i < s->nfds; i++) {
			if (t->slots[s->fds[i]].closing)
				continue;
			originals[n++] = s->fds[i];
			t->slots[s->fds[i]].borrowed++;
		}
	}
	if (!rc) {
		size_t b;

		h->info.id = t->next_id++;
		b = bucket_of(h->info.id);
		h->next = t->buckets[b];
		t->buckets[b] = h;
		t->nsessions++;
		t->nheld++;
	}
	pthread_mutex_unlock(&t->lock);
	if (rc) {
		free(h);
		return rc;
	}
	iond_stats_add(&t->stats->sessions_open, 1);

	for (size_t i = 0; i < n; i++) {
		int copy = fcntl(originals[i], F_DUPFD_CLOEXEC, 0);

		if (copy < 0) {
			rc = -errno;
			break;
		}
		pthread_mutex_lock(&t->lock);
		rc = slots_reserve_locked(t, copy);
		if (!rc)
			rc = fds_append_locked(t, h, copy);
		if (!rc) {
			t->slots[copy].borrowed = 0;
			t->slots[copy].closing = false;
		}
		pthread_mutex_unlock(&t->lock);
		if (rc) {
			close_fd(h, copy);
			break;
		}
		pairs[2 * done] = originals[i];
		pairs[2 * done + 1] = copy;
		done++;
	}
	for (size_t i = 0; i < n; i++)
		iond_session_fd_put(s, originals[i]);
	free(originals);
	if (rc) {
		iond_session_close(h, "detach failed");
		return rc;
	}
	*npairs = done;
	*held_id = h->info.id;
	FLOG_INFO(s->info.id, s->info.cred.jobid,
		  "session %llu holds %zu descriptors for a fork or exec child",
		  (unsigned long long)h->info.id, done);
	return 0;
}

static bool in_list(const int64_t *list, size_t n, int fd)
{
	for (size_t i = 0; i < n; i++)
		if (list[i] == fd)
			return true;
	return false;
}

long iond_session_adopt(struct iond_session *s, uint64_t held_id, uint64_t token,
			const int64_t *keep, size_t nkeep)
{
	struct iond_sessions *t = s->table;
	struct iond_session *h;
	long moved = 0;
	int rc = -ESTALE;

	pthread_mutex_lock(&t->lock);
	for (h = t->buckets[bucket_of(held_id)]; h; h = h->next)
		if (h->info.id == held_id)
			break;
	if (!h || !h->held || h->closed)
		goto out_unlock;
	rc = -EACCES;
	if (h->held_token != token || h->info.cred.uid != s->info.cred.uid ||
	    h->info.cred.gid != s->info.cred.gid || h->info.cred.jobid != s->info.cred.jobid)
		goto out_unlock;
	rc = 0;
	if (s->closed) {
		rc = -ENOTCONN;
		goto out_unlock;
	}
	/* Move what the child kept; iond_session_close below closes the rest. */
	for (size_t i = 0; i < h->nfds;) {
		int fd = h->fds[i];

		if (!in_list(keep, nkeep, fd) || t->slots[fd].closing ||
		    s->nfds >= t->max_fds) {
			i++;
			continue;
		}
		fds_remove_locked(t, h, fd);
		if (fds_append_locked(t, s, fd)) {
			/* Back where it was: it gets closed with the rest. */
			h->fds[h->nfds] = fd;
			t->slots[fd].owner = h;
			t->slots[fd].index = (uint32_t)h->nfds++;
			i++;
			continue;
		}
		moved++;
	}
	h->refs++;
out_unlock:
	pthread_mutex_unlock(&t->lock);
	if (rc == -EACCES)
		IOND_CLIENT_WARN(s->info.id, s->info.cred.jobid,
				 "session %llu asked for held session %llu with a wrong token or "
				 "credential: refused",
				 (unsigned long long)s->info.id, (unsigned long long)held_id);
	if (rc)
		return rc;
	{
		char reason[64];

		snprintf(reason, sizeof(reason), "adopted by session %llu",
			 (unsigned long long)s->info.id);
		iond_session_close(h, reason);
	}
	iond_session_put(h);
	return moved;
}

size_t iond_sessions_reap_held(struct iond_sessions *t, uint64_t ttl_ms)
{
	uint64_t now = now_ms();
	size_t reaped = 0;

	for (;;) {
		struct iond_session *victim = NULL;

		pthread_mutex_lock(&t->lock);
		for (size_t b = 0; t->nheld && b < SESSION_BUCKETS && !victim; b++) {
			for (struct iond_session *s = t->buckets[b]; s; s = s->next) {
				if (s->held && !s->closed && now - s->held_since_ms >= ttl_ms) {
					victim = s;
					victim->refs++;
					break;
				}
			}
		}
		pthread_mutex_unlock(&t->lock);
		if (!victim)
			return reaped;
		if (iond_session_close(victim, "never adopted") >= 0)
			reaped++;
		iond_session_put(victim);
	}
}

void iond_session_note_interrupt(struct iond_session *s, uint64_t seq)
{
	pthread_mutex_lock(&s->table->lock);
	s->interrupt_seq = seq;
	pthread_mutex_unlock(&s->table->lock);
}

bool iond_session_take_interrupt(struct iond_session *s, uint64_t seq)
{
	bool hit;

	pthread_mutex_lock(&s->table->lock);
	hit = seq != 0 && s->interrupt_seq == seq;
	if (hit)
		s->interrupt_seq = 0;
	pthread_mutex_unlock(&s->table->lock);
	return hit;
}
