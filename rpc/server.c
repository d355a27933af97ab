/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The I/O-node RPC server: connections (HELLO → peer token), message
 * validation, replies and the progress loop.  One thread calls
 * ferry_rpc_server_progress; it alone reads the CQ.  Workers post replies and
 * RMA from any thread and sleep until the progress thread completes them.
 */
#include <errno.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "ferry/log.h"
#include "server.h"

#define SRV_RECV_COUNT 64
#define SRV_POST_RETRY_US 5000000
#define SRV_PROGRESS_RETRY_US 200000
#define SRV_LIVENESS_US 1000000
#define SRV_PING_S 30 /* FERRY_RPC_PING_S overrides; 0 turns pings off */
#define SRV_BLOCK_SLICE_US 2000
#define SRV_CLOSE_DRAIN_US 100000

bool srv_on_progress_thread(struct ferry_rpc_server *s)
{
	return atomic_load(&s->progress_known) && pthread_equal(s->progress_thread, pthread_self());
}

void srv_kick(struct ferry_rpc_server *s)
{
	if (atomic_load(&s->sleeping))
		fab_kick(s->wake_fd);
}

void srv_make_room(struct ferry_rpc_server *s, bool on_progress)
{
	if (on_progress) {
		s->nesting++;
		srv_poll_cq(s);
		s->nesting--;
	} else {
		srv_kick(s);
		sched_yield();
	}
}

/* ---------------- operations ---------------- */

struct srv_op *srv_op_get(struct ferry_rpc_server *s, enum srv_op_kind kind)
{
	struct srv_op **freelist = kind == SRV_OP_SEND ? &s->free_sends : &s->free_rma;
	struct srv_op *op = *freelist;

	if (op) {
		*freelist = op->next;
		return op;
	}
	op = calloc(1, sizeof(*op));
	if (!op)
		return NULL;
	op->kind = kind;
	if (kind == SRV_OP_SEND) {
		op->cap = FRAME_HDR_SIZE + FRAME_PAYLOAD_MAX;
		op->buf = fab_alloc_pages(s->fab.prefix + op->cap);
		if (!op->buf || fab_mr_reg(&s->fab, op->buf, s->fab.prefix + op->cap, FI_SEND,
					   &op->mr)) {
			free(op->buf);
			free(op);
			return NULL;
		}
	}
	op->all = s->all_ops;
	s->all_ops = op;
	return op;
}

void srv_op_put(struct ferry_rpc_server *s, struct srv_op *op)
{
	struct srv_op **freelist = op->kind == SRV_OP_SEND ? &s->free_sends : &s->free_rma;

	op->peer = NULL;
	op->wait = NULL;
	op->next = *freelist;
	*freelist = op;
}

static int post_recv(struct ferry_rpc_server *s, struct srv_op *op)
{
	ssize_t ret = fi_recv(s->fab.ep, op->buf, s->fab.prefix + op->cap, op->mr.desc,
			      FI_ADDR_UNSPEC, &op->ctx);

	return ret ? fab_errno(ret) : 0;
}

/* ---------------- peers ---------------- */

static struct srv_peer **peer_slot(struct ferry_rpc_server *s, uint64_t token)
{
	return &s->peers[(token * 0x9e3779b97f4a7c15ull) >> 54];
}

static struct srv_peer *peer_find(struct ferry_rpc_server *s, uint64_t token)
{
	struct srv_peer *p;

	if (!token)
		return NULL;
	for (p = *peer_slot(s, token); p; p = p->next)
		if (p->token == token)
			return p;
	return NULL;
}

static void peer_unlink(struct ferry_rpc_server *s, struct srv_peer *p)
{
	struct srv_peer **pp;

	for (pp = peer_slot(s, p->token); *pp; pp = &(*pp)->next) {
		if (*pp == p) {
			*pp = p->next;
			return;
		}
	}
}

void srv_peer_unref(struct ferry_rpc_server *s, struct srv_peer *p)
{
	if (--p->refs > 0)
		return;
	fi_av_remove(s->fab.av, &p->addr, 1, 0);
	if (p->all_prev)
		p->all_prev->all_next = p->all_next;
	else
		s->all_peers = p->all_next;
	if (p->all_next)
		p->all_next->all_prev = p->all_prev;
	free(p);
}

/* Forget the token now; the callback runs later on the progress thread. */
void srv_peer_mark_down(struct ferry_rpc_server *s, struct srv_peer *p)
{
	if (p->down)
		return;
	p->down = true;
	peer_unlink(s, p);
	/* The table's reference moves to the notification queue. */
	p->down_next = s->down_queue;
	s->down_queue = p;
	srv_kick(s);
}

static void run_down_notifications(struct ferry_rpc_server *s)
{
	struct srv_peer *p;

	for (;;) {
		pthread_mutex_lock(&s->mu);
		p = s->down_queue;
		if (p)
			s->down_queue = p->down_next;
		pthread_mutex_unlock(&s->mu);
		if (!p)
			return;
		FLOG_DEBUG(0, 0, "rpc: peer %016llx on %s is gone", (unsigned long long)p->token,
			   s->uri);
		if (s->down_fn)
			s->down_fn(p->token, s->down_arg);
		pthread_mutex_lock(&s->mu);
		srv_peer_unref(s, p);
		pthread_mutex_unlock(&s->mu);
	}
}

/* ---------------- sending ---------------- */

/* Posts one frame to a peer; the op returns to the pool on completion. */
static int send_frame(struct ferry_rpc_server *s, struct srv_peer *peer, const struct frame_hdr *h,
		      const void *payload)
{
	bool on_progress = srv_on_progress_thread(s);
	/* The progress thread serves everyone: it gives up on a peer that
	 * cannot take a message soon (a dead or forged address). */
	uint64_t give_up = fab_now_us() + (on_progress ? SRV_PROGRESS_RETRY_US : SRV_POST_RETRY_US);
	struct srv_op *op;
	ssize_t ret;

	pthread_mutex_lock(&s->mu);
	if (peer->down) {
		pthread_mutex_unlock(&s->mu);
		return -ECONNRESET;
	}
	op = srv_op_get(s, SRV_OP_SEND);
	if (op) {
		op->peer = peer;
		peer->refs++;
		s->sends_outstanding++;
	}
	pthread_mutex_unlock(&s->mu);
	if (!op)
		return -ENOMEM;
	frame_encode(h, op->buf + s->fab.prefix);
	if (h->payload_len)
		memcpy(op->buf + s->fab.prefix + FRAME_HDR_SIZE, payload, h->payload_len);
	for (;;) {
		ret = fi_send(s->fab.ep, op->buf, s->fab.prefix + FRAME_HDR_SIZE + h->payload_len,
			      op->mr.desc, peer->addr, &op->ctx);
		if (ret != -FI_EAGAIN || fab_now_us() > give_up)
			break;
		srv_make_room(s, on_progress);
	}
	if (!ret) {
		if (!on_progress)
			srv_kick(s);
		return 0;
	}
	ret = ret == -FI_EAGAIN ? -ETIMEDOUT : fab_errno(ret);
	pthread_mutex_lock(&s->mu);
	s->sends_outstanding--;
	if (srv_err_is_peer_down((int)ret) || ret == -ETIMEDOUT)
		srv_peer_mark_down(s, peer);
	srv_peer_unref(s, peer);
	srv_op_put(s, op);
	pthread_mutex_unlock(&s->mu);
	return (int)ret;
}

/* ---------------- receiving ---------------- */

static void drop(struct ferry_rpc_server *s, const char *why)
{
	atomic_fetch_add(&s->dropped, 1);
	FLOG_DEBUG(0, 0, "rpc: dropped a message on %s: %s", s->uri, why);
}

/* The address a HELLO carries must at least have the provider's format. */
static bool address_plausible(const struct ferry_rpc_server *s, const uint8_t *addr, size_t len)
{
	sa_family_t family;
	size_t i;

	if (len == 0 || len > FRAME_ADDR_MAX)
		return false;
	switch (s->fab.info->addr_format) {
	case FI_SOCKADDR_IN:
	case FI_SOCKADDR_IN6:
		if (len < sizeof(family))
			return false;
		memcpy(&family, addr, sizeof(family));
		return (family == AF_INET && len == sizeof(struct sockaddr_in)) ||
		       (family == AF_INET6 && len == sizeof(struct sockaddr_in6));
	case FI_ADDR_STR:
		for (i = 0; i < len && addr[i]; i++)
			if (addr[i] < 0x20 || addr[i] > 0x7e)
				return false;
		return i > 0 && i < len;
	default:
		return true;
	}
}

/* A shm client killed without closing leaves its 16 MiB region in
 * /dev/shm for good.  Remember the region's name when it is one our clients
 * make ("ferry-PID-HEX", PID the process the client claims to be) so that
 * it can be removed once that process is gone; a name of any other shape
 * (another program's, a path) is never touched.  address_plausible() has
 * checked that the address is a printable NUL-terminated string. */
static void remember_shm_region(struct srv_peer *p, const char *addr)
{
	const char *name = strstr(addr, "ferry-");
	unsigned long long rnd;
	int pid, end = 0;

	if (!name || strlen(name) >= sizeof(p->shm_region))
		return;
	if (sscanf(name, "ferry-%d-%16llx%n", &pid, &rnd, &end) != 2 || name[end] != '\0' ||
	    pid != p->pid)
		return;
	memcpy(p->shm_region, name, strlen(name) + 1);
}

static void handle_hello(struct ferry_rpc_server *s, const struct frame_hdr *h,
			 const uint8_t *payload)
{
	struct frame_hdr ack = { .kind = FRAME_HELLO_ACK, .req_id = h->req_id };
	struct srv_peer *p;
	fi_addr_t addr;
	int ret;

	if (h->token || !address_plausible(s, payload, h->payload_len)) {
		drop(s, "bad hello");
		return;
	}
	ret = fi_av_insert(s->fab.av, payload, 1, &addr, 0, NULL);
	if (ret != 1) {
		drop(s, "hello with an address the provider rejects");
		return;
	}
	p = calloc(1, sizeof(*p));
	if (!p) {
		fi_av_remove(s->fab.av, &addr, 1, 0);
		return;
	}
	p->addr = addr;
	p->refs = 1;
	/* shm: the client says which process it is (HELLO's status field);
	 * the provider would never tell us that it died. */
	if (strcmp(s->prov, "shm") == 0 && h->status > 0) {
		p->pid = (pid_t)h->status;
		remember_shm_region(p, (const char *)payload);
	}
	pthread_mutex_lock(&s->mu);
	do
		p->token = fab_random64();
	while (!p->token || peer_find(s, p->token));
	p->next = *peer_slot(s, p->token);
	*peer_slot(s, p->token) = p;
	p->all_next = s->all_peers;
	if (s->all_peers)
		s->all_peers->all_prev = p;
	s->all_peers = p;
	pthread_mutex_unlock(&s->mu);
	ack.token = p->token;
	ret = send_frame(s, p, &ack, NULL);
	if (ret)
		FLOG_WARN(0, 0, "rpc: cannot answer a new client on %s: %s", s->uri,
			  strerror(-ret));
}

static struct ferry_rpc_request **active_slot(struct ferry_rpc_server *s, uint64_t req_id)
{
	return &s->active[(req_id * 0x9e3779b97f4a7c15ull) >> 56];
}

/* The client gave up on a call: its bulk transfer stops at the next chunk. */
static void handle_cancel(struct ferry_rpc_server *s, const struct frame_hdr *h)
{
	struct ferry_rpc_request *r;

	pthread_mutex_lock(&s->mu);
	for (r = *active_slot(s, h->req_id); r; r = r->next_active)
		if (r->req_id == h->req_id && r->peer->token == h->token)
			atomic_store(&r->cancelled, true);
	pthread_mutex_unlock(&s->mu);
}

static void handle_request(struct ferry_rpc_server *s, const struct frame_hdr *h,
			   const uint8_t *payload)
{
	struct ferry_rpc_request *r;
	struct srv_peer *p;

	r = malloc(sizeof(*r) + h->payload_len);
	if (!r) {
		drop(s, "out of memory");
		return;
	}
	pthread_mutex_lock(&s->mu);
	p = peer_find(s, h->token);
	if (p)
		p->refs++;
	pthread_mutex_unlock(&s->mu);
	if (!p) {
		free(r);
		drop(s, "unknown peer token");
		return;
	}
	*r = (struct ferry_rpc_request){
		.s = s,
		.peer = p,
		.req_id = h->req_id,
		.bulk_addr = h->bulk_addr,
		.bulk_key = h->bulk_key,
		.bulk_len = h->bulk_len,
		.bulk_dir = (enum ferry_bulk_dir)h->bulk_dir,
		.len = h->payload_len,
		.arrived_us = fab_now_us(),
	};
	memcpy(r->msg, payload, h->payload_len);
	if (r->bulk_dir != FERRY_BULK_NONE) {
		struct ferry_rpc_request **slot = active_slot(s, r->req_id);

		pthread_mutex_lock(&s->mu);
		r->next_active = *slot;
		*slot = r;
		pthread_mutex_unlock(&s->mu);
	}
	if (s->nesting) {
		/* A handler is polling for its own operation: run this one
		 * after it returns, never inside it. */
		if (s->deferred_tail)
			s->deferred_tail->next_deferred = r;
		else
			s->deferred_head = r;
		s->deferred_tail = r;
		return;
	}
	s->handler(r, s->handler_arg);
}

static void handle_bye(struct ferry_rpc_server *s, const struct frame_hdr *h)
{
	struct srv_peer *p;

	pthread_mutex_lock(&s->mu);
	p = peer_find(s, h->token);
	if (p)
		srv_peer_mark_down(s, p);
	pthread_mutex_unlock(&s->mu);
	if (!p)
		drop(s, "bye from an unknown peer");
}

static void handle_recv(struct ferry_rpc_server *s, struct srv_op *op, size_t len, int err)
{
	const uint8_t *data = op->buf + s->fab.prefix;
	struct frame_hdr h;

	if (err == -ECANCELED)
		return; /* endpoint closing */
	if (err)
		drop(s, "receive error");
	else if (len < s->fab.prefix || frame_decode(data, len - s->fab.prefix, &h))
		drop(s, "malformed frame");
	else if (h.kind == FRAME_HELLO)
		handle_hello(s, &h, data + FRAME_HDR_SIZE);
	else if (h.kind == FRAME_REQUEST)
		handle_request(s, &h, data + FRAME_HDR_SIZE);
	else if (h.kind == FRAME_BYE)
		handle_bye(s, &h);
	else if (h.kind == FRAME_CANCEL)
		handle_cancel(s, &h);
	else
		drop(s, "unexpected frame kind");
	if (post_recv(s, op))
		FLOG_WARN(0, 0, "rpc: cannot re-post a receive buffer on %s", s->uri);
}

/* A fab_complete_fn: owner is the server, op_ctx an srv_op. */
static void complete_op(void *owner, void *op_ctx, size_t len, int err)
{
	struct ferry_rpc_server *s = owner;
	struct srv_op *op = op_ctx;

	if (op->kind == SRV_OP_RECV) {
		handle_recv(s, op, len, err);
		return;
	}
	pthread_mutex_lock(&s->mu);
	if (err && srv_err_is_peer_down(err))
		srv_peer_mark_down(s, op->peer);
	if (op->kind == SRV_OP_RMA) {
		struct bulk_wait *w = op->wait;

		if (w) { /* NULL: abandoned by its worker */
			if (err && !w->status)
				w->status = srv_err_is_peer_down(err) ? -ECONNRESET : -EIO;
			w->outstanding--;
			bulk_untrack(w, op);
			pthread_cond_signal(&w->cv);
		}
	} else {
		s->sends_outstanding--;
	}
	srv_peer_unref(s, op->peer);
	srv_op_put(s, op);
	pthread_mutex_unlock(&s->mu);
}

int srv_poll_cq(struct ferry_rpc_server *s)
{
	return fab_cq_poll(&s->fab, complete_op, s);
}

/* Network providers tell us that a client died only when we next send to
 * it: ping every client now and then, so that a client killed while idle
 * has its sessions closed.  The pings of one round go out together and
 * their completions come back through the normal path. */
static void ping_clients(struct ferry_rpc_server *s)
{
	struct srv_peer *targets[64];
	uint64_t now = fab_now_us();
	size_t n = 0, i;

	if (!s->ping_us || now < s->next_ping_us || strcmp(s->prov, "shm") == 0)
		return;
	s->next_ping_us = now + s->ping_us;
	pthread_mutex_lock(&s->mu);
	/* At most 64 per round, resuming where the last round stopped. */
	for (i = 0; i < SRV_PEER_BUCKETS && n < 64; i++) {
		size_t bucket = (s->ping_cursor + i) % SRV_PEER_BUCKETS;
		struct srv_peer *p;

		for (p = s->peers[bucket]; p && n < 64; p = p->next) {
			p->refs++;
			targets[n++] = p;
		}
	}
	s->ping_cursor = (s->ping_cursor + i) % SRV_PEER_BUCKETS;
	pthread_mutex_unlock(&s->mu);
	for (i = 0; i < n; i++) {
		struct frame_hdr h = { .kind = FRAME_PING, .token = targets[i]->token };

		send_frame(s, targets[i], &h, NULL);
		pthread_mutex_lock(&s->mu);
		srv_peer_unref(s, targets[i]);
		pthread_mutex_unlock(&s->mu);
	}
}

int ferry_rpc_server_ping_peer(struct ferry_rpc_server *s, uint64_t peer)
{
	struct frame_hdr h = { .kind = FRAME_PING, .token = peer };
	struct srv_peer *p;
	int rc;

	/* shm clients are checked by process id once a second instead. */
	if (strcmp(s->prov, "shm") == 0)
		return 0;
	pthread_mutex_lock(&s->mu);
	p = peer_find(s, peer);
	if (p)
		p->refs++;
	pthread_mutex_unlock(&s->mu);
	if (!p)
		return -ENOENT;
	rc = send_frame(s, p, &h, NULL);
	pthread_mutex_lock(&s->mu);
	srv_peer_unref(s, p);
	pthread_mutex_unlock(&s->mu);
	return rc;
}

/* Once a second, look for shm clients whose process is gone. */
static void check_liveness(struct ferry_rpc_server *s)
{
	uint64_t now = fab_now_us();
	size_t i;

	ping_clients(s);
	if (now < s->next_liveness_us || strcmp(s->prov, "shm") != 0)
		return;
	s->next_liveness_us = now + SRV_LIVENESS_US;
	pthread_mutex_lock(&s->mu);
	for (i = 0; i < SRV_PEER_BUCKETS; i++) {
		struct srv_peer *p = s->peers[i], *next;

		for (; p; p = next) {
			next = p->next;
			if (p->pid > 0 && kill(p->pid, 0) < 0 && errno == ESRCH) {
				/* Its process is gone, so nothing maps the
				 * region any more but the provider's cache. */
				if (p->shm_region[0] && shm_unlink(p->shm_region) == 0)
					FLOG_DEBUG(0, 0, "rpc: removed %s of dead client pid %d",
						   p->shm_region, (int)p->pid);
				srv_peer_mark_down(s, p);
			}
		}
	}
	pthread_mutex_unlock(&s->mu);
}

static int run_deferred(struct ferry_rpc_server *s)
{
	int n = 0;

	while (s->deferred_head) {
		struct ferry_rpc_request *r = s->deferred_head;

		s->deferred_head = r->next_deferred;
		if (!s->deferred_head)
			s->deferred_tail = NULL;
		s->handler(r, s->handler_arg);
		n++;
	}
	return n;
}

int ferry_rpc_server_progress(struct ferry_rpc_server *s, int timeout_ms)
{
	uint64_t start = fab_now_us();
	uint64_t deadline = start + (uint64_t)(timeout_ms > 0 ? timeout_ms : 0) * 1000;
	/* Spin (then yield) only right after work: a daemon idle for a while
	 * goes straight to sleep at each call instead of burning a core. */
	uint64_t spin_end = (start < s->last_event_us + 1000 ? start : s->last_event_us) +
			    (uint64_t)s->spin_us;
	int total = 0;

	if (!atomic_load(&s->progress_known)) {
		s->progress_thread = pthread_self();
		atomic_store(&s->progress_known, true);
	}
	for (;;) {
		uint64_t now;

		total += srv_poll_cq(s);
		total += run_deferred(s);
		check_liveness(s);
		run_down_notifications(s);
		now = fab_now_us();
		if (total > 0)
			s->last_event_us = now;
		if (total > 0 || timeout_ms <= 0)
			break;
		if (now >= deadline)
			break;
		if (fab_spin_or_yield(now, spin_end))
			continue;
		atomic_store(&s->sleeping, true);
		/* A worker may have posted just before we said we sleep. */
		if (srv_poll_cq(s) > 0) {
			atomic_store(&s->sleeping, false);
			total++;
			s->last_event_us = now;
			continue;
		}
		/* Bounded: rxm makes progress on new connections only when
		 * polled, and their sockets are not in the CQ's wait set. */
		if (fab_wait(&s->fab, s->wake_fd,
			     (int64_t)(deadline - now < SRV_BLOCK_SLICE_US ? deadline - now
									: SRV_BLOCK_SLICE_US),
			     now - s->last_event_us)) {
			atomic_store(&s->sleeping, false);
			fab_kick_drain(s->wake_fd);
			/* Workers kick us after posting: go on polling. */
			run_down_notifications(s);
			continue;
		}
		atomic_store(&s->sleeping, false);
	}
	return total;
}

void ferry_rpc_server_wake(struct ferry_rpc_server *s)
{
	fab_kick(s->wake_fd);
}

/* ---------------- requests ---------------- */

const void *ferry_rpc_request_msg(const struct ferry_rpc_request *r, size_t *len)
{
	if (len)
		*len = r->len;
	return r->msg;
}

uint64_t ferry_rpc_request_age_us(const struct ferry_rpc_request *r)
{
	return fab_now_us() - r->arrived_us;
}

uint64_t ferry_rpc_request_peer(const struct ferry_rpc_request *r)
{
	return r->peer->token;
}

size_t ferry_rpc_request_bulk_len(const struct ferry_rpc_request *r)
{
	return (size_t)r->bulk_len;
}

enum ferry_bulk_dir ferry_rpc_request_bulk_dir(const struct ferry_rpc_request *r)
{
	return r->bulk_dir;
}

static void request_release(struct ferry_rpc_request *r)
{
	struct ferry_rpc_server *s = r->s;

	pthread_mutex_lock(&s->mu);
	if (r->bulk_dir != FERRY_BULK_NONE) {
		struct ferry_rpc_request **pp = active_slot(s, r->req_id);

		while (*pp && *pp != r)
			pp = &(*pp)->next_active;
		if (*pp)
			*pp = r->next_active;
	}
	srv_peer_unref(s, r->peer);
	pthread_mutex_unlock(&s->mu);
	free(r);
}

int ferry_rpc_reply(struct ferry_rpc_request *r, const void *msg, size_t len)
{
	struct frame_hdr h = {
		.kind = FRAME_REPLY,
		.req_id = r->req_id,
		.token = r->peer->token,
		.payload_len = (uint32_t)len,
	};
	int ret = -EMSGSIZE;

	/* The request is released whatever happens: a reply too large to
	 * send leaves the client to time out, and is logged. */
	if (len <= FRAME_PAYLOAD_MAX)
		ret = send_frame(r->s, r->peer, &h, msg);
	if (ret == -EMSGSIZE)
		FLOG_ERR(0, 0, "rpc: reply of %zu bytes exceeds the %u-byte limit", len,
			 FRAME_PAYLOAD_MAX);
	request_release(r);
	return ret;
}

void ferry_rpc_drop(struct ferry_rpc_request *r)
{
	atomic_fetch_add(&r->s->dropped, 1);
	request_release(r);
}

/* ---------------- open and close ---------------- */

static int server_open(const char *uri, const struct ferry_rpc_opts *opts,
		       ferry_rpc_handler_fn handler, void *arg, struct ferry_rpc_server **out)
{
	struct ferry_rpc_server *s;
	const char *env;
	int ret;
	int i;

	*out = NULL;
	if (!handler)
		return -EINVAL;
	s = calloc(1, sizeof(*s));
	if (!s)
		return -ENOMEM;
	s->wake_fd = -1;
	ret = ferry_rpc_parse_uri(uri, s->prov, sizeof(s->prov), s->node, sizeof(s->node),
				  s->service, sizeof(s->service));
	if (ret || strlen(uri) >= sizeof(s->uri)) {
		free(s);
		return -EINVAL;
	}
	snprintf(s->uri, sizeof(s->uri), "%s", uri);
	s->handler = handler;
	s->handler_arg = arg;
	s->spin_us = opts && opts->spin_us > 0 ? opts->spin_us : 50;
	env = getenv("FERRY_RPC_SPIN_US");
	if (env && *env)
		s->spin_us = atoi(env);
	pthread_mutex_init(&s->mu, NULL);
	s->wake_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (s->wake_fd < 0) {
		ret = -errno;
		goto fail;
	}
	ret = fab_open(&s->fab, s->prov, s->node, s->service, true, NULL);
	if (ret)
		goto fail;
	env = getenv("FERRY_RPC_PING_S");
	s->ping_us = (uint64_t)(env && *env ? atoi(env) : SRV_PING_S) * 1000000;
	s->next_ping_us = fab_now_us() + s->ping_us;
	s->inline_max = opts && opts->inline_max ? opts->inline_max : s->fab.inline_default;
	env = getenv("FERRY_INLINE_MAX");
	if (env && *env)
		s->inline_max = (size_t)strtoul(env, NULL, 10);
	if (s->inline_max > FRAME_PAYLOAD_MAX - 4096)
		s->inline_max = FRAME_PAYLOAD_MAX - 4096; /* room for the message header */
	for (i = 0; i < SRV_RECV_COUNT; i++) {
		struct srv_op *op = calloc(1, sizeof(*op));

		if (!op) {
			ret = -ENOMEM;
			goto fail;
		}
		op->kind = SRV_OP_RECV;
		op->cap = FRAME_HDR_SIZE + FRAME_PAYLOAD_MAX;
		op->all = s->all_ops;
		s->all_ops = op;
		op->buf = fab_alloc_pages(s->fab.prefix + op->cap);
		if (!op->buf) {
			ret = -ENOMEM;
			goto fail;
		}
		ret = fab_mr_reg(&s->fab, op->buf, s->fab.prefix + op->cap, FI_RECV, &op->mr);
		if (!ret)
			ret = post_recv(s, op);
		if (ret)
			goto fail;
	}
	*out = s;
	return 0;
fail:
	ferry_rpc_server_close(s);
	return ret;
}

int ferry_rpc_server_open(const char *uri, const struct ferry_rpc_opts *opts,
			  ferry_rpc_handler_fn handler, void *arg, struct ferry_rpc_server **out)
{
	/* The shm provider installs signal handlers while an endpoint and its
	 * buffers are set up; the daemon's own handlers must stay. */
	struct fab_sigs *sigs = fab_sigs_save();
	int ret;

	if (!sigs)
		return -ENOMEM;
	ret = server_open(uri, opts, handler, arg, out);
	fab_sigs_restore(sigs);
	return ret;
}

static void say_bye_to_all(struct ferry_rpc_server *s)
{
	uint64_t give_up = fab_now_us() + SRV_CLOSE_DRAIN_US;
	size_t i;
	int outstanding;

	for (i = 0; i < SRV_PEER_BUCKETS; i++) {
		struct srv_peer *p;

		for (p = s->peers[i]; p; p = p->next) {
			struct frame_hdr h = { .kind = FRAME_BYE, .token = p->token };

			send_frame(s, p, &h, NULL);
		}
	}
	do {
		srv_poll_cq(s);
		pthread_mutex_lock(&s->mu);
		outstanding = s->sends_outstanding;
		pthread_mutex_unlock(&s->mu);
	} while (outstanding > 0 && fab_now_us() < give_up);
}

void ferry_rpc_server_close(struct ferry_rpc_server *s)
{
	if (!s)
		return;
	if (s->fab.ep) {
		s->nesting++; /* no handler runs from here on */
		say_bye_to_all(s);
	}
	fab_close(&s->fab);
	while (s->all_ops) {
		struct srv_op *op = s->all_ops;

		s->all_ops = op->all;
		fab_mr_close(&op->mr);
		free(op->buf);
		free(op);
	}
	while (s->deferred_head) {
		struct ferry_rpc_request *r = s->deferred_head;

		s->deferred_head = r->next_deferred;
		free(r);
	}
	/* Peers still referenced, by the table, a notification or an RMA
	 * abandoned on a dead shm client. */
	while (s->all_peers) {
		struct srv_peer *p = s->all_peers;

		s->all_peers = p->all_next;
		free(p);
	}
	if (s->wake_fd >= 0)
		close(s->wake_fd);
	pthread_mutex_destroy(&s->mu);
	free(s);
}

/* ---------------- accessors ---------------- */

const char *ferry_rpc_server_provider(const struct ferry_rpc_server *s)
{
	return s->prov;
}

size_t ferry_rpc_server_inline_max(const struct ferry_rpc_server *s)
{
	return s->inline_max;
}

uint64_t ferry_rpc_server_dropped(const struct ferry_rpc_server *s)
{
	return atomic_load(&((struct ferry_rpc_server *)s)->dropped);
}

void ferry_rpc_server_on_peer_down(struct ferry_rpc_server *s, ferry_rpc_peer_down_fn fn,
				   void *arg)
{
	pthread_mutex_lock(&s->mu);
	s->down_fn = fn;
	s->down_arg = arg;
	pthread_mutex_unlock(&s->mu);
}

int ferry_rpc_server_uri(const struct ferry_rpc_server *s, char *buf, size_t len)
{
	char host[INET6_ADDRSTRLEN];
	union {
		struct sockaddr sa;
		struct sockaddr_in in;
		struct sockaddr_in6 in6;
		char raw[FRAME_ADDR_MAX];
	} name;
	size_t name_len = sizeof(name);
	const char *scheme_end = strstr(s->uri, "://");
	int n;

	if (strcmp(s->prov, "shm") == 0 || !scheme_end ||
	    fi_getname(&s->fab.ep->fid, &name, &name_len) != 0) {
		n = snprintf(buf, len, "%s", s->uri);
	} else if (name.sa.sa_family == AF_INET &&
		   inet_ntop(AF_INET, &name.in.sin_addr, host, sizeof(host))) {
		n = snprintf(buf, len, "%.*s://%s:%u", (int)(scheme_end - s->uri), s->uri, host,
			     ntohs(name.in.sin_port));
	} else if (name.sa.sa_family == AF_INET6 &&
		   inet_ntop(AF_INET6, &name.in6.sin6_addr, host, sizeof(host))) {
		n = snprintf(buf, len, "%.*s://[%s]:%u", (int)(scheme_end - s->uri), s->uri, host,
			     ntohs(name.in6.sin6_port));
	} else {
		n = snprintf(buf, len, "%s", s->uri);
	}
	return n < 0 || (size_t)n >= len ? -ENAMETOOLONG : 0;
}
