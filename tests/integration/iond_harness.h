/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Helpers for ferry-iond's integration tests: start a real daemon on a real
 * provider (tcp on a free 127.0.0.1 port, or shm with a unique name) over an
 * export directory in a fresh temporary directory, and speak the protocol to
 * it with the real rpc client and codec.  On tcp the daemon listens on port 0
 * and the test dials the port its ready line announces (no port races).  A failed check, a timeout (SIGALRM)
 * or a normal exit always stops the daemon and removes the directory.  The
 * daemon's log is printed on failure, and on success with IOND_TEST_VERBOSE=1.
 */
#ifndef IOND_HARNESS_H
#define IOND_HARNESS_H

#include <limits.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include <ferry/proto.h>
#include <ferry/rpc.h>

#define CHECK(cond, ...)                                                       \
	do {                                                                   \
		if (!(cond))                                                   \
			iond_test_fail(__FILE__, __LINE__, #cond, __VA_ARGS__); \
	} while (0)

/* Compare an errno-style result: rc (negative errno or >= 0) against want. */
#define CHECK_ERR(rc, want)                                                    \
	CHECK((rc) == (want), "got %ld (%s), want %ld (%s)", (long)(rc),       \
	      iond_errname(rc), (long)(want), iond_errname(want))

struct iond_daemon {
	pid_t pid;
	char transport[8];
	char uri[128];
	char dir[PATH_MAX - 64];   /* the test's temporary directory */
	char export_dir[PATH_MAX]; /* dir/export, served as /pfs */
	char log_path[PATH_MAX];   /* the daemon's stderr */
	char ready_path[PATH_MAX];
};

struct iond_client {
	struct ferry_rpc_client *rpc;
	uint64_t session;
	uint64_t seq;
};

/* A decoded reply; msg's data points into buf. */
struct iond_reply {
	struct ferry_msg msg;
	unsigned char buf[128 << 10]; /* a reply never exceeds one transport frame */
	size_t len;
};

/* Start the test: argv[1] is the transport ("tcp" or "shm"); arms a
 * timeout of timeout_s seconds.  Returns the transport. */
const char *iond_test_begin(int argc, char **argv, unsigned int timeout_s);
void iond_test_fail(const char *file, int line, const char *cond, const char *fmt, ...)
	__attribute__((format(printf, 4, 5), noreturn));
const char *iond_errname(long rc);
/* Stop the daemon with SIGTERM (it must exit 0), print "PASS name", exit 0. */
void iond_test_pass(const char *name) __attribute__((noreturn));

/* Start ferry-iond exporting /pfs; extra_args (NULL-terminated, may be NULL)
 * are appended.  Waits for its ready file. */
void iond_daemon_start(struct iond_daemon *d, const char *transport, const char *const *extra_args);
/* Send sig and wait up to timeout_s; returns the wait status (SIGKILL is
 * sent if it does not exit in time, and the test fails). */
int iond_daemon_stop(struct iond_daemon *d, int sig, unsigned int timeout_s);
/* Wait up to timeout_ms for needle to appear in the daemon's log. */
int iond_log_contains(const struct iond_daemon *d, const char *needle, int timeout_ms);
/* Number of open descriptors of the daemon (from /proc). */
int iond_daemon_fd_count(const struct iond_daemon *d);
/* export_dir/rel */
void iond_export_path(const struct iond_daemon *d, const char *rel, char *out, size_t out_len);

/* Connect and open a session (pid, uid, gid from this process). */
int iond_client_open(struct iond_client *c, const char *uri, uint64_t jobid);
/* Connect only (no session). */
int iond_client_connect(struct iond_client *c, const char *uri);
void iond_client_close(struct iond_client *c);

/* Encode req (session and seq filled in from c unless keep_header), call,
 * decode the reply.  Returns 0 or the transport's/codec's negative errno. */
int iond_call_msg(struct iond_client *c, struct ferry_msg *req, const struct ferry_rpc_bulk *bulk,
		  struct iond_reply *rep, int timeout_ms);
/* Send raw bytes as a request; decode the reply if one comes. */
int iond_call_raw(struct iond_client *c, const void *bytes, size_t len, struct iond_reply *rep,
		  int timeout_ms);

/* Convenience calls; each returns ret (>= 0) or -err of the reply, or a
 * transport error. */
long iond_rc(const struct iond_reply *rep);
long iond_openat(struct iond_client *c, const char *path, int flags, int mode);
long iond_close_handle(struct iond_client *c, int64_t h);
long iond_write(struct iond_client *c, int64_t h, const void *buf, size_t len, int64_t off);
long iond_read(struct iond_client *c, int64_t h, void *buf, size_t len, int64_t off);
long iond_null(struct iond_client *c);
/* fcntl(h, cmd) with a whole-file lock of type (F_WRLCK, F_UNLCK, ...),
 * waiting up to timeout_ms for the reply (0: the default).  The reply is
 * kept per thread: one thread may wait in F_SETLKW while another calls. */
long iond_lock(struct iond_client *c, int64_t h, int cmd, short type, int timeout_ms);

#endif
