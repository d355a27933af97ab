/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Forwarded sockets (issue 5): which connects and binds go to the I/O node
 * (sock.c), the table of forwarded sockets, and the pump that streams their
 * data (sock_pump.c).
 *
 * A connected forwarded socket is, for the program, one end of an AF_UNIX
 * socketpair put at its descriptor number (SOCK_STREAM for TCP,
 * SOCK_SEQPACKET for UDP: datagram boundaries, and the pump sees POLLHUP
 * when the program closes it, which a SOCK_DGRAM pair never reports).  The
 * pump holds the other end.  Sockets are found by the program end's inode
 * (fstat), so dup, fork and close need no tracking; a lock-free bitmap of
 * descriptor numbers that may be forwarded keeps the calls on every other
 * socket (MPI's) native.
 */
#ifndef FERRY_CNK_SOCK_H
#define FERRY_CNK_SOCK_H

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#include <ferry/proto.h>

/* ---- the dispatcher's entry points (sock.c) ---- */

/* Read FERRY_SOCKETS, FERRY_SOCKET_LOCAL, FERRY_SOCKET_FORWARD and
 * FERRY_SOCKET_BIND (at start).  0 or -EINVAL for a malformed setting. */
int cnk_sock_init(void);
/* Socket forwarding is on (an I/O node is named and FERRY_SOCKETS is not off). */
bool cnk_sock_enabled(void);
/* Lock-free: does this call (connect, bind, accept, getsockopt, ...) need the
 * socket handlers?  false: it runs natively. */
bool cnk_sock_wants(long nr, const long *a);
/* The pump runs (exit_group waits for it to pass on what the program wrote). */
bool cnk_sock_active(void);
/* At exit: hand what the program wrote last to the I/O node (bounded wait)
 * and stop the pump's calls.  false: a pump thread is still inside a call,
 * so the transport must not be closed under it (the process ends anyway). */
bool cnk_sock_exit(void);
/* fork: the pump's lock across the fork; the child has no pump (its
 * parent's keeps serving the shared sockets). */
void cnk_sock_atfork_prepare(void);
void cnk_sock_atfork_parent(void);
void cnk_sock_atfork_child(void);

/* ---- shared by sock.c and sock_pump.c ---- */

enum cnk_sock_state {
	CNK_SOCK_CONNECTING, /* non-blocking connect in flight (filler in the end) */
	CNK_SOCK_CONNECTED,  /* data flows through the pump */
	CNK_SOCK_FAILED,     /* connect failed: error kept for SO_ERROR */
	CNK_SOCK_BOUND,      /* forwarded bind, not listening yet */
	CNK_SOCK_LISTENING,  /* forwarded listener: connections are injected */
	CNK_SOCK_INJECTING,  /* accepted on the I/O node, loopback connect in flight */
	CNK_SOCK_CLOSED,     /* both directions done: names kept for the program */
	CNK_SOCK_DATAGRAM,   /* unconnected UDP: each send names its destination */
};

/*
 * The sources of the datagrams an unconnected UDP socket has in its end,
 * oldest first: the pump notes one as it puts a datagram in, recvfrom and
 * recvmsg take it out.  A datagram the program read without asking for its
 * source (read, recv) leaves its entry behind, so a receive takes the first
 * entry that matches what it got (length and first bytes), dropping the
 * older ones.
 */
#define CNK_SOCK_FROM_MAX 256
#define CNK_SOCK_FROM_HEAD 16
struct cnk_sock_from {
	uint32_t len;
	uint8_t head[CNK_SOCK_FROM_HEAD];
	socklen_t addr_len;
	struct sockaddr_storage addr;
};
struct cnk_sock_froms {
	unsigned first, count;
	struct cnk_sock_from e[CNK_SOCK_FROM_MAX];
};

struct cnk_sock {
	struct cnk_sock *next;
	uint64_t ino;      /* the program end's inode (0: not accepted yet) */
	int64_t handle;    /* the I/O node's handle (-1: none) */
	int pump_fd;       /* the runtime's end (-1: none) */
	int domain, type, protocol;
	enum cnk_sock_state state;
	int error;         /* pending SO_ERROR */
	bool inherited;    /* a fork child's copy: the handle is the parent's */
	bool dead;         /* the sender closes the end and the handle */
	bool prog_eof;     /* the program shut down writing */
	bool remote_eof;   /* the peer shut down writing */
	bool shut_sent;    /* SHUT_WR done on the pump end */
	bool filling;      /* connector thread still drops the filler */
	size_t fill;       /* filler bytes (stream) or records (UDP) */
	struct sockaddr_storage peer, local, native;
	socklen_t peer_len, local_len, native_len;
	int64_t listener;  /* injected connection: its listener's handle */
	uint16_t inject_port; /* the pump's loopback port of an injected connection */
	int prog_fd;          /* a listener: the number the program bound it at */
	uint64_t credit_due;  /* bytes (or connections) to give back */
	bool credit_debt;     /* one byte of credit given to wake SOCK_POLL */
	unsigned carry;       /* options set before a non-blocking connect */
	uint8_t *rx;          /* received, not yet taken by the program */
	size_t rx_len;
	struct cnk_sock_froms *froms; /* CNK_SOCK_DATAGRAM: sources (malloc'd) */
};

/* The table's lock: never held across an rpc call. */
extern pthread_mutex_t cnk_sock_lock;
extern struct cnk_sock *cnk_sock_list;
extern _Atomic int cnk_sock_count;     /* entries alive */
extern _Atomic int cnk_sock_listeners; /* LISTENING entries */

/* sock_pump.c */
int cnk_sock_pump_start(void);    /* threads created once; 0 or -errno */
void cnk_sock_pump_wake(void);    /* the sender rebuilds its poll set */
/* A new entry with a handle (under the lock): replay events that arrived
 * before the handle was known. */
void cnk_sock_pump_adopt_pending(struct cnk_sock *s);
/* A new connected socket: make the SOCK_POLL in flight watch it too. */
void cnk_sock_pump_kick(int64_t handle);
/* A connect that does not block: SOCK_CONNECT in a thread of its own. */
int cnk_sock_pump_connect_async(struct cnk_sock *s);
/* Blocking connect finished (used by the connector thread too). */
extern _Atomic bool cnk_sock_pump_running;

/* Every rpc call of the socket code: counted, so that exit can wait for the
 * pump's to end; in a pump thread interruptible by the pump's stop signal. */
long cnk_sock_call(struct ferry_msg *m, void *data, size_t cap, size_t *len, int timeout);

/* sock.c */
struct cnk_sock *cnk_sock_by_handle(int64_t handle); /* under the lock */
/* Session helpers. */
int cnk_sock_session(void);
/* SOCK_CONNECT or SOCK_BIND of a socket like s to addr: the handle (its
 * local name in *local) or -errno. */
long cnk_sock_remote_open(uint16_t op, const struct cnk_sock *s, const void *addr, socklen_t len,
			  int timeout, struct sockaddr_storage *local, socklen_t *local_len);
int cnk_sock_remote_simple(uint16_t op, int64_t a0, int64_t a1, int64_t a2);
int cnk_sock_send_credit(const int64_t *pairs, size_t npairs);
/* Set the options the program set before connect on the I/O node's socket. */
void cnk_sock_carry_options(int64_t handle, unsigned carry);
/* Insert / free (the sender frees, after the lock). */
void cnk_sock_insert(struct cnk_sock *s);
void cnk_sock_free(struct cnk_sock *s);
/* The loopback address a pump connects to, to reach a program's listener. */

#endif
