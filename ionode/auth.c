/* SPDX-License-Identifier: Apache-2.0 */
#include "auth.h"

#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <munge.h>
#include <pwd.h>

#include <ferry/log.h>

#include "auth_seen.h"

/* Seconds a used credential is remembered past its expiry. */
#define IOND_AUTH_SEEN_MARGIN 60

/* Set once before the workers start, read-only afterwards. */
static char *munge_socket;
static uid_t *allowed_uids; /* NULL: anyone */
static size_t allowed_n;

int iond_auth_parse(const char *name, enum iond_auth_mode *out)
{
	if (!strcmp(name, "none")) {
		*out = IOND_AUTH_NONE;
		return 0;
	}
	if (!strcmp(name, "munge")) {
		*out = IOND_AUTH_MUNGE;
		return 0;
	}
	return -EINVAL;
}

const char *iond_auth_name(enum iond_auth_mode mode)
{
	switch (mode) {
	case IOND_AUTH_NONE:
		return "none";
	case IOND_AUTH_MUNGE:
		return "munge";
	}
	return "?";
}

int iond_auth_set_munge_socket(const char *path)
{
	char *copy = NULL;

	if (path && *path) {
		copy = strdup(path);
		if (!copy)
			return -ENOMEM;
	}
	free(munge_socket);
	munge_socket = copy;
	return 0;
}

/* One entry of --allow-users: a user name, or a uid in decimal. */
static int resolve_user(const char *name, uid_t *uid)
{
	struct passwd pw, *found = NULL;
	char buf[4096];
	char *end;
	unsigned long v;
	int rc;

	rc = getpwnam_r(name, &pw, buf, sizeof(buf), &found);
	if (rc == 0 && found) {
		*uid = found->pw_uid;
		return 0;
	}
	if (*name < '0' || *name > '9')
		return -EINVAL;
	errno = 0;
	v = strtoul(name, &end, 10);
	if (errno || *end || v >= (uid_t)-1)
		return -EINVAL;
	*uid = (uid_t)v;
	return 0;
}

int iond_auth_set_allowed_users(const char *list, char *err, size_t err_len)
{
	char *copy, *tok, *save = NULL;
	uid_t *uids = NULL;
	size_t n = 0, cap = 0;
	int rc = 0;

	free(allowed_uids);
	allowed_uids = NULL;
	allowed_n = 0;
	if (!list || !*list)
		return 0;
	copy = strdup(list);
	if (!copy)
		return -ENOMEM;
	for (tok = strtok_r(copy, ", ", &save); tok; tok = strtok_r(NULL, ", ", &save)) {
		if (n == cap) {
			uid_t *grown = realloc(uids, (cap ? 2 * cap : 8) * sizeof(*uids));

			if (!grown) {
				rc = -ENOMEM;
				goto out;
			}
			uids = grown;
			cap = cap ? 2 * cap : 8;
		}
		if (resolve_user(tok, &uids[n])) {
			snprintf(err, err_len, "allow_users: no user '%s'", tok);
			rc = -EINVAL;
			goto out;
		}
		n++;
	}
	if (n == 0) {
		snprintf(err, err_len, "allow_users: no user in '%s'", list);
		rc = -EINVAL;
		goto out;
	}
	allowed_uids = uids;
	allowed_n = n;
	uids = NULL;
out:
	free(uids);
	free(copy);
	return rc;
}

static bool user_allowed(uid_t uid)
{
	if (!allowed_uids)
		return true;
	for (size_t i = 0; i < allowed_n; i++)
		if (allowed_uids[i] == uid)
			return true;
	return false;
}

void iond_auth_cleanup(void)
{
	/* The socket name and the allowed users stay: a worker stuck in
	 * munged at exit may still read them.  The table is only touched
	 * under its lock. */
	iond_auth_seen_reset();
}

static const char *socket_name(void)
{
	return munge_socket ? munge_socket : "the default munged socket";
}

/* A context on our socket; libmunge contexts are not shared between
 * threads, so each check makes its own. */
static munge_ctx_t make_ctx(void)
{
	munge_ctx_t ctx = munge_ctx_create();

	if (!ctx)
		return NULL;
	if (munge_socket && munge_ctx_set(ctx, MUNGE_OPT_SOCKET, munge_socket) != EMUNGE_SUCCESS) {
		munge_ctx_destroy(ctx);
		return NULL;
	}
	return ctx;
}

/* Encode and decode one credential with our munged: is it there, and does
 * it accept its own credentials? */
static void munge_self_test(void)
{
	munge_ctx_t ctx = make_ctx();
	char *cred = NULL;
	munge_err_t e;

	if (!ctx) {
		FLOG_WARN(0, 0, "auth munge: cannot create a MUNGE context (out of memory)");
		return;
	}
	e = munge_encode(&cred, ctx, NULL, 0);
	if (e == EMUNGE_SUCCESS)
		e = munge_decode(cred, ctx, NULL, NULL, NULL, NULL);
	if (e != EMUNGE_SUCCESS)
		FLOG_WARN(0, 0,
			  "auth munge: munged on %s does not work now (%s): every session is "
			  "refused until it does",
			  socket_name(), munge_ctx_strerror(ctx) ? munge_ctx_strerror(ctx)
								 : munge_strerror(e));
	free(cred);
	munge_ctx_destroy(ctx);
}

void iond_auth_announce(enum iond_auth_mode mode)
{
	switch (mode) {
	case IOND_AUTH_NONE:
		FLOG_WARN(0, 0,
			  "authentication disabled: any local or remote process can act as any "
			  "user");
		break;
	case IOND_AUTH_MUNGE:
		FLOG_INFO(0, 0, "auth munge: sessions are checked with munged on %s%s%s",
			  socket_name(),
			  geteuid() == 0 ? "" : "; only this daemon's own uid is served",
			  allowed_uids ? "; only the users in allow_users are served" : "");
		munge_self_test();
		break;
	}
}

static void set_why(char *why, size_t why_len, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
static void set_why(char *why, size_t why_len, const char *fmt, ...)
{
	va_list ap;

	if (!why || !why_len)
		return;
	va_start(ap, fmt);
	vsnprintf(why, why_len, fmt, ap);
	va_end(ap);
}

/* Parse one "key=DECIMAL" field at *p, ended by end_char; advances *p. */
static int parse_field(const char **p, const char *end, const char *key, char end_char,
		       uint64_t max, uint64_t *out)
{
	size_t klen = strlen(key);
	uint64_t v = 0;
	const char *s = *p;

	if ((size_t)(end - s) < klen || memcmp(s, key, klen))
		return -EINVAL;
	s += klen;
	if (s == end || *s < '0' || *s > '9')
		return -EINVAL;
	/* No leading zeros: one spelling per number. */
	if (*s == '0' && s + 1 < end && s[1] >= '0' && s[1] <= '9')
		return -EINVAL;
	while (s < end && *s >= '0' && *s <= '9') {
		unsigned d = (unsigned)(*s - '0');

		if (v > (max - d) / 10)
			return -EINVAL;
		v = v * 10 + d;
		s++;
	}
	if (end_char) {
		if (s == end || *s != end_char)
			return -EINVAL;
		s++;
	} else if (s != end) {
		return -EINVAL;
	}
	*out = v;
	*p = s;
	return 0;
}

int iond_auth_payload_parse(const void *payload, size_t len, uint64_t *jobid, int64_t *pid)
{
	size_t plen = strlen(IOND_AUTH_PAYLOAD_PREFIX);
	const char *p, *end;
	uint64_t job, pd;

	if (!payload || len < plen || memcmp(payload, IOND_AUTH_PAYLOAD_PREFIX, plen))
		return -EINVAL;
	p = (const char *)payload + plen;
	end = (const char *)payload + len;
	if (parse_field(&p, end, "job=", ' ', INT64_MAX, &job) ||
	    parse_field(&p, end, "pid=", 0, INT32_MAX, &pd))
		return -EINVAL;
	*jobid = job;
	*pid = (int64_t)pd;
	return 0;
}

/* munge_decode's verdict as a refusal. */
static int munge_refusal(munge_err_t e, munge_ctx_t ctx, char *why, size_t why_len)
{
	const char *detail = munge_ctx_strerror(ctx);

	if (!detail)
		detail = munge_strerror(e);
	switch (e) {
	case EMUNGE_CRED_EXPIRED:
		set_why(why, why_len, "expired credential (%s)", detail);
		return -EKEYEXPIRED;
	case EMUNGE_CRED_REPLAYED:
		set_why(why, why_len, "replayed credential (%s)", detail);
		return -EKEYREJECTED;
	case EMUNGE_CRED_REWOUND:
		set_why(why, why_len, "credential from the future: clocks differ (%s)", detail);
		return -EKEYREJECTED;
	case EMUNGE_SOCKET:
	case EMUNGE_TIMEOUT:
		set_why(why, why_len, "munged unreachable on %s (%s)", socket_name(), detail);
		return -EAGAIN;
	case EMUNGE_NO_MEMORY:
	case EMUNGE_SNAFU:
		set_why(why, why_len, "munged failed (%s)", detail);
		return -EAGAIN;
	default:
		set_why(why, why_len, "bad credential (%s)", detail);
		return -EKEYREJECTED;
	}
}

static int check_munge(const struct ferry_msg *req, struct iond_cred *cred, char *why,
		       size_t why_len)
{
	char text[IOND_AUTH_CRED_MAX + 1];
	void *payload = NULL;
	int plen = 0;
	uid_t uid = (uid_t)-1;
	gid_t gid = (gid_t)-1;
	uint64_t jobid;
	int64_t pid;
	munge_ctx_t ctx;
	munge_err_t e;
	int rc;

	if (req->data_len == 0) {
		set_why(why, why_len,
			"no credential (the client found no munged, or has FERRY_AUTH=none)");
		return -ENOKEY;
	}
	if (req->data_len > IOND_AUTH_CRED_MAX || memchr(req->data, '\0', req->data_len)) {
		set_why(why, why_len, "bad credential (%u bytes, not a MUNGE credential)",
			req->data_len);
		return -EKEYREJECTED;
	}
	memcpy(text, req->data, req->data_len);
	text[req->data_len] = '\0';
	ctx = make_ctx();
	if (!ctx) {
		set_why(why, why_len, "cannot create a MUNGE context");
		return -EAGAIN;
	}
	e = munge_decode(text, ctx, &payload, &plen, &uid, &gid);
	if (e != EMUNGE_SUCCESS) {
		rc = munge_refusal(e, ctx, why, why_len);
		goto out;
	}
	rc = -EKEYREJECTED;
	/* Used up, whatever follows; munged forgets when it restarts, we do
	 * not. */
	{
		time_t encoded = 0, now = time(NULL);
		int ttl = 0;

		if (munge_ctx_get(ctx, MUNGE_OPT_ENCODE_TIME, &encoded) != EMUNGE_SUCCESS ||
		    munge_ctx_get(ctx, MUNGE_OPT_TTL, &ttl) != EMUNGE_SUCCESS) {
			set_why(why, why_len, "munged gave no encode time or time-to-live");
			rc = -EAGAIN;
			goto out;
		}
		if (!iond_auth_seen_add(text, req->data_len,
					encoded + ttl + IOND_AUTH_SEEN_MARGIN, now)) {
			set_why(why, why_len,
				"replayed credential (already used with this daemon)");
			goto out;
		}
	}
	if (plen < 0 || iond_auth_payload_parse(payload, (size_t)plen, &jobid, &pid)) {
		set_why(why, why_len, "credential of uid %u: not a Ferry session credential",
			(unsigned)uid);
		goto out;
	}
	/* The identity comes from MUNGE; the request's claims must agree. */
	if ((int64_t)uid != req->args[1] || (int64_t)gid != req->args[2]) {
		set_why(why, why_len,
			"credential of uid %u gid %u, but the session claims uid %lld gid %lld",
			(unsigned)uid, (unsigned)gid, (long long)req->args[1],
			(long long)req->args[2]);
		goto out;
	}
	if ((int64_t)jobid != req->args[3] || pid != req->args[0]) {
		set_why(why, why_len,
			"credential of uid %u for job %" PRIu64 " pid %lld, but the session claims "
			"job %lld pid %lld",
			(unsigned)uid, jobid, (long long)pid, (long long)req->args[3],
			(long long)req->args[0]);
		goto out;
	}
	if (geteuid() != 0 && uid != geteuid()) {
		set_why(why, why_len,
			"wrong user: credential of uid %u, this daemon serves only uid %u",
			(unsigned)uid, (unsigned)geteuid());
		goto out;
	}
	if (!user_allowed(uid)) {
		set_why(why, why_len, "user not allowed: credential of uid %u, not in allow_users",
			(unsigned)uid);
		goto out;
	}
	cred->pid = pid;
	cred->uid = (uint32_t)uid;
	cred->gid = (uint32_t)gid;
	cred->jobid = jobid;
	rc = 0;
out:
	free(payload);
	munge_ctx_destroy(ctx);
	return rc;
}

int iond_auth_check(enum iond_auth_mode mode, const struct ferry_msg *req,
		    struct iond_cred *cred, char *why, size_t why_len)
{
	set_why(why, why_len, "%s", "");
	if (req->nargs < 4 || req->npaths != 0 || req->args[1] < 0 || req->args[1] > UINT32_MAX ||
	    req->args[2] < 0 || req->args[2] > UINT32_MAX || req->args[3] < 0) {
		set_why(why, why_len, "malformed request");
		return -EINVAL;
	}
	switch (mode) {
	case IOND_AUTH_NONE:
		/* The credential in data[] is ignored: nothing to verify it with
		 * (allow_users then filters claims, which proves nothing). */
		if (!user_allowed((uid_t)req->args[1])) {
			set_why(why, why_len, "user not allowed: uid %lld claimed, not in allow_users",
				(long long)req->args[1]);
			return -EKEYREJECTED;
		}
		cred->pid = req->args[0];
		cred->uid = (uint32_t)req->args[1];
		cred->gid = (uint32_t)req->args[2];
		cred->jobid = (uint64_t)req->args[3];
		return 0;
	case IOND_AUTH_MUNGE:
		return check_munge(req, cred, why, why_len);
	}
	set_why(why, why_len, "unknown authentication mode");
	return -EACCES;
}
