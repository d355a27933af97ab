/* SPDX-License-Identifier: Apache-2.0 */
/*
 * ferry-rpc-bench: RPC latency and bulk bandwidth of rpc/ on one URI.
 *
 *   ferry-rpc-bench URI                 server in a child process, client here
 *   ferry-rpc-bench --server URI        server only (prints the address)
 *   ferry-rpc-bench --client URI        client only
 *   options: -n ITERS (latency, default 10000), -b ITERS (bulk, default 1000),
 *            --sweep (inline against RMA for 1-48 KiB, to place FERRY_INLINE_MAX)
 *
 * One request in flight; prints median and p99 per operation, and bulk
 * bandwidth from the median.  Compare with fi_pingpong on the same provider
 * in the same run.
 */
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "ferry/rpc.h"

#define BULK_SIZE (1u << 20)

static struct ferry_rpc_server *server;
static volatile sig_atomic_t server_stop;
static uint8_t server_buf[BULK_SIZE];

/* Bulk requests go to one worker thread, as the daemon's pool would. */
static pthread_mutex_t work_mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t work_cv = PTHREAD_COND_INITIALIZER;
static struct ferry_rpc_request *work_item;

static void *worker_main(void *arg)
{
	for (;;) {
		struct ferry_rpc_request *r;
		const char *msg;
		size_t len;
		int32_t status;

		pthread_mutex_lock(&work_mu);
		while (!work_item)
			pthread_cond_wait(&work_cv, &work_mu);
		r = work_item;
		work_item = NULL;
		pthread_mutex_unlock(&work_mu);
		msg = ferry_rpc_request_msg(r, NULL);
		len = ferry_rpc_request_bulk_len(r);
		if (len > sizeof(server_buf))
			status = -EINVAL;
		else if (msg[0] == 'P')
			status = ferry_rpc_bulk_pull(r, 0, server_buf, len);
		else
			status = ferry_rpc_bulk_push(r, 0, server_buf, len);
		ferry_rpc_reply(r, &status, sizeof(status));
	}
	return NULL;
}

static void handler(struct ferry_rpc_request *r, void *arg)
{
	size_t len;
	const char *msg = ferry_rpc_request_msg(r, &len);

	if (len == 0) {
		ferry_rpc_drop(r);
	} else if (msg[0] == 'P' || msg[0] == 'W') {
		pthread_mutex_lock(&work_mu);
		work_item = r; /* one request in flight: the slot is free */
		pthread_cond_signal(&work_cv);
		pthread_mutex_unlock(&work_mu);
	} else if (msg[0] == 'E') {
		ferry_rpc_reply(r, msg, len);
	} else if (msg[0] == 'R' && len >= 5) {
		uint32_t n;

		memcpy(&n, msg + 1, sizeof(n));
		ferry_rpc_reply(r, server_buf, n < 65536 ? n : 65536);
	} else {
		ferry_rpc_reply(r, NULL, 0);
	}
}

static void on_term(int sig)
{
	server_stop = 1;
	if (server)
		ferry_rpc_server_wake(server);
}

static int run_server(const char *uri, int report_fd)
{
	struct sigaction sa = { .sa_handler = on_term };
	char actual[256];
	pthread_t worker;
	int ret;

	ret = ferry_rpc_server_open(uri, NULL, handler, NULL, &server);
	if (ret) {
		fprintf(stderr, "ferry-rpc-bench: cannot serve %s: %s\n", uri, strerror(-ret));
		return 1;
	}
	ferry_rpc_server_uri(server, actual, sizeof(actual));
	if (report_fd >= 0) {
		if (write(report_fd, actual, sizeof(actual)) != (ssize_t)sizeof(actual))
			return 1;
		close(report_fd);
	} else {
		printf("serving %s\n", actual);
		fflush(stdout);
	}
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);
	pthread_create(&worker, NULL, worker_main, NULL);
	while (!server_stop)
		ferry_rpc_server_progress(server, 100);
	ferry_rpc_server_close(server);
	return 0;
}

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

struct sample {
	double median, p99;
};

static int measure(struct ferry_rpc_client *c, const char *what, const void *req, size_t req_len,
		   const struct ferry_rpc_bulk *bulk, int iters, struct sample *out)
{
	static uint8_t reply[65536];
	double *t = malloc(sizeof(double) * (size_t)iters);
	size_t reply_len;
	int i, ret = 0;

	if (!t)
		return -ENOMEM;
	for (i = -iters / 10; i < iters && !ret; i++) {
		double t0 = now_us();

		ret = ferry_rpc_call(c, req, req_len, bulk, reply, sizeof(reply), &reply_len, 0);
		if (!ret && bulk && (reply_len != 4 || *(int32_t *)reply != 0))
			ret = -EIO;
		if (i >= 0)
			t[i] = now_us() - t0;
	}
	if (ret) {
		fprintf(stderr, "ferry-rpc-bench: %s: %s\n", what, strerror(-ret));
	} else {
		qsort(t, (size_t)iters, sizeof(double), cmp_double);
		out->median = t[iters / 2];
		out->p99 = t[(size_t)iters * 99 / 100];
	}
	free(t);
	return ret;
}

static int run_client(const char *uri, int iters, int bulk_iters)
{
	struct ferry_rpc_bulk bulk = { .len = BULK_SIZE };
	struct ferry_rpc_client *c;
	char req1k[1024];
	struct sample s;
	double t0;
	int ret;

	t0 = now_us();
	ret = ferry_rpc_client_open(uri, NULL, &c);
	if (ret) {
		fprintf(stderr, "ferry-rpc-bench: cannot connect to %s: %s\n", uri, strerror(-ret));
		return 1;
	}
	printf("%s (%s): connect %.1f us, inline_max %zu\n", uri, ferry_rpc_client_provider(c),
	       now_us() - t0, ferry_rpc_client_inline_max(c));
	if (!measure(c, "null rpc", "N", 1, NULL, iters, &s))
		printf("null RPC               median %8.2f us   p99 %8.2f us\n", s.median, s.p99);
	memset(req1k, 'x', sizeof(req1k));
	req1k[0] = 'E';
	if (!measure(c, "1 KiB rpc", req1k, sizeof(req1k), NULL, iters, &s))
		printf("1 KiB in+out RPC       median %8.2f us   p99 %8.2f us\n", s.median, s.p99);
	bulk.buf = malloc(BULK_SIZE);
	if (!bulk.buf)
		return 1;
	memset(bulk.buf, 1, BULK_SIZE);
	bulk.dir = FERRY_BULK_TO_SERVER;
	if (!measure(c, "bulk pull", "P", 1, &bulk, bulk_iters, &s))
		printf("1 MiB client->server   median %8.2f us   p99 %8.2f us   %8.0f MiB/s\n",
		       s.median, s.p99, 1e6 / s.median);
	bulk.dir = FERRY_BULK_FROM_SERVER;
	if (!measure(c, "bulk push", "W", 1, &bulk, bulk_iters, &s))
		printf("1 MiB server->client   median %8.2f us   p99 %8.2f us   %8.0f MiB/s\n",
		       s.median, s.p99, 1e6 / s.median);
	free(bulk.buf);
	ferry_rpc_client_close(c);
	return 0;
}

/* Where should the eager threshold be?  Writes and reads of n bytes, inline
 * in the message against by RMA. */
static int run_sweep(const char *uri, int iters)
{
	static const size_t sizes[] = { 1024, 4096, 8192, 16384, 32768, 49152 };
	static uint8_t data[65536];
	struct ferry_rpc_bulk bulk = { .buf = data };
	struct ferry_rpc_client *c;
	struct sample in_w, rma_w, in_r, rma_r;
	uint8_t req[5] = { 'R' };
	size_t i;
	int ret;

	ret = ferry_rpc_client_open(uri, NULL, &c);
	if (ret) {
		fprintf(stderr, "ferry-rpc-bench: cannot connect to %s: %s\n", uri, strerror(-ret));
		return 1;
	}
	printf("%s: median us   write inline / rma    read inline / rma\n",
	       ferry_rpc_client_provider(c));
	for (i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
		uint32_t n = (uint32_t)sizes[i];

		data[0] = 'N';
		memcpy(req + 1, &n, sizeof(n));
		bulk.len = n;
		bulk.dir = FERRY_BULK_TO_SERVER;
		if (measure(c, "inline write", data, n, NULL, iters, &in_w) ||
		    measure(c, "rma write", "P", 1, &bulk, iters, &rma_w) ||
		    measure(c, "inline read", req, sizeof(req), NULL, iters, &in_r))
			break;
		bulk.dir = FERRY_BULK_FROM_SERVER;
		if (measure(c, "rma read", "W", 1, &bulk, iters, &rma_r))
			break;
		printf("%6zu B           %8.2f / %8.2f       %8.2f / %8.2f\n", sizes[i], in_w.median,
		       rma_w.median, in_r.median, rma_r.median);
	}
	ferry_rpc_client_close(c);
	return 0;
}

static int usage(void)
{
	fprintf(stderr, "usage: ferry-rpc-bench [--server|--client] [--sweep] [-n ITERS] [-b ITERS] "
			"URI\n");
	return 2;
}

int main(int argc, char **argv)
{
	int iters = 10000, bulk_iters = 1000, mode = 0; /* 0 both, 1 server, 2 client */
	bool sweep = false;
	char actual[256];
	const char *uri;
	int fds[2], opt, status, ret;
	pid_t pid;

	for (opt = 1; opt < argc - 1; opt++) {
		if (strcmp(argv[opt], "--server") == 0)
			mode = 1;
		else if (strcmp(argv[opt], "--client") == 0)
			mode = 2;
		else if (strcmp(argv[opt], "--sweep") == 0)
			sweep = true;
		else if (strcmp(argv[opt], "-n") == 0 && opt + 1 < argc - 1)
			iters = atoi(argv[++opt]);
		else if (strcmp(argv[opt], "-b") == 0 && opt + 1 < argc - 1)
			bulk_iters = atoi(argv[++opt]);
		else
			return usage();
	}
	if (argc < 2 || iters < 10 || bulk_iters < 10)
		return usage();
	uri = argv[argc - 1];
	if (mode == 1)
		return run_server(uri, -1);
	if (mode == 2)
		return sweep ? run_sweep(uri, iters) : run_client(uri, iters, bulk_iters);
	if (pipe(fds))
		return 1;
	pid = fork();
	if (pid < 0)
		return 1;
	if (pid == 0) {
		close(fds[0]);
		_exit(run_server(uri, fds[1]));
	}
	close(fds[1]);
	if (read(fds[0], actual, sizeof(actual)) != (ssize_t)sizeof(actual)) {
		waitpid(pid, &status, 0);
		return 1;
	}
	ret = sweep ? run_sweep(actual, iters) : run_client(actual, iters, bulk_iters);
	kill(pid, SIGTERM);
	waitpid(pid, &status, 0);
	return ret;
}
