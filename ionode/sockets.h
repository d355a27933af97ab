/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Forwarded sockets: each session's socket state (struct iond_socks), hung
 * off the session (iond_session_sockets) and created by its first socket
 * call.  For every socket handle it keeps the credit the client gave (bytes
 * for a data socket, connections for a listening cluster's member), whether
 * EOF or an error was already reported, and the connections handed to the
 * session that SOCK_POLL has not announced yet.  One eventfd per session
 * wakes its SOCK_POLL at once on new connections, credit, an INTERRUPT or
 * the session's close.
 *
 * Locks: a cluster's lock (sock_cluster.c) is taken before a session's
 * socket lock, which is taken before the session table's.
 */
#ifndef IOND_SOCKETS_H
#define IOND_SOCKETS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

/* Socket calls run on their own worker pool (handlers.h): at most this
 * many wait at once, beyond that they queue. */
#define IOND_SOCK_WORKERS_MAX 1024

struct ferry_rpc_server;
struct iond_session;
struct iond_sessions;
struct iond_sock_member;
struct iond_sock_policy;
struct iond_socks;

/* Process-wide: the policy (copied) and the session hooks; fini stops the
 * acceptor thread after every session is closed. */
int iond_sockets_init(struct iond_sessions *t, const struct iond_sock_policy *policy);
/* The server whose clients iond_socks_liveness probes (once it is open). */
void iond_sockets_set_server(struct ferry_rpc_server *server);
void iond_sockets_fini(void);
/* Shutdown: every socket wait (SOCK_POLL, connect, send) ends now with
 * ESHUTDOWN instead of holding the drain up. */
void iond_sockets_stop_waits(void);
const struct iond_sock_policy *iond_sockets_policy(void);

/* A nonblocking, close-on-exec socket, bound to sa unless it is NULL
 * (reuse_addr: with SO_REUSEADDR).  The descriptor, or the kernel's errno. */
int iond_socket_open(int family, int type, int protocol, const struct sockaddr *sa,
		     socklen_t sa_len, bool reuse_addr);

/* The session's socket state, created on first use; -ENOTCONN when the
 * session is closed. */
int iond_socks_of(struct iond_session *s, struct iond_socks **out);
struct iond_session *iond_socks_session(const struct iond_socks *ss);
uint64_t iond_socks_id(const struct iond_socks *ss);
uint64_t iond_socks_jobid(const struct iond_socks *ss);

/* Record handle as a socket of type (SOCK_STREAM, SOCK_DGRAM).  member:
 * its listening cluster's membership (credit counts connections), or NULL
 * for a data socket, which starts with FERRY_SOCK_WINDOW bytes of credit. */
int iond_socks_add(struct iond_socks *ss, int64_t handle, int type,
		   struct iond_sock_member *member);
/* The type of a socket handle; -ENOTSOCK when handle is not a socket. */
int iond_socks_type(struct iond_socks *ss, int64_t handle, int *type);
/* The membership behind handle (NULL: not a member).  Call with the
 * cluster lock held: the member stays valid until it is released. */
struct iond_sock_member *iond_socks_member(struct iond_socks *ss, int64_t handle);

/* CLOSE of handle: drop its state, leave its cluster, close connections
 * handed to it that the client never heard of.  Before close(2). */
void iond_sockets_forget(struct iond_session *s, int64_t handle);
/* Add credit from (handle, amount) pairs; unknown handles are skipped
 * (closed meanwhile).  -EINVAL for a negative amount. */
int iond_socks_credit(struct iond_socks *ss, const int64_t *pairs, size_t npairs);

/* have + more (both >= 0, have <= max), at most max. */
int64_t iond_credit_add(int64_t have, int64_t more, int64_t max);

/* The acceptor hands member listener's session a new connection fd.  0: it
 * is now a handle of the session, announced by the next SOCK_POLL;
 * -ESRCH: the listener is gone (fd untouched, give it to another member);
 * other errors: fd was closed. */
int iond_socks_accepted(struct iond_socks *ss, int64_t listener, int fd,
			const struct sockaddr *peer, socklen_t peer_len);

/* How sure the daemon is that the session's client is alive, for the
 * acceptor's choice: polling now, polled a moment ago, or doubtful (then
 * the client is probed, at most once a second, so that a dead one is
 * found and its session closed). */
enum iond_liveness { IOND_LIVE_DOUBTFUL = 0, IOND_LIVE_RECENT = 1, IOND_LIVE_POLLING = 2 };
enum iond_liveness iond_socks_liveness(struct iond_socks *ss);

/* INTERRUPT for call seq of s: a SOCK_POLL, connect or send it names
 * returns EINTR (noted even when it has not started waiting yet). */
void iond_sockets_interrupt(struct iond_session *s, uint64_t seq);
/* Wait until fd has one of events, for call seq: 0, -EINTR (interrupted),
 * -ENOTCONN (session closed), -ESHUTDOWN, -ETIMEDOUT (timeout_ms < 0: no
 * limit). */
int iond_socks_wait_fd(struct iond_socks *ss, uint64_t seq, int fd, short events,
		       int timeout_ms);

/* SOCK_POLL's output: events are encoded at out[len..cap); tmp (tmp_cap
 * bytes, at least cap) receives data before it is encoded. */
struct iond_sock_batch {
	void *out;
	size_t cap;
	size_t len;
	void *tmp;
	long count;
};
/* Add the credit pairs, wait up to timeout_ms (< 0: no limit) for events
 * of the session and encode them into b.  Returns the number of events (0
 * at timeout), or -EBUSY (another SOCK_POLL waits), -EINTR, -ENOTCONN,
 * -ESHUTDOWN, -EINVAL (a negative amount).  The credit counts only once
 * the poll runs: after -EBUSY, -EINVAL or an INTERRUPT that came before it
 * began, none was added (the client still owes it); after an -EINTR while
 * it waited, all was. */
long iond_socks_poll(struct iond_socks *ss, uint64_t seq, int timeout_ms, const int64_t *pairs,
		     size_t npairs, struct iond_sock_batch *b);

#endif
