/* SPDX-License-Identifier: Apache-2.0 */
/*
 * ferry-iond --auth munge against a real munged (started by munge_auth.sh,
 * which passes its socket in FERRY_MUNGE_SOCKET and, in FORGED_CRED, a file
 * holding a credential made by another munged with another key).  This
 * program speaks SESSION_OPEN itself so that it can send exactly the
 * credential each case needs:
 *   - a valid credential opens a session bound to its uid, gid, job and pid;
 *   - the same credential again is refused (replayed), as are no credential,
 *     random bytes, the other key's credential, a credential whose payload
 *     is not Ferry's, or names another job or pid, a session claiming
 *     another uid than the credential's, and an expired credential;
 *   - every refusal is one WARN line with its reason, and the daemon goes on
 *     serving.
 *
 * iond_auth send URI FILE PID JOB WANT: one SESSION_OPEN to a daemon the
 * script started, with the credential in FILE and these claims (this
 * process's uid and gid); WANT is "ok" or the errno's name.  The script uses
 * it to send one credential before and after munged restarts.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <munge.h>

#include "iond_harness.h"

#define JOB 4242

static struct iond_reply rep;

/* A credential from the test's munged, with this payload and TTL (0: the
 * default); the caller frees it. */
static char *make_cred(const char *payload, int ttl)
{
	munge_ctx_t ctx = munge_ctx_create();
	const char *sock = getenv("FERRY_MUNGE_SOCKET");
	char *cred = NULL;
	munge_err_t e;

	CHECK(ctx, "munge_ctx_create");
	CHECK(sock && *sock, "FERRY_MUNGE_SOCKET is not set (run me from munge_auth.sh)");
	CHECK(munge_ctx_set(ctx, MUNGE_OPT_SOCKET, sock) == EMUNGE_SUCCESS, "munge socket");
	if (ttl)
		CHECK(munge_ctx_set(ctx, MUNGE_OPT_TTL, ttl) == EMUNGE_SUCCESS, "munge ttl");
	e = munge_encode(&cred, ctx, payload, payload ? (int)strlen(payload) : 0);
	CHECK(e == EMUNGE_SUCCESS, "munge_encode: %s", munge_ctx_strerror(ctx));
	munge_ctx_destroy(ctx);
	return cred;
}

static char *ferry_cred(uint64_t job, long pid, int ttl)
{
	char payload[128];

	snprintf(payload, sizeof(payload), "ferry-session-v1 job=%" PRIu64 " pid=%ld", job, pid);
	return make_cred(payload, ttl);
}

/* SESSION_OPEN with these claims and this credential (len bytes): the
 * session id or -errno. */
static long open_with(struct iond_client *c, const char *uri, long pid, long uid, long gid,
		      uint64_t job, const void *cred, size_t len)
{
	struct ferry_msg m;
	int rc;

	rc = iond_client_connect(c, uri);
	CHECK(rc == 0, "connect %s: %s", uri, iond_errname(rc));
	ferry_msg_init(&m, FERRY_OP_SESSION_OPEN, 0, 0);
	ferry_msg_add_arg(&m, pid);
	ferry_msg_add_arg(&m, uid);
	ferry_msg_add_arg(&m, gid);
	ferry_msg_add_arg(&m, (int64_t)job);
	m.data = cred;
	m.data_len = (uint32_t)len;
	rc = iond_call_msg(c, &m, NULL, &rep, 0);
	CHECK(rc == 0, "SESSION_OPEN transport: %s", iond_errname(rc));
	if (iond_rc(&rep) > 0)
		c->session = (uint64_t)iond_rc(&rep);
	return iond_rc(&rep);
}

/* One refused SESSION_OPEN: errno want, and a WARN line whose reason
 * starts with reason. */
static void refused(const struct iond_daemon *d, const char *what, long pid, long uid, uint64_t job,
		    const void *cred, size_t len, long want, const char *reason)
{
	struct iond_client c;
	char needle[512];
	long rc;

	rc = open_with(&c, d->uri, pid, uid, getgid(), job, cred, len);
	CHECK(rc == want, "%s: got %ld (%s), want %s", what, rc, iond_errname(rc),
	      iond_errname(want));
	snprintf(needle, sizeof(needle), "(pid %ld): %s: %s", pid, strerror((int)-want), reason);
	CHECK(iond_log_contains(d, needle, 5000), "%s: no WARN line with '%s'", what, needle);
	iond_client_close(&c);
	printf("ok   - %s refused: %s: %s\n", what, strerror((int)-want), reason);
}

static char *read_file(const char *path)
{
	static char buf[4096];
	FILE *f = fopen(path, "r");
	size_t n;

	CHECK(f, "open %s: %s", path, strerror(errno));
	n = fread(buf, 1, sizeof(buf) - 1, f);
	fclose(f);
	while (n && (buf[n - 1] == '\n' || buf[n - 1] == '\r'))
		n--;
	buf[n] = '\0';
	return buf;
}

static int send_one(int argc, char **argv)
{
	struct iond_client c;
	const char *cred;
	long rc;

	if (argc != 7) {
		fprintf(stderr, "usage: iond_auth send URI FILE PID JOB ok|ERRNO_NAME\n");
		return 2;
	}
	alarm(60);
	cred = read_file(argv[3]);
	rc = open_with(&c, argv[2], atol(argv[4]), getuid(), getgid(),
		       strtoull(argv[5], NULL, 10), cred, strlen(cred));
	iond_client_close(&c);
	printf("SESSION_OPEN with %s: %s\n", argv[3], rc > 0 ? "ok" : iond_errname(rc));
	if (rc > 0)
		return strcmp(argv[6], "ok") ? 1 : 0;
	return strcmp(argv[6], iond_errname(rc)) ? 1 : 0;
}

int main(int argc, char **argv)
{
	if (argc > 1 && !strcmp(argv[1], "send"))
		return send_one(argc, argv);

	const char *transport = iond_test_begin(argc, argv, 90);
	static const char *const args[] = {"--auth", "munge", NULL};
	const char *forged_path = getenv("FORGED_CRED");
	long me = (long)getpid();
	struct iond_daemon d;
	struct iond_client a;
	char needle[256], junk[300];
	char *cred, *expired;
	long rc;

	/* Made first, so that it has expired by the time it is sent. */
	expired = ferry_cred(JOB, me, 1);
	iond_daemon_start(&d, transport, args);
	CHECK(iond_log_contains(&d, "auth munge: sessions are checked with munged on", 5000),
	      "no start-up line for auth munge");

	/* A valid credential: the session is the credential's uid and job. */
	cred = ferry_cred(JOB, me, 0);
	rc = open_with(&a, d.uri, me, getuid(), getgid(), JOB, cred, strlen(cred));
	CHECK(rc > 0, "valid credential refused: %s", iond_errname(rc));
	snprintf(needle, sizeof(needle), "job=%d session opened: pid %ld uid %u gid %u", JOB, me,
		 (unsigned)getuid(), (unsigned)getgid());
	CHECK(iond_log_contains(&d, needle, 5000), "no log line '%s'", needle);
	CHECK_ERR(iond_null(&a), 0);
	printf("ok   - valid credential: session bound to uid %u job %d\n", (unsigned)getuid(),
	       JOB);

	/* The same bytes again: munged remembers them. */
	refused(&d, "replayed credential", me, getuid(), JOB, cred, strlen(cred), -EKEYREJECTED,
		"replayed credential");
	free(cred);

	refused(&d, "no credential", me, getuid(), JOB, "", 0, -ENOKEY, "no credential");
	memset(junk, 'x', sizeof(junk));
	memcpy(junk, "MUNGE:", 6);
	refused(&d, "random bytes", me, getuid(), JOB, junk, sizeof(junk), -EKEYREJECTED,
		"bad credential");
	if (forged_path) {
		const char *forged = read_file(forged_path);

		refused(&d, "credential of another munge key", me, getuid(), JOB, forged,
			strlen(forged), -EKEYREJECTED, "bad credential");
	}

	snprintf(needle, sizeof(needle), "credential of uid %u: not a Ferry session credential",
		 (unsigned)getuid());
	cred = make_cred("hello", 0);
	refused(&d, "foreign payload", me, getuid(), JOB, cred, strlen(cred), -EKEYREJECTED,
		needle);
	free(cred);

	cred = ferry_cred(JOB + 1, me, 0);
	snprintf(needle, sizeof(needle),
		 "credential of uid %u for job %d pid %ld, but the session claims job %d pid %ld",
		 (unsigned)getuid(), JOB + 1, me, JOB, me);
	refused(&d, "credential for another job", me, getuid(), JOB, cred, strlen(cred),
		-EKEYREJECTED, needle);
	free(cred);

	cred = ferry_cred(JOB, me + 1, 0);
	snprintf(needle, sizeof(needle),
		 "credential of uid %u for job %d pid %ld, but the session claims job %d pid %ld",
		 (unsigned)getuid(), JOB, me + 1, JOB, me);
	refused(&d, "credential for another pid", me, getuid(), JOB, cred, strlen(cred),
		-EKEYREJECTED, needle);
	free(cred);

	cred = ferry_cred(JOB, me, 0);
	snprintf(needle, sizeof(needle), "credential of uid %u gid %u, but the session claims uid %ld",
		 (unsigned)getuid(), (unsigned)getgid(), (long)getuid() + 4321);
	refused(&d, "claimed uid not the credential's", me, (long)getuid() + 4321, JOB, cred,
		strlen(cred), -EKEYREJECTED, needle);
	free(cred);

	/* TTL 1 s: expired once more than a second has passed since it was
	 * made (munged counts whole seconds). */
	sleep(3);
	refused(&d, "expired credential", me, getuid(), JOB, expired, strlen(expired),
		-EKEYEXPIRED, "expired credential");
	free(expired);

	/* Still serving: the first session, and a new one. */
	CHECK_ERR(iond_null(&a), 0);
	iond_client_close(&a);
	cred = ferry_cred(JOB, me, 0);
	rc = open_with(&a, d.uri, me, getuid(), getgid(), JOB, cred, strlen(cred));
	CHECK(rc > 0, "valid credential refused after the refusals: %s", iond_errname(rc));
	free(cred);
	CHECK_ERR(iond_null(&a), 0);
	iond_client_close(&a);
	iond_test_pass("auth munge");
}
