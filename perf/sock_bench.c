/* SPDX-License-Identifier: Apache-2.0 */
/*
 * ferry-sock-bench: TCP request/response latency, streaming throughput and
 * connection rate, for comparing a direct connection with one Ferry forwards
 * through the I/O node (perf/run_sock_bench.sh runs both in one go).
 *
 *   ferry-sock-bench serve [--bind ADDR] [--port P] [--ready-file F]
 *   ferry-sock-bench client HOST:PORT [--label L] [--csv FILE] [options]
 *
 * The server is a plain program (run it natively): a thread per connection
 * answers requests until the client closes.  The client is a plain program
 * too: run it natively for "direct", under ferry-exec with its connection
 * forwarded (FERRY_SOCKET_FORWARD naming the server's network) for
 * "forwarded".  Neither knows about Ferry.
 *
 * A request is a 16-byte header, op and size (little endian):
 *   ECHO   size S: the server answers S bytes           (latency of a small
 *                                                         request, S-byte reply)
 *   DOWN   size S: the server streams S bytes            (throughput, to the client)
 *   UP     size S: the client streams S bytes, the server
 *                  acknowledges with 8 bytes once it has them all
 *                                                        (throughput, from the client)
 *   CONN   size 0: the server answers 1 byte; the client then closes
 *                  (connections per second: connect, request, answer, close)
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <errno.h>
#include <getopt.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

enum { OP_ECHO = 1, OP_DOWN = 2, OP_UP = 3, OP_CONN = 4 };

struct req {
	uint32_t op;
	uint32_t pad;
	uint64_t size;
};

#define CHUNK (1u << 20)

static const char usage_text[] =
	"usage: ferry-sock-bench serve [--bind ADDR] [--port P] [--ready-file F]\n"
	"       ferry-sock-bench client HOST:PORT [--label L] [--csv FILE] [-n N]\n"
	"                        [--sizes LIST] [--stream-sizes LIST] [--stream-bytes B]\n"
	"                        [--conns N] [--tests LIST]\n"
	"TCP request/response latency, streaming throughput and connections per second.\n"
	"serve:  answers on ADDR:P (default 127.0.0.1, port 0: any; the port is printed\n"
	"        and written to the ready file), a thread per connection.\n"
	"client: against a server, one connection with TCP_NODELAY:\n"
	"  -n N               request/response round trips per size (default 2000;\n"
	"                     a tenth more first, untimed)\n"
	"  --sizes LIST       response sizes in bytes (default 64,256,1K,4K,16K,64K)\n"
	"  --stream-sizes LIST transfer sizes, both directions (default 1M,4M,16M,64M)\n"
	"  --stream-bytes B   at least this many bytes per stream size, and at least\n"
	"                     3 transfers (default 256M)\n"
	"  --conns N          connections opened, used once and closed (default 1000)\n"
	"  --tests LIST       from rr,down,up,conn (default all)\n"
	"  --label L          first column of the CSV rows and the printed lines\n"
	"  --csv FILE         append rows: label,test,size,count,median_us,p99_us,mib_s,ops_s\n"
	"Sizes take K, M suffixes (KiB, MiB).  Run the client under ferry-exec with\n"
	"FERRY_SOCKET_FORWARD naming the server's network to measure the forwarded path.\n";

static double now_us(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec * 1e6 + (double)ts.tv_nsec / 1e3;
}

static int read_full(int fd, void *buf, size_t len)
{
	char *p = buf;
	while (len > 0) {
		ssize_t n = read(fd, p, len);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		if (n == 0)
			return -EPIPE;
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

static int write_full(int fd, const void *buf, size_t len)
{
	const char *p = buf;
	while (len > 0) {
		ssize_t n = write(fd, p, len);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

/* Move size bytes in CHUNK pieces through buf: from fd (to_fd == 0) or to it. */
static int stream(int fd, char *buf, uint64_t size, int to_fd)
{
	while (size > 0) {
		size_t n = size < CHUNK ? (size_t)size : CHUNK;
		int rc = to_fd ? write_full(fd, buf, n) : read_full(fd, buf, n);
		if (rc < 0)
			return rc;
		size -= n;
	}
	return 0;
}

/* ---- the server ------------------------------------------------------- */

static void *serve_conn(void *arg)
{
	int fd = (int)(intptr_t)arg;
	char *buf = malloc(CHUNK);
	struct req r;
	int rc = buf ? 0 : -ENOMEM;
	if (buf)
		memset(buf, 'x', CHUNK);
	while (rc == 0 && read_full(fd, &r, sizeof(r)) == 0) {
		switch (r.op) {
		case OP_ECHO:
		case OP_DOWN: rc = stream(fd, buf, r.size, 1); break;
		case OP_UP:
			rc = stream(fd, buf, r.size, 0);
			if (rc == 0)
				rc = write_full(fd, &r.size, sizeof(r.size));
			break;
		case OP_CONN: rc = write_full(fd, "k", 1); break;
		default: rc = -EPROTO;
		}
	}
	if (rc < 0 && rc != -EPIPE && rc != -ECONNRESET)
		fprintf(stderr, "ferry-sock-bench serve: connection: %s\n", strerror(-rc));
	free(buf);
	if (close(fd) != 0)
		perror("ferry-sock-bench serve: close");
	return NULL;
}

static int serve(int argc, char **argv)
{
	const char *bind_addr = "127.0.0.1", *ready = NULL;
	int port = 0;
	static const struct option opts[] = { { "bind", required_argument, NULL, 'b' },
					      { "port", required_argument, NULL, 'p' },
					      { "ready-file", required_argument, NULL, 'r' },
					      { "help", no_argument, NULL, 'h' },
					      { NULL, 0, NULL, 0 } };
	int c;
	while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		switch (c) {
		case 'b': bind_addr = optarg; break;
		case 'p': port = atoi(optarg); break;
		case 'r': ready = optarg; break;
		case 'h': fputs(usage_text, stdout); return 0;
		default: fputs(usage_text, stderr); return 2;
		}
	}
	struct addrinfo hints = { .ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM,
				  .ai_flags = AI_PASSIVE | AI_NUMERICHOST | AI_NUMERICSERV };
	struct addrinfo *ai;
	char portstr[16];
	snprintf(portstr, sizeof(portstr), "%d", port);
	int rc = getaddrinfo(bind_addr, portstr, &hints, &ai);
	if (rc != 0) {
		fprintf(stderr, "ferry-sock-bench serve: %s: %s\n", bind_addr, gai_strerror(rc));
		return 1;
	}
	int lfd = socket(ai->ai_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
	int one = 1;
	if (lfd < 0 || setsockopt(lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) != 0 ||
	    bind(lfd, ai->ai_addr, ai->ai_addrlen) != 0 || listen(lfd, 1024) != 0) {
		perror("ferry-sock-bench serve: socket/bind/listen");
		freeaddrinfo(ai);
		return 1;
	}
	freeaddrinfo(ai);
	struct sockaddr_storage ss;
	socklen_t sl = sizeof(ss);
	if (getsockname(lfd, (struct sockaddr *)&ss, &sl) != 0) {
		perror("ferry-sock-bench serve: getsockname");
		return 1;
	}
	int bound = ntohs(ss.ss_family == AF_INET6 ? ((struct sockaddr_in6 *)&ss)->sin6_port
						   : ((struct sockaddr_in *)&ss)->sin_port);
	printf("ferry-sock-bench: serving on %s port %d\n", bind_addr, bound);
	fflush(stdout);
	if (ready) {
		FILE *f = fopen(ready, "w");
		if (!f || fprintf(f, "%d\n", bound) < 0 || fclose(f) != 0) {
			perror("ferry-sock-bench serve: ready file");
			return 1;
		}
	}
	signal(SIGPIPE, SIG_IGN);
	for (;;) {
		int fd = accept4(lfd, NULL, NULL, SOCK_CLOEXEC);
		if (fd < 0) {
			if (errno == EINTR || errno == ECONNABORTED || errno == EMFILE)
				continue;
			perror("ferry-sock-bench serve: accept");
			return 1;
		}
		if (setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one)) != 0)
			perror("ferry-sock-bench serve: TCP_NODELAY");
		pthread_t t;
		pthread_attr_t at;
		if (pthread_attr_init(&at) != 0 || pthread_attr_setdetachstate(&at, PTHREAD_CREATE_DETACHED) != 0 ||
		    pthread_create(&t, &at, serve_conn, (void *)(intptr_t)fd) != 0) {
			fprintf(stderr, "ferry-sock-bench serve: cannot start a thread\n");
			close(fd);
		}
		pthread_attr_destroy(&at);
	}
}

/* ---- the client ------------------------------------------------------- */

struct client {
	struct addrinfo *ai;
	const char *label;
	FILE *csv;
};

static int dial(const struct client *cl)
{
	int fd = socket(cl->ai->ai_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	if (connect(fd, cl->ai->ai_addr, cl->ai->ai_addrlen) != 0) {
		int e = errno;
		close(fd);
		return -e;
	}
	int one = 1;
	if (setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one)) != 0) {
		int e = errno;
		close(fd);
		return -e;
	}
	return fd;
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return (x > y) - (x < y);
}

/* Sorts v; the p-th percentile (0..100) by nearest rank. */
static double percentile(double *v, size_t n, double p)
{
	qsort(v, n, sizeof(*v), cmp_double);
	size_t i = (size_t)(p / 100.0 * (double)(n - 1) + 0.5);
	return v[i < n ? i : n - 1];
}

static void report(const struct client *cl, const char *test, uint64_t size, size_t count, double med,
		   double p99, double mib_s, double ops_s)
{
	printf("%-10s %-5s %10llu B  n %6zu  median %10.2f us  p99 %10.2f us  %9.1f MiB/s  %10.0f op/s\n",
	       cl->label, test, (unsigned long long)size, count, med, p99, mib_s, ops_s);
	if (cl->csv)
		fprintf(cl->csv, "%s,%s,%llu,%zu,%.3f,%.3f,%.2f,%.1f\n", cl->label, test, (unsigned long long)size,
			count, med, p99, mib_s, ops_s);
}

/* Round trips of a 16-byte request and a size-byte reply on one connection. */
static int bench_rr(const struct client *cl, int fd, char *buf, uint64_t size, size_t n)
{
	size_t warm = n / 10 + 1;
	double *t = malloc(n * sizeof(*t));
	if (!t)
		return -ENOMEM;
	struct req r = { .op = OP_ECHO, .size = size };
	int rc = 0;
	double start = 0;
	for (size_t i = 0; i < warm + n && rc == 0; i++) {
		if (i == warm)
			start = now_us();
		double t0 = now_us();
		rc = write_full(fd, &r, sizeof(r));
		if (rc == 0)
			rc = stream(fd, buf, size, 0);
		if (i >= warm)
			t[i - warm] = now_us() - t0;
	}
	if (rc == 0) {
		double total = now_us() - start;
		double med = percentile(t, n, 50), p99 = percentile(t, n, 99);
		report(cl, "rr", size, n, med, p99, (double)size / med / 1.048576, (double)n / total * 1e6);
	}
	free(t);
	return rc;
}

/* Transfers of size bytes in one direction; MiB/s from the median transfer. */
static int bench_stream(const struct client *cl, int fd, char *buf, uint64_t size, uint64_t total_bytes,
			int up)
{
	size_t reps = (size_t)(total_bytes / size);
	if (reps < 3)
		reps = 3;
	double *t = malloc(reps * sizeof(*t));
	if (!t)
		return -ENOMEM;
	struct req r = { .op = up ? OP_UP : OP_DOWN, .size = size };
	int rc = 0;
	/* one untimed transfer first: buffers, window, page faults */
	for (size_t i = 0; i <= reps && rc == 0; i++) {
		double t0 = now_us();
		rc = write_full(fd, &r, sizeof(r));
		if (rc == 0)
			rc = stream(fd, buf, size, up);
		if (rc == 0 && up) {
			uint64_t ack;
			rc = read_full(fd, &ack, sizeof(ack));
			if (rc == 0 && ack != size)
				rc = -EPROTO;
		}
		if (i > 0)
			t[i - 1] = now_us() - t0;
	}
	if (rc == 0) {
		double med = percentile(t, reps, 50), p99 = percentile(t, reps, 99);
		report(cl, up ? "up" : "down", size, reps, med, p99, (double)size / med / 1.048576, 1e6 / med);
	}
	free(t);
	return rc;
}

/* Connections opened, used for one 1-byte exchange and closed, one by one. */
static int bench_conn(const struct client *cl, size_t n)
{
	double *t = malloc(n * sizeof(*t));
	if (!t)
		return -ENOMEM;
	struct req r = { .op = OP_CONN };
	int rc = 0;
	double start = now_us();
	for (size_t i = 0; i < n && rc == 0; i++) {
		double t0 = now_us();
		int fd = dial(cl);
		if (fd < 0) {
			rc = fd;
			break;
		}
		char k;
		rc = write_full(fd, &r, sizeof(r));
		if (rc == 0)
			rc = read_full(fd, &k, 1);
		if (close(fd) != 0 && rc == 0)
			rc = -errno;
		t[i] = now_us() - t0;
	}
	if (rc == 0) {
		double total = now_us() - start;
		double med = percentile(t, n, 50), p99 = percentile(t, n, 99);
		report(cl, "conn", 0, n, med, p99, 0, (double)n / total * 1e6);
	}
	free(t);
	return rc;
}

static int parse_size(const char *s, uint64_t *out)
{
	char *end;
	errno = 0;
	unsigned long long v = strtoull(s, &end, 10);
	if (errno || end == s)
		return -EINVAL;
	if (*end == 'K' || *end == 'k')
		v <<= 10, end++;
	else if (*end == 'M' || *end == 'm')
		v <<= 20, end++;
	if (*end || v == 0)
		return -EINVAL;
	*out = v;
	return 0;
}

static int parse_list(const char *s, uint64_t *v, size_t max, size_t *n)
{
	char *copy = strdup(s), *save = NULL;
	if (!copy)
		return -ENOMEM;
	*n = 0;
	int rc = 0;
	for (char *w = strtok_r(copy, ",", &save); w && rc == 0; w = strtok_r(NULL, ",", &save)) {
		if (*n == max)
			rc = -E2BIG;
		else
			rc = parse_size(w, &v[(*n)++]);
	}
	free(copy);
	return rc == 0 && *n == 0 ? -EINVAL : rc;
}

static int client(int argc, char **argv)
{
	struct client cl = { .label = "client" };
	const char *csv = NULL, *tests = "rr,down,up,conn";
	uint64_t sizes[32] = { 64, 256, 1024, 4096, 16384, 65536 }, ssizes[32] = { 1 << 20, 4 << 20, 16 << 20, 64 << 20 };
	size_t nsizes = 6, nssizes = 4;
	uint64_t iters = 2000, conns = 1000, stream_bytes = 256ull << 20;
	static const struct option opts[] = { { "label", required_argument, NULL, 'l' },
					      { "csv", required_argument, NULL, 'c' },
					      { "sizes", required_argument, NULL, 's' },
					      { "stream-sizes", required_argument, NULL, 'S' },
					      { "stream-bytes", required_argument, NULL, 'B' },
					      { "conns", required_argument, NULL, 'C' },
					      { "tests", required_argument, NULL, 't' },
					      { "help", no_argument, NULL, 'h' },
					      { NULL, 0, NULL, 0 } };
	int c;
	while ((c = getopt_long(argc, argv, "n:", opts, NULL)) != -1) {
		int rc = 0;
		switch (c) {
		case 'l': cl.label = optarg; break;
		case 'c': csv = optarg; break;
		case 'n': rc = parse_size(optarg, &iters); break;
		case 's': rc = parse_list(optarg, sizes, 32, &nsizes); break;
		case 'S': rc = parse_list(optarg, ssizes, 32, &nssizes); break;
		case 'B': rc = parse_size(optarg, &stream_bytes); break;
		case 'C': rc = parse_size(optarg, &conns); break;
		case 't': tests = optarg; break;
		case 'h': fputs(usage_text, stdout); return 0;
		default: fputs(usage_text, stderr); return 2;
		}
		if (rc < 0) {
			fprintf(stderr, "ferry-sock-bench: bad value '%s'\n", optarg);
			return 2;
		}
	}
	if (optind != argc - 1) {
		fputs(usage_text, stderr);
		return 2;
	}
	char *hostport = strdup(argv[optind]);
	char *colon = hostport ? strrchr(hostport, ':') : NULL;
	if (!colon) {
		fprintf(stderr, "ferry-sock-bench: expected HOST:PORT, got %s\n", argv[optind]);
		free(hostport);
		return 2;
	}
	*colon = '\0';
	char *host = hostport;
	if (host[0] == '[' && colon[-1] == ']') { /* [v6]:port */
		host++;
		colon[-1] = '\0';
	}
	struct addrinfo hints = { .ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM };
	int grc = getaddrinfo(host, colon + 1, &hints, &cl.ai);
	if (grc != 0) {
		fprintf(stderr, "ferry-sock-bench: %s: %s\n", argv[optind], gai_strerror(grc));
		free(hostport);
		return 1;
	}
	if (csv) {
		cl.csv = fopen(csv, "a");
		if (!cl.csv) {
			perror(csv);
			return 1;
		}
	}
	signal(SIGPIPE, SIG_IGN);
	char *buf = malloc(CHUNK);
	int rc = buf ? 0 : -ENOMEM;
	if (buf)
		memset(buf, 'y', CHUNK);
	int fd = -1;
	if (rc == 0) {
		fd = dial(&cl);
		if (fd < 0)
			rc = fd;
	}
	for (size_t i = 0; i < nsizes && rc == 0 && strstr(tests, "rr"); i++)
		rc = bench_rr(&cl, fd, buf, sizes[i], (size_t)iters);
	for (size_t i = 0; i < nssizes && rc == 0 && strstr(tests, "down"); i++)
		rc = bench_stream(&cl, fd, buf, ssizes[i], stream_bytes, 0);
	for (size_t i = 0; i < nssizes && rc == 0 && strstr(tests, "up"); i++)
		rc = bench_stream(&cl, fd, buf, ssizes[i], stream_bytes, 1);
	if (fd >= 0 && close(fd) != 0 && rc == 0)
		rc = -errno;
	if (rc == 0 && strstr(tests, "conn"))
		rc = bench_conn(&cl, (size_t)conns);
	if (rc < 0)
		fprintf(stderr, "ferry-sock-bench client %s: %s\n", cl.label, strerror(-rc));
	if (cl.csv && fclose(cl.csv) != 0 && rc == 0)
		rc = -errno;
	free(buf);
	freeaddrinfo(cl.ai);
	free(hostport);
	return rc < 0 ? 1 : 0;
}

int main(int argc, char **argv)
{
	if (argc >= 2 && strcmp(argv[1], "serve") == 0)
		return serve(argc - 1, argv + 1);
	if (argc >= 2 && strcmp(argv[1], "client") == 0)
		return client(argc - 1, argv + 1);
	if (argc >= 2 && (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0)) {
		fputs(usage_text, stdout);
		return 0;
	}
	fputs(usage_text, stderr);
	return 2;
}
