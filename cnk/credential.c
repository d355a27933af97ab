/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The session credential: a MUNGE credential from this node's munged (see
 * credential.h).  libmunge opens one Unix socket to munged per credential
 * and closes it before returning; it is opened inside a runtime descriptor
 * window so that it never takes a number the application is about to use.
 * No signal disposition is touched.
 *
 * FERRY_AUTH and FERRY_MUNGE_SOCKET are read once, at the first credential
 * (the runtime's start, in the constructor), from environ itself; fork
 * children keep those values.  getenv() would ask the program: bash has its
 * own, which answers from its shell variables (not set up yet in the
 * constructor, changed by the script afterwards).
 */
#include "credential.h"

#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <munge.h>

#include <ferry/log.h>

#include "runtime_fds.h"

enum cred_mode { CRED_AUTO, CRED_MUNGE, CRED_NONE, CRED_BAD };

static pthread_once_t cred_once = PTHREAD_ONCE_INIT;
static enum cred_mode cred_mode;
static char cred_auth_value[64];
static char cred_socket[PATH_MAX]; /* empty: libmunge's default */

extern char **environ;

static const char *env_lookup(const char *name)
{
	size_t n = strlen(name);

	for (char **e = environ; e && *e; e++)
		if (!strncmp(*e, name, n) && (*e)[n] == '=')
			return *e + n + 1;
	return NULL;
}

static void cred_read_settings(void)
{
	const char *v = env_lookup("FERRY_AUTH");
	const char *sock = env_lookup("FERRY_MUNGE_SOCKET");

	if (!v || !*v || !strcmp(v, "auto"))
		cred_mode = CRED_AUTO;
	else if (!strcmp(v, "munge"))
		cred_mode = CRED_MUNGE;
	else if (!strcmp(v, "none"))
		cred_mode = CRED_NONE;
	else {
		cred_mode = CRED_BAD;
		snprintf(cred_auth_value, sizeof(cred_auth_value), "%s", v);
	}
	if (sock && strlen(sock) < sizeof(cred_socket))
		strcpy(cred_socket, sock);
	else if (sock)
		cred_mode = CRED_BAD; /* reported below: too long */
}

int cnk_credential_make(uint64_t jobid, void *buf, size_t cap, size_t *len)
{
	const char *sock;
	char payload[96];
	struct cnk_fd_window w;
	munge_ctx_t ctx;
	char *cred = NULL;
	munge_err_t e;
	size_t n;
	int plen;
	int rc;

	*len = 0;
	pthread_once(&cred_once, cred_read_settings);
	if (cred_mode == CRED_NONE)
		return 0;
	if (cred_mode == CRED_BAD) {
		if (cred_auth_value[0])
			FLOG_ERR(0, jobid, "FERRY_AUTH=%s: expected munge, none or auto",
				 cred_auth_value);
		else
			FLOG_ERR(0, jobid, "FERRY_MUNGE_SOCKET is too long");
		return -EINVAL;
	}
	sock = cred_socket[0] ? cred_socket : NULL;
	plen = snprintf(payload, sizeof(payload), CNK_CREDENTIAL_PAYLOAD_PREFIX "job=%" PRIu64
			" pid=%d", jobid, (int)getpid());
	if (plen < 0 || (size_t)plen >= sizeof(payload))
		return -EOVERFLOW;
	ctx = munge_ctx_create();
	if (!ctx) {
		FLOG_ERR(0, jobid, "MUNGE credential: cannot create a context (out of memory)");
		return -ENOMEM;
	}
	e = EMUNGE_SUCCESS;
	if (sock)
		e = munge_ctx_set(ctx, MUNGE_OPT_SOCKET, sock);
	if (e == EMUNGE_SUCCESS) {
		cnk_runtime_fds_begin(&w);
		e = munge_encode(&cred, ctx, payload, plen);
		cnk_runtime_fds_end(&w);
	}
	if (e != EMUNGE_SUCCESS) {
		const char *why = munge_ctx_strerror(ctx) ? munge_ctx_strerror(ctx)
							  : munge_strerror(e);

		if (cred_mode == CRED_AUTO && e == EMUNGE_SOCKET) {
			/* No munged here: a daemon with --auth munge will refuse
			 * the session and say so. */
			FLOG_INFO(0, jobid, "no MUNGE credential sent: %s", why);
			rc = 0;
		} else {
			FLOG_ERR(0, jobid, "cannot make a MUNGE credential (munged on %s): %s",
				 sock ? sock : "the default socket", why);
			rc = -ENOKEY;
		}
		goto out;
	}
	n = strlen(cred);
	if (n > cap) {
		FLOG_ERR(0, jobid, "MUNGE credential of %zu bytes does not fit in %zu", n, cap);
		rc = -EMSGSIZE;
		goto out;
	}
	memcpy(buf, cred, n);
	*len = n;
	rc = 0;
out:
	free(cred);
	munge_ctx_destroy(ctx);
	return rc;
}

const char *cnk_credential_refusal(int err)
{
	switch (err) {
	case -ENOKEY:
		return "it requires a MUNGE credential and none was sent (no munged "
		       "reachable here, or FERRY_AUTH=none)";
	case -EKEYEXPIRED:
		return "the MUNGE credential had expired when it arrived (clocks differ?)";
	case -EKEYREJECTED:
		return "it rejected the MUNGE credential (another MUNGE key, a replay, or a "
		       "user it does not serve); its log says which";
	case -EAGAIN:
		return "its munged cannot be reached";
	default:
		return NULL;
	}
}
