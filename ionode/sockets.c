/* SPDX-License-Identifier: Apache-2.0 */
#include "sockets.h"

#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <time.h>
#include <unistd.h>

#include <ferry/log.h>
#include <ferry/rpc.h>
#include <ferry/proto.h>

#include "session.h"
#include "sock_cluster.h"
#include "sock_policy.h"

#define CREDIT_MAX (INT64_C(1) << 40) /* more than any window; keeps sums finite */
#define WAIT_SLICE_MS 100 /* connect/send notice INTERRUPT at least this often */
#define MIN_DATA_EVENT 512 /* smaller reads wait for the next batch */
#define FIXED_PFDS 2       /* SOCK_POLL's wake-ups before the sockets */

struct sock {
	int64_t handle;
	int type;
	int64_t credit;   /* data sockets: bytes the client can take */
	bool announced;   /* false for a connection whose ACCEPT is not sent yet */
	bool eof_sent;
	bool dead;        /* ERROR sent */
	bool starved;     /* its next datagram needs more credit than it has */
	struct iond_sock_member *member; /* a listening cluster's member */
};

/* A connection handed to the session, waiting for its ACCEPT event. */
struct pending_accept {
	struct pending_accept *next;
	int64_t listener;
	int64_t conn;
	socklen_t addr_len;
	struct sockaddr_storage addr;
};

struct iond_socks {
	pthread_mutex_t lock;
	struct iond_session *sess;
	uint64_t id;
	uint64_t jobid;
	int wake_fd;
	bool closed;
	bool polling;
	int64_t poll_ended_ms;  /* when its last SOCK_POLL returned */
	int64_t pinged_ms;      /* when its client was last probed */
	uint64_t interrupt_seq;
	struct sock *socks;
	size_t nsocks;
	size_t socks_cap;
	struct pending_accept *accepts;
	struct pending_accept **accepts_tail;
};

static struct iond_sock_policy the_policy;
/* For probing a client that seems gone (iond_socks_liveness). */
static struct ferry_rpc_server *_Atomic the_server;

void iond_sockets_set_server(struct ferry_rpc_server *server)
{
	atomic_store(&the_server, server);
}
/* Written once at shutdown, never read: every socket wait ends. */
static int stop_fd = -1;
static atomic_bool stopping;

static int64_t now_ms(void);

/* ---- lifetime ---- */

static void wake(struct iond_socks *ss)
{
	uint64_t one = 1;

	/* EAGAIN: the counter is already nonzero, the poller will wake. */
	if (write(ss->wake_fd, &one, sizeof(one)) < 0 && errno != EAGAIN)
		FLOG_WARN(ss->id, ss->jobid, "socket wake-up: %s", strerror(errno));
}

static void socks_release(void *state)
{
	struct iond_socks *ss = state;

	while (ss->accepts) {
		struct pending_accept *pa = ss->accepts;

		ss->accepts = pa->next;
		free(pa);
	}
	if (close(ss->wake_fd) != 0)
		FLOG_WARN(ss->id, ss->jobid, "close of socket wake-up: %s", strerror(errno));
	pthread_mutex_destroy(&ss->lock);
	free(ss->socks);
	free(ss);
}

/* Collect the memberships of ss into out (nsocks entries). */
static size_t take_members_locked(struct iond_socks *ss, struct iond_sock_member **out)
{
	size_t n = 0;

	for (size_t i = 0; i < ss->nsocks; i++) {
		if (ss->socks[i].member)
			out[n++] = ss->socks[i].member;
		ss->socks[i].member = NULL;
	}
	return n;
}

/* The session closes: leave every cluster (its descriptors, undelivered
 * connections included, are closed by the session itself). */
static void socks_close(struct iond_session *s, void *state)
{
	struct iond_socks *ss = state;
	struct iond_sock_member **members;
	size_t n = 0;

	pthread_mutex_lock(&ss->lock);
	ss->closed = true;
	members = malloc((ss->nsocks ? ss->nsocks : 1) * sizeof(*members));
	if (members)
		n = take_members_locked(ss, members);
	pthread_mutex_unlock(&ss->lock);
	if (!members)
		FLOG_ERR(ss->id, ss->jobid, "out of memory leaving listening clusters");
	for (size_t i = 0; i < n; i++)
		iond_cluster_leave(members[i]);
	free(members);
	wake(ss);
}

static const struct iond_session_sockets_ops socks_ops = {
	.close = socks_close,
	.release = socks_release,
};

int iond_sockets_init(struct iond_sessions *t, const struct iond_sock_policy *policy)
{
	the_policy = *policy;
	stop_fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	if (stop_fd < 0)
		return -errno;
	iond_sessions_set_sockets_ops(t, &socks_ops);
	return policy->enabled ? iond_clusters_start() : 0;
}

void iond_sockets_stop_waits(void)
{
	uint64_t one = 1;

	atomic_store(&stopping, true);
	if (stop_fd >= 0 && write(stop_fd, &one, sizeof(one)) < 0)
		FLOG_ERR(0, 0, "sockets: stop: %s", strerror(errno));
}

void iond_sockets_fini(void)
{
	if (the_policy.enabled)
		iond_clusters_stop();
	if (stop_fd >= 0)
		close(stop_fd);
	stop_fd = -1;
}

const struct iond_sock_policy *iond_sockets_policy(void)
{
	return &the_policy;
}

static struct iond_socks *socks_new(struct iond_session *s)
{
	struct iond_socks *ss = calloc(1, sizeof(*ss));

	if (!ss)
		return NULL;
	ss->wake_fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	if (ss->wake_fd < 0 || pthread_mutex_init(&ss->lock, NULL) != 0) {
		if (ss->wake_fd >= 0)
			close(ss->wake_fd);
		free(ss);
		return NULL;
	}
	ss->sess = s;
	ss->id = iond_session_info(s)->id;
	ss->jobid = iond_session_info(s)->cred.jobid;
	ss->accepts_tail = &ss->accepts;
	return ss;
}

int iond_socks_of(struct iond_session *s, struct iond_socks **out)
{
	struct iond_socks *fresh;

	*out = iond_session_sockets(s, NULL);
	if (*out)
		return 0;
	if (iond_session_is_closed(s))
		return -ENOTCONN;
	fresh = socks_new(s);
	if (!fresh)
		return -ENOMEM;
	*out = iond_session_sockets(s, fresh);
	if (*out != fresh)
		socks_release(fresh); /* another call installed one first */
	return *out ? 0 : -ENOTCONN;
}

struct iond_session *iond_socks_session(const struct iond_socks *ss)
{
	return ss->sess;
}

uint64_t iond_socks_id(const struct iond_socks *ss)
{
	return ss->id;
}

uint64_t iond_socks_jobid(const struct iond_socks *ss)
{
	return ss->jobid;
}

int iond_socket_open(int family, int type, int protocol, const struct sockaddr *sa,
		     socklen_t sa_len, bool reuse_addr)
{
	int one = 1, rc;
	int fd = socket(family, type | SOCK_NONBLOCK | SOCK_CLOEXEC, protocol);

	if (fd < 0)
		return -errno;
	if (!sa)
		return fd;
	if ((reuse_addr && setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) != 0) ||
	    bind(fd, sa, sa_len) != 0) {
		rc = -errno;
		close(fd);
		return rc;
	}
	return fd;
}

/* ---- the socket table ---- */

static struct sock *find_locked(struct iond_socks *ss, int64_t handle)
{
	for (size_t i = 0; i < ss->nsocks; i++)
		if (ss->socks[i].handle == handle)
			return &ss->socks[i];
	return NULL;
}

static int add_locked(struct iond_socks *ss, int64_t handle, int type,
		      struct iond_sock_member *member, bool announced)
{
	struct sock *sk;

	if (ss->closed)
		return -ENOTCONN;
	if (ss->nsocks == ss->socks_cap) {
		size_t cap = ss->socks_cap ? ss->socks_cap * 2 : 8;
		struct sock *grown = realloc(ss->socks, cap * sizeof(*grown));

		if (!grown)
			return -ENOMEM;
		ss->socks = grown;
		ss->socks_cap = cap;
	}
	sk = &ss->socks[ss->nsocks++];
	memset(sk, 0, sizeof(*sk));
	sk->handle = handle;
	sk->type = type;
	sk->member = member;
	sk->credit = member ? 0 : FERRY_SOCK_WINDOW;
	sk->announced = announced;
	return 0;
}

int iond_socks_add(struct iond_socks *ss, int64_t handle, int type,
		   struct iond_sock_member *member)
{
	int rc;

	pthread_mutex_lock(&ss->lock);
	rc = add_locked(ss, handle, type, member, true);
	pthread_mutex_unlock(&ss->lock);
	/* A SOCK_POLL already waiting watches the sockets it saw when it
	 * began: wake it so that it watches this one too. */
	if (!rc)
		wake(ss);
	return rc;
}

int iond_socks_type(struct iond_socks *ss, int64_t handle, int *type)
{
	struct sock *sk;
	int rc = -ENOTSOCK;

	pthread_mutex_lock(&ss->lock);
	sk = find_locked(ss, handle);
	if (sk) {
		*type = sk->type;
		rc = 0;
	}
	pthread_mutex_unlock(&ss->lock);
	return rc;
}

struct iond_sock_member *iond_socks_member(struct iond_socks *ss, int64_t handle)
{
	struct iond_sock_member *m = NULL;
	struct sock *sk;

	pthread_mutex_lock(&ss->lock);
	sk = find_locked(ss, handle);
	if (sk && !ss->closed)
		m = sk->member;
	pthread_mutex_unlock(&ss->lock);
	return m;
}

static void remove_locked(struct iond_socks *ss, struct sock *sk)
{
	*sk = ss->socks[--ss->nsocks];
}

/* Unlink the pending connections of listener; returns their handles in
 * conns (at most ss->nsocks of them: each is a socket of ss). */
static size_t take_accepts_locked(struct iond_socks *ss, int64_t listener, int64_t *conns)
{
	struct pending_accept **pp = &ss->accepts;
	size_t n = 0;

	while (*pp) {
		struct pending_accept *pa = *pp;
		struct sock *sk;

		if (pa->listener != listener) {
			pp = &pa->next;
			continue;
		}
		*pp = pa->next;
		sk = find_locked(ss, pa->conn);
		if (sk)
			remove_locked(ss, sk);
		conns[n++] = pa->conn;
		free(pa);
	}
	ss->accepts_tail = pp;
	return n;
}

void iond_sockets_forget(struct iond_session *s, int64_t handle)
{
	struct iond_socks *ss = iond_session_sockets(s, NULL);
	struct iond_sock_member *member = NULL;
	int64_t *conns = NULL;
	size_t nconns = 0;
	struct sock *sk;

	if (!ss)
		return;
	pthread_mutex_lock(&ss->lock);
	sk = find_locked(ss, handle);
	if (sk) {
		member = sk->member;
		remove_locked(ss, sk);
	}
	if (member && ss->accepts) {
		conns = malloc((ss->nsocks ? ss->nsocks : 1) * sizeof(*conns));
		if (conns)
			nconns = take_accepts_locked(ss, handle, conns);
	}
	pthread_mutex_unlock(&ss->lock);
	if (member)
		iond_cluster_leave(member);
	for (size_t i = 0; i < nconns; i++)
		iond_session_fd_close(s, conns[i]);
	if (nconns)
		FLOG_DEBUG(ss->id, ss->jobid,
			   "listener %lld closed: %zu undelivered connections closed",
			   (long long)handle, nconns);
	free(conns);
}

int64_t iond_credit_add(int64_t have, int64_t more, int64_t max)
{
	return more > max - have ? max : have + more;
}

int iond_socks_credit(struct iond_socks *ss, const int64_t *pairs, size_t npairs)
{
	bool woke = false;

	for (size_t i = 0; i < npairs; i++)
		if (pairs[2 * i + 1] < 0)
			return -EINVAL;
	for (size_t i = 0; i < npairs; i++) {
		int64_t handle = pairs[2 * i], amount = pairs[2 * i + 1];
		bool member = false;
		struct sock *sk;

		pthread_mutex_lock(&ss->lock);
		sk = find_locked(ss, handle);
		if (sk && sk->member)
			member = true;
		else if (sk && amount) {
			sk->credit = iond_credit_add(sk->credit, amount, CREDIT_MAX);
			sk->starved = false;
		}
		pthread_mutex_unlock(&ss->lock);
		if (member)
			iond_cluster_credit(ss, handle, amount);
		woke |= sk && !member && amount;
	}
	if (woke)
		wake(ss);
	return 0;
}

int iond_socks_accepted(struct iond_socks *ss, int64_t listener, int fd,
			const struct sockaddr *peer, socklen_t peer_len)
{
	struct pending_accept *pa = calloc(1, sizeof(*pa));
	struct sock *sk;
	int handle, rc = -ESRCH;

	if (!pa) {
		close(fd);
		return -ENOMEM;
	}
	pthread_mutex_lock(&ss->lock);
	sk = find_locked(ss, listener);
	if (ss->closed || !sk || !sk->member)
		goto out_unlock;
	handle = iond_session_add_fd(ss->sess, fd);
	rc = handle < 0 ? handle : add_locked(ss, handle, SOCK_STREAM, NULL, false);
	if (rc)
		goto out_unlock;
	pa->listener = listener;
	pa->conn = handle;
	pa->addr_len = peer_len < sizeof(pa->addr) ? peer_len : sizeof(pa->addr);
	memcpy(&pa->addr, peer, pa->addr_len);
	*ss->accepts_tail = pa;
	ss->accepts_tail = &pa->next;
	pa = NULL;
out_unlock:
	pthread_mutex_unlock(&ss->lock);
	if (rc == 0)
		wake(ss); /* the acceptor logs the connection */
	free(pa);
	return rc;
}

/* ---- waiting ---- */

void iond_sockets_interrupt(struct iond_session *s, uint64_t seq)
{
	struct iond_socks *ss = iond_session_sockets(s, NULL);

	if (!ss)
		return;
	pthread_mutex_lock(&ss->lock);
	ss->interrupt_seq = seq;
	pthread_mutex_unlock(&ss->lock);
	wake(ss);
}

/* 0 while call seq may go on waiting, else why not. */
static int wait_verdict_locked(struct iond_socks *ss, uint64_t seq)
{
	if (atomic_load(&stopping))
		return -ESHUTDOWN;
	if (ss->closed)
		return -ENOTCONN;
	if (seq && ss->interrupt_seq == seq)
		return -EINTR;
	return 0;
}

static int wait_verdict(struct iond_socks *ss, uint64_t seq)
{
	int rc;

	pthread_mutex_lock(&ss->lock);
	rc = wait_verdict_locked(ss, seq);
	pthread_mutex_unlock(&ss->lock);
	return rc;
}

static int64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Milliseconds left before deadline (-1: none), at most cap (cap < 0: no cap). */
static int time_left(int64_t deadline, int cap)
{
	int64_t left;

	if (deadline < 0)
		return cap;
	left = deadline - now_ms();
	if (left < 0)
		left = 0;
	return cap >= 0 && left > cap ? cap : (int)left;
}

static int64_t deadline_of(int timeout_ms)
{
	return timeout_ms < 0 ? -1 : now_ms() + timeout_ms;
}

int iond_socks_wait_fd(struct iond_socks *ss, uint64_t seq, int fd, short events,
		       int timeout_ms)
{
	int64_t deadline = deadline_of(timeout_ms);

	for (;;) {
		struct pollfd pfd = {.fd = fd, .events = events};
		int slice = time_left(deadline, WAIT_SLICE_MS);
		int rc = poll(&pfd, 1, slice);

		if (rc > 0)
			return 0;
		if (rc < 0 && errno != EINTR)
			return -errno;
		rc = wait_verdict(ss, seq);
		if (rc)
			return rc;
		if (deadline >= 0 && slice == 0)
			return -ETIMEDOUT;
	}
}

/* ---- SOCK_POLL ---- */

/* One socket the poller watches this round: a snapshot taken under the
 * lock, with its descriptor borrowed from the session. */
struct watch {
	int64_t handle;
	int type;
	int64_t credit;
	bool starved; /* set when its next datagram needs more credit */
};

struct poll_round {
	struct pollfd *pfds; /* the session's wake-up, the daemon's stop, sockets */
	struct watch *watch; /* watch[i] goes with pfds[FIXED_PFDS + i] */
	size_t n;
};

static int poll_begin(struct iond_socks *ss, uint64_t seq)
{
	int rc;

	pthread_mutex_lock(&ss->lock);
	rc = wait_verdict_locked(ss, seq);
	if (!rc && ss->polling)
		rc = -EBUSY;
	if (!rc)
		ss->polling = true;
	pthread_mutex_unlock(&ss->lock);
	return rc;
}

static void poll_end(struct iond_socks *ss)
{
	pthread_mutex_lock(&ss->lock);
	ss->polling = false;
	ss->poll_ended_ms = now_ms();
	pthread_mutex_unlock(&ss->lock);
}

/*
 * A live client's pump always has a SOCK_POLL waiting here, or posts the
 * next one within a round trip of the last reply.  A client killed
 * mid-way does neither, and a network provider reports it gone only when
 * something is sent to it: so a session without a poll for a while is
 * probed (once a second), and the acceptor prefers members that are
 * polling, rather than handing a dead member connections until the
 * daemon's periodic ping notices.
 */
#define LIVENESS_GRACE_MS 100
#define LIVENESS_PING_MS 1000

enum iond_liveness iond_socks_liveness(struct iond_socks *ss)
{
	enum iond_liveness l;
	int64_t now = now_ms();
	uint64_t peer = 0;

	pthread_mutex_lock(&ss->lock);
	if (ss->polling)
		l = IOND_LIVE_POLLING;
	else if (now - ss->poll_ended_ms < LIVENESS_GRACE_MS)
		l = IOND_LIVE_RECENT;
	else
		l = IOND_LIVE_DOUBTFUL;
	if (l == IOND_LIVE_DOUBTFUL && !ss->closed && now - ss->pinged_ms >= LIVENESS_PING_MS) {
		ss->pinged_ms = now;
		peer = iond_session_info(ss->sess)->peer;
	}
	pthread_mutex_unlock(&ss->lock);
	if (peer && atomic_load(&the_server)) {
		int rc = ferry_rpc_server_ping_peer(atomic_load(&the_server), peer);

		FLOG_DEBUG(ss->id, ss->jobid, "sockets: no poll for %lld ms, client probed: %s",
			   (long long)(now - ss->poll_ended_ms), rc ? strerror(-rc) : "sent");
	}
	return l;
}

static bool watchable(const struct sock *sk)
{
	return !sk->member && sk->announced && !sk->eof_sent && !sk->dead && !sk->starved &&
	       sk->credit > 0;
}

/* Snapshot the sockets with credit and borrow their descriptors. */
static int round_build(struct iond_socks *ss, struct poll_round *r)
{
	size_t cap;

	pthread_mutex_lock(&ss->lock);
	cap = ss->nsocks;
	r->n = 0;
	r->pfds = malloc((cap + FIXED_PFDS) * sizeof(*r->pfds));
	r->watch = malloc((cap ? cap : 1) * sizeof(*r->watch));
	if (!r->pfds || !r->watch) {
		pthread_mutex_unlock(&ss->lock);
		return -ENOMEM;
	}
	r->pfds[0] = (struct pollfd){.fd = ss->wake_fd, .events = POLLIN};
	r->pfds[1] = (struct pollfd){.fd = stop_fd, .events = POLLIN};
	for (size_t i = 0; i < cap; i++) {
		const struct sock *sk = &ss->socks[i];
		int fd;

		if (!watchable(sk) || iond_session_fd_get(ss->sess, sk->handle, &fd))
			continue;
		r->watch[r->n] = (struct watch){sk->handle, sk->type, sk->credit, false};
		r->pfds[FIXED_PFDS + r->n++] =
			(struct pollfd){.fd = fd, .events = POLLIN | POLLRDHUP};
	}
	pthread_mutex_unlock(&ss->lock);
	return 0;
}

static void round_free(struct iond_socks *ss, struct poll_round *r)
{
	for (size_t i = 0; r->pfds && i < r->n; i++)
		iond_session_fd_put(ss->sess, r->pfds[FIXED_PFDS + i].fd);
	free(r->pfds);
	free(r->watch);
}

static void drain_wake(struct iond_socks *ss)
{
	uint64_t count;

	if (read(ss->wake_fd, &count, sizeof(count)) < 0 && errno != EAGAIN)
		FLOG_WARN(ss->id, ss->jobid, "socket wake-up: %s", strerror(errno));
}

static int emit(struct iond_sock_batch *b, const struct ferry_sockev *ev)
{
	int rc = ferry_sockev_encode(ev, b->out, b->cap, &b->len);

	if (rc == 0)
		b->count++;
	return rc;
}

/* ACCEPT events for the connections handed to the session, while they fit. */
static void emit_accepts(struct iond_socks *ss, struct iond_sock_batch *b)
{
	pthread_mutex_lock(&ss->lock);
	while (ss->accepts) {
		struct pending_accept *pa = ss->accepts;
		struct ferry_sockev ev = {.handle = pa->listener,
					  .kind = FERRY_SOCKEV_ACCEPT,
					  .aux = pa->conn,
					  .addr_len = (uint16_t)pa->addr_len,
					  .addr = &pa->addr};
		struct sock *sk;

		if (emit(b, &ev))
			break;
		sk = find_locked(ss, pa->conn);
		if (sk)
			sk->announced = true;
		ss->accepts = pa->next;
		if (!ss->accepts)
			ss->accepts_tail = &ss->accepts;
		free(pa);
	}
	pthread_mutex_unlock(&ss->lock);
}

/* Bytes a DATA event of w may carry now: 0 when it must wait for the next
 * batch. */
static size_t data_room(const struct iond_sock_batch *b, const struct watch *w)
{
	size_t fixed = FERRY_WIRE_SOCKEV_FIXED + (w->type == SOCK_DGRAM ? FERRY_SOCKADDR_MAX : 0);
	size_t room = b->cap - b->len > fixed ? b->cap - b->len - fixed : 0;
	size_t want = (uint64_t)w->credit < room ? (size_t)w->credit : room;

	if (w->type == SOCK_STREAM && want < MIN_DATA_EVENT && want < (uint64_t)w->credit)
		return 0;
	return want;
}

/* An ERROR event for the errno of a failed receive; 0 (no event) when it
 * only says there is nothing to read. */
static int error_event(int err, struct ferry_sockev *ev)
{
	if (err == EAGAIN || err == EINTR)
		return 0;
	ev->kind = FERRY_SOCKEV_ERROR;
	ev->value = err;
	return 1;
}

/* Whether the next datagram of w can be read into this batch: whole, with
 * credit for it (one that could never fit a batch is read truncated into
 * an empty one).  Sets *err when the socket reports an error instead. */
static bool datagram_fits(int fd, struct watch *w, const struct iond_sock_batch *b,
			  size_t want, int *err)
{
	ssize_t size = recv(fd, NULL, 0, MSG_PEEK | MSG_TRUNC | MSG_DONTWAIT);

	*err = size < 0 ? errno : 0;
	if (size < 0)
		return false;
	w->starved = size > w->credit;
	if (w->starved)
		return false;
	return (size_t)size <= want || b->len == 0;
}

/* Read what w's socket has for the client into ev (data in b->tmp).
 * Returns 1 with an event, 0 for none. */
static int read_event(int fd, struct watch *w, struct iond_sock_batch *b,
		      struct sockaddr_storage *from, struct ferry_sockev *ev)
{
	size_t want = data_room(b, w);
	socklen_t from_len = sizeof(*from);
	ssize_t n;
	int err;

	*ev = (struct ferry_sockev){.handle = w->handle};
	/* want > 0 also leaves room for the event's fixed part and address. */
	if (want == 0)
		return 0;
	if (w->type == SOCK_DGRAM && !datagram_fits(fd, w, b, want, &err))
		return err ? error_event(err, ev) : 0;
	n = recvfrom(fd, b->tmp, want, MSG_DONTWAIT, (struct sockaddr *)from, &from_len);
	if (n < 0)
		return error_event(errno, ev);
	if (n == 0 && w->type == SOCK_STREAM) {
		ev->kind = FERRY_SOCKEV_EOF;
		return 1;
	}
	ev->kind = FERRY_SOCKEV_DATA;
	ev->data = b->tmp;
	ev->data_len = (uint32_t)n;
	if (w->type == SOCK_DGRAM && from_len <= FERRY_SOCKADDR_MAX) {
		ev->addr = from;
		ev->addr_len = (uint16_t)from_len;
	}
	return 1;
}

/* Record an event in the socket's state; false when the socket was closed
 * meanwhile (the event is then dropped). */
static bool account_event(struct iond_socks *ss, const struct ferry_sockev *ev)
{
	struct sock *sk;

	pthread_mutex_lock(&ss->lock);
	sk = find_locked(ss, ev->handle);
	if (sk) {
		sk->credit -= ev->kind == FERRY_SOCKEV_DATA ? ev->data_len : 0;
		sk->eof_sent |= ev->kind == FERRY_SOCKEV_EOF;
		sk->dead |= ev->kind == FERRY_SOCKEV_ERROR;
	}
	pthread_mutex_unlock(&ss->lock);
	return sk != NULL;
}

/* Leave the socket out of the poll set until credit comes (unless it came
 * meanwhile): readable, it would wake every round for nothing. */
static void mark_starved(struct iond_socks *ss, const struct watch *w)
{
	struct sock *sk;

	pthread_mutex_lock(&ss->lock);
	sk = find_locked(ss, w->handle);
	if (sk && sk->credit == w->credit)
		sk->starved = true;
	pthread_mutex_unlock(&ss->lock);
}

static void emit_ready(struct iond_socks *ss, struct poll_round *r, struct iond_sock_batch *b)
{
	for (size_t i = 0; i < r->n; i++) {
		const struct pollfd *pfd = &r->pfds[FIXED_PFDS + i];
		struct sockaddr_storage from;
		struct ferry_sockev ev;

		if (!pfd->revents)
			continue;
		if (!read_event(pfd->fd, &r->watch[i], b, &from, &ev)) {
			if (r->watch[i].starved)
				mark_starved(ss, &r->watch[i]);
			continue;
		}
		/* Accounted before encoding: the encoder only fails when the
		 * batch is full, and data_room reserved the space. */
		if (account_event(ss, &ev) && emit(b, &ev))
			FLOG_ERR(ss->id, ss->jobid, "socket %lld: event does not fit its batch",
				 (long long)ev.handle);
		if (ev.kind == FERRY_SOCKEV_ERROR)
			FLOG_DEBUG(ss->id, ss->jobid, "socket %lld: %s", (long long)ev.handle,
				   strerror(ev.value));
	}
}

/* One wait: poll the session's sockets and its wake-up, then encode what
 * is ready. */
static int poll_round(struct iond_socks *ss, int wait_ms, struct iond_sock_batch *b)
{
	struct poll_round r = {0};
	int rc = round_build(ss, &r);

	if (rc == 0 && poll(r.pfds, r.n + FIXED_PFDS, wait_ms) < 0 && errno != EINTR)
		rc = -errno;
	if (rc == 0 && r.pfds[0].revents)
		drain_wake(ss);
	if (rc == 0) {
		emit_accepts(ss, b);
		emit_ready(ss, &r, b);
	}
	round_free(ss, &r);
	return rc;
}

long iond_socks_poll(struct iond_socks *ss, uint64_t seq, int timeout_ms, const int64_t *pairs,
		     size_t npairs, struct iond_sock_batch *b)
{
	int64_t deadline = deadline_of(timeout_ms);
	int rc = poll_begin(ss, seq);

	b->count = 0;
	b->len = 0;
	if (rc)
		return rc;
	rc = iond_socks_credit(ss, pairs, npairs);
	if (rc) {
		poll_end(ss);
		return rc;
	}
	/* Pending connections were signalled before this poll began. */
	wake(ss);
	for (;;) {
		int wait_ms = time_left(deadline, -1);

		rc = poll_round(ss, wait_ms, b);
		if (rc || b->count)
			break;
		rc = wait_verdict(ss, seq);
		if (rc || wait_ms == 0)
			break;
	}
	poll_end(ss);
	return b->count ? b->count : rc;
}
