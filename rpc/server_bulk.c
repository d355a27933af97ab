/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Bulk transfers for the server: fi_read/fi_write against the region the
 * client registered for one call, in chunks of bounded size with a few in
 * flight.  The calling worker sleeps until the progress thread has seen its
 * completions; on the progress thread itself it polls the CQ instead.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "server.h"

#define BULK_CHECK_NS 100000000 /* how often a waiting worker looks at its peer */
#define BULK_POST_RETRY_US 5000000

/* A shm peer that died never completes our RMA (the provider waits for
 * the peer to progress it): give up on the operations.  Their completion,
 * should one ever come, finds no waiter.  Only for peers whose death we saw
 * ourselves: other providers fail the RMA, and the buffer must stay put
 * until they do.  With mu held. */
static void abandon(struct ferry_rpc_server *s, struct bulk_wait *w)
{
	int i;

	for (i = 0; i < BULK_WINDOW; i++) {
		if (w->ops[i]) {
			w->ops[i]->wait = NULL;
			w->ops[i] = NULL;
		}
	}
	w->outstanding = 0;
	if (!w->status)
		w->status = -ECONNRESET;
}

/* Wait until at most `limit` operations of w are outstanding.  Called and
 * returns with mu held. */
static void bulk_wait_until(struct ferry_rpc_server *s, struct ferry_rpc_request *r,
			    struct bulk_wait *w, int limit)
{
	bool on_progress = srv_on_progress_thread(s);

	while (w->outstanding > limit) {
		if (on_progress) {
			pthread_mutex_unlock(&s->mu);
			s->nesting++;
			srv_poll_cq(s);
			s->nesting--;
			pthread_mutex_lock(&s->mu);
		} else {
			struct timespec ts;

			clock_gettime(CLOCK_REALTIME, &ts);
			ts.tv_nsec += BULK_CHECK_NS;
			if (ts.tv_nsec >= 1000000000) {
				ts.tv_sec++;
				ts.tv_nsec -= 1000000000;
			}
			pthread_cond_timedwait(&w->cv, &s->mu, &ts);
		}
		if (w->outstanding > limit && r->peer->down && r->peer->pid > 0)
			abandon(s, w);
	}
}

static void bulk_track(struct bulk_wait *w, struct srv_op *op)
{
	int i;

	for (i = 0; i < BULK_WINDOW; i++) {
		if (!w->ops[i]) {
			w->ops[i] = op;
			return;
		}
	}
}

void bulk_untrack(struct bulk_wait *w, struct srv_op *op)
{
	int i;

	for (i = 0; i < BULK_WINDOW; i++)
		if (w->ops[i] == op)
			w->ops[i] = NULL;
}

/* Posts one RMA chunk.  Called with mu held; returns with mu held. */
static int post_chunk(struct ferry_rpc_server *s, struct ferry_rpc_request *r,
		      struct bulk_wait *w, bool pull, uint8_t *local, void *desc, size_t len,
		      uint64_t remote_off)
{
	uint64_t give_up = fab_now_us() + BULK_POST_RETRY_US;
	uint64_t raddr = r->bulk_addr + remote_off;
	bool on_progress = srv_on_progress_thread(s);
	struct srv_op *op;
	ssize_t ret;

	if (r->peer->down)
		return -ECONNRESET;
	if (atomic_load(&r->cancelled))
		return -ECANCELED;
	op = srv_op_get(s, SRV_OP_RMA);
	if (!op)
		return -ENOMEM;
	op->peer = r->peer;
	op->wait = w;
	r->peer->refs++;
	w->outstanding++;
	bulk_track(w, op);
	pthread_mutex_unlock(&s->mu);
	for (;;) {
		if (pull)
			ret = fi_read(s->fab.ep, local, len, desc, r->peer->addr, raddr, r->bulk_key,
				      &op->ctx);
		else
			ret = fi_write(s->fab.ep, local, len, desc, r->peer->addr, raddr,
				       r->bulk_key, &op->ctx);
		if (ret != -FI_EAGAIN || fab_now_us() > give_up)
			break;
		srv_make_room(s, on_progress);
	}
	if (!ret && !on_progress)
		srv_kick(s);
	pthread_mutex_lock(&s->mu);
	if (!ret)
		return 0;
	ret = ret == -FI_EAGAIN ? -ETIMEDOUT : fab_errno(ret);
	if (srv_err_is_peer_down((int)ret)) {
		srv_peer_mark_down(s, r->peer);
		ret = -ECONNRESET;
	}
	w->outstanding--;
	bulk_untrack(w, op);
	srv_peer_unref(s, r->peer);
	srv_op_put(s, op);
	return (int)ret;
}

/* Directly between the caller's buffer and the client's region. */
static int bulk_direct(struct ferry_rpc_server *s, struct ferry_rpc_request *r, bool pull,
		       uint8_t *local, void *desc, size_t off, size_t len)
{
	struct bulk_wait w = { .outstanding = 0, .status = 0 };
	size_t pos = 0;
	int ret = 0;

	pthread_cond_init(&w.cv, NULL);
	pthread_mutex_lock(&s->mu);
	while (pos < len && !ret && !w.status) {
		size_t chunk = len - pos < s->fab.rma_chunk ? len - pos : s->fab.rma_chunk;

		bulk_wait_until(s, r, &w, BULK_WINDOW - 1);
		if (w.status)
			break;
		ret = post_chunk(s, r, &w, pull, local + pos, desc, chunk, off + pos);
		pos += chunk;
	}
	bulk_wait_until(s, r, &w, 0);
	if (!ret)
		ret = w.status;
	pthread_mutex_unlock(&s->mu);
	pthread_cond_destroy(&w.cv);
	return ret;
}

/* Through a registered bounce buffer, one chunk at a time (FI_MR_LOCAL
 * providers when the caller's memory cannot be registered). */
static int bulk_bounce(struct ferry_rpc_server *s, struct ferry_rpc_request *r, bool pull,
		       uint8_t *local, size_t off, size_t len)
{
	size_t chunk_max = s->fab.rma_chunk;
	struct fab_mr mr;
	uint8_t *bounce;
	size_t pos;
	int ret;

	bounce = fab_alloc_pages(chunk_max);
	if (!bounce)
		return -ENOMEM;
	ret = fab_mr_reg(&s->fab, bounce, chunk_max, FI_READ | FI_WRITE, &mr);
	if (ret) {
		free(bounce);
		return ret;
	}
	for (pos = 0; pos < len && !ret; pos += chunk_max) {
		size_t chunk = len - pos < chunk_max ? len - pos : chunk_max;

		if (!pull)
			memcpy(bounce, local + pos, chunk);
		ret = bulk_direct(s, r, pull, bounce, mr.desc, off + pos, chunk);
		if (!ret && pull)
			memcpy(local + pos, bounce, chunk);
	}
	fab_mr_close(&mr);
	free(bounce);
	return ret;
}

static int bulk_move(struct ferry_rpc_request *r, size_t off, void *local, size_t len, bool pull)
{
	struct ferry_rpc_server *s = r->s;
	struct fab_mr mr;
	int ret;

	if (r->bulk_dir != (pull ? FERRY_BULK_TO_SERVER : FERRY_BULK_FROM_SERVER))
		return -EINVAL;
	if (off > r->bulk_len || len > r->bulk_len - off)
		return -EINVAL;
	if (len == 0)
		return 0;
	if (!fab_needs_local_mr(&s->fab))
		return bulk_direct(s, r, pull, local, NULL, off, len);
	ret = fab_mr_reg(&s->fab, local, len, pull ? FI_READ : FI_WRITE, &mr);
	if (ret)
		return bulk_bounce(s, r, pull, local, off, len);
	ret = bulk_direct(s, r, pull, local, mr.desc, off, len);
	fab_mr_close(&mr);
	return ret;
}

int ferry_rpc_bulk_pull(struct ferry_rpc_request *r, size_t off, void *dst, size_t len)
{
	return bulk_move(r, off, dst, len, true);
}

int ferry_rpc_bulk_push(struct ferry_rpc_request *r, size_t off, const void *src, size_t len)
{
	/* fi_write only reads from src; the cast is for the shared path. */
	return bulk_move(r, off, (void *)src, len, false);
}
