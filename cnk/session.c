/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The session with the I/O node.  It opens at a process's first forwarded
 * call, not at start: loading libfabric and enabling an endpoint costs a few
 * hundred milliseconds of page faults and provider set-up, and most
 * processes of a shell pipeline or a build never forward anything.  A fork
 * child likewise reopens its endpoint and session at its first forwarded
 * call.  A process that inherits forwarded descriptors across exec opens at
 * once (the I/O node holds them only for a while); FERRY_CONNECT=start opens
 * every session at start, so that a wrong FERRY_IONODE stops the program
 * before main.
 */
#include "session.h"
#include "credential.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include <ferry/log.h>

#include "env.h"
#include "fdtable.h"
#include "intercept.h"
#include "raw_syscall.h"
#include "runtime_fds.h"

/* Stack space for small messages; bigger ones are allocated. */
#define SESSION_STACK_MSG 4096
#define SESSION_REPLY_OVERHEAD (FERRY_HEADER_SIZE + FERRY_BODY_FIXED + 8 * FERRY_MAX_ARGS)
#define SESSION_CLOSE_TIMEOUT_MS 2000

static struct ferry_rpc_client *session_client;
static char session_uri[512];
static _Atomic uint64_t session_ident;
static uint64_t session_jobid;
static atomic_uint_fast64_t session_seq;
static atomic_bool session_failure_logged;
static atomic_bool session_needs_reopen;
static atomic_bool session_closed;
/* The transport reported the I/O node gone: fail fast from now on. */
static atomic_bool session_dead;
static pthread_mutex_t session_reopen_lock = PTHREAD_MUTEX_INITIALIZER;
static size_t session_inline;
static struct ferry_rpc_opts session_opts;
/* The process that owns the endpoint (a vfork child shares our memory but
 * is not us). */
static pid_t session_owner;
/* Files inherited from the parent, not adopted yet (a fork child). */
static struct cnk_held *session_inherit;
/* The credential could not be made here (credential.c logged why). */
static bool session_cred_failed;
/* The first open failed (and said why): forwarded calls fail with EIO. */
static bool session_open_failed;

uint64_t cnk_session_id(void)
{
	return session_ident;
}

uint64_t cnk_session_job(void)
{
	return session_jobid;
}

static int session_reopen_if_forked(void);

size_t cnk_session_inline_max(void)
{
	/* Asked just before a call: a session not open yet opens now. */
	if (!session_client && atomic_load(&session_needs_reopen))
		session_reopen_if_forked();
	return session_inline;
}

void cnk_session_msg(struct ferry_msg *m, uint16_t opcode)
{
	ferry_msg_init(m, opcode, session_ident, atomic_fetch_add(&session_seq, 1) + 1);
}

void cnk_session_log_init(void)
{
	struct cnk_fd_window w;

	cnk_runtime_fds_begin(&w);
	ferry_log_init("ferry", FERRY_LOG_WARN, -1);
	cnk_runtime_fds_end(&w);
}

static void log_failure_once(const char *what, int err)
{
	if (atomic_exchange(&session_failure_logged, true))
		return;
	FLOG_ERR(session_ident, session_jobid,
		 "I/O node %s: %s failed (%s); forwarded calls fail with EIO", session_uri, what,
		 strerror(-err));
}

/* Encode, call, decode; the reply's data is copied out. */
static void adopt_inherited(void);

static long session_roundtrip_hooked(struct ferry_msg *req, const struct ferry_rpc_bulk *bulk,
				     void *data, size_t data_cap, size_t *data_len, int timeout,
				     const struct ferry_rpc_wait_hook *hook);

static long session_roundtrip(struct ferry_msg *req, const struct ferry_rpc_bulk *bulk, void *data,
			      size_t data_cap, size_t *data_len, int timeout)
{
	return session_roundtrip_hooked(req, bulk, data, data_cap, data_len, timeout, NULL);
}

static long session_roundtrip_hooked(struct ferry_msg *req, const struct ferry_rpc_bulk *bulk,
				     void *data, size_t data_cap, size_t *data_len, int timeout,
				     const struct ferry_rpc_wait_hook *hook)
{
	char req_stack[SESSION_STACK_MSG], reply_stack[SESSION_STACK_MSG];
	char *req_buf = req_stack, *reply_buf = reply_stack;
	size_t req_len = ferry_msg_encoded_size(req);
	size_t reply_cap = SESSION_REPLY_OVERHEAD + data_cap;
	size_t reply_len = 0;
	struct ferry_msg reply;
	struct timespec t0, t1;
	bool timed;
	long ret;

	if (data_len)
		*data_len = 0;
	if (req_len == 0)
		return -EINVAL;
	if (req_len > sizeof(req_stack)) {
		req_buf = malloc(req_len);
		if (!req_buf) {
			ret = -ENOMEM;
			goto out;
		}
	}
	if (reply_cap > sizeof(reply_stack)) {
		reply_buf = malloc(reply_cap);
		if (!reply_buf) {
			ret = -ENOMEM;
			goto out;
		}
	} else {
		reply_cap = sizeof(reply_stack);
	}
	ret = ferry_msg_encode(req, req_buf, req_len);
	if (ret < 0)
		goto out;
	/* At debug, each call's round trip: set against the daemon's line
	 * for the same seq (queue wait, run time), it tells transport and
	 * waiting from time spent in the I/O node's filesystem. */
	timed = ferry_log_enabled(FERRY_LOG_DEBUG);
	if (timed)
		clock_gettime(CLOCK_MONOTONIC, &t0);
	ret = ferry_rpc_call_hooked(session_client, req_buf, (size_t)ret, bulk, reply_buf,
				    reply_cap, &reply_len, timeout, hook);
	if (timed) {
		long long us;

		clock_gettime(CLOCK_MONOTONIC, &t1);
		us = (long long)(t1.tv_sec - t0.tv_sec) * 1000000 + (t1.tv_nsec - t0.tv_nsec) / 1000;
		FLOG_DEBUG(session_ident, session_jobid,
			   "%s seq %llu: %lld us round trip, %zu bytes bulk -> %ld",
			   ferry_op_name(req->opcode) ? ferry_op_name(req->opcode) : "?",
			   (unsigned long long)req->seq, us, bulk ? (size_t)bulk->len : 0, ret);
	}
	if (ret < 0) {
		/* A vfork child shares our memory but not our descriptors: its
		 * transport failing says nothing about ours. */
		if (cnk_raw_syscall(SYS_getpid, 0, 0, 0) == session_owner) {
			log_failure_once(ferry_op_name(req->opcode), (int)ret);
			if (ret == -ECONNRESET || ret == -EIO)
				atomic_store(&session_dead, true);
		}
		ret = -EIO;
		goto out;
	}
	ret = ferry_msg_decode(reply_buf, reply_len, &reply);
	if (ret < 0 || !(reply.flags & FERRY_MSG_REPLY) || reply.seq != req->seq) {
		log_failure_once("decoding a reply", ret < 0 ? (int)ret : -EBADMSG);
		ret = -EIO;
		goto out;
	}
	if (reply.err) {
		ret = (reply.err > 0 && reply.err < 4096) ? -(long)reply.err : -EIO;
		goto out;
	}
	if (reply.data_len > data_cap) {
		log_failure_once("a reply larger than asked", -EMSGSIZE);
		ret = -EIO;
		goto out;
	}
	if (reply.data_len) {
		memcpy(data, reply.data, reply.data_len);
		if (data_len)
			*data_len = reply.data_len;
	}
	ret = reply.ret;
out:
	if (req_buf != req_stack)
		free(req_buf);
	if (reply_buf != reply_stack)
		free(reply_buf);
	return ret;
}

static struct cnk_held *held_alloc(size_t npairs);

/* The ports a bind may use at the I/O node (bit p: port p), when it said. */
static uint8_t session_ports[65536 / 8];
static bool session_ports_known;

static void session_ports_store(const struct cnk_held *buf, size_t len)
{
	int64_t *v = (int64_t *)buf->pairs;
	long n = ferry_i64s_decode(buf->pairs, len, v, len / FERRY_WIRE_I64_SIZE);

	session_ports_known = false;
	if (n < 1 || v[0] < 0 || (uint64_t)v[0] != (uint64_t)(n - 1) / 2 || (n - 1) % 2)
		return;
	memset(session_ports, 0, sizeof(session_ports));
	for (long i = 0; i < v[0]; i++) {
		int64_t lo = v[1 + 2 * i], hi = v[2 + 2 * i];

		if (lo < 0 || hi > 65535 || lo > hi)
			return;
		for (int64_t p = lo; p <= hi; p++)
			session_ports[p / 8] |= (uint8_t)(1u << (p % 8));
	}
	session_ports_known = true;
}

int cnk_session_port_bindable(unsigned int port)
{
	if (!session_ports_known || port > 65535)
		return -1;
	return (session_ports[port / 8] >> (port % 8)) & 1;
}

static int session_open_remote(void)
{
	/* A MUNGE credential is a few hundred bytes. */
	static char cred[2048];
	size_t cred_len = 0, got = 0;
	struct cnk_held *ports;
	struct ferry_msg m;
	long ret;

	ferry_msg_init(&m, FERRY_OP_SESSION_OPEN, 0, 0);
	ferry_msg_add_arg(&m, getpid());
	ferry_msg_add_arg(&m, getuid());
	ferry_msg_add_arg(&m, getgid());
	ferry_msg_add_arg(&m, (int64_t)session_jobid);
	ferry_msg_add_arg(&m, FERRY_SESSION_WANT_PORTS);
	ret = cnk_credential_make(session_jobid, cred, sizeof(cred), &cred_len);
	if (ret < 0) {
		session_cred_failed = true;
		return (int)ret;
	}
	m.data = cred;
	m.data_len = (uint32_t)cred_len;
	/* Room for the largest reply (a private mapping: this may run where
	 * malloc is off limits). */
	ports = held_alloc(session_inline / (2 * FERRY_WIRE_I64_SIZE) + 1);
	if (!ports)
		return -ENOMEM;
	ret = session_roundtrip(&m, NULL, ports->pairs, session_inline, &got, CNK_CALL_DEFAULT);
	if (ret >= 0)
		session_ports_store(ports, got);
	cnk_held_free(ports);
	if (ret < 0)
		return (int)ret;
	session_ident = (uint64_t)ret;
	/* session_seq runs on, not from 0: the call that opened the session
	 * took its number before, and the next one must not repeat it. */
	return 0;
}

static uint64_t env_u64(const char *name, uint64_t dflt)
{
	const char *v = cnk_env_get(name);
	char *end;
	unsigned long long n;

	if (!v || !*v)
		return dflt;
	errno = 0;
	n = strtoull(v, &end, 10);
	if (errno || *end)
		return dflt;
	return n;
}

/* Load libfabric, enable an endpoint, open the session.  The transport
 * puts back any signal action the provider changes (fabric_load.c), so a
 * first open from a forwarded call leaves the program's handlers and the
 * runtime's SIGSYS as they were. */
static int session_connect(void)
{
	struct cnk_fd_window w;
	size_t msg_max;
	int ret;

	cnk_runtime_fds_begin(&w);
	ret = ferry_rpc_client_open(session_uri, &session_opts, &session_client);
	cnk_runtime_fds_end(&w);
	if (ret < 0) {
		FLOG_ERR(0, session_jobid, "cannot connect to I/O node %s: %s", session_uri,
			 strerror(-ret));
		session_client = NULL;
		return ret;
	}
	session_inline = ferry_rpc_client_inline_max(session_client);
	msg_max = ferry_rpc_client_msg_max(session_client);
	/* Inline payloads must fit in a message next to the header and args. */
	if (msg_max < SESSION_REPLY_OVERHEAD + 2 * (4 + FERRY_PATH_MAX) + 64) {
		FLOG_ERR(0, session_jobid, "I/O node %s: transport messages too small (%zu)",
			 session_uri, msg_max);
		ret = -EMSGSIZE;
		goto fail;
	}
	if (session_inline > msg_max - SESSION_REPLY_OVERHEAD - 2 * (4 + FERRY_PATH_MAX))
		session_inline = msg_max - SESSION_REPLY_OVERHEAD - 2 * (4 + FERRY_PATH_MAX);
	if (session_inline > FERRY_DATA_MAX)
		session_inline = FERRY_DATA_MAX;
	session_owner = getpid();
	ret = session_open_remote();
	if (ret < 0) {
		const char *why = cnk_credential_refusal(-ret);

		if (session_cred_failed)
			FLOG_ERR(0, session_jobid,
				 "no session with I/O node %s: no credential could be made here (%s)",
				 session_uri, strerror(-ret));
		else
			FLOG_ERR(0, session_jobid, "I/O node %s refused the session: %s",
				 session_uri, why ? why : strerror(-ret));
		goto fail;
	}
	FLOG_INFO(session_ident, session_jobid, "session open with %s (%s)", session_uri,
		  ferry_rpc_client_provider(session_client));
	return 0;
fail:
	ferry_rpc_client_close(session_client);
	session_client = NULL;
	session_inline = 0;
	cnk_runtime_fds_forget();
	return ret;
}

int cnk_session_init(bool connect_now)
{
	struct ferry_rpc_opts opts = { .spin_us = 50, .inline_max = 0, .timeout_ms = 0 };
	const char *uri = cnk_env_get("FERRY_IONODE");
	const char *when = cnk_env_get("FERRY_CONNECT");
	uint64_t timeout;

	if (!uri || !*uri) {
		FLOG_ERR(0, 0, "FERRY_MOUNTS is set but FERRY_IONODE is not: no I/O node to forward to");
		return -EINVAL;
	}
	if (strlen(uri) >= sizeof(session_uri)) {
		FLOG_ERR(0, 0, "FERRY_IONODE is too long");
		return -ENAMETOOLONG;
	}
	if (when && *when && strcmp(when, "start") && strcmp(when, "first-use")) {
		FLOG_ERR(0, 0, "FERRY_CONNECT=\"%s\": expected start or first-use", when);
		return -EINVAL;
	}
	strcpy(session_uri, uri);
	session_jobid = env_u64("FERRY_JOB_ID", env_u64("SLURM_JOB_ID", 0));
	timeout = env_u64("FERRY_TIMEOUT_MS", 0);
	if (timeout > INT_MAX)
		timeout = INT_MAX;
	opts.timeout_ms = (int)timeout;
	session_opts = opts;
	session_owner = getpid();
	if (connect_now || (when && !strcmp(when, "start")))
		return session_connect();
	/* Opened by the first forwarded call (session_reopen_if_forked). */
	atomic_store(&session_needs_reopen, true);
	return 0;
}

void cnk_held_free(struct cnk_held *h)
{
	if (h)
		cnk_raw_syscall(SYS_munmap, (long)h, (long)h->map_len, 0);
}

int64_t cnk_held_lookup(const struct cnk_held *h, int64_t handle)
{
	for (size_t i = 0; h && i < h->npairs; i++)
		if (h->pairs[2 * i] == handle)
			return h->pairs[2 * i + 1];
	return -1;
}

/* A private anonymous mapping for a held record of npairs pairs. */
static struct cnk_held *held_alloc(size_t npairs)
{
	size_t len = sizeof(struct cnk_held) + 2 * npairs * sizeof(int64_t);
	long map = cnk_raw_syscall6(SYS_mmap, 0, (long)len, PROT_READ | PROT_WRITE,
				    MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	struct cnk_held *h;

	if (map < 0 && map > -4096)
		return NULL;
	h = (struct cnk_held *)map;
	h->map_len = len;
	return h;
}

struct cnk_held *cnk_session_detach(void)
{
	size_t cap = session_inline, len = 0;
	struct cnk_held *reply, *h = NULL;
	struct ferry_msg m;
	long id, n;

	if (cap < 3 * FERRY_WIRE_I64_SIZE)
		return NULL;
	/* A scratch record: its pairs area receives the reply. */
	reply = held_alloc(cap / (2 * FERRY_WIRE_I64_SIZE));
	if (!reply)
		return NULL;
	cnk_session_msg(&m, FERRY_OP_SESSION_DETACH);
	id = cnk_session_call(&m, NULL, reply->pairs, cap, &len, CNK_CALL_DEFAULT);
	if (id <= 0) {
		FLOG_DEBUG(session_ident, session_jobid,
			   "the I/O node cannot hold descriptors for a child: %s",
			   strerror(id < 0 ? (int)-id : EPROTO));
		goto out;
	}
	/* Decoded in place: i64s are 8 bytes on the wire and in memory. */
	n = ferry_i64s_decode(reply->pairs, len, reply->pairs, len / FERRY_WIRE_I64_SIZE);
	if (n < 1 || (n - 1) % 2)
		goto out;
	h = held_alloc((size_t)(n - 1) / 2);
	if (!h)
		goto out;
	h->id = (uint64_t)id;
	h->token = (uint64_t)reply->pairs[0];
	h->npairs = (size_t)(n - 1) / 2;
	memcpy(h->pairs, reply->pairs + 1, 2 * h->npairs * sizeof(int64_t));
out:
	cnk_held_free(reply);
	return h;
}

long cnk_session_adopt(uint64_t id, uint64_t token, const int64_t *keep, size_t nkeep)
{
	size_t len = nkeep * FERRY_WIRE_I64_SIZE;
	struct cnk_held *buf = NULL;
	struct ferry_msg m;
	long ret;

	/* Descriptors inherited across exec: the session opens now. */
	if (session_reopen_if_forked() < 0)
		return -EIO;
	if (len > session_inline)
		return -E2BIG;
	if (len) {
		/* A scratch record: the request's data goes in its pairs area. */
		buf = held_alloc(nkeep / 2 + 1);
		if (!buf)
			return -ENOMEM;
		ferry_i64s_encode(keep, nkeep, buf->pairs, len);
	}
	cnk_session_msg(&m, FERRY_OP_SESSION_ADOPT);
	ferry_msg_add_arg(&m, (int64_t)id);
	ferry_msg_add_arg(&m, (int64_t)token);
	m.data = buf ? buf->pairs : NULL;
	m.data_len = (uint32_t)len;
	ret = session_roundtrip(&m, NULL, NULL, 0, NULL, CNK_CALL_DEFAULT);
	cnk_held_free(buf);
	return ret;
}

/* Right after a fork child's session opened: take the parent's files. */
static void adopt_inherited(void)
{
	struct cnk_held *h = session_inherit, *keep;
	size_t n = 0;
	long ret;

	session_inherit = NULL;
	/* A scratch record: the handles kept go in its pairs area. */
	keep = held_alloc(h->npairs / 2 + 1);
	if (keep) {
		size_t stale = cnk_fdtable_stale_handles(keep->pairs, 2 * (h->npairs / 2 + 1));

		/* Their held duplicates (a file opened while the parent forked
		 * has none). */
		for (size_t i = 0; i < stale; i++) {
			int64_t copy = cnk_held_lookup(h, keep->pairs[i]);

			if (copy >= 0)
				keep->pairs[n++] = copy;
		}
		ret = cnk_session_adopt(h->id, h->token, keep->pairs, n);
	} else {
		ret = -ENOMEM;
	}
	if (ret >= 0)
		cnk_fdtable_remap(h->pairs, h->npairs);
	else
		FLOG_WARN(session_ident, session_jobid,
			  "the descriptors inherited from the parent process are lost (%s): "
			  "using them fails with EBADF",
			  strerror((int)-ret));
	cnk_held_free(keep);
	cnk_held_free(h);
}

void cnk_session_inherit(struct cnk_held *h)
{
	cnk_held_free(session_inherit);
	session_inherit = h;
}

const struct cnk_held *cnk_session_inherited(void)
{
	return session_inherit;
}

int cnk_session_claim(void)
{
	return session_reopen_if_forked();
}

static int session_reopen_if_forked(void)
{
	struct cnk_fd_window w;
	int ret = 0;

	if (!atomic_load(&session_needs_reopen))
		return 0;
	pthread_mutex_lock(&session_reopen_lock);
	if (!atomic_load(&session_needs_reopen))
		goto out;
	/* After fork the endpoint is the parent's; after a failed exec it
	 * was closed. */
	if (session_client) {
		cnk_runtime_fds_begin(&w);
		ret = ferry_rpc_client_reopen(session_client);
		cnk_runtime_fds_end(&w);
		if (ret == 0)
			ret = session_open_remote();
		if (ret < 0)
			log_failure_once("reopening the session", ret);
	} else if (!session_open_failed) {
		/* A first open (or one after a failed exec).  It logs why it
		 * failed, once; later calls fail with EIO at once rather than
		 * pay for another try each. */
		ret = session_connect();
		session_open_failed = ret < 0;
	} else {
		ret = -EIO;
	}
	if (ret < 0) {
		ret = -EIO;
		goto out;
	}
	session_owner = getpid();
	atomic_store(&session_needs_reopen, false);
	atomic_store(&session_dead, false);
	if (session_inherit)
		adopt_inherited();
out:
	pthread_mutex_unlock(&session_reopen_lock);
	return ret;
}

/* ---- interruptible waits ---- */

static __thread uint64_t app_mask;
static __thread uint64_t interrupting_signals;

void cnk_session_set_app_mask(uint64_t mask)
{
	app_mask = mask;
}

uint64_t cnk_session_take_interrupting_signals(void)
{
	uint64_t sigs = interrupting_signals;

	interrupting_signals = 0;
	return sigs;
}

uint64_t cnk_deliverable_signals(uint64_t mask)
{
	/* Ignored by default: their arrival interrupts nothing. */
	const uint64_t default_ignored = (1ull << (SIGCHLD - 1)) | (1ull << (SIGURG - 1)) |
					 (1ull << (SIGWINCH - 1)) | (1ull << (SIGCONT - 1));
	uint64_t pending = 0, out = 0;

	if (cnk_raw_syscall(SYS_rt_sigpending, (long)&pending, sizeof(pending), 0) != 0)
		return 0;
	pending &= ~mask;
	for (int sig = 1; sig <= 64 && pending; sig++) {
		uint64_t bit = 1ull << (sig - 1);
		struct cnk_kernel_sigaction act;

		if (!(pending & bit))
			continue;
		pending &= ~bit;
		if (cnk_raw_syscall6(SYS_rt_sigaction, sig, 0, (long)&act, sizeof(uint64_t), 0,
				     0) != 0)
			continue;
		if (act.handler == (uintptr_t)SIG_IGN ||
		    (act.handler == (uintptr_t)SIG_DFL && (default_ignored & bit)))
			continue;
		out |= bit;
	}
	return out;
}

struct interrupt_hook {
	uint64_t session;
	uint64_t seq;
	uint8_t msg[FERRY_HEADER_SIZE + FERRY_BODY_FIXED + 16];
};

static const void *interrupt_poll(void *arg, size_t *len)
{
	struct interrupt_hook *ih = arg;
	uint64_t sigs = cnk_deliverable_signals(app_mask);
	struct ferry_msg m;
	long n;

	if (!sigs)
		return NULL;
	interrupting_signals |= sigs;
	ferry_msg_init(&m, FERRY_OP_INTERRUPT, ih->session, 0);
	ferry_msg_add_arg(&m, (int64_t)ih->seq);
	n = ferry_msg_encode(&m, ih->msg, sizeof(ih->msg));
	if (n <= 0)
		return NULL;
	*len = (size_t)n;
	return ih->msg;
}

long cnk_session_call(struct ferry_msg *req, const struct ferry_rpc_bulk *bulk, void *data,
		      size_t data_cap, size_t *data_len, int timeout)
{
	int ret;

	if (data_len)
		*data_len = 0;
	if (atomic_load(&session_closed))
		return -EIO;
	ret = session_reopen_if_forked();
	if (ret == 0 && (!session_client || atomic_load(&session_dead)))
		ret = -EIO;
	if (ret < 0)
		return ret;
	/* The sequence number was taken before a possible reopen: renumber. */
	req->session = session_ident;
	if (timeout == CNK_CALL_INTERRUPTIBLE) {
		struct interrupt_hook ih = { .session = session_ident, .seq = req->seq };
		struct ferry_rpc_wait_hook hook = { .poll = interrupt_poll, .arg = &ih,
						    .period_ms = 20 };

		interrupting_signals = 0;
		return session_roundtrip_hooked(req, bulk, data, data_cap, data_len, INT_MAX,
						&hook);
	}
	return session_roundtrip(req, bulk, data, data_cap, data_len,
				 timeout == CNK_CALL_BLOCKING ? INT_MAX : timeout);
}

void cnk_session_after_fork_child(void)
{
	pthread_mutex_t fresh = PTHREAD_MUTEX_INITIALIZER;

	session_reopen_lock = fresh;
	session_ident = 0; /* the parent's; ours comes with the first call */
	if (session_uri[0])
		atomic_store(&session_needs_reopen, true);
	atomic_store(&session_failure_logged, false);
}

void cnk_session_close(void)
{
	struct ferry_msg m;

	/* Not from a vfork child: the session is its parent's. */
	if (!session_client || getpid() != session_owner ||
	    atomic_exchange(&session_closed, true))
		return;
	/* A child that never reconnected has no session of its own, and its
	 * endpoint is still the parent's: leave both alone. */
	if (atomic_load(&session_needs_reopen))
		return;
	cnk_session_msg(&m, FERRY_OP_SESSION_CLOSE);
	session_roundtrip(&m, NULL, NULL, 0, NULL, SESSION_CLOSE_TIMEOUT_MS);
	/* The process is exiting: the endpoint only (see the function). */
	ferry_rpc_client_close_at_exit(session_client);
}

bool cnk_session_parent_owns_endpoint(void)
{
	return session_client && !atomic_load(&session_closed) &&
	       !atomic_load(&session_needs_reopen);
}

bool cnk_session_owns_endpoint(void)
{
	return session_client && !atomic_load(&session_closed) &&
	       !atomic_load(&session_needs_reopen) && getpid() == session_owner;
}

bool cnk_session_vfork_child_may_call(void)
{
	long self = cnk_raw_syscall(SYS_getpid, 0, 0, 0);

	if (!session_client || self == session_owner || atomic_load(&session_closed) ||
	    atomic_load(&session_needs_reopen) || atomic_load(&session_dead))
		return false;
	return cnk_runtime_fds_shared_with(session_owner);
}

bool cnk_session_before_exec(void)
{
	struct ferry_msg m;

	if (!cnk_session_owns_endpoint())
		return false;
	cnk_session_msg(&m, FERRY_OP_SESSION_CLOSE);
	session_roundtrip(&m, NULL, NULL, 0, NULL, SESSION_CLOSE_TIMEOUT_MS);
	ferry_rpc_client_close(session_client);
	session_client = NULL;
	cnk_runtime_fds_forget();
	return true;
}

void cnk_session_after_failed_exec(void)
{
	atomic_store(&session_needs_reopen, true);
}
