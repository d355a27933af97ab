/* SPDX-License-Identifier: Apache-2.0 */
#include "iond_harness.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define READY_TIMEOUT_MS 15000
#define CALL_TIMEOUT_MS 20000

/* The one daemon a test runs, for the exit and timeout hooks. */
static struct iond_daemon *the_daemon;
static pid_t test_pid;

static void sleep_ms(int ms)
{
	struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};

	while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
		;
}

static int rm_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	return remove(path) != 0 && errno != ENOENT ? -1 : 0;
}

static void dump_log(void)
{
	char line[1024];
	FILE *f;

	if (!the_daemon || !the_daemon->log_path[0])
		return;
	f = fopen(the_daemon->log_path, "r");
	if (!f)
		return;
	fprintf(stderr, "---- ferry-iond log ----\n");
	while (fgets(line, sizeof(line), f))
		fputs(line, stderr);
	fclose(f);
}

/* Kill the daemon (if still running) and remove the directory. */
static void cleanup(void)
{
	struct iond_daemon *d = the_daemon;

	if (getpid() != test_pid || !d)
		return;
	if (d->pid > 0) {
		kill(d->pid, SIGKILL);
		waitpid(d->pid, NULL, 0);
		d->pid = 0;
	}
	if (d->dir[0])
		nftw(d->dir, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
	the_daemon = NULL;
}

static void on_alarm(int sig)
{
	static const char msg[] = "FAIL: test timed out\n";

	if (write(2, msg, sizeof(msg) - 1) < 0) {
		/* nothing more to say */
	}
	dump_log();
	cleanup();
	_exit(1);
}

const char *iond_test_begin(int argc, char **argv, unsigned int timeout_s)
{
	const char *transport = argc > 1 ? argv[1] : "tcp";

	if (strcmp(transport, "tcp") && strcmp(transport, "shm")) {
		fprintf(stderr, "usage: %s tcp|shm\n", argv[0]);
		exit(2);
	}
	test_pid = getpid();
	atexit(cleanup);
	signal(SIGALRM, on_alarm);
	signal(SIGPIPE, SIG_IGN);
	alarm(timeout_s);
	setvbuf(stdout, NULL, _IOLBF, 0);
	return transport;
}

void iond_test_fail(const char *file, int line, const char *cond, const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, "FAIL %s:%d: %s: ", file, line, cond);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	dump_log();
	exit(1);
}

void iond_test_pass(const char *name)
{
	struct iond_daemon *d = the_daemon;

	/* A clean shutdown is part of every test: it also lets the sanitizers
	 * of an instrumented daemon report leaks and errors in its exit status. */
	if (d && d->pid > 0) {
		int status = iond_daemon_stop(d, SIGTERM, 30);

		CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0,
		      "ferry-iond exit status %#x after SIGTERM", status);
	}
	if (getenv("IOND_TEST_VERBOSE"))
		dump_log();
	printf("PASS %s\n", name);
	exit(0);
}

const char *iond_errname(long rc)
{
	static _Thread_local char buf[64];

	if (rc >= 0) {
		snprintf(buf, sizeof(buf), "ok");
		return buf;
	}
	snprintf(buf, sizeof(buf), "%s", strerrorname_np((int)-rc) ? strerrorname_np((int)-rc)
								   : "?");
	return buf;
}

/* The address the daemon announced in its ready line ("listening on URI (")
 * replaces the one it was given: tcp://127.0.0.1:0 becomes the real port. */
static void read_announced_uri(struct iond_daemon *d)
{
	char line[4096], *start, *end;
	FILE *f = fopen(d->ready_path, "r");

	CHECK(f, "open %s: %s", d->ready_path, strerror(errno));
	CHECK(fgets(line, sizeof(line), f), "empty ready file");
	fclose(f);
	start = strstr(line, "listening on ");
	CHECK(start, "no address in the ready line: %s", line);
	start += strlen("listening on ");
	end = strstr(start, " (");
	CHECK(end && (size_t)(end - start) < sizeof(d->uri), "malformed ready line: %s", line);
	*end = '\0';
	snprintf(d->uri, sizeof(d->uri), "%s", start);
}

void iond_export_path(const struct iond_daemon *d, const char *rel, char *out, size_t out_len)
{
	snprintf(out, out_len, "%s/%s", d->export_dir, rel);
}

void iond_daemon_start(struct iond_daemon *d, const char *transport, const char *const *extra_args)
{
	const char *build = getenv("FERRY_BUILD");
	const char *tmp = getenv("TMPDIR");
	char bin[PATH_MAX], export_spec[PATH_MAX + 8];
	const char *argv[32];
	int argc = 0;
	int waited = 0;

	CHECK(build, "FERRY_BUILD is not set");
	memset(d, 0, sizeof(*d));
	snprintf(d->transport, sizeof(d->transport), "%s", transport);
	snprintf(d->dir, sizeof(d->dir), "%s/iond-test.XXXXXX", tmp && *tmp ? tmp : "/tmp");
	CHECK(mkdtemp(d->dir), "mkdtemp %s: %s", d->dir, strerror(errno));
	the_daemon = d;
	snprintf(d->export_dir, sizeof(d->export_dir), "%s/export", d->dir);
	CHECK(mkdir(d->export_dir, 0755) == 0, "mkdir: %s", strerror(errno));
	snprintf(d->log_path, sizeof(d->log_path), "%s/iond.log", d->dir);
	snprintf(d->ready_path, sizeof(d->ready_path), "%s/ready", d->dir);
	if (!strcmp(transport, "tcp"))
		snprintf(d->uri, sizeof(d->uri), "tcp://127.0.0.1:0"); /* the daemon picks */
	else
		snprintf(d->uri, sizeof(d->uri), "shm://iond-test-%d-%ld", (int)getpid(),
			 (long)time(NULL));
	snprintf(bin, sizeof(bin), "%s/bin/ferry-iond", build);
	snprintf(export_spec, sizeof(export_spec), "/pfs=%s", d->export_dir);

	argv[argc++] = bin;
	argv[argc++] = "--listen";
	argv[argc++] = d->uri;
	argv[argc++] = "--export";
	argv[argc++] = export_spec;
	argv[argc++] = "--ready-file";
	argv[argc++] = d->ready_path;
	for (int i = 0; extra_args && extra_args[i] && argc < 31; i++)
		argv[argc++] = extra_args[i];
	argv[argc] = NULL;

	d->pid = fork();
	CHECK(d->pid >= 0, "fork: %s", strerror(errno));
	if (d->pid == 0) {
		int log_fd = open(d->log_path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);

		if (log_fd < 0 || dup2(log_fd, 2) < 0 || dup2(log_fd, 1) < 0)
			_exit(127);
		execv(bin, (char *const *)argv);
		_exit(127);
	}
	while (access(d->ready_path, F_OK) != 0) {
		int status;

		CHECK(waitpid(d->pid, &status, WNOHANG) == 0, "ferry-iond exited before ready (%d)",
		      status);
		CHECK(waited < READY_TIMEOUT_MS, "ferry-iond not ready after %d ms", waited);
		sleep_ms(20);
		waited += 20;
	}
	read_announced_uri(d);
}

int iond_daemon_stop(struct iond_daemon *d, int sig, unsigned int timeout_s)
{
	int status = 0;

	CHECK(kill(d->pid, sig) == 0, "kill: %s", strerror(errno));
	for (unsigned int waited = 0;; waited += 20) {
		pid_t r = waitpid(d->pid, &status, WNOHANG);

		if (r == d->pid)
			break;
		CHECK(waited < timeout_s * 1000, "ferry-iond still running %u s after signal %d",
		      timeout_s, sig);
		sleep_ms(20);
	}
	d->pid = 0;
	return status;
}

int iond_log_contains(const struct iond_daemon *d, const char *needle, int timeout_ms)
{
	for (int waited = 0;; waited += 50) {
		char line[2048];
		int found = 0;
		FILE *f = fopen(d->log_path, "r");

		if (f) {
			while (!found && fgets(line, sizeof(line), f))
				found = strstr(line, needle) != NULL;
			fclose(f);
		}
		if (found)
			return 1;
		if (waited >= timeout_ms)
			return 0;
		sleep_ms(50);
	}
}

int iond_daemon_fd_count(const struct iond_daemon *d)
{
	char path[64];
	struct dirent *de;
	int n = 0;
	DIR *dir;

	snprintf(path, sizeof(path), "/proc/%d/fd", (int)d->pid);
	dir = opendir(path);
	CHECK(dir, "opendir %s: %s", path, strerror(errno));
	while ((de = readdir(dir)))
		n += de->d_name[0] != '.';
	closedir(dir);
	return n;
}

int iond_client_connect(struct iond_client *c, const char *uri)
{
	memset(c, 0, sizeof(*c));
	return ferry_rpc_client_open(uri, NULL, &c->rpc);
}

int iond_client_open(struct iond_client *c, const char *uri, uint64_t jobid)
{
	struct iond_reply *rep = malloc(sizeof(*rep));
	struct ferry_msg m;
	int rc;

	CHECK(rep, "out of memory");
	rc = iond_client_connect(c, uri);
	if (rc)
		goto out;
	ferry_msg_init(&m, FERRY_OP_SESSION_OPEN, 0, 0);
	ferry_msg_add_arg(&m, getpid());
	ferry_msg_add_arg(&m, getuid());
	ferry_msg_add_arg(&m, getgid());
	ferry_msg_add_arg(&m, (int64_t)jobid);
	rc = iond_call_msg(c, &m, NULL, rep, 0);
	if (rc)
		goto out;
	rc = (int)iond_rc(rep);
	if (rc < 0)
		goto out;
	CHECK(rep->msg.ret > 0, "session id %lld", (long long)rep->msg.ret);
	c->session = (uint64_t)rep->msg.ret;
	rc = 0;
out:
	free(rep);
	return rc;
}

void iond_client_close(struct iond_client *c)
{
	if (c->rpc)
		ferry_rpc_client_close(c->rpc);
	memset(c, 0, sizeof(*c));
}

static int call_bytes(struct iond_client *c, const void *req, size_t len,
		      const struct ferry_rpc_bulk *bulk, struct iond_reply *rep, int timeout_ms)
{
	int rc;

	rc = ferry_rpc_call(c->rpc, req, len, bulk, rep->buf, sizeof(rep->buf), &rep->len,
			    timeout_ms > 0 ? timeout_ms : CALL_TIMEOUT_MS);
	if (rc)
		return rc;
	rc = ferry_msg_decode(rep->buf, rep->len, &rep->msg);
	CHECK(rc == 0, "reply does not decode: %s", iond_errname(rc));
	CHECK(rep->msg.flags & FERRY_MSG_REPLY, "reply without the reply flag");
	return 0;
}

int iond_call_msg(struct iond_client *c, struct ferry_msg *req, const struct ferry_rpc_bulk *bulk,
		  struct iond_reply *rep, int timeout_ms)
{
	/* Per call, not static: tests call from several threads at once. */
	unsigned char *buf = malloc(FERRY_MSG_MAX);
	long len;
	int rc;

	CHECK(buf != NULL, "out of memory");
	if (req->opcode != FERRY_OP_SESSION_OPEN)
		req->session = c->session;
	req->seq = __atomic_add_fetch(&c->seq, 1, __ATOMIC_RELAXED);
	len = ferry_msg_encode(req, buf, FERRY_MSG_MAX);
	if (len <= 0)
		free(buf);
	CHECK(len > 0, "encode: %s", iond_errname(len));
	rc = call_bytes(c, buf, (size_t)len, bulk, rep, timeout_ms);
	free(buf);
	return rc;
}

int iond_call_raw(struct iond_client *c, const void *bytes, size_t len, struct iond_reply *rep,
		  int timeout_ms)
{
	return call_bytes(c, bytes, len, NULL, rep, timeout_ms);
}

long iond_rc(const struct iond_reply *rep)
{
	return rep->msg.err ? -(long)rep->msg.err : (long)rep->msg.ret;
}

/* Per thread: the convenience calls below are made from several threads. */
static _Thread_local struct iond_reply conv_reply;

long iond_openat(struct iond_client *c, const char *path, int flags, int mode)
{
	struct ferry_msg m;
	int rc;

	ferry_msg_init(&m, FERRY_OP_OPENAT, 0, 0);
	ferry_msg_add_arg(&m, FERRY_AT_ROOT);
	ferry_msg_add_arg(&m, flags);
	ferry_msg_add_arg(&m, mode);
	ferry_msg_add_arg(&m, 0);
	ferry_msg_add_path(&m, path);
	rc = iond_call_msg(c, &m, NULL, &conv_reply, 0);
	return rc ? rc : iond_rc(&conv_reply);
}

long iond_close_handle(struct iond_client *c, int64_t h)
{
	struct ferry_msg m;
	int rc;

	ferry_msg_init(&m, FERRY_OP_CLOSE, 0, 0);
	ferry_msg_add_arg(&m, h);
	rc = iond_call_msg(c, &m, NULL, &conv_reply, 0);
	return rc ? rc : iond_rc(&conv_reply);
}

long iond_write(struct iond_client *c, int64_t h, const void *buf, size_t len, int64_t off)
{
	struct ferry_rpc_bulk bulk = {(void *)buf, len, FERRY_BULK_TO_SERVER};
	int use_bulk = len > ferry_rpc_client_inline_max(c->rpc);
	struct ferry_msg m;
	int rc;

	ferry_msg_init(&m, FERRY_OP_WRITE, 0, 0);
	ferry_msg_add_arg(&m, h);
	ferry_msg_add_arg(&m, (int64_t)len);
	ferry_msg_add_arg(&m, off);
	ferry_msg_add_arg(&m, 0);
	if (!use_bulk) {
		m.data = buf;
		m.data_len = (uint32_t)len;
	}
	rc = iond_call_msg(c, &m, use_bulk ? &bulk : NULL, &conv_reply, 0);
	return rc ? rc : iond_rc(&conv_reply);
}

long iond_read(struct iond_client *c, int64_t h, void *buf, size_t len, int64_t off)
{
	struct ferry_rpc_bulk bulk = {buf, len, FERRY_BULK_FROM_SERVER};
	int use_bulk = len > ferry_rpc_client_inline_max(c->rpc);
	struct ferry_msg m;
	long ret;
	int rc;

	ferry_msg_init(&m, FERRY_OP_READ, 0, 0);
	ferry_msg_add_arg(&m, h);
	ferry_msg_add_arg(&m, (int64_t)len);
	ferry_msg_add_arg(&m, off);
	ferry_msg_add_arg(&m, 0);
	rc = iond_call_msg(c, &m, use_bulk ? &bulk : NULL, &conv_reply, 0);
	if (rc)
		return rc;
	ret = iond_rc(&conv_reply);
	if (ret > 0 && !use_bulk) {
		CHECK(conv_reply.msg.data_len == (uint32_t)ret, "inline read: ret %ld, %u bytes",
		      ret, conv_reply.msg.data_len);
		memcpy(buf, conv_reply.msg.data, (size_t)ret);
	}
	return ret;
}

long iond_null(struct iond_client *c)
{
	struct ferry_msg m;
	int rc;

	ferry_msg_init(&m, FERRY_OP_NULL_CALL, 0, 0);
	rc = iond_call_msg(c, &m, NULL, &conv_reply, 0);
	return rc ? rc : iond_rc(&conv_reply);
}

long iond_lock(struct iond_client *c, int64_t h, int cmd, short type, int timeout_ms)
{
	static _Thread_local struct iond_reply rep;
	unsigned char wire[FERRY_WIRE_FLOCK_SIZE];
	struct flock fl = {.l_type = type, .l_whence = SEEK_SET};
	struct ferry_msg m;
	int rc;

	ferry_flock_encode(&fl, wire);
	ferry_msg_init(&m, FERRY_OP_FCNTL, 0, 0);
	ferry_msg_add_arg(&m, h);
	ferry_msg_add_arg(&m, cmd);
	ferry_msg_add_arg(&m, 0);
	m.data = wire;
	m.data_len = sizeof(wire);
	rc = iond_call_msg(c, &m, NULL, &rep, timeout_ms);
	return rc ? rc : iond_rc(&rep);
}
