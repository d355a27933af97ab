/* SPDX-License-Identifier: Apache-2.0 */
#include "handlers.h"

#include <errno.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>

#include <ferry/fsproxy.h>
#include <ferry/log.h>

#include "call.h"
#include "identity.h"
#include "inflight.h"
#include "session.h"
#include "sock_policy.h"
#include "sockets.h"
#include "stats.h"
#include "warn_limit.h"

/* What each opcode must carry; anything else is EINVAL. */
struct op_spec {
	iond_op_fn fn;
	uint8_t nargs;
	uint8_t npaths;
};

static long op_session_open(struct iond_call *c);
static long op_session_close(struct iond_call *c);
static long op_null_call(struct iond_call *c);
static long op_session_detach(struct iond_call *c);
static long op_session_adopt(struct iond_call *c);
static long op_interrupt(struct iond_call *c);

static const struct op_spec op_specs[] = {
	[FERRY_OP_SESSION_OPEN] = {op_session_open, 4, 0},
	[FERRY_OP_SESSION_CLOSE] = {op_session_close, 0, 0},
	[FERRY_OP_NULL_CALL] = {op_null_call, 0, 0},
	[FERRY_OP_SESSION_DETACH] = {op_session_detach, 0, 0},
	[FERRY_OP_SESSION_ADOPT] = {op_session_adopt, 2, 0},
	[FERRY_OP_INTERRUPT] = {op_interrupt, 1, 0},
	[FERRY_OP_OPENAT] = {op_openat, 4, 1},
	[FERRY_OP_CLOSE] = {op_close, 1, 0},
	[FERRY_OP_READ] = {op_read, 4, 0},
	[FERRY_OP_WRITE] = {op_write, 4, 0},
	[FERRY_OP_LSEEK] = {op_lseek, 3, 0},
	[FERRY_OP_STATX] = {op_statx, 3, 1},
	[FERRY_OP_FACCESSAT] = {op_faccessat, 3, 1},
	[FERRY_OP_MKDIRAT] = {op_mkdirat, 2, 1},
	[FERRY_OP_UNLINKAT] = {op_unlinkat, 2, 1},
	[FERRY_OP_RENAMEAT2] = {op_renameat2, 3, 2},
	[FERRY_OP_LINKAT] = {op_linkat, 3, 2},
	[FERRY_OP_SYMLINKAT] = {op_symlinkat, 1, 2},
	[FERRY_OP_READLINKAT] = {op_readlinkat, 2, 1},
	[FERRY_OP_GETDENTS] = {op_getdents, 2, 0},
	[FERRY_OP_TRUNCATE] = {op_truncate, 2, 1},
	[FERRY_OP_FTRUNCATE] = {op_ftruncate, 2, 0},
	[FERRY_OP_FSYNC] = {op_fsync, 2, 0},
	[FERRY_OP_FCNTL] = {op_fcntl, 3, 0},
	[FERRY_OP_FLOCK] = {op_flock, 2, 0},
	[FERRY_OP_FCHMODAT] = {op_fchmodat, 3, 1},
	[FERRY_OP_FCHOWNAT] = {op_fchownat, 4, 1},
	[FERRY_OP_UTIMENSAT] = {op_utimensat, 3, 1},
	[FERRY_OP_STATFS] = {op_statfs, 1, 1},
	[FERRY_OP_FALLOCATE] = {op_fallocate, 4, 0},
	[FERRY_OP_FADVISE] = {op_fadvise, 4, 0},
	[FERRY_OP_XATTR_GET] = {op_xattr_get, 3, 2},
	[FERRY_OP_XATTR_SET] = {op_xattr_set, 3, 2},
	[FERRY_OP_XATTR_LIST] = {op_xattr_list, 3, 1},
	[FERRY_OP_XATTR_REMOVE] = {op_xattr_remove, 2, 2},
	[FERRY_OP_COPY_RANGE] = {op_copy_range, 5, 0},
	[FERRY_OP_MKNODAT] = {op_mknodat, 3, 1},
	[FERRY_OP_SOCK_CONNECT] = {op_sock_connect, 3, 0},
	[FERRY_OP_SOCK_BIND] = {op_sock_bind, 3, 0},
	[FERRY_OP_SOCK_LISTEN] = {op_sock_listen, 3, 0},
	[FERRY_OP_SOCK_POLL] = {op_sock_poll, 2, 0},
	[FERRY_OP_SOCK_CREDIT] = {op_sock_credit, 0, 0},
	[FERRY_OP_SOCK_SEND] = {op_sock_send, 3, 0},
	[FERRY_OP_SOCK_SHUTDOWN] = {op_sock_shutdown, 2, 0},
	[FERRY_OP_SOCK_SETOPT] = {op_sock_setopt, 3, 0},
	[FERRY_OP_SOCK_GETOPT] = {op_sock_getopt, 4, 0},
	[FERRY_OP_SOCK_NAME] = {op_sock_name, 2, 0},
};

#define OP_SPECS_LEN (sizeof(op_specs) / sizeof(op_specs[0]))

/* The call a worker thread is running, so fsproxy's escape hook (which only
 * knows the path) can name the session in its log line. */
static _Thread_local struct iond_call *current_call;

/* ---- limits and scratch ---- */

void iond_ctx_set_limits(struct iond_ctx *ctx)
{
	size_t inline_max = ctx->server ? ferry_rpc_server_inline_max(ctx->server) : 0;

	/* The client reads up to its inline_max without a bulk region and
	 * expects it all in the reply; the transport keeps room for the
	 * header beyond inline_max (rpc.h offers no server-side message
	 * maximum, so IOND_REPLY_DATA_CAP guards an oversized
	 * FERRY_INLINE_MAX).  Never below a PATH_MAX readlink. */
	if (inline_max > IOND_REPLY_DATA_CAP)
		inline_max = IOND_REPLY_DATA_CAP;
	if (inline_max < FERRY_PATH_MAX)
		inline_max = FERRY_PATH_MAX;
	ctx->reply_data_max = inline_max;
}

static void scratch_free(struct iond_scratch *s)
{
	if (!s)
		return;
	iond_inflight_unregister(s->inflight);
	free(s->reply);
	free(s->data);
	free(s->aux);
	free(s->bulk);
	free(s);
}

static void *scratch_new(void *arg)
{
	struct iond_ctx *ctx = arg;
	struct iond_scratch *s = calloc(1, sizeof(*s));

	if (!s)
		return NULL;
	s->reply_cap = FERRY_HEADER_SIZE + FERRY_BODY_FIXED + ctx->reply_data_max;
	s->reply = malloc(s->reply_cap);
	s->data = malloc(ctx->reply_data_max);
	s->aux = malloc(ctx->reply_data_max);
	s->inflight = iond_inflight_register();
	if (!s->reply || !s->data || !s->aux || !s->inflight) {
		scratch_free(s);
		return NULL;
	}
	return s;
}

static void scratch_fini(void *state, void *arg)
{
	scratch_free(state);
}

/* ---- argument helpers for ops_*.c ---- */

bool iond_client_gone(int rc)
{
	/* A reply or RMA that times out, like one refused, means nobody is
	 * reading at the other end any more. */
	return rc == -ECONNRESET || rc == -EIO || rc == -ETIMEDOUT || rc == -ENOTCONN ||
	       rc == -EPIPE || rc == -ECONNREFUSED || rc == -EHOSTUNREACH;
}

int call_fd(struct iond_call *c, int64_t handle, int *fd)
{
	int rc;

	if (c->nborrowed == IOND_CALL_MAX_BORROWED)
		return -EINVAL;
	rc = iond_session_fd_get(c->sess, handle, fd);
	if (rc)
		return rc;
	c->borrowed[c->nborrowed++] = *fd;
	return 0;
}

int call_dirfd(struct iond_call *c, int64_t dh, int *fd)
{
	if (dh == FERRY_AT_ROOT) {
		*fd = FSP_AT_ROOT;
		return 0;
	}
	return call_fd(c, dh, fd);
}

int call_int_arg(const struct iond_call *c, int i, int *out)
{
	int64_t v = c->msg.args[i];

	if (v < INT_MIN || v > INT_MAX)
		return -EINVAL;
	*out = (int)v;
	return 0;
}

/* ---- session opcodes ---- */

/* The reply's data: n i64s (the caller sized them to reply_data_max). */
static void reply_i64s(struct iond_call *c, const int64_t *v, size_t n)
{
	c->out_len = (uint32_t)ferry_i64s_encode(v, n, c->scratch->data, c->ctx->reply_data_max);
	c->out_data = c->scratch->data;
}

/* The ports this job may bind, for the runtime to bind the others on the
 * compute node without asking; nothing (the runtime then asks at each
 * bind) when they do not fit in a reply. */
static void session_open_reply_ports(struct iond_call *c)
{
	size_t max_pairs = c->ctx->reply_data_max / (2 * FERRY_WIRE_I64_SIZE);
	int64_t *v;
	long n;

	if (max_pairs == 0)
		return;
	max_pairs--; /* the count goes first */
	v = malloc((1 + 2 * max_pairs) * sizeof(*v));
	if (!v)
		return;
	n = iond_sock_policy_port_ranges(iond_sockets_policy(), v + 1, max_pairs);
	if (n >= 0) {
		v[0] = n;
		reply_i64s(c, v, 1 + 2 * (size_t)n);
	}
	free(v);
}

static long op_session_open(struct iond_call *c)
{
	struct iond_cred cred;
	char why[320];
	int rc;

	rc = iond_auth_check(c->ctx->auth, &c->msg, &cred, why, sizeof(why));
	if (rc) {
		IOND_CLIENT_WARN(0, 0, "session refused for peer %#llx (pid %lld): %s: %s",
			  (unsigned long long)c->peer, (long long)c->msg.args[0], strerror(-rc),
			  why);
		return rc;
	}
	iond_identity_lookup_groups(&cred);
	rc = iond_session_open(c->ctx->sessions, c->peer, &cred, &c->sess);
	if (rc) {
		IOND_CLIENT_WARN(0, cred.jobid, "session refused for peer %#llx (pid %lld): %s",
			  (unsigned long long)c->peer, (long long)cred.pid, strerror(-rc));
		return rc;
	}
	c->jobid = cred.jobid;
	if (c->msg.nargs > 4 && (c->msg.args[4] & FERRY_SESSION_WANT_PORTS))
		session_open_reply_ports(c);
	return (long)iond_session_info(c->sess)->id;
}

static long op_session_close(struct iond_call *c)
{
	long rc = iond_session_close(c->sess, "closed by client");

	return rc < 0 ? rc : 0;
}

static long op_null_call(struct iond_call *c)
{
	return 0;
}

/* Descriptors held for a fork or exec child that never came for them (it
 * was killed, or exited before it could say so) are released after this. */
#define IOND_HELD_TTL_MS (300 * 1000)

static long op_session_detach(struct iond_call *c)
{
	size_t max_pairs = c->ctx->reply_data_max / (2 * FERRY_WIRE_I64_SIZE);
	int64_t *v;
	uint64_t held_id = 0, token = 0;
	size_t npairs = 0;
	int rc;

	iond_sessions_reap_held(c->ctx->sessions, IOND_HELD_TTL_MS);
	if (max_pairs == 0)
		return -E2BIG;
	max_pairs--; /* the token goes first */
	v = malloc((1 + 2 * max_pairs) * sizeof(*v));
	if (!v)
		return -ENOMEM;
	rc = iond_session_detach(c->sess, v + 1, max_pairs, &npairs, &held_id, &token);
	if (rc) {
		free(v);
		return rc;
	}
	v[0] = (int64_t)token;
	reply_i64s(c, v, 1 + 2 * npairs);
	free(v);
	return (long)held_id;
}

/* The client's thread got a signal while its call seq blocks (a lock
 * wait): make that call return EINTR, now or when a worker picks it up.
 * Its reply nobody reads; the interrupted call's reply says EINTR. */
static long op_interrupt(struct iond_call *c)
{
	uint64_t seq = (uint64_t)c->msg.args[0];

	if (!iond_inflight_interrupt(c->sess, seq))
		iond_session_note_interrupt(c->sess, seq);
	iond_sockets_interrupt(c->sess, seq); /* a socket wait may miss the signal */
	return 0;
}

static long op_session_adopt(struct iond_call *c)
{
	size_t cap = c->msg.data_len / FERRY_WIRE_I64_SIZE;
	int64_t *keep = malloc((cap ? cap : 1) * sizeof(*keep));
	long n, rc;

	if (!keep)
		return -ENOMEM;
	n = ferry_i64s_decode(c->msg.data, c->msg.data_len, keep, cap);
	if (n < 0) {
		free(keep);
		return n == -EBADMSG ? -EINVAL : n;
	}
	rc = iond_session_adopt(c->sess, (uint64_t)c->msg.args[0], (uint64_t)c->msg.args[1], keep,
				(size_t)n);
	free(keep);
	return rc;
}

/* ---- replies ---- */

/* Client gone mid-call: its sessions' descriptors must not outlive it. */
static void abandon_session(struct iond_call *c, int err, const char *what)
{
	if (!c->sess)
		return;
	FLOG_WARN(iond_session_info(c->sess)->id, c->jobid, "%s failed (%s): the client is gone",
		  what, strerror(-err));
	iond_session_close(c->sess, "client gone");
}

static int encode_reply(void *buf, size_t cap, const struct ferry_msg *req, int64_t ret, int err,
			const void *data, uint32_t data_len)
{
	struct ferry_msg m;
	long len;

	ferry_msg_init(&m, req->opcode, req->session, req->seq);
	m.flags = FERRY_MSG_REPLY;
	m.ret = ret;
	m.err = err;
	m.data = data;
	m.data_len = data_len;
	len = ferry_msg_encode(&m, buf, cap);
	return (int)len;
}

/* Send a reply with no data from a small stack buffer (any thread). */
static void reply_error(struct ferry_rpc_request *req, const struct ferry_msg *m, int err)
{
	unsigned char buf[FERRY_HEADER_SIZE + FERRY_BODY_FIXED + 16];
	int len = encode_reply(buf, sizeof(buf), m, 0, err, NULL, 0);
	int rc;

	if (len < 0) {
		ferry_rpc_drop(req);
		return;
	}
	rc = ferry_rpc_reply(req, buf, (size_t)len);
	if (rc)
		FLOG_DEBUG(m->session, 0, "error reply (op %u) not sent: %s", m->opcode,
			   strerror(-rc));
}

static void send_reply(struct iond_call *c, long result)
{
	int err = result < 0 ? (int)-result : 0;
	int64_t ret = result < 0 ? 0 : result;
	int len;
	int rc;

	if (err) {
		c->out_data = NULL;
		c->out_len = 0;
	}
	len = encode_reply(c->scratch->reply, c->scratch->reply_cap, &c->msg, ret, err, c->out_data,
			   c->out_len);
	if (len < 0) {
		FLOG_ERR(c->msg.session, c->jobid, "%s reply does not encode: %s",
			 ferry_op_name(c->msg.opcode), strerror(-len));
		reply_error(c->req, &c->msg, EOVERFLOW);
		return;
	}
	rc = ferry_rpc_reply(c->req, c->scratch->reply, (size_t)len);
	if (iond_client_gone(rc))
		abandon_session(c, rc, "reply");
	else if (rc)
		FLOG_WARN(c->msg.session, c->jobid, "%s reply not sent: %s",
			  ferry_op_name(c->msg.opcode), strerror(-rc));
}

/* ---- the pipeline ---- */

/*
 * A message that did not decode.  The codec fills in the header only for a
 * version mismatch; for the other errors, read the three header fields a
 * reply needs straight from the (length-checked, magic-checked) bytes.
 */
static void reject_malformed(struct iond_call *c, const void *buf, size_t len, int rc)
{
	const unsigned char *b = buf;
	uint32_t magic;

	iond_stats_add(&c->ctx->stats->malformed, 1);
	if (rc == -EPROTONOSUPPORT) {
		IOND_CLIENT_WARN(c->msg.session, 0, "peer %#llx: protocol version %u unsupported",
			  (unsigned long long)c->peer, c->msg.version);
		reply_error(c->req, &c->msg, EPROTONOSUPPORT);
		return;
	}
	magic = len >= FERRY_HEADER_SIZE ? (uint32_t)b[0] | (uint32_t)b[1] << 8 |
						   (uint32_t)b[2] << 16 | (uint32_t)b[3] << 24
					 : 0;
	if (magic != FERRY_MAGIC) {
		IOND_CLIENT_WARN(0, 0, "peer %#llx: dropped a %zu-byte message without a Ferry header",
			  (unsigned long long)c->peer, len);
		ferry_rpc_drop(c->req);
		return;
	}
	memset(&c->msg, 0, sizeof(c->msg));
	c->msg.opcode = (uint16_t)(b[6] | b[7] << 8);
	for (int i = 7; i >= 0; i--) {
		c->msg.session = c->msg.session << 8 | b[16 + i];
		c->msg.seq = c->msg.seq << 8 | b[24 + i];
	}
	IOND_CLIENT_WARN(c->msg.session, 0, "peer %#llx: malformed message (op %u, %zu bytes): %s",
		  (unsigned long long)c->peer, c->msg.opcode, len, strerror(-rc));
	reply_error(c->req, &c->msg, -rc);
}

/* Checks before an opcode runs; returns 0 or the errno to reply. */
static int admit(struct iond_call *c, const struct op_spec **spec_out)
{
	const struct ferry_msg *m = &c->msg;
	const struct op_spec *spec;
	int rc;

	if (m->opcode >= OP_SPECS_LEN || !op_specs[m->opcode].fn) {
		IOND_CLIENT_WARN(m->session, 0, "peer %#llx: unknown opcode %u",
			  (unsigned long long)c->peer, m->opcode);
		return -ENOTSUP;
	}
	spec = &op_specs[m->opcode];
	if (m->flags & FERRY_MSG_REPLY)
		return -EBADMSG;
	/* SESSION_OPEN creates the session; a NULL_CALL without one is a
	 * plain latency probe. */
	if (m->opcode != FERRY_OP_SESSION_OPEN &&
	    !(m->opcode == FERRY_OP_NULL_CALL && m->session == 0)) {
		rc = iond_session_get(c->ctx->sessions, m->session, c->peer, &c->sess);
		if (rc) {
			IOND_CLIENT_WARN(m->session, 0, "peer %#llx: %s for a session it does not hold",
				  (unsigned long long)c->peer, ferry_op_name(m->opcode));
			return rc;
		}
		c->jobid = iond_session_info(c->sess)->cred.jobid;
		/* An inline call notes it once it has run (it may be rerun).
		 * An INTERRUPT is one way and carries no sequence number of
		 * its own (its arg names the call). */
		if (!c->nowait && m->opcode != FERRY_OP_INTERRUPT)
			iond_session_note_seq(c->sess, m->seq, m->opcode);
	}
	/* SESSION_OPEN's fifth arg (what the reply should carry) is optional. */
	if (m->nargs < spec->nargs ||
	    m->nargs > spec->nargs + (m->opcode == FERRY_OP_SESSION_OPEN) ||
	    m->npaths != spec->npaths) {
		IOND_CLIENT_WARN(m->session, c->jobid, "%s with %u args and %u paths (expects %u and %u)",
			  ferry_op_name(m->opcode), m->nargs, m->npaths, spec->nargs,
			  spec->npaths);
		return -EINVAL;
	}
	*spec_out = spec;
	return 0;
}

/*
 * Decode, check and run one request, and reply.  nowait: on the progress
 * thread, where nothing may block; a call that would (see op_read) is
 * undone and false returned, and the caller hands the request to a worker.
 */
static bool run_call(struct ferry_rpc_request *req, struct iond_scratch *scratch,
		     struct iond_ctx *ctx, bool nowait)
{
	struct iond_call c = {.ctx = ctx, .scratch = scratch, .req = req, .nowait = nowait};
	const struct op_spec *spec = NULL;
	uint64_t queued_us, ran_us;
	const void *buf;
	size_t len;
	long result;
	int rc;

	c.peer = ferry_rpc_request_peer(c.req);
	buf = ferry_rpc_request_msg(c.req, &len);
	rc = ferry_msg_decode(buf, len, &c.msg);
	if (rc) {
		reject_malformed(&c, buf, len, rc);
		return true;
	}
	current_call = &c;
	/* Queue wait and run time, for the stats and the debug line: a call
	 * that is slow because the filesystem is (an fsync behind a device
	 * flush) must be told apart from one slow to reach a worker. */
	queued_us = ferry_rpc_request_age_us(c.req);
	result = admit(&c, &spec);
	if (result == 0 && c.sess) {
		result = iond_identity_enter(&iond_session_info(c.sess)->cred);
		if (result)
			FLOG_ERR(c.msg.session, c.jobid, "cannot act as uid %u: %s",
				 iond_session_info(c.sess)->cred.uid, strerror((int)-result));
	}
	if (result == 0 && c.sess && iond_session_take_interrupt(c.sess, c.msg.seq)) {
		iond_identity_leave();
		result = -EINTR;
	} else if (result == 0) {
		if (c.sess)
			iond_inflight_begin(c.scratch->inflight, c.sess, c.msg.seq);
		result = spec->fn(&c);
		iond_inflight_end(c.scratch->inflight);
		iond_identity_leave();
	}
	for (int i = 0; i < c.nborrowed; i++)
		iond_session_fd_put(c.sess, c.borrowed[i]);
	if (c.deferred) {
		current_call = NULL;
		if (c.sess)
			iond_session_put(c.sess);
		return false;
	}
	if (nowait && c.sess)
		iond_session_note_seq(c.sess, c.msg.seq, c.msg.opcode);
	ran_us = ferry_rpc_request_age_us(c.req) - queued_us;
	iond_stats_call(c.ctx->stats, c.msg.opcode, result < 0, ran_us);
	if (result < 0 && ferry_log_enabled(FERRY_LOG_DEBUG))
		FLOG_DEBUG(c.msg.session, c.jobid, "%s: %s",
			   ferry_op_name(c.msg.opcode) ? ferry_op_name(c.msg.opcode) : "?",
			   strerror((int)-result));
	if (c.client_gone) {
		ferry_rpc_drop(c.req);
		abandon_session(&c, c.client_gone, "bulk transfer");
	} else {
		send_reply(&c, result);
	}
	/* After the reply, so that logging never delays it. */
	FLOG_DEBUG(c.msg.session, c.jobid, "%s seq %llu: queued %llu us, ran %llu us -> %ld",
		   ferry_op_name(c.msg.opcode) ? ferry_op_name(c.msg.opcode) : "?",
		   (unsigned long long)c.msg.seq, (unsigned long long)queued_us,
		   (unsigned long long)ran_us, result);
	current_call = NULL;
	if (c.sess)
		iond_session_put(c.sess);
	return true;
}

static void run_request(void *item, void *state, void *arg)
{
	(void)run_call(item, state, arg, false);
}

/*
 * Handing a request to a worker costs a thread wake-up, several times what
 * a small call costs on a fast fabric.  Calls that cannot block run on the
 * progress thread itself instead: NULL_CALL, and a READ without a bulk
 * region served from the page cache (op_read).  Nothing that may wait (a
 * path lookup on a network filesystem, a close that flushes, a lock, a bulk
 * transfer) runs there, so a slow call still never holds up the others.
 * FERRY_IOND_INLINE=0 turns it off (every call goes to a worker).
 */
static _Thread_local struct iond_scratch *inline_scratch;
static int inline_mode = -1; /* read by the progress thread only */

/* The opcode in a request's header, before decoding (0: no header). */
static uint16_t request_opcode(struct ferry_rpc_request *req)
{
	size_t len;
	const unsigned char *b = ferry_rpc_request_msg(req, &len);

	return len < FERRY_HEADER_SIZE ? 0 : (uint16_t)(b[6] | b[7] << 8);
}

static bool inline_candidate(struct ferry_rpc_request *req)
{
	uint16_t op;

	if (inline_mode < 0) {
		const char *env = getenv("FERRY_IOND_INLINE");

		inline_mode = !(env && !strcmp(env, "0"));
	}
	if (!inline_mode || ferry_rpc_request_bulk_dir(req) != FERRY_BULK_NONE)
		return false;
	op = request_opcode(req);
	return op == FERRY_OP_NULL_CALL || op == FERRY_OP_READ;
}

static struct iond_workers *pool_for(struct iond_ctx *ctx, struct ferry_rpc_request *req)
{
	uint16_t op = request_opcode(req);

	if (ctx->sock_workers && op >= FERRY_OP_SOCK_CONNECT && op <= FERRY_OP_SOCK_NAME)
		return ctx->sock_workers;
	return ctx->workers;
}

static bool try_inline(struct iond_ctx *ctx, struct ferry_rpc_request *req)
{
	if (!inline_candidate(req))
		return false;
	if (!inline_scratch) {
		inline_scratch = scratch_new(ctx);
		if (!inline_scratch)
			return false;
	}
	return run_call(req, inline_scratch, ctx, true);
}

static void discard_request(void *item, void *arg)
{
	ferry_rpc_drop(item);
}

const struct iond_worker_ops iond_handler_ops = {
	.thread_init = scratch_new,
	.thread_fini = scratch_fini,
	.run = run_request,
	.discard = discard_request,
};

/* ---- rpc callbacks ---- */

void iond_on_request(struct ferry_rpc_request *req, void *arg)
{
	struct iond_ctx *ctx = arg;
	struct ferry_msg m;
	const void *buf;
	size_t len;
	int rc = -ESHUTDOWN;

	if (!atomic_load(&ctx->draining)) {
		if (try_inline(ctx, req))
			return;
		rc = iond_workers_submit(pool_for(ctx, req), req);
	}
	if (rc == 0)
		return;
	/* Not queued: answer now if the header can be addressed. */
	buf = ferry_rpc_request_msg(req, &len);
	if (ferry_msg_decode(buf, len, &m) != 0) {
		ferry_rpc_drop(req);
		return;
	}
	reply_error(req, &m, -rc);
}

void iond_on_peer_down(uint64_t peer, void *arg)
{
	struct iond_ctx *ctx = arg;
	size_t n = iond_sessions_close_peer(ctx->sessions, peer, "peer down");

	if (n)
		FLOG_INFO(0, 0, "peer %#llx down: %zu sessions closed", (unsigned long long)peer, n);
	else
		FLOG_DEBUG(0, 0, "peer %#llx down (no session left)", (unsigned long long)peer);
}

void iond_on_escape(const char *path, void *arg)
{
	struct iond_call *c = current_call;

	if (c)
		IOND_CLIENT_WARN(c->msg.session, c->jobid, "%s: path escapes the export, refused: %s",
			  ferry_op_name(c->msg.opcode), path);
	else
		IOND_CLIENT_WARN(0, 0, "path escapes the export, refused: %s", path);
}
