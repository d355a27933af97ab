/* SPDX-License-Identifier: Apache-2.0 */
/*
 * READ and WRITE: small payloads travel inline in the message; larger ones
 * move by RMA against the client's bulk region, in IOND_BULK_CHUNK pieces
 * through a per-worker buffer.  A transfer that fails because the client
 * died mid-call abandons the call and closes its session (see handlers.c).
 */
#include <errno.h>
#include <stdlib.h>
#include <sys/uio.h>

#include <ferry/fsproxy.h>

#include "call.h"
#include "stats.h"

struct rw_args {
	int fd;
	size_t count;
	off_t offset; /* -1: the file position */
	int rwf;
};

static int rw_args_parse(struct iond_call *c, struct rw_args *rw)
{
	const int64_t *a = c->msg.args;
	int rc;

	rc = call_fd(c, a[0], &rw->fd);
	if (rc)
		return rc;
	if (a[1] < 0 || a[2] < -1)
		return -EINVAL;
	rc = call_int_arg(c, 3, &rw->rwf);
	if (rc)
		return rc;
	rw->count = (uint64_t)a[1] > SIZE_MAX / 2 ? SIZE_MAX / 2 : (size_t)a[1];
	rw->offset = (off_t)a[2];
	return 0;
}

static off_t offset_at(const struct rw_args *rw, size_t done)
{
	return rw->offset < 0 ? -1 : rw->offset + (off_t)done;
}

static int bulk_buffer(struct iond_call *c, void **buf)
{
	if (!c->scratch->bulk) {
		c->scratch->bulk = malloc(IOND_BULK_CHUNK);
		if (!c->scratch->bulk)
			return -ENOMEM;
	}
	*buf = c->scratch->bulk;
	return 0;
}

/* A transport error: remember whether it means the client is gone. */
static long transfer_failed(struct iond_call *c, int rc)
{
	if (iond_client_gone(rc))
		c->client_gone = rc;
	return rc;
}

static long read_bulk(struct iond_call *c, const struct rw_args *rw)
{
	size_t count = rw->count, done = 0;
	void *buf;
	int rc;

	if (count > ferry_rpc_request_bulk_len(c->req))
		count = ferry_rpc_request_bulk_len(c->req);
	rc = bulk_buffer(c, &buf);
	if (rc)
		return rc;
	while (done < count) {
		size_t want = count - done < IOND_BULK_CHUNK ? count - done : IOND_BULK_CHUNK;
		ssize_t got = fsp_pread(rw->fd, buf, want, offset_at(rw, done), rw->rwf);

		if (got < 0) {
			if (done)
				break; /* report what was read, as read(2) */
			return got;
		}
		if (got == 0)
			break;
		rc = ferry_rpc_bulk_push(c->req, done, buf, (size_t)got);
		if (rc)
			return transfer_failed(c, rc);
		done += (size_t)got;
		if ((size_t)got < want)
			break;
	}
	return (long)done;
}

/*
 * An inline read on the progress thread (handlers.c): only from the page
 * cache (RWF_NOWAIT), only at an explicit offset, and only when it returns
 * everything asked for.  Anything else (data not cached, a filesystem
 * without RWF_NOWAIT, a short read that may or may not be the end of the
 * file) is deferred to a worker, which reads again from the same offset:
 * nothing has changed, since a pread moves no file position.
 */
static long read_nowait(struct iond_call *c, struct rw_args *rw)
{
	ssize_t got;

	if (rw->offset < 0 || rw->count == 0 || (rw->rwf & RWF_NOWAIT)) {
		c->deferred = true;
		return -EAGAIN;
	}
	got = fsp_pread(rw->fd, c->scratch->data, rw->count, rw->offset, rw->rwf | RWF_NOWAIT);
	if (got != (ssize_t)rw->count) {
		c->deferred = true;
		return got < 0 ? got : -EAGAIN;
	}
	c->out_data = c->scratch->data;
	c->out_len = (uint32_t)got;
	iond_stats_add(&c->ctx->stats->bytes_out, (uint64_t)got);
	return got;
}

long op_read(struct iond_call *c)
{
	struct rw_args rw;
	ssize_t got;
	int rc;

	rc = rw_args_parse(c, &rw);
	if (rc)
		return rc;
	switch (ferry_rpc_request_bulk_dir(c->req)) {
	case FERRY_BULK_FROM_SERVER:
		got = read_bulk(c, &rw);
		break;
	case FERRY_BULK_NONE:
		/* Without a bulk region the reply carries the data: a larger
		 * count reads short, which read(2) allows. */
		if (rw.count > c->ctx->reply_data_max)
			rw.count = c->ctx->reply_data_max;
		if (c->nowait)
			return read_nowait(c, &rw);
		got = fsp_pread(rw.fd, c->scratch->data, rw.count, rw.offset, rw.rwf);
		if (got > 0) {
			c->out_data = c->scratch->data;
			c->out_len = (uint32_t)got;
		}
		break;
	default:
		return -EINVAL;
	}
	if (got > 0)
		iond_stats_add(&c->ctx->stats->bytes_out, (uint64_t)got);
	return got;
}

/* Write all of buf at done; returns bytes written (short on a short write)
 * or the error if nothing was written. */
static ssize_t write_piece(const struct rw_args *rw, const void *buf, size_t len, size_t done)
{
	size_t put = 0;

	while (put < len) {
		ssize_t n = fsp_pwrite(rw->fd, (const char *)buf + put, len - put,
				       offset_at(rw, done + put), rw->rwf);

		if (n < 0)
			return put ? (ssize_t)put : n;
		if (n == 0)
			break;
		put += (size_t)n;
	}
	return (ssize_t)put;
}

static long write_bulk(struct iond_call *c, const struct rw_args *rw)
{
	size_t done = 0;
	void *buf;
	int rc;

	if (rw->count > ferry_rpc_request_bulk_len(c->req))
		return -EINVAL;
	rc = bulk_buffer(c, &buf);
	if (rc)
		return rc;
	while (done < rw->count) {
		size_t want = rw->count - done < IOND_BULK_CHUNK ? rw->count - done
								 : IOND_BULK_CHUNK;
		ssize_t put;

		rc = ferry_rpc_bulk_pull(c->req, done, buf, want);
		if (rc)
			return transfer_failed(c, rc);
		put = write_piece(rw, buf, want, done);
		if (put < 0) {
			if (done)
				break;
			return put;
		}
		done += (size_t)put;
		if ((size_t)put < want)
			break;
	}
	return (long)done;
}

long op_write(struct iond_call *c)
{
	struct rw_args rw;
	ssize_t put;
	int rc;

	rc = rw_args_parse(c, &rw);
	if (rc)
		return rc;
	switch (ferry_rpc_request_bulk_dir(c->req)) {
	case FERRY_BULK_TO_SERVER:
		if (c->msg.data_len)
			return -EINVAL;
		put = write_bulk(c, &rw);
		break;
	case FERRY_BULK_NONE:
		if (rw.count != c->msg.data_len)
			return -EINVAL;
		put = write_piece(&rw, c->msg.data, rw.count, 0);
		break;
	default:
		return -EINVAL;
	}
	if (put > 0)
		iond_stats_add(&c->ctx->stats->bytes_in, (uint64_t)put);
	return put;
}
