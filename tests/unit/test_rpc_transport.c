/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The rpc transport end to end, in one process: a server thread running the
 * progress loop and clients calling it, over shm and over tcp on 127.0.0.1.
 * The test handler's protocol (first byte of each request):
 *   'N' reply empty            'E' echo the request
 *   'R' reply n bytes (u32 n)  'S' keep the request, never reply (until told)
 *   'P' pull the bulk region on a worker and check the pattern, reply status
 *   'W' fill the bulk region on a worker with the pattern, reply status
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <dirent.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "ferry/rpc.h"
#include "rpc_internal.h"

#define TEST_ALARM_S 120

struct test_server {
	const char *kind; /* "shm" or "tcp" */
	char uri[256];
	pid_t pid;
};

static uint64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

/* Byte i of a bulk region: depends on the offset, so misplaced chunks show. */
static uint8_t pattern_byte(size_t i)
{
	uint64_t x = (i / 8 + 1) * 0x9e3779b97f4a7c15ull;

	return (uint8_t)(x >> (8 * (i % 8)));
}

static void fill_pattern(uint8_t *buf, size_t off, size_t len)
{
	size_t i;

	for (i = 0; i < len; i++)
		buf[i] = pattern_byte(off + i);
}

static size_t first_mismatch(const uint8_t *buf, size_t off, size_t len)
{
	size_t i;

	for (i = 0; i < len; i++)
		if (buf[i] != pattern_byte(off + i))
			return i;
	return len;
}

/* ---------------- server side (a child process) ---------------- */

/* The server runs in a child process, as ferry-iond does: the shm provider
 * shares a peer's region with an endpoint of the same process, so closing
 * one side in-process would pull the memory from under the other. */
struct server_proc {
	struct ferry_rpc_server *s;
	pthread_mutex_t mu;
	struct ferry_rpc_request *stashed; /* an 'S' request */
	uint64_t stashed_at;
	uint32_t late_replies;
	atomic_uint peers_down;
	atomic_int slow_status; /* of the last 'Q' transfer, 1 until it ends */
	atomic_int workers;     /* bulk workers still running */
};

static struct server_proc srv;
static volatile sig_atomic_t srv_stop;

/* Moves the region in pieces of odd sizes and offsets, as the daemon may. */
static void *bulk_worker(void *arg)
{
	struct ferry_rpc_request *r = arg;
	const uint8_t *msg = ferry_rpc_request_msg(r, NULL);
	size_t len = ferry_rpc_request_bulk_len(r);
	size_t piece = 3 * 1024 * 1024 + 17, pos;
	uint8_t *buf = malloc(piece);
	bool slow = msg[0] == 'Q';
	int32_t status = 0;

	if (slow)
		usleep(500000); /* the client gives up meanwhile */
	for (pos = 0; buf && pos < len && !status; pos += piece) {
		size_t n = len - pos < piece ? len - pos : piece;

		if (msg[0] == 'P') {
			status = ferry_rpc_bulk_pull(r, pos, buf, n);
			if (!status && first_mismatch(buf, pos, n) != n)
				status = -EILSEQ;
		} else {
			fill_pattern(buf, pos, n);
			status = ferry_rpc_bulk_push(r, pos, buf, n);
		}
	}
	if (!buf)
		status = -ENOMEM;
	free(buf);
	if (slow)
		atomic_store(&srv.slow_status, status);
	ferry_rpc_reply(r, &status, sizeof(status));
	atomic_fetch_sub(&srv.workers, 1);
	return NULL;
}

static void handler(struct ferry_rpc_request *r, void *arg)
{
	size_t len;
	const uint8_t *msg = ferry_rpc_request_msg(r, &len);
	static uint8_t big[65536];
	uint64_t stat;
	pthread_t t;
	uint32_t n;

	if (len == 0) {
		ferry_rpc_drop(r);
		return;
	}
	switch (msg[0]) {
	case 'N':
		ferry_rpc_reply(r, NULL, 0);
		break;
	case 'E':
		ferry_rpc_reply(r, msg, len);
		break;
	case 'R':
		memcpy(&n, msg + 1, sizeof(n));
		ferry_rpc_reply(r, big, n < sizeof(big) ? n : sizeof(big));
		break;
	case 'S':
		pthread_mutex_lock(&srv.mu);
		srv.stashed = r;
		srv.stashed_at = now_ms();
		pthread_mutex_unlock(&srv.mu);
		break;
	case 'D': /* dropped-message count, sampled before this request */
		stat = ferry_rpc_server_dropped(srv.s);
		ferry_rpc_reply(r, &stat, sizeof(stat));
		break;
	case 'K':
		stat = atomic_load(&srv.peers_down);
		ferry_rpc_reply(r, &stat, sizeof(stat));
		break;
	case 'L':
		stat = srv.late_replies;
		ferry_rpc_reply(r, &stat, sizeof(stat));
		break;
	case 'C':
		stat = (uint64_t)(int64_t)atomic_load(&srv.slow_status);
		ferry_rpc_reply(r, &stat, sizeof(stat));
		break;
	case 'Q':
		atomic_store(&srv.slow_status, 1);
		/* fall through */
	case 'P':
	case 'W':
		atomic_fetch_add(&srv.workers, 1);
		if (pthread_create(&t, NULL, bulk_worker, r) == 0) {
			pthread_detach(t);
		} else {
			atomic_fetch_sub(&srv.workers, 1);
			ferry_rpc_drop(r);
		}
		break;
	default:
		ferry_rpc_drop(r);
	}
}

static void on_peer_down(uint64_t peer, void *arg)
{
	atomic_fetch_add(&srv.peers_down, 1);
}

static void on_sigterm(int sig)
{
	srv_stop = 1;
	ferry_rpc_server_wake(srv.s); /* async-signal-safe by contract */
}

/* A stashed request gets its reply a second late, after the client gave up. */
static void reply_late(void)
{
	struct ferry_rpc_request *r = NULL;

	pthread_mutex_lock(&srv.mu);
	if (srv.stashed && now_ms() - srv.stashed_at > 1000) {
		r = srv.stashed;
		srv.stashed = NULL;
	}
	pthread_mutex_unlock(&srv.mu);
	if (r && ferry_rpc_reply(r, "LATE", 4) == 0)
		srv.late_replies++;
}

static void server_main(const char *uri, int report_fd)
{
	char actual[256] = "";
	struct sigaction sa = { .sa_handler = on_sigterm };

	pthread_mutex_init(&srv.mu, NULL);
	setenv("FERRY_RPC_PING_S", "1", 1); /* notice idle dead clients quickly */
	if (ferry_rpc_server_open(uri, NULL, handler, NULL, &srv.s) != 0 ||
	    ferry_rpc_server_uri(srv.s, actual, sizeof(actual)) != 0)
		actual[0] = '\0';
	ferry_rpc_server_on_peer_down(srv.s, on_peer_down, NULL);
	/* Before the parent may signal us. */
	sigaction(SIGTERM, &sa, NULL);
	if (write(report_fd, actual, sizeof(actual)) != (ssize_t)sizeof(actual) || !actual[0])
		_exit(1);
	close(report_fd);
	while (!srv_stop) {
		ferry_rpc_server_progress(srv.s, 100);
		reply_late();
	}
	/* Workers finish (their transfers fail fast once peers are gone)
	 * before the server they use is closed, as in the daemon. */
	for (int i = 0; i < 1000 && atomic_load(&srv.workers) > 0; i++)
		ferry_rpc_server_progress(srv.s, 10);
	if (srv.stashed)
		ferry_rpc_drop(srv.stashed);
	ferry_rpc_server_close(srv.s);
	exit(0); /* not _exit: let the leak checker look at the server */
}

static int server_start(void **state)
{
	struct test_server *ts = *state;
	static int seq;
	char uri[128];
	int fds[2];

	alarm(TEST_ALARM_S); /* default action: the test dies rather than hangs */
	if (strcmp(ts->kind, "shm") == 0)
		snprintf(uri, sizeof(uri), "shm://ferry-test-%d-%d", (int)getpid(), ++seq);
	else
		snprintf(uri, sizeof(uri), "tcp://127.0.0.1:0");
	if (pipe(fds))
		return -1;
	ts->pid = fork();
	if (ts->pid < 0)
		return -1;
	if (ts->pid == 0) {
		close(fds[0]);
		server_main(uri, fds[1]);
	}
	close(fds[1]);
	if (read(fds[0], ts->uri, sizeof(ts->uri)) != (ssize_t)sizeof(ts->uri) || !ts->uri[0]) {
		close(fds[0]);
		return -1;
	}
	close(fds[0]);
	return 0;
}

/* Returns the server's exit status. */
static int server_stop(struct test_server *ts, int sig)
{
	int wstatus = 0;

	if (ts->pid <= 0)
		return 0;
	kill(ts->pid, sig);
	waitpid(ts->pid, &wstatus, 0);
	ts->pid = 0;
	return wstatus;
}

static int server_teardown(void **state)
{
	struct test_server *ts = *state;
	int wstatus = server_stop(ts, SIGTERM);

	alarm(0);
	if (!WIFEXITED(wstatus) || WEXITSTATUS(wstatus) != 0)
		fprintf(stderr, "server (%s) ended with status 0x%x\n", ts->kind, wstatus);
	/* A clean shutdown, not a crash. */
	return WIFEXITED(wstatus) && WEXITSTATUS(wstatus) == 0 ? 0 : -1;
}

static struct ferry_rpc_client *connect_client(struct test_server *ts)
{
	struct ferry_rpc_client *c = NULL;

	assert_int_equal(ferry_rpc_client_open(ts->uri, NULL, &c), 0);
	assert_non_null(c);
	return c;
}

static uint64_t server_stat(struct ferry_rpc_client *c, char which)
{
	uint64_t v = 0;
	size_t len = 0;

	assert_int_equal(ferry_rpc_call(c, &which, 1, NULL, &v, sizeof(v), &len, 0), 0);
	assert_int_equal(len, sizeof(v));
	return v;
}

/* ---------------- tests ---------------- */

static void test_null_and_echo(void **state)
{
	struct test_server *ts = *state;
	struct ferry_rpc_client *c = connect_client(ts);
	uint8_t req[1024], reply[2048];
	size_t reply_len;
	int i;

	assert_string_equal(ferry_rpc_client_provider(c),
			    strcmp(ts->kind, "shm") == 0 ? "shm" : "tcp;ofi_rxm");
	assert_true(ferry_rpc_client_inline_max(c) > 0);
	assert_true(ferry_rpc_client_msg_max(c) >= 16 * 1024);
	for (i = 0; i < 1000; i++) {
		reply_len = 99;
		assert_int_equal(ferry_rpc_call(c, "N", 1, NULL, reply, sizeof(reply), &reply_len, 0),
				 0);
		assert_int_equal(reply_len, 0);
	}
	for (i = 0; i < 100; i++) {
		memset(req, i, sizeof(req));
		req[0] = 'E';
		assert_int_equal(ferry_rpc_call(c, req, sizeof(req), NULL, reply, sizeof(reply),
						&reply_len, 0),
				 0);
		assert_int_equal(reply_len, sizeof(req));
		assert_memory_equal(reply, req, sizeof(req));
	}
	ferry_rpc_client_close(c);
}

struct call_thread {
	struct ferry_rpc_client *c;
	int id;
	int failures;
};

static void *call_thread_main(void *arg)
{
	struct call_thread *t = arg;
	char req[64], reply[64];
	size_t reply_len, req_len;
	int i;

	for (i = 0; i < 1000; i++) {
		req_len = (size_t)snprintf(req, sizeof(req), "E thread %d call %d", t->id, i);
		if (ferry_rpc_call(t->c, req, req_len, NULL, reply, sizeof(reply), &reply_len,
				   20000) != 0 ||
		    reply_len != req_len || memcmp(req, reply, req_len) != 0)
			t->failures++;
	}
	return NULL;
}

static void test_concurrent_calls(void **state)
{
	struct test_server *ts = *state;
	struct ferry_rpc_client *c = connect_client(ts);
	struct call_thread threads[16];
	pthread_t tids[16];
	int i;

	for (i = 0; i < 16; i++) {
		threads[i] = (struct call_thread){ .c = c, .id = i };
		assert_int_equal(pthread_create(&tids[i], NULL, call_thread_main, &threads[i]), 0);
	}
	for (i = 0; i < 16; i++) {
		pthread_join(tids[i], NULL);
		assert_int_equal(threads[i].failures, 0);
	}
	ferry_rpc_client_close(c);
}

static void bulk_round(struct ferry_rpc_client *c, size_t len, enum ferry_bulk_dir dir)
{
	struct ferry_rpc_bulk bulk = { .len = len, .dir = dir };
	int32_t status = -1;
	size_t reply_len;
	uint8_t *buf = malloc(len);

	assert_non_null(buf);
	bulk.buf = buf;
	if (dir == FERRY_BULK_TO_SERVER)
		fill_pattern(buf, 0, len);
	else
		memset(buf, 0, len);
	assert_int_equal(ferry_rpc_call(c, dir == FERRY_BULK_TO_SERVER ? "P" : "W", 1, &bulk,
					&status, sizeof(status), &reply_len, 100000),
			 0);
	assert_int_equal(reply_len, sizeof(status));
	assert_int_equal(status, 0);
	if (dir == FERRY_BULK_FROM_SERVER)
		assert_int_equal(first_mismatch(buf, 0, len), len);
	free(buf);
}

static void test_bulk_both_directions(void **state)
{
	struct test_server *ts = *state;
	struct ferry_rpc_client *c = connect_client(ts);

	bulk_round(c, 1 << 20, FERRY_BULK_TO_SERVER);
	bulk_round(c, 1 << 20, FERRY_BULK_FROM_SERVER);
	bulk_round(c, 64 << 20, FERRY_BULK_TO_SERVER);
	bulk_round(c, 64 << 20, FERRY_BULK_FROM_SERVER);
	bulk_round(c, 12345, FERRY_BULK_TO_SERVER);
	bulk_round(c, 12345, FERRY_BULK_FROM_SERVER);
	ferry_rpc_client_close(c);
}

/* 1 GiB in one call: the server moves it in chunks of at most 4 MiB. */
static void test_bulk_large_pull(void **state)
{
	struct test_server *ts = *state;
	struct ferry_rpc_client *c = connect_client(ts);

	bulk_round(c, (size_t)1 << 30, FERRY_BULK_TO_SERVER);
	ferry_rpc_client_close(c);
}

static void test_timeout_then_late_reply(void **state)
{
	struct test_server *ts = *state;
	struct ferry_rpc_client *c = connect_client(ts);
	char reply[64];
	size_t reply_len;
	uint64_t t0 = now_ms();

	assert_int_equal(ferry_rpc_call(c, "S", 1, NULL, reply, sizeof(reply), &reply_len, 300),
			 -ETIMEDOUT);
	assert_true(now_ms() - t0 >= 290);
	assert_true(now_ms() - t0 < 5000);
	/* The server answers the abandoned call a second late; that reply
	 * must not be taken for a later call's. */
	usleep(1500000);
	assert_int_equal(server_stat(c, 'L'), 1);
	assert_int_equal(ferry_rpc_call(c, "Ehello", 6, NULL, reply, sizeof(reply), &reply_len, 0),
			 0);
	assert_int_equal(reply_len, 6);
	assert_memory_equal(reply, "Ehello", 6);
	ferry_rpc_client_close(c);
}

/* A call that times out while the server is about to push into its buffer:
 * the push fails (the MR is gone, or the CANCEL arrived) and the caller's
 * buffer stays untouched. */
static void test_timeout_with_bulk_keeps_buffer(void **state)
{
	struct test_server *ts = *state;
	struct ferry_rpc_client *c = connect_client(ts);
	size_t len = 1 << 20, reply_len, i;
	uint8_t *buf = calloc(1, len);
	struct ferry_rpc_bulk bulk = { .buf = buf, .len = len, .dir = FERRY_BULK_FROM_SERVER };
	int32_t status;
	int64_t slow = 1;
	uint64_t t0;

	assert_non_null(buf);
	assert_int_equal(ferry_rpc_call(c, "Q", 1, &bulk, &status, sizeof(status), &reply_len,
					200),
			 -ETIMEDOUT);
	t0 = now_ms();
	while ((slow = (int64_t)server_stat(c, 'C')) == 1 && now_ms() - t0 < 10000)
		usleep(10000);
	assert_true(slow < 0);
	for (i = 0; i < len; i++)
		if (buf[i])
			break;
	assert_int_equal(i, len);
	free(buf);
	ferry_rpc_client_close(c);
}

static void test_message_size_limits(void **state)
{
	struct test_server *ts = *state;
	struct ferry_rpc_client *c = connect_client(ts);
	size_t max = ferry_rpc_client_msg_max(c);
	uint8_t req[5] = { 'R' };
	uint8_t *huge = calloc(1, max + 1);
	char reply[4096];
	size_t reply_len;
	uint32_t n = 4096;

	assert_non_null(huge);
	memcpy(req + 1, &n, sizeof(n));
	assert_int_equal(ferry_rpc_call(c, req, sizeof(req), NULL, reply, 100, &reply_len, 0),
			 -EMSGSIZE);
	assert_int_equal(ferry_rpc_call(c, req, sizeof(req), NULL, reply, sizeof(reply),
					&reply_len, 0),
			 0);
	assert_int_equal(reply_len, 4096);
	huge[0] = 'E';
	assert_int_equal(ferry_rpc_call(c, huge, max + 1, NULL, reply, sizeof(reply), &reply_len,
					0),
			 -EMSGSIZE);
	free(huge);
	ferry_rpc_client_close(c);
}

/* Frame header layout, as rpc/fabric.c writes it. */
static void forge_frame(uint8_t *f, uint8_t kind, uint32_t payload_len, uint64_t token)
{
	memset(f, 0, 56);
	memcpy(f, "FRPC", 4);
	f[4] = 1;
	f[5] = kind;
	memcpy(f + 8, &payload_len, 4);
	memcpy(f + 24, &token, 8);
}

static void test_garbage_is_dropped(void **state)
{
	struct test_server *ts = *state;
	struct ferry_rpc_client *good = connect_client(ts);
	struct ferry_rpc_client *raw = connect_client(ts);
	uint8_t frame[256];
	char reply[64];
	size_t reply_len, i;

	for (i = 0; i < sizeof(frame); i++)
		frame[i] = (uint8_t)rand();
	assert_int_equal(ferry_rpc_client_send_raw(raw, frame, sizeof(frame)), 0);
	assert_int_equal(ferry_rpc_client_send_raw(raw, frame, 3), 0); /* truncated */
	forge_frame(frame, 3, 1000000, ferry_rpc_client_token(raw));    /* oversized length */
	assert_int_equal(ferry_rpc_client_send_raw(raw, frame, 60), 0);
	forge_frame(frame, 77, 0, ferry_rpc_client_token(raw)); /* unknown kind */
	assert_int_equal(ferry_rpc_client_send_raw(raw, frame, 56), 0);
	forge_frame(frame, 3, 1, 0x1234); /* a request with a guessed token */
	frame[56] = 'N';
	assert_int_equal(ferry_rpc_client_send_raw(raw, frame, 57), 0);
	forge_frame(frame, 1, 8, 0); /* a hello with a nonsense address */
	assert_int_equal(ferry_rpc_client_send_raw(raw, frame, 64), 0);

	/* One message after the garbage: the server has seen it all by then. */
	usleep(300000);
	assert_true(server_stat(good, 'D') >= 5);
	assert_int_equal(ferry_rpc_call(good, "Eok", 3, NULL, reply, sizeof(reply), &reply_len,
					0),
			 0);
	assert_int_equal(ferry_rpc_call(raw, "Eok", 3, NULL, reply, sizeof(reply), &reply_len, 0),
			 0);
	assert_memory_equal(reply, "Eok", 3);
	ferry_rpc_client_close(raw);
	ferry_rpc_client_close(good);
}

static void test_client_close_reports_peer_down(void **state)
{
	struct test_server *ts = *state;
	struct ferry_rpc_client *c = connect_client(ts);
	struct ferry_rpc_client *observer = connect_client(ts);
	uint64_t t0;

	assert_int_equal(ferry_rpc_call(c, "N", 1, NULL, NULL, 0, NULL, 0), 0);
	ferry_rpc_client_close(c);
	t0 = now_ms();
	while (server_stat(observer, 'K') == 0 && now_ms() - t0 < 5000)
		usleep(1000);
	assert_int_equal(server_stat(observer, 'K'), 1);
	ferry_rpc_client_close(observer);
}

/* A process killed with SIGKILL leaves its shm region behind: "ferry-PID-R"
 * (rpc/ names client endpoints so), or "PID:UID:N" as the provider would. */
static void remove_shm_regions_of(pid_t pid)
{
	char ours[32], provider[32];
	struct dirent *e;
	DIR *d = opendir("/dev/shm");
	int n = snprintf(ours, sizeof(ours), "ferry-%d-", (int)pid);
	int m = snprintf(provider, sizeof(provider), "%d:", (int)pid);

	while (d && (e = readdir(d)))
		if (strncmp(e->d_name, ours, (size_t)n) == 0 ||
		    strncmp(e->d_name, provider, (size_t)m) == 0)
			shm_unlink(e->d_name);
	if (d)
		closedir(d);
}

/* A client killed in the middle of a large transfer: the server fails the
 * RMA, reports the peer once and goes on serving. */
static void test_client_killed_mid_bulk(void **state)
{
	struct test_server *ts = *state;
	struct ferry_rpc_client *observer;
	char reply[16];
	size_t reply_len;
	int wstatus, fds[2];
	uint64_t t0;
	pid_t pid;

	assert_int_equal(pipe(fds), 0);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		struct ferry_rpc_client *c = NULL;
		size_t len = (size_t)1 << 30;
		struct ferry_rpc_bulk bulk = { .buf = malloc(len), .len = len,
					       .dir = FERRY_BULK_TO_SERVER };
		int32_t status;

		alarm(60);
		if (!bulk.buf || ferry_rpc_client_open(ts->uri, NULL, &c))
			_exit(2);
		fill_pattern(bulk.buf, 0, len);
		if (write(fds[1], "go", 2) != 2)
			_exit(2);
		ferry_rpc_call(c, "P", 1, &bulk, &status, sizeof(status), &reply_len, 60000);
		_exit(3);
	}
	observer = connect_client(ts);
	close(fds[1]);
	assert_int_equal(read(fds[0], reply, 2), 2);
	close(fds[0]);
	usleep(200000); /* the 1 GiB pull is under way by now */
	kill(pid, SIGKILL);
	assert_int_equal(waitpid(pid, &wstatus, 0), pid);
	assert_true(WIFSIGNALED(wstatus));
	remove_shm_regions_of(pid);
	t0 = now_ms();
	while (server_stat(observer, 'K') == 0 && now_ms() - t0 < 20000)
		usleep(10000);
	assert_int_equal(server_stat(observer, 'K'), 1);
	assert_int_equal(ferry_rpc_call(observer, "Estill", 6, NULL, reply, sizeof(reply),
					&reply_len, 0),
			 0);
	ferry_rpc_client_close(observer);
}

/* A client killed while idle: the server notices (shm: its pid is gone;
 * tcp: a ping fails) and reports the peer. */
static void test_client_killed_idle(void **state)
{
	struct test_server *ts = *state;
	struct ferry_rpc_client *observer;
	int wstatus, fds[2];
	char byte;
	uint64_t t0;
	pid_t pid;

	assert_int_equal(pipe(fds), 0);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		struct ferry_rpc_client *c = NULL;

		alarm(60);
		if (ferry_rpc_client_open(ts->uri, NULL, &c) ||
		    ferry_rpc_call(c, "N", 1, NULL, NULL, 0, NULL, 0) || write(fds[1], "r", 1) != 1)
			_exit(2);
		pause();
		_exit(3);
	}
	close(fds[1]);
	assert_int_equal(read(fds[0], &byte, 1), 1);
	close(fds[0]);
	observer = connect_client(ts);
	kill(pid, SIGKILL);
	assert_int_equal(waitpid(pid, &wstatus, 0), pid);
	remove_shm_regions_of(pid);
	t0 = now_ms();
	while (server_stat(observer, 'K') == 0 && now_ms() - t0 < 15000)
		usleep(10000);
	assert_int_equal(server_stat(observer, 'K'), 1);
	ferry_rpc_client_close(observer);
}

static void test_server_gone_fails_fast(void **state)
{
	struct test_server *ts = *state;
	struct ferry_rpc_client *c = connect_client(ts);
	char reply[16];
	size_t reply_len;
	uint64_t t0;
	int ret;

	assert_int_equal(ferry_rpc_call(c, "N", 1, NULL, reply, sizeof(reply), &reply_len, 0), 0);
	server_stop(ts, SIGTERM);
	t0 = now_ms();
	ret = ferry_rpc_call(c, "N", 1, NULL, reply, sizeof(reply), &reply_len, 30000);
	assert_true(ret == -ECONNRESET || ret == -EIO || ret == -ECONNREFUSED);
	assert_true(now_ms() - t0 < 2000);
	ferry_rpc_client_close(c);
}

static void test_nobody_listening(void **state)
{
	struct test_server *ts = *state;
	struct ferry_rpc_client *c = NULL;
	char uri[128];
	uint64_t t0 = now_ms();
	int ret;

	if (strcmp(ts->kind, "shm") == 0)
		snprintf(uri, sizeof(uri), "shm://ferry-test-nobody-%d", (int)getpid());
	else
		snprintf(uri, sizeof(uri), "tcp://127.0.0.1:1");
	ret = ferry_rpc_client_open(uri, &(struct ferry_rpc_opts){ .timeout_ms = 3000 }, &c);
	assert_true(ret < 0);
	assert_null(c);
	assert_true(now_ms() - t0 < 5000);
}

static void test_fork_then_reopen(void **state)
{
	struct test_server *ts = *state;
	struct ferry_rpc_client *c = connect_client(ts);
	char reply[64];
	size_t reply_len;
	int wstatus;
	pid_t pid;

	assert_int_equal(ferry_rpc_call(c, "Eparent", 7, NULL, reply, sizeof(reply), &reply_len, 0),
			 0);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		uint8_t *buf = malloc(1 << 20);
		struct ferry_rpc_bulk bulk = { .buf = buf, .len = 1 << 20,
					       .dir = FERRY_BULK_FROM_SERVER };
		int32_t status = -1;
		int ok;

		alarm(30);
		ok = buf && ferry_rpc_client_reopen(c) == 0 &&
		     ferry_rpc_call(c, "Echild", 6, NULL, reply, sizeof(reply), &reply_len, 5000) ==
			     0 &&
		     reply_len == 6 && memcmp(reply, "Echild", 6) == 0 &&
		     ferry_rpc_call(c, "W", 1, &bulk, &status, sizeof(status), &reply_len, 5000) ==
			     0 &&
		     status == 0 && first_mismatch(buf, 0, 1 << 20) == 1 << 20;
		ferry_rpc_client_close(c);
		_exit(ok ? 0 : 1);
	}
	assert_int_equal(waitpid(pid, &wstatus, 0), pid);
	assert_true(WIFEXITED(wstatus));
	assert_int_equal(WEXITSTATUS(wstatus), 0);
	/* The parent's connection is untouched by the child. */
	assert_int_equal(ferry_rpc_call(c, "Eparent", 7, NULL, reply, sizeof(reply), &reply_len, 0),
			 0);
	assert_memory_equal(reply, "Eparent", 7);
	ferry_rpc_client_close(c);
}

/* A client that never closed its endpoint (killed by SIGKILL, or by SIGTERM:
 * the provider's cleanup handler is not kept) leaves its shm region behind,
 * and shm names a client's region after its pid.  Another process that gets
 * the same pid, or the same process after exec, must still connect: the
 * provider refuses to reuse a region whose recorded owner is alive, and that
 * owner is now us.  The child execs this program twice; the first image
 * connects and execs without closing, the second connects again. */
#define STALE_HELPER_ENV "FERRY_TEST_STALE_SHM_HELPER"

static int stale_shm_helper(const char *uri, const char *stage)
{
	struct ferry_rpc_client *c = NULL;
	char reply[16];
	size_t reply_len;

	alarm(30);
	if (ferry_rpc_client_open(uri, NULL, &c) != 0 ||
	    ferry_rpc_call(c, "Eok", 3, NULL, reply, sizeof(reply), &reply_len, 5000) != 0)
		return 1;
	if (strcmp(stage, "first") == 0) {
		/* Leave the region behind, as a killed process would. */
		setenv(STALE_HELPER_ENV, "second", 1);
		execl("/proc/self/exe", "test_rpc_transport", uri, (char *)NULL);
		return 2;
	}
	ferry_rpc_client_close(c);
	return 0;
}

static void test_stale_shm_region_of_same_pid(void **state)
{
	struct test_server *ts = *state;
	int wstatus;
	pid_t pid;

	if (strcmp(ts->kind, "shm") != 0)
		skip();
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		setenv(STALE_HELPER_ENV, "first", 1);
		execl("/proc/self/exe", "test_rpc_transport", ts->uri, (char *)NULL);
		_exit(127);
	}
	assert_int_equal(waitpid(pid, &wstatus, 0), pid);
	remove_shm_regions_of(pid);
	assert_true(WIFEXITED(wstatus));
	assert_int_equal(WEXITSTATUS(wstatus), 0);
}

#define PROVIDER_TESTS(state)                                                               \
	cmocka_unit_test_prestate_setup_teardown(test_null_and_echo, server_start,          \
						 server_teardown, state),                   \
		cmocka_unit_test_prestate_setup_teardown(test_concurrent_calls, server_start, \
							 server_teardown, state),           \
		cmocka_unit_test_prestate_setup_teardown(test_bulk_both_directions,          \
							 server_start, server_teardown, state), \
		cmocka_unit_test_prestate_setup_teardown(test_bulk_large_pull, server_start,  \
							 server_teardown, state),           \
		cmocka_unit_test_prestate_setup_teardown(test_timeout_then_late_reply,       \
							 server_start, server_teardown, state), \
		cmocka_unit_test_prestate_setup_teardown(test_timeout_with_bulk_keeps_buffer, \
							 server_start, server_teardown, state), \
		cmocka_unit_test_prestate_setup_teardown(test_message_size_limits,           \
							 server_start, server_teardown, state), \
		cmocka_unit_test_prestate_setup_teardown(test_garbage_is_dropped,            \
							 server_start, server_teardown, state), \
		cmocka_unit_test_prestate_setup_teardown(test_client_close_reports_peer_down, \
							 server_start, server_teardown, state), \
		cmocka_unit_test_prestate_setup_teardown(test_client_killed_mid_bulk,        \
							 server_start, server_teardown, state), \
		cmocka_unit_test_prestate_setup_teardown(test_client_killed_idle,            \
							 server_start, server_teardown, state), \
		cmocka_unit_test_prestate_setup_teardown(test_server_gone_fails_fast,        \
							 server_start, server_teardown, state), \
		cmocka_unit_test_prestate_setup_teardown(test_nobody_listening, server_start, \
							 server_teardown, state),           \
		cmocka_unit_test_prestate_setup_teardown(test_fork_then_reopen, server_start, \
							 server_teardown, state),           \
		cmocka_unit_test_prestate_setup_teardown(test_stale_shm_region_of_same_pid,  \
							 server_start, server_teardown, state)

int main(int argc, char **argv)
{
	static struct test_server shm = { .kind = "shm" };
	static struct test_server tcp = { .kind = "tcp" };
	const struct CMUnitTest tests[] = { PROVIDER_TESTS(&shm), PROVIDER_TESTS(&tcp) };

	signal(SIGPIPE, SIG_IGN);
	if (getenv(STALE_HELPER_ENV) && argc == 2)
		return stale_shm_helper(argv[1], getenv(STALE_HELPER_ENV));
	if (getenv("FERRY_TEST_FILTER")) /* e.g. FERRY_TEST_FILTER=test_bulk* */
		cmocka_set_test_filter(getenv("FERRY_TEST_FILTER"));
	return cmocka_run_group_tests(tests, NULL, NULL);
}
