/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The compute-side RPC client.  It runs inside unmodified applications: no
 * threads, no signal handlers.  Whichever caller waits drives progress: one
 * waiter at a time is the "poller" (spins on the CQ, then blocks on its wait
 * fd or sleeps in short slices); the others sleep on a condition variable and
 * are woken when the poller completes their call or steps down.
 */
#include <errno.h>
#include <fcntl.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <unistd.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fabric.h"
#include "ferry/log.h"
#include "ferry/rpc.h"
#include "rpc_internal.h"

#define CLIENT_RECV_COUNT 16
#define CLIENT_HASH_BUCKETS 256
#define CLIENT_HELLO_TIMEOUT_MS 10000
#define CLIENT_POST_RETRY_US 5000000 /* give up on a post stuck in EAGAIN */
#define CLIENT_BLOCK_SLICE_US 1000   /* longest sleep before re-polling */

enum client_op_kind { CLIENT_OP_RECV = 1, CLIENT_OP_SEND };

/* Every operation given to libfabric starts with its context, so the CQ's
 * op_context leads back to it; it lives on the heap, never the stack. */
struct client_op {
	struct fi_context2 ctx;
	enum client_op_kind kind;
	struct client_op *next; /* free list (sends) */
	struct client_op *all;  /* every op, to free at close */
	uint64_t req_id;        /* send: the call to fail if the send fails */
	struct fab_mr mr;
	size_t cap; /* bytes after buf's prefix */
	uint8_t *buf;
};

struct pending_call {
	struct pending_call *next;
	uint64_t req_id;
	void *reply;
	size_t reply_cap;
	size_t reply_len;
	uint64_t token; /* HELLO_ACK */
	int status;
	atomic_bool done;
};

struct ferry_rpc_client {
	char uri[256];
	char prov[32], node[256], service[16];
	int spin_us;
	int timeout_ms;
	size_t inline_max;
	struct fab fab;
	fi_addr_t server;
	uint64_t token;
	bool server_gone; /* BYE received or connection failed */

	pthread_mutex_t mu;
	pthread_cond_t cv;
	bool poller_active;
	/* Without a CQ wait fd (shm) the poller sleeps in slices that grow with
	 * the time nothing happened; another thread's call is something, so it
	 * resets that time and kicks a sleeping poller (kick_fd, an eventfd):
	 * its reply is seen at once, not up to a slice later. */
	_Atomic uint64_t activity_us;
	atomic_bool poller_sleeping;
	int kick_fd;
	int sends_outstanding;
	uint64_t next_req_id;
	struct pending_call *pending[CLIENT_HASH_BUCKETS];
	struct client_op *free_sends;
	struct client_op *all_ops;
};

static struct pending_call **pending_slot(struct ferry_rpc_client *c, uint64_t req_id)
{
	return &c->pending[(req_id * 0x9e3779b97f4a7c15ull) >> 56];
}

static void pending_add(struct ferry_rpc_client *c, struct pending_call *p)
{
	struct pending_call **slot = pending_slot(c, p->req_id);

	p->next = *slot;
	*slot = p;
}

/* Removes and returns the call, or NULL if it is gone (timed out). */
static struct pending_call *pending_take(struct ferry_rpc_client *c, uint64_t req_id)
{
	struct pending_call **pp;

	for (pp = pending_slot(c, req_id); *pp; pp = &(*pp)->next) {
		struct pending_call *p = *pp;

		if (p->req_id == req_id) {
			*pp = p->next;
			return p;
		}
	}
	return NULL;
}

/* Called with mu held. */
static void pending_finish(struct ferry_rpc_client *c, struct pending_call *p, int status)
{
	p->status = status;
	atomic_store_explicit(&p->done, true, memory_order_release);
	pthread_cond_broadcast(&c->cv);
}

static void fail_all_pending(struct ferry_rpc_client *c, int status)
{
	size_t i;

	for (i = 0; i < CLIENT_HASH_BUCKETS; i++) {
		while (c->pending[i]) {
			struct pending_call *p = c->pending[i];

			c->pending[i] = p->next;
			pending_finish(c, p, status);
		}
	}
}

static struct client_op *op_alloc(struct ferry_rpc_client *c, enum client_op_kind kind, size_t cap,
				  uint64_t access)
{
	struct client_op *op = calloc(1, sizeof(*op));
	int ret;

	if (!op)
		return NULL;
	op->kind = kind;
	op->cap = cap;
	op->buf = fab_alloc_pages(c->fab.prefix + cap);
	if (!op->buf)
		goto fail;
	ret = fab_mr_reg(&c->fab, op->buf, c->fab.prefix + cap, access, &op->mr);
	if (ret)
		goto fail;
	op->all = c->all_ops;
	c->all_ops = op;
	return op;
fail:
	free(op->buf);
	free(op);
	return NULL;
}

static void ops_free_all(struct ferry_rpc_client *c)
{
	while (c->all_ops) {
		struct client_op *op = c->all_ops;

		c->all_ops = op->all;
		fab_mr_close(&op->mr);
		free(op->buf);
		free(op);
	}
	c->free_sends = NULL;
}

static int post_recv(struct ferry_rpc_client *c, struct client_op *op)
{
	ssize_t ret = fi_recv(c->fab.ep, op->buf, c->fab.prefix + op->cap, op->mr.desc,
			      FI_ADDR_UNSPEC, &op->ctx);

	return ret ? fab_errno(ret) : 0;
}

/* ---------------- completions ---------------- */

static void handle_frame(struct ferry_rpc_client *c, const uint8_t *data, size_t len)
{
	const uint8_t *payload = data + FRAME_HDR_SIZE;
	struct pending_call *p;
	struct frame_hdr h;

	if (frame_decode(data, len, &h))
		return;
	pthread_mutex_lock(&c->mu);
	switch (h.kind) {
	case FRAME_HELLO_ACK:
		p = c->token ? NULL : pending_take(c, h.req_id);
		if (p) {
			p->token = h.token;
			pending_finish(c, p, h.status);
		}
		break;
	case FRAME_REPLY:
		if (h.token != c->token || !c->token)
			break;
		p = pending_take(c, h.req_id);
		if (!p)
			break; /* timed out: a late reply, dropped */
		if (h.payload_len > p->reply_cap) {
			pending_finish(c, p, -EMSGSIZE);
			break;
		}
		if (h.payload_len)
			memcpy(p->reply, payload, h.payload_len);
		p->reply_len = h.payload_len;
		pending_finish(c, p, 0);
		break;
	case FRAME_BYE:
		if (h.token != c->token || !c->token)
			break;
		c->server_gone = true;
		fail_all_pending(c, -ECONNRESET);
		break;
	default:
		break;
	}
	pthread_mutex_unlock(&c->mu);
}

/* A fab_complete_fn: owner is the client, op_ctx a client_op. */
static void complete_op(void *owner, void *op_ctx, size_t len, int err)
{
	struct ferry_rpc_client *c = owner;
	struct client_op *op = op_ctx;
	struct pending_call *p;

	if (op->kind == CLIENT_OP_RECV) {
		if (err == -ECANCELED)
			return; /* endpoint closing */
		if (!err && len >= c->fab.prefix)
			handle_frame(c, op->buf + c->fab.prefix, len - c->fab.prefix);
		if (post_recv(c, op))
			FLOG_WARN(0, 0, "rpc: cannot re-post a receive buffer on %s", c->uri);
		return;
	}
	pthread_mutex_lock(&c->mu);
	if (err) {
		p = pending_take(c, op->req_id);
		if (p)
			pending_finish(c, p, err);
		if (err == -ECONNRESET || err == -ECONNREFUSED || err == -EHOSTUNREACH) {
			c->server_gone = true;
			fail_all_pending(c, err);
		}
	}
	op->next = c->free_sends;
	c->free_sends = op;
	c->sends_outstanding--;
	pthread_mutex_unlock(&c->mu);
}

/* Reads and handles completions once; returns how many, or 0. */
static int client_poll_cq(struct ferry_rpc_client *c)
{
	return fab_cq_poll(&c->fab, complete_op, c);
}

/* ---------------- sending and waiting ---------------- */

static struct client_op *get_send_op(struct ferry_rpc_client *c)
{
	struct client_op *op;

	pthread_mutex_lock(&c->mu);
	op = c->free_sends;
	if (op)
		c->free_sends = op->next;
	else
		op = op_alloc(c, CLIENT_OP_SEND, FRAME_HDR_SIZE + FRAME_PAYLOAD_MAX, FI_SEND);
	if (op)
		c->sends_outstanding++;
	pthread_mutex_unlock(&c->mu);
	return op;
}

static void put_send_op(struct ferry_rpc_client *c, struct client_op *op)
{
	pthread_mutex_lock(&c->mu);
	op->next = c->free_sends;
	c->free_sends = op;
	c->sends_outstanding--;
	pthread_mutex_unlock(&c->mu);
}

/* A call was posted: a poller sleeping without a wait fd looks again now,
 * and in short slices. */
static void client_note_activity(struct ferry_rpc_client *c)
{
	if (c->fab.cq_wait_fd >= 0)
		return;
	atomic_store(&c->activity_us, fab_now_us());
	if (c->kick_fd >= 0 && atomic_load(&c->poller_sleeping))
		fab_kick(c->kick_fd);
}

/* Posts a frame; on EAGAIN drives progress and retries, bounded. */
static int send_frame(struct ferry_rpc_client *c, const struct frame_hdr *h, const void *payload,
		      uint64_t deadline)
{
	uint64_t give_up = fab_now_us() + CLIENT_POST_RETRY_US;
	struct client_op *op = get_send_op(c);
	size_t len = FRAME_HDR_SIZE + h->payload_len;
	ssize_t ret;

	if (!op)
		return -ENOMEM;
	if (deadline < give_up)
		give_up = deadline;
	op->req_id = h->req_id;
	frame_encode(h, op->buf + c->fab.prefix);
	if (h->payload_len)
		memcpy(op->buf + c->fab.prefix + FRAME_HDR_SIZE, payload, h->payload_len);
	for (;;) {
		ret = fi_send(c->fab.ep, op->buf, c->fab.prefix + len, op->mr.desc, c->server,
			      &op->ctx);
		if (ret != -FI_EAGAIN)
			break;
		if (fab_now_us() > give_up) {
			ret = -FI_ETIMEDOUT;
			break;
		}
		client_poll_cq(c);
	}
	if (ret) {
		put_send_op(c, op);
		return fab_errno(ret);
	}
	client_note_activity(c);
	return 0;
}

/* Run the wait hook when its period is up; send what it returns one way
 * (a request nobody waits for: its reply is dropped like a late one). */
static void run_wait_hook(struct ferry_rpc_client *c, const struct ferry_rpc_wait_hook *hook,
			  uint64_t *next_us, uint64_t now, uint64_t deadline)
{
	struct frame_hdr h = { .kind = FRAME_REQUEST };
	const void *msg;
	size_t len = 0;

	if (!hook || now < *next_us)
		return;
	*next_us = now + (uint64_t)(hook->period_ms > 0 ? hook->period_ms : 10) * 1000;
	msg = hook->poll(hook->arg, &len);
	if (!msg || len == 0 || len > FRAME_PAYLOAD_MAX)
		return;
	pthread_mutex_lock(&c->mu);
	h.req_id = ++c->next_req_id;
	h.token = c->token;
	pthread_mutex_unlock(&c->mu);
	h.payload_len = (uint32_t)len;
	send_frame(c, &h, msg, deadline);
}

/* Waits until p is done or the deadline passes; on timeout the call is
 * forgotten so that a late reply is dropped. */
static int wait_call(struct ferry_rpc_client *c, struct pending_call *p, uint64_t deadline,
		     const struct ferry_rpc_wait_hook *hook)
{
	uint64_t start = fab_now_us();
	uint64_t spin_end = start + (uint64_t)c->spin_us;
	uint64_t hook_next = start;
	int ret;

	pthread_mutex_lock(&c->mu);
	while (!atomic_load_explicit(&p->done, memory_order_acquire)) {
		uint64_t now = fab_now_us();

		if (hook && now >= hook_next) {
			pthread_mutex_unlock(&c->mu);
			run_wait_hook(c, hook, &hook_next, now, deadline);
			pthread_mutex_lock(&c->mu);
			continue;
		}
		if (now >= deadline) {
			if (pending_take(c, p->req_id))
				pending_finish(c, p, -ETIMEDOUT);
			break;
		}
		if (c->poller_active) {
			uint64_t until = now + CLIENT_BLOCK_SLICE_US * 10;
			struct timespec ts;

			clock_gettime(CLOCK_REALTIME, &ts);
			until = (until < deadline ? until : deadline) - now;
			ts.tv_sec += (time_t)(until / 1000000);
			ts.tv_nsec += (long)(until % 1000000) * 1000;
			if (ts.tv_nsec >= 1000000000) {
				ts.tv_sec++;
				ts.tv_nsec -= 1000000000;
			}
			pthread_cond_timedwait(&c->cv, &c->mu, &ts);
			continue;
		}
		c->poller_active = true;
		pthread_mutex_unlock(&c->mu);
		while (!atomic_load_explicit(&p->done, memory_order_acquire)) {
			if (client_poll_cq(c) > 0)
				continue;
			now = fab_now_us();
			if (now >= deadline)
				break;
			if (hook && now >= hook_next)
				run_wait_hook(c, hook, &hook_next, now, deadline);
			if (fab_spin_or_yield(now, spin_end))
				continue;
			{
				uint64_t since;

				/* Sleeping first, then the activity: a call
				 * posted in between either kicks us or is
				 * seen here. */
				atomic_store(&c->poller_sleeping, true);
				since = atomic_load(&c->activity_us);
				if (since < start)
					since = start;
				if (fab_wait(&c->fab, c->kick_fd,
					     (int64_t)(deadline - now < CLIENT_BLOCK_SLICE_US
							       ? deadline - now
							       : CLIENT_BLOCK_SLICE_US),
					     now > since ? now - since : 0) == 1)
					fab_kick_drain(c->kick_fd);
				atomic_store(&c->poller_sleeping, false);
			}
		}
		pthread_mutex_lock(&c->mu);
		c->poller_active = false;
		pthread_cond_broadcast(&c->cv);
	}
	ret = p->status;
	pthread_mutex_unlock(&c->mu);
	return ret;
}

/* ---------------- bulk regions ---------------- */

struct call_bulk {
	struct fab_mr mr;
	void *bounce;
};

static int bulk_expose(struct ferry_rpc_client *c, const struct ferry_rpc_bulk *b,
		       struct call_bulk *cb, struct frame_hdr *h)
{
	uint64_t access = b->dir == FERRY_BULK_TO_SERVER ? FI_REMOTE_READ : FI_REMOTE_WRITE;
	int ret = -EFAULT;

	memset(cb, 0, sizeof(*cb));
	if (b->dir != FERRY_BULK_TO_SERVER && b->dir != FERRY_BULK_FROM_SERVER)
		return -EINVAL;
	if (!(c->fab.mr_mode & FI_MR_ALLOCATED))
		ret = fab_mr_reg(&c->fab, b->buf, b->len, access, &cb->mr);
	if (ret) {
		/* FI_MR_ALLOCATED, or the caller's memory cannot be registered:
		 * expose a bounce buffer of our own instead. */
		cb->bounce = fab_alloc_pages(b->len);
		if (!cb->bounce)
			return -ENOMEM;
		if (b->dir == FERRY_BULK_TO_SERVER)
			memcpy(cb->bounce, b->buf, b->len);
		ret = fab_mr_reg(&c->fab, cb->bounce, b->len, access, &cb->mr);
		if (ret) {
			free(cb->bounce);
			cb->bounce = NULL;
			return ret;
		}
	}
	h->bulk_dir = (uint8_t)b->dir;
	h->bulk_addr = cb->mr.remote_addr;
	h->bulk_key = cb->mr.key;
	h->bulk_len = b->len;
	return 0;
}

/* Closing the MR revokes the server's access before fi_close returns, so
 * after a timeout the server's late RMA fails instead of touching memory
 * the caller owns again. */
static void bulk_release(const struct ferry_rpc_bulk *b, struct call_bulk *cb, int status)
{
	fab_mr_close(&cb->mr);
	if (cb->bounce) {
		if (!status && b->dir == FERRY_BULK_FROM_SERVER)
			memcpy(b->buf, cb->bounce, b->len);
		free(cb->bounce);
	}
}

int ferry_rpc_call(struct ferry_rpc_client *c, const void *req, size_t req_len,
		   const struct ferry_rpc_bulk *bulk, void *reply, size_t reply_cap,
		   size_t *reply_len, int timeout_ms)
{
	return ferry_rpc_call_hooked(c, req, req_len, bulk, reply, reply_cap, reply_len,
				     timeout_ms, NULL);
}

int ferry_rpc_call_hooked(struct ferry_rpc_client *c, const void *req, size_t req_len,
			  const struct ferry_rpc_bulk *bulk, void *reply, size_t reply_cap,
			  size_t *reply_len, int timeout_ms, const struct ferry_rpc_wait_hook *hook)
{
	struct pending_call p = { .reply = reply, .reply_cap = reply_cap };
	struct frame_hdr h = { .kind = FRAME_REQUEST };
	bool has_bulk = bulk && bulk->len > 0 && bulk->dir != FERRY_BULK_NONE;
	struct call_bulk cb = { 0 };
	uint64_t deadline;
	int ret;

	if (req_len > FRAME_PAYLOAD_MAX)
		return -EMSGSIZE;
	if (timeout_ms <= 0)
		timeout_ms = c->timeout_ms;
	deadline = fab_now_us() + (uint64_t)timeout_ms * 1000;
	if (has_bulk) {
		ret = bulk_expose(c, bulk, &cb, &h);
		if (ret)
			return ret;
	}
	/* Notice a BYE before sending: shm faults on sends to a peer whose
	 * region is gone. */
	client_poll_cq(c);
	pthread_mutex_lock(&c->mu);
	if (c->server_gone) {
		pthread_mutex_unlock(&c->mu);
		ret = -ECONNRESET;
		goto out;
	}
	p.req_id = ++c->next_req_id;
	pending_add(c, &p);
	h.token = c->token;
	pthread_mutex_unlock(&c->mu);

	h.req_id = p.req_id;
	h.payload_len = (uint32_t)req_len;
	ret = send_frame(c, &h, req, deadline);
	if (ret) {
		pthread_mutex_lock(&c->mu);
		pending_take(c, p.req_id);
		pthread_mutex_unlock(&c->mu);
		goto out;
	}
	ret = wait_call(c, &p, deadline, hook);
	if (!ret && reply_len)
		*reply_len = p.reply_len;
	if (ret == -ETIMEDOUT && has_bulk) {
		struct frame_hdr cancel = { .kind = FRAME_CANCEL, .req_id = h.req_id,
					    .token = h.token };

		/* Best effort: the server stops moving data at its next chunk. */
		send_frame(c, &cancel, NULL, fab_now_us() + 100000);
	}
out:
	if (has_bulk)
		bulk_release(bulk, &cb, ret);
	return ret;
}

/* ---------------- connection ---------------- */

/* shm maps a peer lazily and then lets every send fail with EAGAIN when the
 * name does not exist: look for the region first, for a clear error. */
static int shm_peer_exists(const struct ferry_rpc_client *c)
{
	int fd;

	if (strcmp(c->prov, "shm") != 0)
		return 0;
	fd = shm_open(c->node, O_RDONLY, 0);
	if (fd < 0)
		return errno == ENOENT ? -ECONNREFUSED : 0;
	close(fd);
	return 0;
}

static int client_connect_unguarded(struct ferry_rpc_client *c)
{
	uint64_t deadline = fab_now_us() + (uint64_t)(c->timeout_ms < CLIENT_HELLO_TIMEOUT_MS
							      ? c->timeout_ms
							      : CLIENT_HELLO_TIMEOUT_MS) *
						   1000;
	struct pending_call p = { 0 };
	struct frame_hdr h = { .kind = FRAME_HELLO };
	uint8_t name[FRAME_ADDR_MAX];
	size_t name_len = sizeof(name);
	int ret;
	int i;

	ret = shm_peer_exists(c);
	if (ret)
		return ret;
	ret = fab_open(&c->fab, c->prov, c->node, c->service, false, &c->server);
	if (ret)
		return ret;
	for (i = 0; i < CLIENT_RECV_COUNT; i++) {
		struct client_op *op = op_alloc(c, CLIENT_OP_RECV,
						FRAME_HDR_SIZE + FRAME_PAYLOAD_MAX, FI_RECV);

		if (!op) {
			ret = -ENOMEM;
			goto out;
		}
		ret = post_recv(c, op);
		if (ret)
			goto out;
	}
	ret = fi_getname(&c->fab.ep->fid, name, &name_len);
	if (ret) {
		ret = fab_errno(ret);
		goto out;
	}
	p.req_id = fab_random64();
	pthread_mutex_lock(&c->mu);
	pending_add(c, &p);
	pthread_mutex_unlock(&c->mu);
	h.req_id = p.req_id;
	h.payload_len = (uint32_t)name_len;
	h.status = (int32_t)getpid(); /* lets a shm server notice our death */
	ret = send_frame(c, &h, name, deadline);
	if (ret) {
		pthread_mutex_lock(&c->mu);
		pending_take(c, p.req_id);
		pthread_mutex_unlock(&c->mu);
		/* The provider kept refusing the first message: tcp;ofi_rxm
		 * retries a refused connection rather than failing the send. */
		if (ret == -ETIMEDOUT)
			ret = -ECONNREFUSED;
		goto out;
	}
	ret = wait_call(c, &p, deadline, NULL);
	if (!ret && !p.token)
		ret = -EPROTO;
	if (!ret)
		c->token = p.token;
out:
	if (ret) {
		fab_close(&c->fab);
		ops_free_all(c);
	}
	return ret;
}

/* The application's signal handlers must survive what the provider
 * installs while it sets an endpoint up. */
static int client_connect(struct ferry_rpc_client *c)
{
	struct fab_sigs *sigs = fab_sigs_save();
	int ret;

	if (!sigs)
		return -ENOMEM;
	ret = client_connect_unguarded(c);
	fab_sigs_restore(sigs);
	return ret;
}

static int env_int(const char *name, int def)
{
	const char *v = getenv(name);
	char *end;
	long n;

	if (!v || !*v)
		return def;
	n = strtol(v, &end, 10);
	if (*end || n < 0 || n > 1 << 30)
		return def;
	return (int)n;
}

/* The poller's kick (only where the CQ has no wait fd); without one the
 * poller only sleeps in slices. */
static void client_kick_fd_open(struct ferry_rpc_client *c)
{
	if (c->kick_fd >= 0)
		close(c->kick_fd);
	c->kick_fd = c->fab.cq_wait_fd < 0 ? eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC) : -1;
}

int ferry_rpc_client_open(const char *uri, const struct ferry_rpc_opts *opts,
			  struct ferry_rpc_client **out)
{
	struct ferry_rpc_client *c;
	int ret;

	*out = NULL;
	c = calloc(1, sizeof(*c));
	if (!c)
		return -ENOMEM;
	ret = ferry_rpc_parse_uri(uri, c->prov, sizeof(c->prov), c->node, sizeof(c->node),
				  c->service, sizeof(c->service));
	if (ret || strlen(uri) >= sizeof(c->uri)) {
		free(c);
		return -EINVAL;
	}
	snprintf(c->uri, sizeof(c->uri), "%s", uri);
	c->spin_us = env_int("FERRY_RPC_SPIN_US", opts && opts->spin_us > 0 ? opts->spin_us : 50);
	c->timeout_ms = opts && opts->timeout_ms > 0 ? opts->timeout_ms : 60000;
	pthread_mutex_init(&c->mu, NULL);
	pthread_cond_init(&c->cv, NULL);
	c->kick_fd = -1;
	ret = client_connect(c);
	if (ret) {
		pthread_cond_destroy(&c->cv);
		pthread_mutex_destroy(&c->mu);
		free(c);
		return ret;
	}
	client_kick_fd_open(c);
	c->inline_max = (size_t)env_int("FERRY_INLINE_MAX",
					(int)(opts && opts->inline_max ? opts->inline_max
								       : c->fab.inline_default));
	if (c->inline_max > FRAME_PAYLOAD_MAX - 4096)
		c->inline_max = FRAME_PAYLOAD_MAX - 4096; /* room for the message header */
	*out = c;
	return 0;
}

/* Best effort: tell the server we are leaving so it can close the session
 * now rather than when it next fails to reach us. */
static void say_bye(struct ferry_rpc_client *c)
{
	struct frame_hdr h = { .kind = FRAME_BYE, .token = c->token, .req_id = 0 };
	uint64_t give_up = fab_now_us() + 20000;
	int outstanding;

	if (!c->token || c->server_gone)
		return;
	if (send_frame(c, &h, NULL, give_up))
		return;
	/* Let the sends complete so that closing does not cancel them. */
	do {
		client_poll_cq(c);
		pthread_mutex_lock(&c->mu);
		outstanding = c->sends_outstanding;
		pthread_mutex_unlock(&c->mu);
	} while (outstanding > 0 && fab_now_us() < give_up);
}

void ferry_rpc_client_close(struct ferry_rpc_client *c)
{
	if (!c)
		return;
	say_bye(c);
	fab_close(&c->fab);
	ops_free_all(c);
	if (c->kick_fd >= 0)
		close(c->kick_fd);
	pthread_cond_destroy(&c->cv);
	pthread_mutex_destroy(&c->mu);
	free(c);
}

void ferry_rpc_client_close_at_exit(struct ferry_rpc_client *c)
{
	if (!c)
		return;
	say_bye(c);
	fab_close_endpoint(&c->fab);
}

int ferry_rpc_client_reopen(struct ferry_rpc_client *c)
{
	int ret;

	/* In the child only this thread exists: locks held by the parent's
	 * other threads at fork time would never be released. */
	pthread_mutex_init(&c->mu, NULL);
	pthread_cond_init(&c->cv, NULL);
	c->poller_active = false;
	fail_all_pending(c, -ECONNRESET);
	/* The parent's objects and registered buffers are left alone (pages
	 * registered fork-safe are not even mapped here). */
	fab_abandon(&c->fab);
	c->all_ops = NULL;
	c->free_sends = NULL;
	c->sends_outstanding = 0;
	c->token = 0;
	c->server_gone = false;
	atomic_store(&c->poller_sleeping, false);
	ret = client_connect(c);
	/* Not the parent's eventfd: its kicks are the parent's. */
	if (ret == 0)
		client_kick_fd_open(c);
	return ret;
}

size_t ferry_rpc_client_msg_max(const struct ferry_rpc_client *c)
{
	return FRAME_PAYLOAD_MAX;
}

size_t ferry_rpc_client_inline_max(const struct ferry_rpc_client *c)
{
	return c->inline_max;
}

const char *ferry_rpc_client_provider(const struct ferry_rpc_client *c)
{
	return c->prov;
}

int ferry_rpc_client_send_raw(struct ferry_rpc_client *c, const void *frame, size_t len)
{
	uint64_t give_up = fab_now_us() + CLIENT_POST_RETRY_US;
	struct client_op *op;
	ssize_t ret;

	if (len > FRAME_HDR_SIZE + FRAME_PAYLOAD_MAX)
		return -EMSGSIZE;
	op = get_send_op(c);
	if (!op)
		return -ENOMEM;
	op->req_id = 0;
	memcpy(op->buf + c->fab.prefix, frame, len);
	do {
		ret = fi_send(c->fab.ep, op->buf, c->fab.prefix + len, op->mr.desc, c->server,
			      &op->ctx);
		if (ret == -FI_EAGAIN)
			client_poll_cq(c);
	} while (ret == -FI_EAGAIN && fab_now_us() < give_up);
	if (ret) {
		put_send_op(c, op);
		return fab_errno(ret);
	}
	return 0;
}

uint64_t ferry_rpc_client_token(const struct ferry_rpc_client *c)
{
	return c->token;
}
