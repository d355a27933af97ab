/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The pump: two threads of the runtime that stream forwarded sockets.
 *
 * - the receiver loops on SOCK_POLL: DATA goes into the pump's end of the
 *   socket (non-blocking; what does not fit waits in a buffer of at most
 *   FERRY_SOCK_WINDOW, which the credit bounds), EOF becomes a shutdown of
 *   the pump's end once the data is through, ERROR is kept for SO_ERROR and
 *   the end closed, ACCEPT injects the connection into the program's own
 *   listener by a loopback connect.  Credit for what reached the program
 *   rides on the next SOCK_POLL.
 * - the sender poll()s the pump's ends: program data -> SOCK_SEND (up to
 *   the inline limit per call), the program's EOF -> SOCK_SHUTDOWN, every
 *   program copy closed (POLLHUP) -> CLOSE; buffered data is flushed when
 *   the end is writable and its credit returned with SOCK_CREDIT.  It alone
 *   closes pump ends and frees entries, so the receiver never writes into a
 *   number that was closed and reused.
 *
 * Handles are the I/O node's descriptor numbers: a closed one is soon
 * reused for a new socket.  So the receiver alone sends CLOSE, between two
 * SOCK_POLLs: a poll reply processed before the CLOSE can only hold events
 * of the old socket (its entry is kept, marked closed, and they are
 * dropped), and every poll after it was begun once the old socket was gone.
 * The sender asks for the CLOSE by interrupting the receiver's poll (the
 * pump's signal, left pending on the receiver, which blocks it).
 *
 * The threads are created from inside a handler, where the thread's Syscall
 * User Dispatch selector allows every call: clone runs natively, the new
 * thread is not armed (SUD is per thread and not inherited), its own
 * selector byte is zero (allow), so neither a trap nor a rewritten call site
 * (cnk_fast_entry tests the selector) ever sends it to the dispatcher.  The
 * pump's own I/O uses raw syscalls anyway, and every signal is blocked in
 * its threads: the program's handlers run on the program's threads.
 *
 * fork: the child shares the program ends, and the parent's pump keeps
 * serving them (the kernel shares one socket the same way); the child
 * closes its copies of the pump ends and starts a pump of its own (a
 * session of its own) at its first forwarded socket.  exec: the pump ends
 * are close-on-exec; a process that execs loses the pump that serves its
 * forwarded sockets (the new image sees them end: EOF), unless another
 * process (the parent of a fork child that execs) still serves them.
 */
#include "sock.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <dirent.h>
#include <stdio.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include <ferry/log.h>
#include <ferry/proto.h>

#include "raw_syscall.h"
#include "runtime_fds.h"
#include "session.h"

_Atomic bool cnk_sock_pump_running;

/* Exit stops the pump's calls before the transport closes: a signal the
 * pump's threads block stays pending on them, and the interruptible wait
 * (session.c) turns it into an INTERRUPT of the call in flight. */
#define PUMP_STOP_SIGNAL 64
#define PUMP_TIDS_MAX 64
static atomic_bool pump_stopping;
static _Atomic int pump_in_calls;
static _Atomic int pump_tids[PUMP_TIDS_MAX];
static __thread bool pump_thread;
static _Atomic int pump_receiver_tid;
static pthread_mutex_t pump_start_lock = PTHREAD_MUTEX_INITIALIZER;
static int pump_wake_fd = -1;

/* Handles to CLOSE (the sender sends them, never under the lock). */
#define PUMP_CLOSE_MAX 256
static int64_t pump_close_queue[PUMP_CLOSE_MAX];
static size_t pump_close_count;

/* Events for a handle not in the table yet (the reply to SOCK_CONNECT and
 * the first data can race). */
struct pump_pending {
	struct pump_pending *next;
	struct ferry_sockev ev;
	uint64_t when_ms;
	uint8_t addr[FERRY_SOCKADDR_MAX];
	uint8_t data[];
};
static struct pump_pending *pump_pending_list;
#define PUMP_PENDING_MS 30000

/* exit: the sender passes on what the program wrote last. */
static atomic_bool pump_exit_req;
static pthread_mutex_t pump_exit_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t pump_exit_cond = PTHREAD_COND_INITIALIZER;
static bool pump_flushed;
#define PUMP_EXIT_WAIT_MS 2000

#define PUMP_POLL_MS 10000
#define PUMP_LISTENER_CHECK_MS 1000
#define PUMP_POLL_RPC_MS (PUMP_POLL_MS + 30000)

static uint64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

/* A pump thread starts: no signal handler ever runs here, and only the
 * stop signal interrupts its calls. */
static int pump_thread_begin(void)
{
	uint64_t all = ~0ull;
	int tid = (int)cnk_raw_syscall(SYS_gettid, 0, 0, 0);

	cnk_raw_syscall6(SYS_rt_sigprocmask, SIG_SETMASK, (long)&all, 0, sizeof(all), 0, 0);
	pump_thread = true;
	cnk_session_set_app_mask(~(1ull << (PUMP_STOP_SIGNAL - 1)));
	for (int i = 0; i < PUMP_TIDS_MAX; i++) {
		int free_slot = 0;

		if (atomic_compare_exchange_strong(&pump_tids[i], &free_slot, tid))
			return i;
	}
	return -1;
}

static void pump_thread_end(int slot)
{
	if (slot >= 0)
		atomic_store(&pump_tids[slot], 0);
}

long cnk_sock_call(struct ferry_msg *m, void *data, size_t cap, size_t *len, int timeout)
{
	long ret;

	if (len)
		*len = 0;
	atomic_fetch_add(&pump_in_calls, 1);
	if (atomic_load(&pump_stopping)) {
		atomic_fetch_sub(&pump_in_calls, 1);
		return -ESHUTDOWN;
	}
	ret = cnk_session_call(m, NULL, data, cap, len,
			       pump_thread ? CNK_CALL_INTERRUPTIBLE : timeout);
	atomic_fetch_sub(&pump_in_calls, 1);
	return ret;
}

void cnk_sock_pump_wake(void)
{
	uint64_t one = 1;

	if (pump_wake_fd >= 0)
		cnk_raw_syscall(SYS_write, pump_wake_fd, &one, sizeof(one));
}

/* The receiver's poll returns at once (EINTR) and it sends the CLOSEs. */
static void wake_receiver(void)
{
	int tid = atomic_load(&pump_receiver_tid);

	if (tid)
		cnk_raw_syscall(SYS_tgkill, cnk_raw_syscall(SYS_getpid, 0, 0, 0), tid,
				PUMP_STOP_SIGNAL);
}

static void queue_close(int64_t handle)
{
	if (handle < 0)
		return;
	if (pump_close_count < PUMP_CLOSE_MAX)
		pump_close_queue[pump_close_count++] = handle;
	else
		FLOG_WARN(cnk_session_id(), cnk_session_job(),
			  "socket handle %lld left open on the I/O node (close queue full)",
			  (long long)handle);
}

static long raw_send(int fd, const void *buf, size_t len)
{
	return cnk_raw_syscall6(SYS_sendto, fd, (long)buf, (long)len, MSG_DONTWAIT | MSG_NOSIGNAL,
				0, 0);
}

/* ---- the receiver's events (under the lock) ---- */

/* Note the source of a datagram just put in an unconnected socket's end;
 * the oldest goes when the record is full. */
static void note_from(struct cnk_sock *s, const uint8_t *data, size_t len, const void *addr,
		      uint16_t addr_len)
{
	struct cnk_sock_froms *f = s->froms;
	struct cnk_sock_from *e;

	if (!f) {
		f = s->froms = calloc(1, sizeof(*f));
		if (!f)
			return; /* the receive reports no source */
	}
	if (f->count == CNK_SOCK_FROM_MAX) {
		f->first = (f->first + 1) % CNK_SOCK_FROM_MAX;
		f->count--;
	}
	e = &f->e[(f->first + f->count++) % CNK_SOCK_FROM_MAX];
	e->len = (uint32_t)len;
	memcpy(e->head, data, len < CNK_SOCK_FROM_HEAD ? len : CNK_SOCK_FROM_HEAD);
	e->addr_len = addr && addr_len <= sizeof(e->addr) ? addr_len : 0;
	if (e->addr_len)
		memcpy(&e->addr, addr, e->addr_len);
}

static void deliver(struct cnk_sock *s, const struct ferry_sockev *ev)
{
	const uint8_t *data = ev->data;
	size_t off = 0, len = ev->data_len;
	long n;

	if (s->pump_fd < 0 || s->dead || s->state == CNK_SOCK_FAILED) {
		s->credit_due += len; /* nobody reads it */
		return;
	}
	if (s->type == SOCK_DGRAM) {
		/* One datagram per record; one that does not fit is lost, as
		 * a full UDP receive buffer would lose it. */
		if (s->state == CNK_SOCK_CONNECTED && !s->filling) {
			raw_send(s->pump_fd, data, len);
		} else if (s->state == CNK_SOCK_DATAGRAM) {
			n = raw_send(s->pump_fd, data, len);
			if (n >= 0)
				note_from(s, data, len, ev->addr, ev->addr_len);
		}
		s->credit_due += len;
		return;
	}
	if (!s->rx_len && s->state == CNK_SOCK_CONNECTED && !s->filling) {
		n = raw_send(s->pump_fd, data, len);
		if (n == -EPIPE || n == -ECONNRESET) {
			s->credit_due += len;
			return;
		}
		if (n > 0) {
			off = (size_t)n;
			s->credit_due += (uint64_t)n;
		}
	}
	if (off == len)
		return;
	if (!s->rx) {
		s->rx = malloc(FERRY_SOCK_WINDOW + 1);
		if (!s->rx) {
			s->error = ENOMEM;
			s->dead = true;
			return;
		}
	}
	/* (+1: the byte of a kick, see cnk_sock_pump_kick) */
	if (len - off > FERRY_SOCK_WINDOW + 1 - s->rx_len) {
		FLOG_ERR(cnk_session_id(), cnk_session_job(),
			 "socket handle %lld: the I/O node sent more than its credit",
			 (long long)s->handle);
		s->error = EPROTO;
		s->dead = true;
		return;
	}
	memcpy(s->rx + s->rx_len, data + off, len - off);
	s->rx_len += len - off;
	cnk_sock_pump_wake();
}

/* A connection accepted on the I/O node: connect to the program's listener
 * over loopback; the program's accept() returns it, and the accept handler
 * (sock.c) finds its real peer by the pump's loopback port. */
static void inject(struct cnk_sock *l, int64_t handle, const void *addr, uint16_t addr_len)
{
	struct sockaddr_storage me;
	socklen_t me_len = sizeof(me);
	struct cnk_sock *s;
	long fd, high, ret;

	if (l->state != CNK_SOCK_LISTENING || l->dead) {
		queue_close(handle);
		return;
	}
	s = calloc(1, sizeof(*s));
	if (!s) {
		queue_close(handle);
		return;
	}
	s->handle = handle;
	s->pump_fd = -1;
	s->listener = l->handle;
	s->domain = l->domain;
	s->type = SOCK_STREAM;
	s->protocol = l->protocol;
	s->state = CNK_SOCK_INJECTING;
	if (addr_len && addr_len <= sizeof(s->peer)) {
		memcpy(&s->peer, addr, addr_len);
		s->peer_len = addr_len;
	}
	fd = cnk_raw_syscall(SYS_socket, l->native.ss_family,
			     SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0)
		goto fail;
	high = cnk_raw_syscall(SYS_fcntl, fd, F_DUPFD_CLOEXEC, CNK_RUNTIME_FD_LOW);
	if (high >= 0) {
		cnk_raw_syscall(SYS_close, fd, 0, 0);
		fd = high;
	}
	ret = cnk_raw_syscall(SYS_connect, fd, &l->native, l->native_len);
	if (ret == 0 || ret == -EINPROGRESS)
		ret = cnk_raw_syscall(SYS_getsockname, fd, &me, &me_len);
	if (ret < 0) {
		FLOG_WARN(cnk_session_id(), cnk_session_job(),
			  "listener handle %lld: the program's listener is gone (%s): it leaves "
			  "the port",
			  (long long)l->handle, strerror((int)-ret));
		cnk_raw_syscall(SYS_close, fd, 0, 0);
		l->dead = true;
		cnk_sock_pump_wake();
		goto fail;
	}
	s->inject_port = ntohs(me.ss_family == AF_INET6 ? ((struct sockaddr_in6 *)&me)->sin6_port
							: ((struct sockaddr_in *)&me)->sin_port);
	s->pump_fd = (int)fd;
	cnk_sock_insert(s);
	cnk_sock_pump_wake();
	FLOG_DEBUG(cnk_session_id(), cnk_session_job(),
		   "listener handle %lld: connection %lld injected from loopback port %u",
		   (long long)l->handle, (long long)handle, s->inject_port);
	return;
fail:
	queue_close(handle);
	free(s);
}

static void handle_event(const struct ferry_sockev *ev);

static void pend(const struct ferry_sockev *ev)
{
	struct pump_pending *p = malloc(sizeof(*p) + ev->data_len);

	if (!p)
		return;
	p->ev = *ev;
	if (ev->addr_len)
		memcpy(p->addr, ev->addr, ev->addr_len);
	if (ev->data_len)
		memcpy(p->data, ev->data, ev->data_len);
	p->ev.addr = p->addr;
	p->ev.data = p->data;
	p->when_ms = now_ms();
	p->next = pump_pending_list;
	pump_pending_list = p;
}

void cnk_sock_pump_adopt_pending(struct cnk_sock *s)
{
	struct pump_pending **pp = &pump_pending_list, *p, *mine = NULL;

	while ((p = *pp)) {
		if (p->ev.handle == s->handle) {
			*pp = p->next;
			p->next = mine;
			mine = p;
		} else {
			pp = &p->next;
		}
	}
	/* Oldest first: the list was built newest first, and reversed above. */
	while ((p = mine)) {
		mine = p->next;
		handle_event(&p->ev);
		free(p);
	}
}

static void pending_expire(void)
{
	struct pump_pending **pp = &pump_pending_list, *p;
	uint64_t now = now_ms();

	while ((p = *pp)) {
		if (now - p->when_ms > PUMP_PENDING_MS) {
			*pp = p->next;
			free(p);
		} else {
			pp = &p->next;
		}
	}
}

static void handle_event(const struct ferry_sockev *ev)
{
	struct cnk_sock *s = cnk_sock_by_handle(ev->handle);

	if (!s) {
		pend(ev);
		return;
	}
	if (s->state == CNK_SOCK_CLOSED || s->state == CNK_SOCK_FAILED || s->dead) {
		/* The old socket of a handle whose CLOSE is on its way. */
		if (ev->kind == FERRY_SOCKEV_ACCEPT)
			queue_close(ev->aux);
		return;
	}
	switch (ev->kind) {
	case FERRY_SOCKEV_DATA:
		deliver(s, ev);
		break;
	case FERRY_SOCKEV_EOF:
		s->remote_eof = true;
		cnk_sock_pump_wake();
		break;
	case FERRY_SOCKEV_ERROR:
		s->error = ev->value;
		s->dead = true;
		cnk_sock_pump_wake();
		break;
	case FERRY_SOCKEV_ACCEPT:
		inject(s, ev->aux, ev->addr, ev->addr_len);
		break;
	default:
		break;
	}
}

/* Credit owed to the I/O node, as (handle, amount) pairs (under the lock). */
static size_t take_credit(int64_t *pairs, size_t max_pairs)
{
	size_t n = 0;

	for (struct cnk_sock *s = cnk_sock_list; s && n < max_pairs; s = s->next) {
		if (!s->credit_due || s->handle < 0 || s->inherited ||
		    s->state == CNK_SOCK_CLOSED || s->state == CNK_SOCK_FAILED)
			continue;
		if (s->credit_debt) {
			s->credit_debt = false;
			if (!--s->credit_due)
				continue;
		}
		pairs[2 * n] = s->handle;
		pairs[2 * n + 1] = (int64_t)s->credit_due;
		s->credit_due = 0;
		n++;
	}
	return n;
}

static void fail_all(int err)
{
	pthread_mutex_lock(&cnk_sock_lock);
	for (struct cnk_sock *s = cnk_sock_list; s; s = s->next) {
		if (s->inherited || s->state == CNK_SOCK_CLOSED)
			continue;
		s->error = err;
		s->dead = true;
	}
	pthread_mutex_unlock(&cnk_sock_lock);
	cnk_sock_pump_wake();
}

#define PUMP_CREDIT_PAIRS 256

/* The wake-up signal left pending on the receiver: taken, so that the next
 * poll is not interrupted by it again. */
static void take_wake_signal(void)
{
	uint64_t set = 1ull << (PUMP_STOP_SIGNAL - 1);
	struct timespec zero = { 0, 0 };

	if (!atomic_load(&pump_stopping))
		cnk_raw_syscall6(SYS_rt_sigtimedwait, (long)&set, 0, (long)&zero, sizeof(set), 0,
				 0);
}

/* Between two polls: the CLOSEs the sender asked for; then the handles
 * are free for new sockets, and events still pending for them are stale. */
static void send_closes(int64_t *closes)
{
	size_t n;

	pthread_mutex_lock(&cnk_sock_lock);
	n = pump_close_count;
	memcpy(closes, pump_close_queue, n * sizeof(int64_t));
	pump_close_count = 0;
	pthread_mutex_unlock(&cnk_sock_lock);
	if (!n)
		return;
	for (size_t i = 0; i < n; i++)
		cnk_sock_remote_simple(FERRY_OP_CLOSE, closes[i], 0, 0);
	pthread_mutex_lock(&cnk_sock_lock);
	for (size_t i = 0; i < n; i++) {
		struct pump_pending **pp = &pump_pending_list, *p;

		for (struct cnk_sock *s = cnk_sock_list; s; s = s->next)
			if (s->handle == closes[i] && !s->inherited &&
			    (s->state == CNK_SOCK_CLOSED || s->state == CNK_SOCK_FAILED))
				s->handle = -1;
		while ((p = *pp)) {
			if (p->ev.handle == closes[i]) {
				*pp = p->next;
				free(p);
			} else {
				pp = &p->next;
			}
		}
	}
	pthread_mutex_unlock(&cnk_sock_lock);
}

static void *pump_receiver(void *arg)
{
	size_t cap = cnk_session_inline_max();
	uint8_t *events = malloc(cap), *wire = malloc(PUMP_CREDIT_PAIRS * 16);
	int64_t *pairs = malloc(PUMP_CREDIT_PAIRS * 2 * sizeof(int64_t));
	int64_t *closes = malloc(PUMP_CLOSE_MAX * sizeof(int64_t));
	int slot = pump_thread_begin();

	(void)arg;
	atomic_store(&pump_receiver_tid, (int)cnk_raw_syscall(SYS_gettid, 0, 0, 0));
	if (!events || !wire || !pairs || !closes) {
		FLOG_ERR(cnk_session_id(), cnk_session_job(),
			 "socket pump: out of memory: forwarded sockets receive nothing");
		fail_all(ENOMEM);
		goto out;
	}
	for (;;) {
		struct ferry_sockev ev;
		struct ferry_msg m;
		size_t npairs, got = 0, off = 0;
		long ret;

		pthread_mutex_lock(&cnk_sock_lock);
		npairs = take_credit(pairs, PUMP_CREDIT_PAIRS);
		pending_expire();
		pthread_mutex_unlock(&cnk_sock_lock);
		cnk_session_msg(&m, FERRY_OP_SOCK_POLL);
		ferry_msg_add_arg(&m, PUMP_POLL_MS);
		ferry_msg_add_arg(&m, (int64_t)cap);
		m.data = wire;
		m.data_len = (uint32_t)ferry_i64s_encode(pairs, 2 * npairs, wire,
							 PUMP_CREDIT_PAIRS * 16);
		ret = cnk_sock_call(&m, events, cap, &got, PUMP_POLL_RPC_MS);
		if (atomic_load(&pump_stopping))
			break;
		if (ret < 0) {
			if (npairs) {
				/* Not delivered: owed again. */
				pthread_mutex_lock(&cnk_sock_lock);
				for (size_t i = 0; i < npairs; i++) {
					struct cnk_sock *s = cnk_sock_by_handle(pairs[2 * i]);

					if (s)
						s->credit_due += (uint64_t)pairs[2 * i + 1];
				}
				pthread_mutex_unlock(&cnk_sock_lock);
			}
			if (ret == -EINTR || ret == -ETIMEDOUT || ret == -EAGAIN) {
				take_wake_signal();
				send_closes(closes);
				continue;
			}
			if (atomic_load(&pump_exit_req))
				break; /* the session closes: the process exits */
			if (ret == -EBUSY) {
				struct timespec ts = { 0, 10 * 1000 * 1000 };

				nanosleep(&ts, NULL);
				continue;
			}
			FLOG_ERR(cnk_session_id(), cnk_session_job(),
				 "socket pump: SOCK_POLL failed (%s): forwarded sockets are reset",
				 strerror((int)-ret));
			fail_all(ECONNRESET);
			break;
		}
		pthread_mutex_lock(&cnk_sock_lock);
		while ((ret = ferry_sockev_decode(events, got, &off, &ev)) == 1)
			handle_event(&ev);
		pthread_mutex_unlock(&cnk_sock_lock);
		if (ret < 0)
			FLOG_ERR(cnk_session_id(), cnk_session_job(),
				 "socket pump: a malformed event from the I/O node (%s)",
				 strerror((int)-ret));
		send_closes(closes);
	}
out:
	atomic_store(&pump_receiver_tid, 0);
	free(events);
	free(wire);
	free(pairs);
	free(closes);
	pump_thread_end(slot);
	return NULL;
}

/* ---- the sender ---- */

static long remote_send(int64_t handle, const uint8_t *buf, size_t len)
{
	while (len) {
		struct ferry_msg m;
		long ret;

		cnk_session_msg(&m, FERRY_OP_SOCK_SEND);
		ferry_msg_add_arg(&m, handle);
		ferry_msg_add_arg(&m, 0);
		ferry_msg_add_arg(&m, 0);
		m.data = buf;
		m.data_len = (uint32_t)len;
		ret = cnk_sock_call(&m, NULL, 0, NULL, CNK_CALL_BLOCKING);
		if (ret < 0)
			return ret;
		if (ret == 0 || (size_t)ret > len)
			return -EIO;
		buf += ret;
		len -= (size_t)ret;
	}
	return 0;
}

/* The sender's housekeeping (under the lock): dead entries lose their end
 * and their handle, remote EOF reaches the program once the data has. */
static void reap(void)
{
	struct cnk_sock **pp = &cnk_sock_list, *s;
	bool closing = false;
	int closed = 0;

	for (s = cnk_sock_list; s; s = s->next) {
		if (s->state == CNK_SOCK_CONNECTED && !s->dead && s->remote_eof && !s->rx_len &&
		    !s->shut_sent && s->pump_fd >= 0) {
			cnk_raw_syscall(SYS_shutdown, s->pump_fd, SHUT_WR, 0);
			s->shut_sent = true;
			if (s->prog_eof)
				s->dead = true;
		}
		if (!s->dead)
			continue;
		s->dead = false;
		if (s->pump_fd >= 0)
			cnk_raw_syscall(SYS_close, s->pump_fd, 0, 0);
		s->pump_fd = -1;
		if (s->state == CNK_SOCK_CLOSED)
			continue; /* already on its way */
		if (!s->inherited && s->handle >= 0) {
			queue_close(s->handle);
			closing = true;
		}
		if (s->state == CNK_SOCK_LISTENING)
			atomic_fetch_sub(&cnk_sock_listeners, 1);
		if (s->state != CNK_SOCK_FAILED)
			s->state = CNK_SOCK_CLOSED;
		s->credit_due = 0;
		free(s->rx);
		s->rx = NULL;
		s->rx_len = 0;
	}
	/* Closed entries keep their names for the program, within bounds; one
	 * the program never got (ino 0) goes at once. */
	while ((s = *pp)) {
		bool over = s->state == CNK_SOCK_CLOSED || s->state == CNK_SOCK_FAILED;

		/* (a handle not closed yet keeps its entry: events for it
		 * must not look like a new socket's) */
		if (over && (s->handle < 0 || s->inherited) && (s->ino == 0 || ++closed > 256)) {
			*pp = s->next;
			atomic_fetch_sub(&cnk_sock_count, 1);
			cnk_sock_free(s);
			continue;
		}
		pp = &s->next;
	}
	if (closing)
		wake_receiver();
}

struct pump_round {
	struct pollfd *fds;
	struct cnk_sock **ents;
	size_t n, cap;
};

static int round_add(struct pump_round *r, int fd, short events, struct cnk_sock *s)
{
	if (r->n == r->cap) {
		size_t cap = r->cap ? 2 * r->cap : 64;
		struct pollfd *fds = realloc(r->fds, cap * sizeof(*fds));
		struct cnk_sock **ents;

		if (!fds)
			return -ENOMEM;
		r->fds = fds;
		ents = realloc(r->ents, cap * sizeof(*ents));
		if (!ents)
			return -ENOMEM;
		r->ents = ents;
		r->cap = cap;
	}
	r->fds[r->n].fd = fd;
	r->fds[r->n].events = events;
	r->fds[r->n].revents = 0;
	r->ents[r->n++] = s;
	return 0;
}

static void mark_dead(struct cnk_sock *s, int err)
{
	pthread_mutex_lock(&cnk_sock_lock);
	if (err)
		s->error = err;
	s->dead = true;
	pthread_mutex_unlock(&cnk_sock_lock);
}

/* Program data to the I/O node; true when something was read. */
static bool pump_out(struct cnk_sock *s, short revents, uint8_t *buf, size_t cap)
{
	bool any = false;

	for (int k = 0; k < 16; k++) {
		long n = cnk_raw_syscall6(SYS_recvfrom, s->pump_fd, (long)buf, (long)cap,
					  MSG_DONTWAIT, 0, 0);

		if (n > 0) {
			long ret = remote_send(s->handle, buf, (size_t)n);

			any = true;
			if (ret < 0) {
				FLOG_DEBUG(cnk_session_id(), cnk_session_job(),
					   "socket handle %lld: send: %s", (long long)s->handle,
					   strerror((int)-ret));
				/* An unconnected socket's write without a
				 * destination (EDESTADDRREQ) loses that
				 * datagram only. */
				if (s->state == CNK_SOCK_DATAGRAM && ret != -EIO &&
				    ret != -ESHUTDOWN)
					continue;
				mark_dead(s, (int)-ret);
				return any;
			}
			continue;
		}
		if (n == -EAGAIN)
			break;
		if (n == 0) {
			/* The program shut down writing (or closed every copy). */
			bool both;

			any = true;
			if (s->type == SOCK_STREAM)
				cnk_sock_remote_simple(FERRY_OP_SOCK_SHUTDOWN, s->handle, SHUT_WR, 0);
			pthread_mutex_lock(&cnk_sock_lock);
			s->prog_eof = true;
			both = s->remote_eof && !s->rx_len;
			if (both || (revents & POLLHUP) || s->type != SOCK_STREAM)
				s->dead = true;
			pthread_mutex_unlock(&cnk_sock_lock);
			return any;
		}
		mark_dead(s, (int)-n);
		return true;
	}
	if (revents & (POLLHUP | POLLERR)) {
		mark_dead(s, 0);
		any = true;
	}
	return any;
}

static void pump_flush(struct cnk_sock *s)
{
	long n;

	pthread_mutex_lock(&cnk_sock_lock);
	if (s->rx_len && s->pump_fd >= 0) {
		n = raw_send(s->pump_fd, s->rx, s->rx_len);
		if (n > 0) {
			memmove(s->rx, s->rx + n, s->rx_len - (size_t)n);
			s->rx_len -= (size_t)n;
			s->credit_due += (uint64_t)n;
		} else if (n != -EAGAIN) {
			s->dead = true;
		}
	}
	pthread_mutex_unlock(&cnk_sock_lock);
}

static void injected(struct cnk_sock *s)
{
	struct cnk_sock *l;
	int err = 0;
	socklen_t len = sizeof(err);

	cnk_raw_syscall6(SYS_getsockopt, s->pump_fd, SOL_SOCKET, SO_ERROR, (long)&err,
			 (long)&len, 0);
	pthread_mutex_lock(&cnk_sock_lock);
	l = cnk_sock_by_handle(s->listener);
	if (err == 0) {
		s->state = CNK_SOCK_CONNECTED;
		/* In the listener's kernel backlog now: the I/O node may hand
		 * over the next one.  (Counted here, not at accept(): a fork
		 * child or a dup of the listener accepts unseen.) */
		if (l && l->state == CNK_SOCK_LISTENING)
			l->credit_due++;
	} else {
		/* Refused: nothing listens any more.  Anything else (a backlog
		 * full for minutes): this connection is lost, the listener stays. */
		FLOG_WARN(cnk_session_id(), cnk_session_job(),
			  "listener handle %lld: injecting a connection failed (%s)%s",
			  (long long)s->listener, strerror(err),
			  err == ECONNREFUSED ? ": it leaves the port" : "");
		if (l && err == ECONNREFUSED)
			l->dead = true;
		else if (l && l->state == CNK_SOCK_LISTENING)
			l->credit_due++;
		s->dead = true;
	}
	pthread_mutex_unlock(&cnk_sock_lock);
}

/* Is the socket with this inode still open in the process?  The number
 * the program bound it at first, then every descriptor. */
static bool socket_open(int fd_hint, uint64_t ino)
{
	char link[64], want[64];
	struct dirent64 *d;
	char buf[4096];
	bool found = false;
	long dir, n;
	struct stat st;

	if (cnk_raw_syscall(SYS_fstat, fd_hint, &st, 0) == 0 && st.st_ino == ino &&
	    S_ISSOCK(st.st_mode))
		return true;
	snprintf(want, sizeof(want), "socket:[%llu]", (unsigned long long)ino);
	dir = cnk_raw_syscall(SYS_openat, AT_FDCWD, "/proc/self/fd",
			      O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dir < 0)
		return true; /* cannot tell: keep it */
	while (!found && (n = cnk_raw_syscall(SYS_getdents64, dir, buf, sizeof(buf))) > 0) {
		for (long off = 0; off < n && !found; off += d->d_reclen) {
			long len;

			d = (struct dirent64 *)(buf + off);
			len = cnk_raw_syscall6(SYS_readlinkat, dir, (long)d->d_name, (long)link,
					       sizeof(link) - 1, 0, 0);
			if (len > 0) {
				link[len] = '\0';
				found = !strcmp(link, want);
			}
		}
	}
	cnk_raw_syscall(SYS_close, dir, 0, 0);
	return found;
}

/* A program that closes its listening socket leaves the port's cluster
 * (nothing else tells the runtime: the listener has no pump end). */
static void listeners_check(void)
{
	static uint64_t last_ms;
	uint64_t now = now_ms();
	struct {
		struct cnk_sock *s;
		int fd;
		uint64_t ino;
	} seen[16];
	size_t n = 0;

	if (now - last_ms < PUMP_LISTENER_CHECK_MS)
		return;
	last_ms = now;
	pthread_mutex_lock(&cnk_sock_lock);
	for (struct cnk_sock *s = cnk_sock_list; s && n < 16; s = s->next)
		if (s->state == CNK_SOCK_LISTENING && !s->inherited && !s->dead)
			seen[n++] = (typeof(seen[0])){ s, s->prog_fd, s->ino };
	pthread_mutex_unlock(&cnk_sock_lock);
	for (size_t i = 0; i < n; i++) {
		if (socket_open(seen[i].fd, seen[i].ino))
			continue;
		FLOG_INFO(cnk_session_id(), cnk_session_job(),
			  "listening socket %d closed by the program: it leaves the port", seen[i].fd);
		pthread_mutex_lock(&cnk_sock_lock);
		seen[i].s->dead = true;
		pthread_mutex_unlock(&cnk_sock_lock);
		cnk_sock_pump_wake();
	}
}

static void *pump_sender(void *arg)
{
	size_t cap = cnk_session_inline_max();
	int64_t *pairs = malloc(PUMP_CREDIT_PAIRS * 2 * sizeof(int64_t));
	uint8_t *buf = malloc(cap);
	struct pump_round r = { 0 };

	int slot = pump_thread_begin();

	(void)arg;
	if (!pairs || !buf) {
		FLOG_ERR(cnk_session_id(), cnk_session_job(),
			 "socket pump: out of memory: forwarded sockets send nothing");
		fail_all(ENOMEM);
		goto out;
	}
	while (!atomic_load(&pump_stopping)) {
		size_t npairs, i;
		bool exiting = atomic_load(&pump_exit_req), busy = false;
		long ret;

		r.n = 0;
		pthread_mutex_lock(&cnk_sock_lock);
		reap();
		ret = round_add(&r, pump_wake_fd, POLLIN, NULL);
		for (struct cnk_sock *s = cnk_sock_list; s && ret == 0; s = s->next) {
			short events = 0;

			if (s->pump_fd < 0 || s->dead || s->filling)
				continue;
			if (s->state == CNK_SOCK_INJECTING)
				events = POLLOUT;
			else if (s->state == CNK_SOCK_CONNECTED || s->state == CNK_SOCK_DATAGRAM)
				events = (short)((s->prog_eof ? 0 : POLLIN) | (s->rx_len ? POLLOUT : 0));
			else
				continue;
			ret = round_add(&r, s->pump_fd, events, s);
		}
		npairs = take_credit(pairs, PUMP_CREDIT_PAIRS);
		pthread_mutex_unlock(&cnk_sock_lock);
		if (ret < 0) {
			fail_all(ENOMEM);
			break;
		}
		if (npairs)
			cnk_sock_send_credit(pairs, npairs);

		ret = cnk_raw_syscall(SYS_poll, r.fds, r.n,
				      exiting ? 0
				      : atomic_load(&cnk_sock_listeners) ? PUMP_LISTENER_CHECK_MS
									 : -1);
		if (atomic_load(&cnk_sock_listeners))
			listeners_check();
		if (ret < 0 && ret != -EINTR) {
			FLOG_ERR(cnk_session_id(), cnk_session_job(), "socket pump: poll: %s",
				 strerror((int)-ret));
			fail_all(EIO);
			break;
		}
		if (ret > 0 && (r.fds[0].revents & POLLIN)) {
			uint64_t v;

			cnk_raw_syscall(SYS_read, pump_wake_fd, &v, sizeof(v));
		}
		for (i = 1; ret > 0 && i < r.n; i++) {
			struct cnk_sock *s = r.ents[i];
			short rev = r.fds[i].revents;

			if (!rev)
				continue;
			if (s->state == CNK_SOCK_INJECTING) {
				injected(s);
				continue;
			}
			if (rev & POLLOUT)
				pump_flush(s);
			if ((rev & (POLLIN | POLLHUP | POLLERR)) && pump_out(s, rev, buf, cap))
				busy = true;
		}
		if (exiting && !busy) {
			pthread_mutex_lock(&pump_exit_lock);
			pump_flushed = true;
			pthread_cond_broadcast(&pump_exit_cond);
			pthread_mutex_unlock(&pump_exit_lock);
		}
	}
out:
	free(pairs);
	free(buf);
	free(r.fds);
	free(r.ents);
	pump_thread_end(slot);
	return NULL;
}

/* ---- starting, connecting, exit and fork ---- */

static int start_thread(void *(*fn)(void *), void *arg)
{
	pthread_attr_t attr;
	pthread_t t;
	sigset_t all;
	int ret;

	sigfillset(&all);
	ret = pthread_attr_init(&attr);
	if (ret)
		return -ret;
	pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
	pthread_attr_setsigmask_np(&attr, &all);
	ret = pthread_create(&t, &attr, fn, arg);
	pthread_attr_destroy(&attr);
	return -ret;
}

int cnk_sock_pump_start(void)
{
	int ret = 0;
	long fd;

	if (atomic_load(&cnk_sock_pump_running))
		return 0;
	pthread_mutex_lock(&pump_start_lock);
	if (atomic_load(&cnk_sock_pump_running))
		goto out;
	if (!cnk_session_inline_max()) {
		ret = -ENETUNREACH;
		goto out;
	}
	fd = cnk_raw_syscall(SYS_eventfd2, 0, EFD_NONBLOCK | EFD_CLOEXEC, 0);
	if (fd >= 0) {
		long high = cnk_raw_syscall(SYS_fcntl, fd, F_DUPFD_CLOEXEC, CNK_RUNTIME_FD_LOW);

		if (high >= 0) {
			cnk_raw_syscall(SYS_close, fd, 0, 0);
			fd = high;
		}
	}
	if (fd < 0) {
		ret = (int)fd;
		goto out;
	}
	pump_wake_fd = (int)fd;
	ret = start_thread(pump_receiver, NULL);
	if (ret == 0)
		ret = start_thread(pump_sender, NULL);
	if (ret < 0) {
		/* A receiver without a sender still returns credit: harmless. */
		FLOG_ERR(cnk_session_id(), cnk_session_job(), "socket pump: no thread: %s",
			 strerror(-ret));
		goto out;
	}
	atomic_store(&cnk_sock_pump_running, true);
	FLOG_INFO(cnk_session_id(), cnk_session_job(), "socket pump started");
out:
	pthread_mutex_unlock(&pump_start_lock);
	return ret;
}

/*
 * The I/O node's SOCK_POLL in flight watches the sockets that existed when
 * it began; a socket connected later is seen at its next round, which
 * credit wakes at once.  One byte of credit (taken back from the socket's
 * first return) is that wake-up.
 */
void cnk_sock_pump_kick(int64_t handle)
{
	int64_t pair[2] = { handle, 1 };
	struct cnk_sock *s;
	bool kick = false;

	pthread_mutex_lock(&cnk_sock_lock);
	s = cnk_sock_by_handle(handle);
	if (s && !s->credit_debt) {
		s->credit_debt = true;
		kick = true;
	}
	pthread_mutex_unlock(&cnk_sock_lock);
	if (kick)
		cnk_sock_send_credit(pair, 1);
}

/* The connect of a non-blocking socket, in a thread of its own. */
static void *pump_connector(void *arg)
{
	struct cnk_sock *s = arg, copy;
	struct sockaddr_storage local;
	socklen_t local_len = 0;
	uint8_t drop[16384];
	int slot = pump_thread_begin();
	long ret;

	pthread_mutex_lock(&cnk_sock_lock);
	copy = *s;
	pthread_mutex_unlock(&cnk_sock_lock);
	ret = cnk_sock_remote_open(FERRY_OP_SOCK_CONNECT, &copy, &copy.peer, copy.peer_len,
				   CNK_CALL_BLOCKING, &local, &local_len);
	pthread_mutex_lock(&cnk_sock_lock);
	if (ret < 0) {
		s->error = (int)-ret;
		s->state = CNK_SOCK_FAILED;
		s->filling = false;
		s->dead = true;
		pthread_mutex_unlock(&cnk_sock_lock);
		FLOG_DEBUG(cnk_session_id(), cnk_session_job(), "non-blocking connect: %s",
			   strerror((int)-ret));
		cnk_sock_pump_wake();
		pump_thread_end(slot);
		return NULL;
	}
	s->handle = ret;
	s->local = local;
	s->local_len = local_len;
	s->state = CNK_SOCK_CONNECTED;
	cnk_sock_pump_adopt_pending(s);
	pthread_mutex_unlock(&cnk_sock_lock);
	cnk_sock_carry_options(ret, copy.carry);
	/* Exactly the filler goes: POLLOUT now tells the program it is
	 * connected, and what it writes next is data. */
	for (size_t left = copy.fill; left;) {
		size_t want = left < sizeof(drop) ? left : sizeof(drop);
		long n = cnk_raw_syscall6(SYS_recvfrom, copy.pump_fd, (long)drop,
					  copy.type == SOCK_STREAM ? (long)want : 1,
					  MSG_DONTWAIT | (copy.type == SOCK_STREAM ? 0 : MSG_TRUNC),
					  0, 0);

		if (n <= 0)
			break; /* cannot happen: the filler is queued already */
		left -= copy.type == SOCK_STREAM ? (size_t)n : 1;
	}
	pthread_mutex_lock(&cnk_sock_lock);
	s->filling = false;
	pthread_mutex_unlock(&cnk_sock_lock);
	cnk_sock_pump_wake();
	cnk_sock_pump_kick(ret);
	pump_thread_end(slot);
	return NULL;
}

int cnk_sock_pump_connect_async(struct cnk_sock *s)
{
	return start_thread(pump_connector, s);
}

bool cnk_sock_exit(void)
{
	struct timespec deadline;
	int pid = (int)cnk_raw_syscall(SYS_getpid, 0, 0, 0);

	if (!atomic_load(&cnk_sock_pump_running))
		return atomic_load(&pump_in_calls) == 0;
	clock_gettime(CLOCK_REALTIME, &deadline);
	deadline.tv_sec += PUMP_EXIT_WAIT_MS / 1000;
	pthread_mutex_lock(&pump_exit_lock);
	pump_flushed = false;
	atomic_store(&pump_exit_req, true);
	cnk_sock_pump_wake();
	while (!pump_flushed)
		if (pthread_cond_timedwait(&pump_exit_cond, &pump_exit_lock, &deadline))
			break;
	pthread_mutex_unlock(&pump_exit_lock);
	/* Then out of the transport, before it closes. */
	atomic_store(&pump_stopping, true);
	for (int i = 0; i < PUMP_TIDS_MAX; i++) {
		int tid = atomic_load(&pump_tids[i]);

		if (tid)
			cnk_raw_syscall(SYS_tgkill, pid, tid, PUMP_STOP_SIGNAL);
	}
	cnk_sock_pump_wake();
	for (int ms = 0; ms < PUMP_EXIT_WAIT_MS && atomic_load(&pump_in_calls); ms++) {
		struct timespec ts = { 0, 1000 * 1000 };

		cnk_raw_syscall(SYS_nanosleep, &ts, 0, 0);
	}
	return atomic_load(&pump_in_calls) == 0;
}

void cnk_sock_atfork_child(void)
{
	pthread_mutex_t fresh_start = PTHREAD_MUTEX_INITIALIZER;
	pthread_mutex_t fresh_exit = PTHREAD_MUTEX_INITIALIZER;

	if (!cnk_sock_enabled())
		return;
	/* The prepare hook took cnk_sock_lock on this very thread: released,
	 * not re-initialised (a sanitizer would still count it held).  The
	 * others may have been held by threads the child does not have. */
	pthread_mutex_unlock(&cnk_sock_lock);
	pump_start_lock = fresh_start;
	pump_exit_lock = fresh_exit;
	atomic_store(&pump_exit_req, false);
	atomic_store(&pump_stopping, false);
	atomic_store(&pump_in_calls, 0);
	for (int i = 0; i < PUMP_TIDS_MAX; i++)
		atomic_store(&pump_tids[i], 0);
	atomic_store(&cnk_sock_pump_running, false);
	/* The parent's pump serves the ends; this process must not hold
	 * copies of the pump's side (the program would never see the parent
	 * close one).  No free(): malloc's locks are not ours to take here. */
	if (pump_wake_fd >= 0)
		cnk_raw_syscall(SYS_close, pump_wake_fd, 0, 0);
	pump_wake_fd = -1;
	pump_close_count = 0;
	pump_pending_list = NULL;
	for (struct cnk_sock *s = cnk_sock_list; s; s = s->next) {
		if (s->pump_fd >= 0)
			cnk_raw_syscall(SYS_close, s->pump_fd, 0, 0);
		s->pump_fd = -1;
		s->inherited = true;
		s->rx = NULL;
		s->rx_len = 0;
	}
}
