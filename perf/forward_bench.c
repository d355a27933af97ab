/* SPDX-License-Identifier: Apache-2.0 */
/*
 * ferry-bench: the offload latency of forwarded calls through a running
 * ferry-iond, against the same calls run natively, and against the fabric's
 * own message times (fi_pingpong, given on the command line by
 * perf/run_bench.sh).  Also installed as ferry-forward-bench, its old name.
 *
 *   ferry-bench [options] URI PREFIX=DIR
 *
 * URI is the daemon's address (its ready line), PREFIX=DIR one of its
 * exports: forwarded calls name PREFIX/..., native calls DIR/... (the same
 * files; client and daemon share the machine).  See usage() for the options.
 *
 * Each client has one request in flight.  With --clients N, N processes are
 * forked, each with its own connection and session; they run every
 * operation at the same moment (a barrier before each phase), forwarded and
 * then natively, so both see the same machine and the same contention.
 * Reported: the median and p99 of the per-call times of all clients pooled,
 * and the aggregate calls per second (all calls / wall time of the phase).
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/utsname.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "ferry/proto.h"
#include "ferry/rpc.h"

#define SMALL_SIZE 1024u
#define MID_SIZE (64u << 10)
#define BULK_SIZE (1u << 20)
#define DIR_ENTRIES 1000
#define DENTS_BUF 32768 /* what glibc's readdir asks getdents64 for */
#define READ_FILE "ferry-bench-read.dat"
#define DIR_NAME "ferry-bench-dir"
#define CALL_TIMEOUT_MS 20000
#define MAX_CLIENTS 256
#define MAX_FABRIC_POINTS 16
#define BARRIER_TIMEOUT_MS 300000

/* ---- what one client holds ---- */

struct bench {
	struct ferry_rpc_client *rpc;
	uint64_t session;
	uint64_t seq;
	int id;             /* client index */
	int64_t handle;     /* forwarded READ_FILE */
	int64_t whandle;    /* forwarded write file of this client */
	int fd;             /* native READ_FILE */
	int wfd;            /* native write file of this client */
	size_t inline_max;
	uint8_t *req;       /* encoded request */
	size_t req_cap;
	uint8_t *reply;
	size_t reply_cap;
	struct ferry_msg rep; /* last decoded reply; data points into reply */
	uint8_t *small;       /* SMALL_SIZE */
	uint8_t *big;         /* BULK_SIZE, the client's bulk region */
	uint8_t *dents;       /* DENTS_BUF, decoded linux_dirent64 records */
	uint8_t *wire;        /* wire dirents */
	long entries;         /* entries the last getdents op listed */
	/* message accounting for the fabric figure (one untimed probe call) */
	bool probe;
	double fab_acc;
};

/* ---- shared by all clients (set up before the fork, read-only after) ---- */

static const char *g_prefix; /* compute-node path of the export, e.g. /pfs */
static const char *g_dir;    /* the export directory itself */
static char fwd_read[FERRY_PATH_MAX], nat_read[FERRY_PATH_MAX];
static char fwd_dirpath[FERRY_PATH_MAX], nat_dirpath[FERRY_PATH_MAX];
static uint8_t *g_pattern; /* BULK_SIZE, what READ_FILE holds */
static int g_dir_bytes;    /* bytes of linux_dirent64 records the directory lists */
static struct { double size, us; } fab_pts[MAX_FABRIC_POINTS];
static int n_fab_pts;
static double fab_read_mibs, fab_write_mibs; /* rpc/ bulk push / pull, 1 MiB */

static double now_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec * 1e6 + (double)ts.tv_nsec / 1e3;
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

/* fi_pingpong's one-way time for a message of size bytes: linear between
 * the sizes measured, the smallest below them, proportional above. */
static double fabric_oneway(double size)
{
	if (n_fab_pts == 0)
		return 0;
	if (size <= fab_pts[0].size)
		return fab_pts[0].us;
	for (int i = 1; i < n_fab_pts; i++) {
		if (size <= fab_pts[i].size) {
			double f = (size - fab_pts[i - 1].size) / (fab_pts[i].size - fab_pts[i - 1].size);

			return fab_pts[i - 1].us + f * (fab_pts[i].us - fab_pts[i - 1].us);
		}
	}
	return fab_pts[n_fab_pts - 1].us * size / fab_pts[n_fab_pts - 1].size;
}

/* One call: encode m (session and seq filled in here), send, decode the
 * reply into b->rep.  Returns the reply's result (ret, or -err) or a
 * transport/codec error. */
static long call(struct bench *b, struct ferry_msg *m, const struct ferry_rpc_bulk *bulk)
{
	size_t reply_len;
	long len;
	int rc;

	if (m->opcode != FERRY_OP_SESSION_OPEN)
		m->session = b->session;
	m->seq = ++b->seq;
	len = ferry_msg_encode(m, b->req, b->req_cap);
	if (len < 0)
		return len;
	rc = ferry_rpc_call(b->rpc, b->req, (size_t)len, bulk, b->reply, b->reply_cap, &reply_len,
			    CALL_TIMEOUT_MS);
	if (rc)
		return rc;
	if (b->probe) {
		/* What the fabric needs for the same messages: the request,
		 * the reply, and the bulk payload, each one way. */
		b->fab_acc += fabric_oneway((double)len) + fabric_oneway((double)reply_len);
		if (bulk && bulk->len)
			b->fab_acc += fabric_oneway((double)bulk->len);
	}
	rc = ferry_msg_decode(b->reply, reply_len, &b->rep);
	if (rc)
		return rc;
	/* A reply to some other call would make every figure meaningless. */
	if (!(b->rep.flags & FERRY_MSG_REPLY) || b->rep.seq != m->seq || b->rep.opcode != m->opcode)
		return -EPROTO;
	return b->rep.err ? -(long)b->rep.err : (long)b->rep.ret;
}

static long fwd_openat(struct bench *b, const char *path, int flags)
{
	struct ferry_msg m;

	ferry_msg_init(&m, FERRY_OP_OPENAT, 0, 0);
	ferry_msg_add_arg(&m, FERRY_AT_ROOT);
	ferry_msg_add_arg(&m, flags);
	ferry_msg_add_arg(&m, flags & O_CREAT ? 0644 : 0); /* as open(2) callers pass it */
	ferry_msg_add_arg(&m, 0);
	ferry_msg_add_path(&m, path);
	return call(b, &m, NULL);
}

static long fwd_close(struct bench *b, int64_t h)
{
	struct ferry_msg m;

	ferry_msg_init(&m, FERRY_OP_CLOSE, 0, 0);
	ferry_msg_add_arg(&m, h);
	return call(b, &m, NULL);
}

/* A read or write at offset 0 (the page-cache-warm start of the file), the
 * way the runtime sends it: data inline up to the transport's inline size,
 * a bulk region above. */
static int fwd_rw(struct bench *b, uint16_t op, int64_t h, size_t count)
{
	bool inl = count <= b->inline_max;
	struct ferry_rpc_bulk bulk = { b->big, count,
				       op == FERRY_OP_READ ? FERRY_BULK_FROM_SERVER
							   : FERRY_BULK_TO_SERVER };
	struct ferry_msg m;
	long rc;

	ferry_msg_init(&m, op, 0, 0);
	ferry_msg_add_arg(&m, h);
	ferry_msg_add_arg(&m, (int64_t)count);
	ferry_msg_add_arg(&m, 0);
	ferry_msg_add_arg(&m, 0);
	if (op == FERRY_OP_WRITE && inl) {
		m.data = b->big;
		m.data_len = (uint32_t)count;
	}
	rc = call(b, &m, inl ? NULL : &bulk);
	if (rc < 0)
		return (int)rc;
	if ((size_t)rc != count)
		return -EIO;
	if (op == FERRY_OP_READ && inl) {
		if (b->rep.data_len != count)
			return -EBADMSG;
		memcpy(b->big, b->rep.data, count); /* the copy the runtime makes */
	}
	return 0;
}

/* ---- the operations; each returns 0 or a negative errno ---- */

static int op_fwd_null(struct bench *b)
{
	struct ferry_msg m;

	/* With the session: a NULL_CALL with session 0 skips the session
	 * lookup, but no real forwarded call does. */
	ferry_msg_init(&m, FERRY_OP_NULL_CALL, 0, 0);
	long rc = call(b, &m, NULL);
	return rc < 0 ? (int)rc : 0;
}

static int op_nat_null(struct bench *b)
{
	/* A raw system call that does no work: what a syscall costs when it
	 * stays local.  (syscall(2), not getppid(), so no libc shortcut.) */
	(void)b;
	return syscall(SYS_getppid) > 0 ? 0 : -ESRCH;
}

static int op_fwd_stat(struct bench *b)
{
	struct ferry_msg m;
	long rc;

	ferry_msg_init(&m, FERRY_OP_STATX, 0, 0);
	ferry_msg_add_arg(&m, FERRY_AT_ROOT);
	ferry_msg_add_arg(&m, 0);
	ferry_msg_add_arg(&m, STATX_BASIC_STATS);
	ferry_msg_add_path(&m, fwd_read);
	rc = call(b, &m, NULL);
	if (rc < 0)
		return (int)rc;
	return b->rep.data_len == FERRY_WIRE_STATX_SIZE ? 0 : -EBADMSG;
}

static int op_nat_stat(struct bench *b)
{
	struct statx stx;

	(void)b;
	return statx(AT_FDCWD, nat_read, 0, STATX_BASIC_STATS, &stx) ? -errno : 0;
}

static int op_fwd_openclose(struct bench *b)
{
	long h = fwd_openat(b, fwd_read, O_RDONLY | O_CLOEXEC);

	if (h < 0)
		return (int)h;
	long rc = fwd_close(b, h);
	return rc < 0 ? (int)rc : 0;
}

static int op_nat_openclose(struct bench *b)
{
	int fd = open(nat_read, O_RDONLY | O_CLOEXEC);

	(void)b;
	if (fd < 0)
		return -errno;
	return close(fd) ? -errno : 0;
}

static int op_fwd_pread1k(struct bench *b)
{
	return fwd_rw(b, FERRY_OP_READ, b->handle, SMALL_SIZE);
}

static int op_nat_pread1k(struct bench *b)
{
	return pread(b->fd, b->big, SMALL_SIZE, 0) == SMALL_SIZE ? 0 : -EIO;
}

static int op_fwd_read64k(struct bench *b)
{
	return fwd_rw(b, FERRY_OP_READ, b->handle, MID_SIZE);
}

static int op_nat_read64k(struct bench *b)
{
	return pread(b->fd, b->big, MID_SIZE, 0) == MID_SIZE ? 0 : -EIO;
}

static int op_fwd_read1m(struct bench *b)
{
	return fwd_rw(b, FERRY_OP_READ, b->handle, BULK_SIZE);
}

static int op_nat_read1m(struct bench *b)
{
	return pread(b->fd, b->big, BULK_SIZE, 0) == BULK_SIZE ? 0 : -EIO;
}

static int op_fwd_write64k(struct bench *b)
{
	return fwd_rw(b, FERRY_OP_WRITE, b->whandle, MID_SIZE);
}

static int op_nat_write64k(struct bench *b)
{
	return pwrite(b->wfd, b->big, MID_SIZE, 0) == MID_SIZE ? 0 : -EIO;
}

static int op_fwd_write1m(struct bench *b)
{
	return fwd_rw(b, FERRY_OP_WRITE, b->whandle, BULK_SIZE);
}

static int op_nat_write1m(struct bench *b)
{
	return pwrite(b->wfd, b->big, BULK_SIZE, 0) == BULK_SIZE ? 0 : -EIO;
}

/* Count the linux_dirent64 records in len bytes at buf. */
static long count_dirents(const uint8_t *buf, size_t len)
{
	long n = 0;

	for (size_t off = 0; off + 19 <= len; n++) {
		uint16_t reclen;

		memcpy(&reclen, buf + off + 16, sizeof(reclen));
		if (reclen == 0)
			return -EBADMSG;
		off += reclen;
	}
	return n;
}

/* A whole directory listing as readdir(3) does it: open, getdents until it
 * returns 0, close.  Forwarded as the runtime forwards getdents64: at most
 * the transport's inline size per call, records decoded into the caller's
 * buffer. */
static int op_fwd_getdents(struct bench *b)
{
	size_t want = DENTS_BUF < b->inline_max ? DENTS_BUF : b->inline_max;
	long h = fwd_openat(b, fwd_dirpath, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	long rc = 0, n = 0;

	if (h < 0)
		return (int)h;
	for (;;) {
		struct ferry_msg m;
		size_t used = 0;
		long got;

		ferry_msg_init(&m, FERRY_OP_GETDENTS, 0, 0);
		ferry_msg_add_arg(&m, h);
		ferry_msg_add_arg(&m, (int64_t)want);
		rc = call(b, &m, NULL);
		if (rc <= 0)
			break;
		got = ferry_dirents_decode(b->rep.data, b->rep.data_len, b->dents, DENTS_BUF,
					   &used);
		if (got < 0) {
			rc = got;
			break;
		}
		n += count_dirents(b->dents, (size_t)got);
	}
	b->entries = n;
	long crc = fwd_close(b, h);
	if (rc < 0)
		return (int)rc;
	return crc < 0 ? (int)crc : 0;
}

static int op_nat_getdents(struct bench *b)
{
	int fd = open(nat_dirpath, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	long n = 0, got;

	if (fd < 0)
		return -errno;
	while ((got = syscall(SYS_getdents64, fd, b->dents, DENTS_BUF)) > 0)
		n += count_dirents(b->dents, (size_t)got);
	if (got < 0)
		got = -errno;
	b->entries = n;
	if (close(fd))
		return -errno;
	return got < 0 ? (int)got : 0;
}

enum iters_class { IT_SMALL, IT_MID, IT_BULK };

struct op_desc {
	const char *name;
	size_t size;  /* bytes of data the call moves (getdents: set at start-up) */
	enum iters_class cls;
	int (*fwd)(struct bench *);
	int (*nat)(struct bench *);
	int fab_dir; /* 1: compare bandwidth with the fabric's push, 2: pull */
};

static struct op_desc ops[] = {
	{ "null_call", 0, IT_SMALL, op_fwd_null, op_nat_null, 0 },
	{ "stat", 0, IT_SMALL, op_fwd_stat, op_nat_stat, 0 },
	{ "open_close", 0, IT_SMALL, op_fwd_openclose, op_nat_openclose, 0 },
	{ "pread_1k", SMALL_SIZE, IT_SMALL, op_fwd_pread1k, op_nat_pread1k, 0 },
	{ "read_64k", MID_SIZE, IT_MID, op_fwd_read64k, op_nat_read64k, 0 },
	{ "write_64k", MID_SIZE, IT_MID, op_fwd_write64k, op_nat_write64k, 0 },
	{ "read_1m", BULK_SIZE, IT_BULK, op_fwd_read1m, op_nat_read1m, 1 },
	{ "write_1m", BULK_SIZE, IT_BULK, op_fwd_write1m, op_nat_write1m, 2 },
	{ "getdents_1000", 0, IT_MID, op_fwd_getdents, op_nat_getdents, 0 },
};

#define NOPS (sizeof(ops) / sizeof(ops[0]))

/* ---- shared memory: every client's samples, and the fabric probe ---- */

struct client_phase {
	double t_start, t_end; /* the timed loop, CLOCK_MONOTONIC µs */
	int rc;                /* 0, or the negative errno the client hit */
	int done;              /* iterations recorded */
};

struct shared {
	int iters[NOPS];
	size_t max_iters;
	double fab_us[NOPS];
	long entries_fwd, entries_nat;
	int setup_rc[MAX_CLIENTS];
	struct client_phase ph[NOPS][2][MAX_CLIENTS]; /* [op][0 fwd, 1 native][client] */
	/* samples follow: [op][phase][client][max_iters] */
};

static struct shared *sh;
static double *samples;
static int nclients = 1;
static bool selected[NOPS];

static double *sample_row(size_t op, int phase, int client)
{
	return samples + (((op * 2 + (size_t)phase) * (size_t)nclients + (size_t)client) *
			  sh->max_iters);
}

/* ---- the barrier: every client writes a byte to the parent and waits for
 * the parent's byte back ---- */

static int ready_pipe[2] = { -1, -1 };
static int go_pipe[MAX_CLIENTS][2]; /* one per client: a byte lets it go */
static int my_go = -1;              /* the client's own read end */
static bool forked;

static int wait_fd(int fd, int timeout_ms)
{
	struct pollfd p = { .fd = fd, .events = POLLIN };
	int rc;

	do
		rc = poll(&p, 1, timeout_ms);
	while (rc < 0 && errno == EINTR);
	return rc > 0 ? 0 : rc == 0 ? -ETIMEDOUT : -errno;
}

static int child_barrier(void)
{
	char c = 'r';

	if (!forked)
		return 0;
	if (write(ready_pipe[1], &c, 1) != 1)
		return -EPIPE;
	if (wait_fd(my_go, BARRIER_TIMEOUT_MS))
		return -ETIMEDOUT;
	return read(my_go, &c, 1) == 1 ? 0 : -EPIPE;
}

/* The parent's side: all N bytes in, then a byte to each client. */
static int parent_barrier(void)
{
	char buf[MAX_CLIENTS], go = 'g';
	int got = 0;

	while (got < nclients) {
		ssize_t n;

		if (wait_fd(ready_pipe[0], BARRIER_TIMEOUT_MS))
			return -ETIMEDOUT;
		n = read(ready_pipe[0], buf, (size_t)(nclients - got));
		if (n <= 0)
			return -EPIPE; /* every client is gone */
		got += (int)n;
	}
	for (int i = 0; i < nclients; i++)
		if (write(go_pipe[i][1], &go, 1) != 1)
			return -EPIPE;
	return 0;
}

/* ---- one client ---- */

/* Run fn iters times after a warm-up of iters/10 (at least 1) untimed
 * calls; record each time. */
static void measure(struct bench *b, int (*fn)(struct bench *), int iters, double *t,
		    struct client_phase *ph)
{
	int warm = iters / 10 > 0 ? iters / 10 : 1, rc = 0, i;

	for (i = 0; i < warm && !rc; i++)
		rc = fn(b);
	ph->t_start = now_us();
	for (i = 0; i < iters && !rc; i++) {
		double t0 = now_us();

		rc = fn(b);
		t[i] = now_us() - t0;
	}
	ph->t_end = now_us();
	ph->done = !rc ? iters : i > 0 ? i - 1 : 0;
	ph->rc = rc;
}

static long session_open(struct bench *b)
{
	struct ferry_msg m;
	long rc;

	ferry_msg_init(&m, FERRY_OP_SESSION_OPEN, 0, 0);
	ferry_msg_add_arg(&m, getpid());
	ferry_msg_add_arg(&m, getuid());
	ferry_msg_add_arg(&m, getgid());
	ferry_msg_add_arg(&m, 0); /* job id: none */
	rc = call(b, &m, NULL);
	if (rc < 0)
		return rc;
	if (rc == 0)
		return -EPROTO; /* session 0 means "no session" on the wire */
	b->session = (uint64_t)rc;
	return 0;
}

static void session_close(struct bench *b)
{
	struct ferry_msg m;

	ferry_msg_init(&m, FERRY_OP_SESSION_CLOSE, 0, 0);
	(void)call(b, &m, NULL);
}

/* Forwarded reads must return the bytes the file holds and the listing the
 * directory's entries; checked once, outside the timed loops. */
static int verify(struct bench *b)
{
	static const size_t sizes[] = { SMALL_SIZE, MID_SIZE, BULK_SIZE };
	int rc;

	for (size_t i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
		memset(b->big, 0, BULK_SIZE);
		rc = fwd_rw(b, FERRY_OP_READ, b->handle, sizes[i]);
		if (rc)
			return rc;
		if (memcmp(b->big, g_pattern, sizes[i]))
			return -EIO;
	}
	rc = op_fwd_getdents(b);
	if (rc)
		return rc;
	if (b->entries != DIR_ENTRIES + 2) /* and . and .. */
		return -ENOENT;
	return 0;
}

static void write_paths(int id, char *fwd, char *nat)
{
	snprintf(fwd, FERRY_PATH_MAX, "%s/ferry-bench-write-%d.dat", g_prefix, id);
	snprintf(nat, FERRY_PATH_MAX, "%s/ferry-bench-write-native-%d.dat", g_dir, id);
}

static int client_setup(struct bench *b, const char *uri)
{
	char fwd_w[FERRY_PATH_MAX], nat_w[FERRY_PATH_MAX];
	long rc;

	b->small = malloc(SMALL_SIZE);
	b->big = malloc(BULK_SIZE);
	b->dents = malloc(DENTS_BUF);
	if (!b->small || !b->big || !b->dents)
		return -ENOMEM;
	memcpy(b->big, g_pattern, BULK_SIZE); /* what the writes write */
	write_paths(b->id, fwd_w, nat_w);
	b->fd = open(nat_read, O_RDONLY | O_CLOEXEC);
	if (b->fd < 0)
		return -errno;
	b->wfd = open(nat_w, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (b->wfd < 0)
		return -errno;
	rc = ferry_rpc_client_open(uri, NULL, &b->rpc);
	if (rc) {
		fprintf(stderr, "ferry-bench: client %d: cannot connect to %s: %s\n", b->id, uri,
			strerror((int)-rc));
		return (int)rc;
	}
	b->inline_max = ferry_rpc_client_inline_max(b->rpc);
	b->reply_cap = ferry_rpc_client_msg_max(b->rpc);
	b->req_cap = b->reply_cap;
	b->req = malloc(b->req_cap);
	b->reply = malloc(b->reply_cap);
	if (!b->req || !b->reply)
		return -ENOMEM;
	rc = session_open(b);
	if (rc) {
		fprintf(stderr, "ferry-bench: client %d: SESSION_OPEN: %s\n", b->id,
			strerror((int)-rc));
		return (int)rc;
	}
	b->handle = fwd_openat(b, fwd_read, O_RDONLY | O_CLOEXEC);
	if (b->handle < 0) {
		fprintf(stderr, "ferry-bench: client %d: OPENAT %s: %s\n", b->id, fwd_read,
			strerror((int)-b->handle));
		return (int)b->handle;
	}
	b->whandle = fwd_openat(b, fwd_w, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC);
	if (b->whandle < 0) {
		fprintf(stderr, "ferry-bench: client %d: OPENAT %s: %s\n", b->id, fwd_w,
			strerror((int)-b->whandle));
		return (int)b->whandle;
	}
	rc = verify(b);
	if (rc) {
		fprintf(stderr, "ferry-bench: client %d: forwarded reads return wrong data: %s\n",
			b->id, strerror((int)-rc));
		return (int)rc;
	}
	return 0;
}

static void client_teardown(struct bench *b)
{
	if (b->session) {
		if (b->handle >= 0)
			fwd_close(b, b->handle);
		if (b->whandle >= 0)
			fwd_close(b, b->whandle);
		session_close(b);
	}
	if (b->rpc)
		ferry_rpc_client_close(b->rpc);
	if (b->fd >= 0)
		close(b->fd);
	if (b->wfd >= 0)
		close(b->wfd);
	free(b->req);
	free(b->reply);
	free(b->small);
	free(b->big);
	free(b->dents);
}

/* Every client runs this, in its own process when forked.  It takes part
 * in every barrier even after a failure, so the others never wait for it. */
static int client_main(int id, const char *uri)
{
	struct bench b = { .id = id, .fd = -1, .wfd = -1, .handle = -1, .whandle = -1 };
	int rc = client_setup(&b, uri);

	sh->setup_rc[id] = rc;
	for (size_t i = 0; i < NOPS; i++) {
		if (!selected[i])
			continue;
		if (!rc && id == 0) {
			/* One untimed call that counts the messages. */
			b.probe = true;
			b.fab_acc = 0;
			rc = ops[i].fwd(&b);
			b.probe = false;
			sh->fab_us[i] = b.fab_acc;
		}
		for (int phase = 0; phase < 2; phase++) {
			struct client_phase *ph = &sh->ph[i][phase][id];

			if (child_barrier())
				_exit(3); /* the parent is gone */
			if (rc) {
				ph->rc = rc;
				continue;
			}
			measure(&b, phase ? ops[i].nat : ops[i].fwd, sh->iters[i],
				sample_row(i, phase, id), ph);
			if (ph->rc) {
				fprintf(stderr, "ferry-bench: client %d: %s (%s): %s\n", id,
					ops[i].name, phase ? "native" : "forwarded",
					strerror(-ph->rc));
				rc = ph->rc;
			}
			if (ops[i].fwd == op_fwd_getdents && id == 0 && !ph->rc) {
				if (phase)
					sh->entries_nat = b.entries;
				else
					sh->entries_fwd = b.entries;
			}
		}
	}
	client_teardown(&b);
	return rc ? 1 : 0;
}

/* ---- set-up of the files, before any client starts ---- */

static int make_files(void)
{
	char path[FERRY_PATH_MAX + 16];
	int fd;

	for (size_t i = 0; i < BULK_SIZE; i++)
		g_pattern[i] = (uint8_t)(i * 131 + 7);
	/* A 1 MiB file, written and then read once so it is in the page
	 * cache: the figures are about forwarding, not the disk. */
	fd = open(nat_read, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (fd < 0)
		return -errno;
	if (pwrite(fd, g_pattern, BULK_SIZE, 0) != BULK_SIZE ||
	    pread(fd, g_pattern, BULK_SIZE, 0) != BULK_SIZE) {
		close(fd);
		return -EIO;
	}
	if (close(fd))
		return -errno;
	/* A directory of DIR_ENTRIES empty files. */
	if (mkdir(nat_dirpath, 0755) && errno != EEXIST)
		return -errno;
	for (int i = 0; i < DIR_ENTRIES; i++) {
		snprintf(path, sizeof(path), "%s/entry-%04d", nat_dirpath, i);
		fd = open(path, O_WRONLY | O_CREAT | O_CLOEXEC, 0644);
		if (fd < 0)
			return -errno;
		close(fd);
	}
	return 0;
}

static void remove_files(void)
{
	char path[FERRY_PATH_MAX + 16], fwd_w[FERRY_PATH_MAX], nat_w[FERRY_PATH_MAX];

	unlink(nat_read);
	for (int i = 0; i < DIR_ENTRIES; i++) {
		snprintf(path, sizeof(path), "%s/entry-%04d", nat_dirpath, i);
		unlink(path);
	}
	rmdir(nat_dirpath);
	for (int id = 0; id < nclients; id++) {
		write_paths(id, fwd_w, nat_w);
		unlink(nat_w);
		/* the forwarded one, by its name in the export */
		snprintf(path, sizeof(path), "%s%s", g_dir, fwd_w + strlen(g_prefix));
		unlink(path);
	}
}

/* ---- the machine ---- */

static void print_machine(FILE *f, const char *lead)
{
	char line[512], cpu[256] = "unknown";
	struct utsname u;
	FILE *ci = fopen("/proc/cpuinfo", "r");
	time_t now = time(NULL);
	struct tm tm;
	char date[64];

	if (ci) {
		while (fgets(line, sizeof(line), ci)) {
			char *colon = strchr(line, ':');

			if (!strncmp(line, "model name", 10) && colon) {
				snprintf(cpu, sizeof(cpu), "%s", colon + 2);
				cpu[strcspn(cpu, "\n")] = '\0';
				break;
			}
		}
		fclose(ci);
	}
	if (uname(&u))
		snprintf(u.release, sizeof(u.release), "unknown");
	gmtime_r(&now, &tm);
	strftime(date, sizeof(date), "%Y-%m-%dT%H:%M:%SZ", &tm);
	fprintf(f, "%sdate: %s\n%scpu: %s\n%scores: %ld\n%skernel: %s %s\n", lead, date, lead, cpu,
		lead, sysconf(_SC_NPROCESSORS_ONLN), lead, u.sysname, u.release);
}

/* ---- results ---- */

struct stats {
	double median, p99, ops_s;
	int n;
};

static int pool(size_t op, int phase, double *buf, struct stats *st)
{
	double t0 = 0, t1 = 0;
	size_t n = 0;

	for (int c = 0; c < nclients; c++) {
		const struct client_phase *ph = &sh->ph[op][phase][c];

		if (ph->rc)
			return ph->rc;
		memcpy(buf + n, sample_row(op, phase, c), sizeof(double) * (size_t)ph->done);
		n += (size_t)ph->done;
		if (c == 0 || ph->t_start < t0)
			t0 = ph->t_start;
		if (c == 0 || ph->t_end > t1)
			t1 = ph->t_end;
	}
	if (n == 0)
		return -ENODATA;
	qsort(buf, n, sizeof(double), cmp_double);
	st->median = buf[n / 2];
	st->p99 = buf[n * 99 / 100];
	st->ops_s = t1 > t0 ? (double)n / ((t1 - t0) / 1e6) : 0;
	st->n = (int)n;
	return 0;
}

static void fmt_num(char *buf, size_t len, double v, const char *fmt)
{
	if (v > 0)
		snprintf(buf, len, fmt, v);
	else
		snprintf(buf, len, "-");
}

static void csv_num(FILE *f, double v, const char *fmt, bool last)
{
	if (v > 0)
		fprintf(f, fmt, v);
	if (!last)
		fputc(',', f);
}

#define MIB(bytes, us) ((double)(bytes) / (1 << 20) / ((us) / 1e6))

/* Print the table and append the CSV rows. */
static int report(FILE *csv)
{
	double *buf = malloc(sizeof(double) * sh->max_iters * (size_t)nclients);
	int failed = 0;

	if (!buf)
		return -ENOMEM;
	printf("%-13s %7s %3s | %9s %9s | %9s %9s | %9s | %8s %8s | %9s %9s | %7s %7s %7s\n", "op",
	       "bytes", "cl", "fwd med", "fwd p99", "nat med", "nat p99", "fabric", "x native",
	       "x fabric", "fwd op/s", "nat op/s", "MiB/s", "nat", "fabric");
	for (size_t i = 0; i < NOPS; i++) {
		const struct op_desc *op = &ops[i];
		struct stats fwd, nat;
		double fab = sh->fab_us[i], mibs = 0, nat_mibs = 0, fab_mibs = 0;
		char s_fab[16], s_xf[16], s_m[16], s_nm[16], s_fm[16];
		int rc;

		if (!selected[i])
			continue;
		rc = pool(i, 0, buf, &fwd);
		if (!rc)
			rc = pool(i, 1, buf, &nat);
		if (rc) {
			fprintf(stderr, "ferry-bench: %s: %s\n", op->name, strerror(-rc));
			failed = 1;
			continue;
		}
		if (op->size >= MID_SIZE && op->cls != IT_SMALL && op->fwd != op_fwd_getdents) {
			mibs = MIB(op->size, fwd.median);
			nat_mibs = MIB(op->size, nat.median);
			fab_mibs = op->fab_dir == 1 ? fab_read_mibs : op->fab_dir == 2 ? fab_write_mibs : 0;
		}
		fmt_num(s_fab, sizeof(s_fab), fab, "%9.2f");
		fmt_num(s_xf, sizeof(s_xf), fab > 0 ? fwd.median / fab : 0, "%8.1f");
		fmt_num(s_m, sizeof(s_m), mibs, "%7.0f");
		fmt_num(s_nm, sizeof(s_nm), nat_mibs, "%7.0f");
		fmt_num(s_fm, sizeof(s_fm), fab_mibs, "%7.0f");
		printf("%-13s %7zu %3d | %9.2f %9.2f | %9.2f %9.2f | %9s | %8.1f %8s | %9.0f %9.0f | %7s %7s %7s\n",
		       op->name, op->size, nclients, fwd.median, fwd.p99, nat.median, nat.p99, s_fab,
		       fwd.median / nat.median, s_xf, fwd.ops_s, nat.ops_s, s_m, s_nm, s_fm);
		if (csv) {
			/* op,size,clients,ferry_median_us,ferry_p99_us,
			 * native_median_us,native_p99_us,fabric_us,ratio_native,
			 * ratio_fabric,ferry_ops_s,native_ops_s,mib_s,
			 * native_mib_s,fabric_mib_s,ratio_bw_native,
			 * ratio_bw_fabric; empty where a figure does not apply */
			fprintf(csv, "%s,%zu,%d,%.3f,%.3f,%.3f,%.3f,", op->name, op->size, nclients,
				fwd.median, fwd.p99, nat.median, nat.p99);
			csv_num(csv, fab, "%.3f", false);
			fprintf(csv, "%.2f,", fwd.median / nat.median);
			csv_num(csv, fab > 0 ? fwd.median / fab : 0, "%.2f", false);
			fprintf(csv, "%.0f,%.0f,", fwd.ops_s, nat.ops_s);
			csv_num(csv, mibs, "%.0f", false);
			csv_num(csv, nat_mibs, "%.0f", false);
			csv_num(csv, fab_mibs, "%.0f", false);
			csv_num(csv, mibs > 0 ? mibs / nat_mibs : 0, "%.3f", false);
			csv_num(csv, fab_mibs > 0 ? mibs / fab_mibs : 0, "%.3f", true);
			fputc('\n', csv);
		}
	}
	free(buf);
	return failed ? -EIO : 0;
}

/* ---- options ---- */

static int add_fabric_point(double size, double us)
{
	int i;

	if (n_fab_pts == MAX_FABRIC_POINTS || !(size > 0) || !(us > 0))
		return -EINVAL;
	for (i = n_fab_pts; i > 0 && fab_pts[i - 1].size > size; i--)
		fab_pts[i] = fab_pts[i - 1];
	if (i > 0 && fab_pts[i - 1].size == size)
		return -EINVAL;
	fab_pts[i].size = size;
	fab_pts[i].us = us;
	n_fab_pts++;
	return 0;
}

/* "K=V,K=V": calls fn for each pair; K is a number or a word. */
static int parse_pairs(const char *spec, int (*fn)(const char *k, double v))
{
	char *copy = strdup(spec), *save = NULL;
	int rc = 0;

	if (!copy)
		return -ENOMEM;
	for (char *tok = strtok_r(copy, ",", &save); tok && !rc;
	     tok = strtok_r(NULL, ",", &save)) {
		char *eq = strchr(tok, '='), *end;
		double v;

		if (!eq)
			rc = -EINVAL;
		else {
			*eq = '\0';
			v = strtod(eq + 1, &end);
			rc = *end || !(v > 0) ? -EINVAL : fn(tok, v);
		}
	}
	free(copy);
	return rc;
}

static int oneway_pair(const char *k, double v)
{
	char *end;
	double size = strtod(k, &end);

	return *end ? -EINVAL : add_fabric_point(size, v);
}

static int mibs_pair(const char *k, double v)
{
	if (!strcmp(k, "read"))
		fab_read_mibs = v;
	else if (!strcmp(k, "write"))
		fab_write_mibs = v;
	else
		return -EINVAL;
	return 0;
}

static int select_ops(const char *list)
{
	char *copy = strdup(list), *save = NULL;
	int rc = 0;

	if (!copy)
		return -ENOMEM;
	memset(selected, 0, sizeof(selected));
	for (char *tok = strtok_r(copy, ",", &save); tok && !rc;
	     tok = strtok_r(NULL, ",", &save)) {
		size_t i;

		for (i = 0; i < NOPS && strcmp(ops[i].name, tok); i++)
			;
		if (i == NOPS)
			rc = -EINVAL;
		else
			selected[i] = true;
	}
	free(copy);
	return rc;
}

static void usage(FILE *f)
{
	fprintf(f,
		"usage: ferry-bench [options] URI PREFIX=DIR\n"
		"\n"
		"Forwarded calls through the ferry-iond at URI (its export PREFIX is the\n"
		"directory DIR on this machine), against the same calls run natively on DIR\n"
		"and against the fabric's own message times.\n"
		"\n"
		"Operations: null_call stat open_close pread_1k read_64k write_64k read_1m\n"
		"write_1m getdents_1000 (a whole listing of a %d-entry directory: open,\n"
		"getdents until the end, close).  Reads hit the page cache.\n"
		"\n"
		"Options:\n"
		"  -n ITERS        iterations per client of the small calls (default 5000;\n"
		"                  64 KiB and getdents: ITERS/10, at least 3)\n"
		"  -b ITERS        iterations per client of the 1 MiB calls (default 200)\n"
		"  --clients N     N client processes, each with its own connection and\n"
		"                  session, calling at the same time (default 1, at most %d)\n"
		"  --ops LIST      comma-separated operations to run (default all)\n"
		"  --fabric-oneway SIZE=US[,SIZE=US...]\n"
		"                  fi_pingpong's one-way time for messages of SIZE bytes;\n"
		"                  the fabric figure of a call is the one-way time of each\n"
		"                  of its messages (interpolated by size), summed\n"
		"  --fabric-mibs read=MIBS,write=MIBS\n"
		"                  the fabric's 1 MiB RMA bandwidth (rpc/ bulk push, pull)\n"
		"  --csv FILE      append one row per operation (columns: perf/README.md)\n"
		"  -h, --help      this text\n",
		DIR_ENTRIES, MAX_CLIENTS);
}

static int iters_for(enum iters_class cls, int n, int nb)
{
	switch (cls) {
	case IT_SMALL:
		return n;
	case IT_MID:
		return n / 10 > 3 ? n / 10 : 3;
	default:
		return nb;
	}
}

int main(int argc, char **argv)
{
	int iters = 5000, bulk_iters = 200, rc, opt, failed = 0;
	const char *uri, *csv_path = NULL, *ops_list = NULL;
	pid_t pids[MAX_CLIENTS];
	char *spec, *eq;
	FILE *csv = NULL;
	size_t shsize;

	for (opt = 1; opt < argc; opt++) {
		const char *a = argv[opt];
		bool has = opt + 1 < argc;

		if (!strcmp(a, "-n") && has)
			iters = atoi(argv[++opt]);
		else if (!strcmp(a, "-b") && has)
			bulk_iters = atoi(argv[++opt]);
		else if (!strcmp(a, "--clients") && has)
			nclients = atoi(argv[++opt]);
		else if (!strcmp(a, "--csv") && has)
			csv_path = argv[++opt];
		else if (!strcmp(a, "--ops") && has)
			ops_list = argv[++opt];
		else if (!strcmp(a, "--fabric-oneway") && has) {
			if (parse_pairs(argv[++opt], oneway_pair)) {
				fprintf(stderr, "ferry-bench: bad --fabric-oneway %s\n", argv[opt]);
				return 2;
			}
		} else if (!strcmp(a, "--fabric-mibs") && has) {
			if (parse_pairs(argv[++opt], mibs_pair)) {
				fprintf(stderr, "ferry-bench: bad --fabric-mibs %s\n", argv[opt]);
				return 2;
			}
		} else if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
			usage(stdout);
			return 0;
		} else if (a[0] == '-') {
			usage(stderr);
			return 2;
		} else
			break;
	}
	if (argc - opt != 2 || iters < 1 || bulk_iters < 1 || nclients < 1 ||
	    nclients > MAX_CLIENTS) {
		usage(stderr);
		return 2;
	}
	for (size_t i = 0; i < NOPS; i++)
		selected[i] = true;
	if (ops_list && select_ops(ops_list)) {
		fprintf(stderr, "ferry-bench: bad --ops %s\n", ops_list);
		return 2;
	}
	uri = argv[opt];
	spec = argv[opt + 1];
	eq = strchr(spec, '=');
	if (spec[0] != '/' || !eq || !eq[1]) {
		usage(stderr);
		return 2;
	}
	*eq = '\0';
	g_prefix = spec;
	g_dir = eq + 1;
	snprintf(fwd_read, sizeof(fwd_read), "%s/%s", g_prefix, READ_FILE);
	snprintf(nat_read, sizeof(nat_read), "%s/%s", g_dir, READ_FILE);
	snprintf(fwd_dirpath, sizeof(fwd_dirpath), "%s/%s", g_prefix, DIR_NAME);
	snprintf(nat_dirpath, sizeof(nat_dirpath), "%s/%s", g_dir, DIR_NAME);

	/* The shared results, mapped before the fork. */
	{
		size_t max_iters = 1;

		for (size_t i = 0; i < NOPS; i++) {
			int n = iters_for(ops[i].cls, iters, bulk_iters);

			if ((size_t)n > max_iters)
				max_iters = (size_t)n;
		}
		shsize = sizeof(struct shared) +
			 sizeof(double) * NOPS * 2 * (size_t)nclients * max_iters;
		sh = mmap(NULL, shsize, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
		if (sh == MAP_FAILED) {
			fprintf(stderr, "ferry-bench: mmap %zu bytes: %s\n", shsize, strerror(errno));
			return 1;
		}
		sh->max_iters = max_iters;
		samples = (double *)(sh + 1);
		for (size_t i = 0; i < NOPS; i++)
			sh->iters[i] = iters_for(ops[i].cls, iters, bulk_iters);
	}
	g_pattern = malloc(BULK_SIZE);
	if (!g_pattern)
		return 1;
	if (csv_path) {
		csv = fopen(csv_path, "a");
		if (!csv) {
			fprintf(stderr, "ferry-bench: %s: %s\n", csv_path, strerror(errno));
			return 1;
		}
	}
	rc = make_files();
	if (rc) {
		fprintf(stderr, "ferry-bench: cannot create files in %s: %s\n", g_dir,
			strerror(-rc));
		remove_files();
		return 1;
	}
	{
		/* The size of a getdents listing: its linux_dirent64 bytes. */
		struct bench nb = { .dents = malloc(DENTS_BUF) };
		int fd = open(nat_dirpath, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
		long got;

		if (!nb.dents || fd < 0) {
			fprintf(stderr, "ferry-bench: %s: %s\n", nat_dirpath, strerror(errno));
			remove_files();
			return 1;
		}
		while ((got = syscall(SYS_getdents64, fd, nb.dents, DENTS_BUF)) > 0)
			g_dir_bytes += (int)got;
		close(fd);
		free(nb.dents);
		for (size_t i = 0; i < NOPS; i++)
			if (ops[i].fwd == op_fwd_getdents)
				ops[i].size = (size_t)g_dir_bytes;
	}

	printf("ferry-bench: %s, export %s=%s, %d client%s, n=%d, 64 KiB and getdents n=%d, "
	       "1 MiB n=%d\n",
	       uri, g_prefix, g_dir, nclients, nclients > 1 ? "s" : "", iters,
	       iters_for(IT_MID, iters, bulk_iters), bulk_iters);
	print_machine(stdout, "  ");
	fflush(stdout);

	if (nclients == 1) {
		rc = client_main(0, uri);
	} else {
		struct sigaction ign = { .sa_handler = SIG_IGN };

		forked = true;
		sigaction(SIGPIPE, &ign, NULL);
		rc = pipe2(ready_pipe, O_CLOEXEC);
		for (int i = 0; i < nclients && !rc; i++)
			rc = pipe2(go_pipe[i], O_CLOEXEC);
		if (rc) {
			perror("ferry-bench: pipe");
			remove_files();
			return 1;
		}
		for (int i = 0; i < nclients; i++) {
			pids[i] = fork();
			if (pids[i] < 0) {
				perror("ferry-bench: fork");
				for (int j = 0; j < i; j++)
					kill(pids[j], SIGKILL);
				nclients = i;
				failed = 1;
				break;
			}
			if (pids[i] == 0) {
				close(ready_pipe[0]);
				my_go = go_pipe[i][0];
				for (int j = 0; j < nclients; j++) {
					if (j != i)
						close(go_pipe[j][0]);
					close(go_pipe[j][1]);
				}
				_exit(client_main(i, uri));
			}
		}
		close(ready_pipe[1]);
		for (int i = 0; i < nclients; i++)
			close(go_pipe[i][0]);
		/* One barrier per phase of every selected operation. */
		for (size_t i = 0; i < NOPS && !failed; i++) {
			if (!selected[i])
				continue;
			for (int phase = 0; phase < 2 && !failed; phase++) {
				if (parent_barrier()) {
					fprintf(stderr, "ferry-bench: a client stopped answering; "
							"stopping them all\n");
					for (int j = 0; j < nclients; j++)
						kill(pids[j], SIGKILL);
					failed = 1;
				}
			}
		}
		for (int i = 0; i < nclients; i++)
			close(go_pipe[i][1]);
		rc = 0;
		for (int i = 0; i < nclients; i++) {
			int st;

			while (waitpid(pids[i], &st, 0) < 0 && errno == EINTR)
				;
			if (!WIFEXITED(st) || WEXITSTATUS(st)) {
				fprintf(stderr, "ferry-bench: client %d (pid %d) %s %d\n", i,
					(int)pids[i], WIFEXITED(st) ? "exited with status" : "killed by signal",
					WIFEXITED(st) ? WEXITSTATUS(st) : WTERMSIG(st));
				rc = 1;
			}
		}
	}
	if (!failed && sh->entries_fwd && sh->entries_nat && sh->entries_fwd != sh->entries_nat) {
		fprintf(stderr, "ferry-bench: getdents listed %ld entries forwarded, %ld native\n",
			sh->entries_fwd, sh->entries_nat);
		rc = 1;
	}
	if (!failed && report(csv))
		failed = 1;
	fflush(stdout);
	remove_files();
	if (csv && fclose(csv))
		failed = 1;
	free(g_pattern);
	munmap(sh, shsize);
	return rc || failed ? 1 : 0;
}
