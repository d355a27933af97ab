/* SPDX-License-Identifier: Apache-2.0 */
/*
 * ferry-forward-bench: latency of forwarded calls through a running
 * ferry-iond, against the same calls run natively in this process, and
 * against the fabric's own message times (fi_pingpong, given on the command
 * line by perf/run_bench.sh).
 *
 *   ferry-forward-bench [options] URI PREFIX=DIR
 *
 * URI is the daemon's address (its ready line), PREFIX=DIR one of its
 * exports: forwarded calls name PREFIX/..., native calls DIR/... (the same
 * files; client and daemon share the machine).  Options:
 *   -n ITERS     latency iterations per operation (default 5000)
 *   -b ITERS     1 MiB iterations (default 200)
 *   --fabric-oneway B=US[,B=US...]
 *                fi_pingpong's one-way time (its "usec/xfer") for message
 *                sizes 64, 1024 and 1048576; enables the x-fabric column
 *   --csv FILE   append one row per operation (see perf/README.md)
 *
 * One request in flight, one client.  Each operation is measured forwarded
 * and then natively, back to back, so both see the same machine.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "ferry/proto.h"
#include "ferry/rpc.h"

#define SMALL_SIZE 1024u
#define BULK_SIZE (1u << 20)
#define READ_FILE "ferry-bench-read.dat"
#define WRITE_FILE "ferry-bench-write.dat"
#define NATIVE_WRITE_FILE "ferry-bench-write-native.dat"
#define CALL_TIMEOUT_MS 20000

struct bench {
	struct ferry_rpc_client *rpc;
	uint64_t session;
	uint64_t seq;
	const char *prefix; /* compute-node path of the export, e.g. /pfs */
	const char *dir;    /* the export directory itself */
	int64_t handle;     /* forwarded READ_FILE */
	int64_t whandle;    /* forwarded WRITE_FILE */
	int fd;             /* native READ_FILE */
	int wfd;            /* native NATIVE_WRITE_FILE */
	uint8_t *req;       /* encoded request */
	size_t req_cap;
	uint8_t *reply;
	size_t reply_cap;
	struct ferry_msg rep; /* last decoded reply; data points into reply */
	uint8_t *small;       /* SMALL_SIZE */
	uint8_t *big;         /* BULK_SIZE, the client's bulk region */
	char fwd_read[FERRY_PATH_MAX], fwd_write[FERRY_PATH_MAX];
	char nat_read[FERRY_PATH_MAX], nat_write[FERRY_PATH_MAX], nat_fwd_write[FERRY_PATH_MAX];
	/* fi_pingpong one-way times, 0 when not given */
	double ow64, ow1k, ow1m;
};

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
	ferry_msg_add_arg(&m, 0644);
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

static long fwd_rw(struct bench *b, uint16_t op, int64_t h, size_t count,
		   const struct ferry_rpc_bulk *bulk)
{
	struct ferry_msg m;

	ferry_msg_init(&m, op, 0, 0);
	ferry_msg_add_arg(&m, h);
	ferry_msg_add_arg(&m, (int64_t)count);
	ferry_msg_add_arg(&m, 0); /* offset 0: the page-cache-warm start of the file */
	ferry_msg_add_arg(&m, 0);
	return call(b, &m, bulk);
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
	return syscall(SYS_getppid) > 0 ? 0 : -ESRCH;
}

static int op_fwd_statx(struct bench *b)
{
	struct ferry_msg m;
	long rc;

	ferry_msg_init(&m, FERRY_OP_STATX, 0, 0);
	ferry_msg_add_arg(&m, FERRY_AT_ROOT);
	ferry_msg_add_arg(&m, 0);
	ferry_msg_add_arg(&m, STATX_BASIC_STATS);
	ferry_msg_add_path(&m, b->fwd_read);
	rc = call(b, &m, NULL);
	if (rc < 0)
		return (int)rc;
	return b->rep.data_len == FERRY_WIRE_STATX_SIZE ? 0 : -EBADMSG;
}

static int op_nat_statx(struct bench *b)
{
	struct statx stx;

	return statx(AT_FDCWD, b->nat_read, 0, STATX_BASIC_STATS, &stx) ? -errno : 0;
}

static int op_fwd_read1k(struct bench *b)
{
	/* No bulk region: the data comes back inline in the reply, as the
	 * runtime does for reads below the transport's inline size. */
	long rc = fwd_rw(b, FERRY_OP_READ, b->handle, SMALL_SIZE, NULL);

	if (rc < 0)
		return (int)rc;
	if (rc != SMALL_SIZE || b->rep.data_len != SMALL_SIZE)
		return -EIO;
	memcpy(b->small, b->rep.data, SMALL_SIZE); /* the copy the runtime would make */
	return 0;
}

static int op_nat_read1k(struct bench *b)
{
	return pread(b->fd, b->small, SMALL_SIZE, 0) == SMALL_SIZE ? 0 : -EIO;
}

static int op_fwd_read1m(struct bench *b)
{
	struct ferry_rpc_bulk bulk = { b->big, BULK_SIZE, FERRY_BULK_FROM_SERVER };
	long rc = fwd_rw(b, FERRY_OP_READ, b->handle, BULK_SIZE, &bulk);

	return rc < 0 ? (int)rc : rc == BULK_SIZE ? 0 : -EIO;
}

static int op_nat_read1m(struct bench *b)
{
	return pread(b->fd, b->big, BULK_SIZE, 0) == BULK_SIZE ? 0 : -EIO;
}

static int op_fwd_write1m(struct bench *b)
{
	struct ferry_rpc_bulk bulk = { b->big, BULK_SIZE, FERRY_BULK_TO_SERVER };
	long rc = fwd_rw(b, FERRY_OP_WRITE, b->whandle, BULK_SIZE, &bulk);

	return rc < 0 ? (int)rc : rc == BULK_SIZE ? 0 : -EIO;
}

static int op_nat_write1m(struct bench *b)
{
	return pwrite(b->wfd, b->big, BULK_SIZE, 0) == BULK_SIZE ? 0 : -EIO;
}

static int op_fwd_openclose(struct bench *b)
{
	long h = fwd_openat(b, b->fwd_read, O_RDONLY | O_CLOEXEC);

	if (h < 0)
		return (int)h;
	long rc = fwd_close(b, h);
	return rc < 0 ? (int)rc : 0;
}

static int op_nat_openclose(struct bench *b)
{
	int fd = open(b->nat_read, O_RDONLY | O_CLOEXEC);

	if (fd < 0)
		return -errno;
	return close(fd) ? -errno : 0;
}

struct op_desc {
	const char *name;
	size_t size;  /* bytes of data the operation moves */
	bool bulk;    /* uses the -b iteration count; report MiB/s */
	int (*fwd)(struct bench *);
	int (*nat)(struct bench *);
};

static const struct op_desc ops[] = {
	{ "null_call", 0, false, op_fwd_null, op_nat_null },
	{ "statx", 0, false, op_fwd_statx, op_nat_statx },
	{ "read_1k", SMALL_SIZE, false, op_fwd_read1k, op_nat_read1k },
	{ "read_1m", BULK_SIZE, true, op_fwd_read1m, op_nat_read1m },
	{ "write_1m", BULK_SIZE, true, op_fwd_write1m, op_nat_write1m },
	{ "openat_close", 0, false, op_fwd_openclose, op_nat_openclose },
};

/*
 * What the fabric alone needs to move the same messages, from fi_pingpong's
 * one-way times: every forwarded call is a request and a reply, so a round
 * trip of small messages (the null call, statx: both messages under 256
 * bytes, compared with 64-byte messages); a 1 KiB read adds a 1 KiB reply;
 * a 1 MiB read or write adds one 1 MiB transfer to the small round trip;
 * open+close is two round trips.  0 when the figures were not given.
 */
static double fabric_us(const struct bench *b, const struct op_desc *op)
{
	if (!b->ow64)
		return 0;
	if (op->fwd == op_fwd_read1k)
		return b->ow1k ? b->ow64 + b->ow1k : 0;
	if (op->bulk)
		return b->ow1m ? 2 * b->ow64 + b->ow1m : 0;
	if (op->fwd == op_fwd_openclose)
		return 4 * b->ow64;
	return 2 * b->ow64;
}

struct sample {
	double median, p99;
};

/* Run fn iters times after a warm-up of iters/10 (at least 1) untimed calls. */
static int measure(struct bench *b, int (*fn)(struct bench *), int iters, double *t,
		   struct sample *out)
{
	int warm = iters / 10 > 0 ? iters / 10 : 1;

	for (int i = -warm; i < iters; i++) {
		double t0 = now_us();
		int rc = fn(b);
		double t1 = now_us();

		if (rc)
			return rc;
		if (i >= 0)
			t[i] = t1 - t0;
	}
	qsort(t, (size_t)iters, sizeof(double), cmp_double);
	out->median = t[iters / 2];
	out->p99 = t[(size_t)iters * 99 / 100];
	return 0;
}

/* ---- set-up ---- */

static int session_open(struct bench *b)
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
		return (int)rc;
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

/* The files both sides use: a 1 MiB file to read (written and read once so
 * it is in the page cache: the figures are about forwarding, not the disk),
 * a file for forwarded writes and one for native writes. */
static int make_files(struct bench *b)
{
	int fd;

	for (size_t i = 0; i < BULK_SIZE; i++)
		b->big[i] = (uint8_t)(i * 131 + 7);
	fd = open(b->nat_read, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (fd < 0)
		return -errno;
	if (pwrite(fd, b->big, BULK_SIZE, 0) != BULK_SIZE) {
		close(fd);
		return -EIO;
	}
	b->fd = fd;
	fd = open(b->nat_write, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (fd < 0)
		return -errno;
	b->wfd = fd;
	return 0;
}

static void remove_files(struct bench *b)
{
	if (b->fd >= 0)
		close(b->fd);
	if (b->wfd >= 0)
		close(b->wfd);
	unlink(b->nat_read);
	unlink(b->nat_write);
	unlink(b->nat_fwd_write);
}

/* Forwarded reads must return the bytes the file holds; checked once,
 * outside the timed loops. */
static int verify_reads(struct bench *b)
{
	uint8_t *want = malloc(BULK_SIZE);
	int rc;

	if (!want)
		return -ENOMEM;
	memcpy(want, b->big, BULK_SIZE);
	rc = op_fwd_read1k(b);
	if (!rc && memcmp(b->small, want, SMALL_SIZE))
		rc = -EIO;
	if (!rc) {
		memset(b->big, 0, BULK_SIZE);
		rc = op_fwd_read1m(b);
	}
	if (!rc && memcmp(b->big, want, BULK_SIZE))
		rc = -EIO;
	free(want);
	return rc;
}

static int parse_oneway(struct bench *b, const char *spec)
{
	char *copy = strdup(spec), *save = NULL;

	if (!copy)
		return -ENOMEM;
	for (char *tok = strtok_r(copy, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
		char *end;
		unsigned long size = strtoul(tok, &end, 10);
		double us;

		if (*end != '=')
			goto bad;
		us = strtod(end + 1, &end);
		if (*end || !(us > 0))
			goto bad;
		if (size == 64)
			b->ow64 = us;
		else if (size == SMALL_SIZE)
			b->ow1k = us;
		else if (size == BULK_SIZE)
			b->ow1m = us;
		else
			goto bad;
	}
	free(copy);
	return 0;
bad:
	free(copy);
	return -EINVAL;
}

static int usage(void)
{
	fprintf(stderr,
		"usage: ferry-forward-bench [-n ITERS] [-b BULK_ITERS] "
		"[--fabric-oneway 64=US,1024=US,1048576=US] [--csv FILE] URI PREFIX=DIR\n");
	return 2;
}

static void fmt_num(char *buf, size_t len, double v, const char *fmt)
{
	if (v > 0)
		snprintf(buf, len, fmt, v);
	else
		snprintf(buf, len, "-");
}

static void csv_num(FILE *f, double v, const char *fmt)
{
	if (v > 0)
		fprintf(f, fmt, v);
}

int main(int argc, char **argv)
{
	struct bench b = { .fd = -1, .wfd = -1, .handle = -1, .whandle = -1 };
	int iters = 5000, bulk_iters = 200, rc, opt, failed = 0;
	const char *uri, *csv_path = NULL;
	char *spec, *eq;
	FILE *csv = NULL;
	double *t;

	for (opt = 1; opt < argc; opt++) {
		if (!strcmp(argv[opt], "-n") && opt + 1 < argc)
			iters = atoi(argv[++opt]);
		else if (!strcmp(argv[opt], "-b") && opt + 1 < argc)
			bulk_iters = atoi(argv[++opt]);
		else if (!strcmp(argv[opt], "--csv") && opt + 1 < argc)
			csv_path = argv[++opt];
		else if (!strcmp(argv[opt], "--fabric-oneway") && opt + 1 < argc) {
			if (parse_oneway(&b, argv[++opt])) {
				fprintf(stderr, "ferry-forward-bench: bad --fabric-oneway %s\n",
					argv[opt]);
				return 2;
			}
		} else if (!strcmp(argv[opt], "-h") || !strcmp(argv[opt], "--help")) {
			usage();
			return 0;
		} else if (argv[opt][0] == '-')
			return usage();
		else
			break;
	}
	if (argc - opt != 2 || iters < 1 || bulk_iters < 1)
		return usage();
	uri = argv[opt];
	spec = argv[opt + 1];
	eq = strchr(spec, '=');
	if (spec[0] != '/' || !eq || !eq[1])
		return usage();
	*eq = '\0';
	b.prefix = spec;
	b.dir = eq + 1;
	snprintf(b.fwd_read, sizeof(b.fwd_read), "%s/%s", b.prefix, READ_FILE);
	snprintf(b.fwd_write, sizeof(b.fwd_write), "%s/%s", b.prefix, WRITE_FILE);
	snprintf(b.nat_read, sizeof(b.nat_read), "%s/%s", b.dir, READ_FILE);
	snprintf(b.nat_write, sizeof(b.nat_write), "%s/%s", b.dir, NATIVE_WRITE_FILE);
	snprintf(b.nat_fwd_write, sizeof(b.nat_fwd_write), "%s/%s", b.dir, WRITE_FILE);

	t = malloc(sizeof(double) * (size_t)(iters > bulk_iters ? iters : bulk_iters));
	b.small = malloc(SMALL_SIZE);
	b.big = malloc(BULK_SIZE);
	if (!t || !b.small || !b.big)
		return 1;
	if (csv_path) {
		csv = fopen(csv_path, "a");
		if (!csv) {
			fprintf(stderr, "ferry-forward-bench: %s: %s\n", csv_path, strerror(errno));
			return 1;
		}
	}
	rc = make_files(&b);
	if (rc) {
		fprintf(stderr, "ferry-forward-bench: cannot create files in %s: %s\n", b.dir,
			strerror(-rc));
		remove_files(&b);
		return 1;
	}
	rc = ferry_rpc_client_open(uri, NULL, &b.rpc);
	if (rc) {
		fprintf(stderr, "ferry-forward-bench: cannot connect to %s: %s\n", uri,
			strerror(-rc));
		remove_files(&b);
		return 1;
	}
	b.reply_cap = ferry_rpc_client_msg_max(b.rpc);
	b.req_cap = b.reply_cap;
	b.req = malloc(b.req_cap);
	b.reply = malloc(b.reply_cap);
	if (!b.req || !b.reply)
		return 1;
	rc = session_open(&b);
	if (rc) {
		fprintf(stderr, "ferry-forward-bench: SESSION_OPEN: %s\n", strerror(-rc));
		goto out;
	}
	b.handle = fwd_openat(&b, b.fwd_read, O_RDONLY | O_CLOEXEC);
	b.whandle = fwd_openat(&b, b.fwd_write, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC);
	if (b.handle < 0 || b.whandle < 0) {
		rc = (int)(b.handle < 0 ? b.handle : b.whandle);
		fprintf(stderr, "ferry-forward-bench: OPENAT %s: %s\n", b.prefix, strerror(-rc));
		goto out;
	}
	rc = verify_reads(&b);
	if (rc) {
		fprintf(stderr, "ferry-forward-bench: forwarded reads return wrong data: %s\n",
			strerror(-rc));
		goto out;
	}

	printf("ferry-forward-bench: %s (%s), session %llu, inline_max %zu, n=%d, bulk n=%d\n",
	       uri, ferry_rpc_client_provider(b.rpc), (unsigned long long)b.session,
	       ferry_rpc_client_inline_max(b.rpc), iters, bulk_iters);
	printf("%-13s %8s | %9s %9s | %9s %9s | %9s | %9s %9s | %8s %8s\n", "op", "bytes",
	       "fwd med", "fwd p99", "nat med", "nat p99", "fabric", "x native", "x fabric",
	       "fwd MiB/s", "nat MiB/s");
	for (size_t i = 0; i < sizeof(ops) / sizeof(ops[0]); i++) {
		const struct op_desc *op = &ops[i];
		int n = op->bulk ? bulk_iters : iters;
		struct sample fwd, nat;
		double fab = fabric_us(&b, op), fwd_mibs = 0, nat_mibs = 0;
		char s_fab[16], s_xf[16], s_fm[16], s_nm[16];

		rc = measure(&b, op->fwd, n, t, &fwd);
		if (!rc)
			rc = measure(&b, op->nat, n, t, &nat);
		if (rc) {
			fprintf(stderr, "ferry-forward-bench: %s: %s\n", op->name, strerror(-rc));
			failed = 1;
			continue;
		}
		if (op->bulk) {
			/* MiB per second from the median: 1 MiB / median µs */
			fwd_mibs = (double)op->size / (1 << 20) / (fwd.median / 1e6);
			nat_mibs = (double)op->size / (1 << 20) / (nat.median / 1e6);
		}
		fmt_num(s_fab, sizeof(s_fab), fab, "%9.2f");
		fmt_num(s_xf, sizeof(s_xf), fab > 0 ? fwd.median / fab : 0, "%9.1f");
		fmt_num(s_fm, sizeof(s_fm), fwd_mibs, "%8.0f");
		fmt_num(s_nm, sizeof(s_nm), nat_mibs, "%8.0f");
		printf("%-13s %8zu | %9.2f %9.2f | %9.2f %9.2f | %9s | %9.1f %9s | %8s %8s\n",
		       op->name, op->size, fwd.median, fwd.p99, nat.median, nat.p99, s_fab,
		       fwd.median / nat.median, s_xf, s_fm, s_nm);
		if (csv) {
			/* op,size,ferry_median_us,ferry_p99_us,native_median_us,
			 * fabric_us,ratio_native,ratio_fabric,mib_s,native_p99_us,
			 * native_mib_s; empty where a figure does not apply */
			fprintf(csv, "%s,%zu,%.3f,%.3f,%.3f,", op->name, op->size, fwd.median,
				fwd.p99, nat.median);
			csv_num(csv, fab, "%.3f");
			fprintf(csv, ",%.2f,", fwd.median / nat.median);
			csv_num(csv, fab > 0 ? fwd.median / fab : 0, "%.2f");
			fputc(',', csv);
			csv_num(csv, fwd_mibs, "%.0f");
			fprintf(csv, ",%.3f,", nat.p99);
			csv_num(csv, nat_mibs, "%.0f");
			fputc('\n', csv);
		}
	}
	fflush(stdout);
	rc = failed ? -EIO : 0;
out:
	if (b.session) {
		if (b.handle >= 0)
			fwd_close(&b, b.handle);
		if (b.whandle >= 0)
			fwd_close(&b, b.whandle);
		session_close(&b);
	}
	ferry_rpc_client_close(b.rpc);
	remove_files(&b);
	if (csv && fclose(csv))
		rc = -errno;
	free(b.req);
	free(b.reply);
	free(b.small);
	free(b.big);
	free(t);
	return rc ? 1 : 0;
}
