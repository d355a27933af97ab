/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Sessions: one per compute process, bound to the rpc peer that opened it.
 * Each session owns a table of descriptors (its remote handles are the
 * daemon's descriptor numbers); a handle is usable only by the session that
 * opened it, so one session can never touch another's files.
 *
 * Descriptors are reference counted while a call uses them: closing a handle
 * (CLOSE, SESSION_CLOSE, a dead peer) while another worker is still reading
 * from it defers the close(2) until that call is done, so a descriptor
 * number is never reused under a call in flight.
 */
#ifndef IOND_SESSION_H
#define IOND_SESSION_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

struct iond_stats;
struct iond_sessions;
struct iond_session;

#define IOND_MAX_GROUPS 64

/* Who the session says (auth "none") or proves (MUNGE) it is. */
struct iond_cred {
	int64_t pid;
	uint32_t uid;
	uint32_t gid;
	uint64_t jobid;
	uint32_t ngroups; /* supplementary groups, looked up at open */
	gid_t groups[IOND_MAX_GROUPS];
};

struct iond_session_info {
	uint64_t id;
	uint64_t peer;
	struct iond_cred cred;
};

int iond_sessions_new(size_t max_sessions, size_t max_fds, struct iond_stats *stats,
		      struct iond_sessions **out);
/* Closes every remaining session (logged with reason "shutdown"). */
void iond_sessions_free(struct iond_sessions *t);
size_t iond_sessions_count(struct iond_sessions *t);

/* New session for peer; returns it with a reference held (put it).
 * -EUSERS beyond max_sessions. */
int iond_session_open(struct iond_sessions *t, uint64_t peer, const struct iond_cred *cred,
		      struct iond_session **out);
/* Look up id for a request from peer.  -ENOTCONN when it does not exist, is
 * closed, or belongs to another peer. */
int iond_session_get(struct iond_sessions *t, uint64_t id, uint64_t peer,
		     struct iond_session **out);
void iond_session_put(struct iond_session *s);
const struct iond_session_info *iond_session_info(const struct iond_session *s);

/* Close the session and every descriptor it owns; logs one line with reason.
 * Returns the number of descriptors closed, or -ENOTCONN if already closed. */
long iond_session_close(struct iond_session *s, const char *reason);
/* Whether the session was closed (its calls in flight are orphans). */
bool iond_session_is_closed(struct iond_session *s);
/* Close every session of peer (its connection died).  Returns how many. */
size_t iond_sessions_close_peer(struct iond_sessions *t, uint64_t peer, const char *reason);
size_t iond_sessions_close_all(struct iond_sessions *t, const char *reason);

/* Record a request's sequence number; a duplicate or one too old to judge is
 * logged (not fatal).  Returns 0, or -EALREADY for a duplicate/stale one. */
int iond_session_note_seq(struct iond_session *s, uint64_t seq, uint16_t opcode);

/* Give fd to the session; returns the handle (== fd).  On failure (-EMFILE
 * past max_fds, -ENOTCONN when the session is closing) fd is closed. */
int iond_session_add_fd(struct iond_session *s, int fd);
/* Borrow the descriptor behind handle for one call: -EBADF if the session
 * does not own it.  Pair with iond_session_fd_put. */
int iond_session_fd_get(struct iond_session *s, int64_t handle, int *fd);
void iond_session_fd_put(struct iond_session *s, int fd);
/* Remove handle from the session and close it (deferred while borrowed).
 * -EBADF if the session does not own it. */
int iond_session_fd_close(struct iond_session *s, int64_t handle);

/*
 * fork and exec.  A forked child (or the program a process exec's) must share
 * its parent's open files as Linux does: same offsets and status flags, but
 * closing in one does not close in the other.  detach duplicates every
 * descriptor of s (dup(2): one open file description, two descriptors) into
 * a held session with no peer, guarded by a random token; the child opens a
 * session of its own and adopts the held one, taking the descriptors it
 * still has.  A held session nobody adopts is released after a while
 * (iond_sessions_reap_held).
 */
/* On success *held_id and *token name the held session, and pairs[2i],
 * pairs[2i+1] are (handle in s, handle in the held session) for *npairs
 * descriptors.  -E2BIG when s has more than max_pairs descriptors. */
int iond_session_detach(struct iond_session *s, int64_t *pairs, size_t max_pairs, size_t *npairs,
			uint64_t *held_id, uint64_t *token);
/* Move the held session's descriptors listed in keep into s and close the
 * others; the held session is gone afterwards.  -ESTALE when it does not
 * exist (adopted already, or released), -EACCES for a wrong token or another
 * user's or job's session.  Returns the number of descriptors moved. */
long iond_session_adopt(struct iond_session *s, uint64_t held_id, uint64_t token,
			const int64_t *keep, size_t nkeep);
/* A signal interrupted the client's call seq before a worker ran it: the
 * worker answers EINTR without running it (take returns true once). */
void iond_session_note_interrupt(struct iond_session *s, uint64_t seq);
bool iond_session_take_interrupt(struct iond_session *s, uint64_t seq);
/* Release held sessions older than ttl_ms; returns how many. */
size_t iond_sessions_reap_held(struct iond_sessions *t, uint64_t ttl_ms);

/*
 * Forwarded sockets (sockets.c) keep per-session state here: created on a
 * session's first socket call, told when the session closes (before its
 * descriptors are closed, so no new connection is handed to it), released
 * when the last reference to the session goes.
 */
struct iond_session_sockets_ops {
	void (*close)(struct iond_session *s, void *state);
	void (*release)(void *state);
};
void iond_sessions_set_sockets_ops(struct iond_sessions *t,
				   const struct iond_session_sockets_ops *ops);
/* The session's socket state; installs fresh when it has none yet.  NULL
 * when the session is closed (fresh is then not installed). */
void *iond_session_sockets(struct iond_session *s, void *fresh);

#endif
