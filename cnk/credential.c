/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The session credential: a MUNGE credential from this node's munged (see
 * credential.h).  libmunge opens one Unix socket to munged per credential
 * and closes it before returning; it is opened inside a runtime descriptor
 * window so that it never takes a number the application is about to use.
 * No signal disposition is touched.
 */
#include "credential.h"

#include <errno.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <munge.h>

#include <ferry/log.h>

#include "runtime_fds.h"

enum cred_mode { CRED_AUTO, CRED_MUNGE, CRED_NONE };

static int cred_mode(uint64_t jobid, enum cred_mode *mode)
{
	const char *v = getenv("FERRY_AUTH");

	if (!v || !*v || !strcmp(v, "auto"))
		*mode = CRED_AUTO;
	else if (!strcmp(v, "munge"))
		*mode = CRED_MUNGE;
	else if (!strcmp(v, "none"))
		*mode = CRED_NONE;
	else {
		FLOG_ERR(0, jobid, "FERRY_AUTH=%s: expected munge, none or auto", v);
		return -EINVAL;
	}
	return 0;
}

int cnk_credential_make(uint64_t jobid, void *buf, size_t cap, size_t *len)
{
	const char *sock = getenv("FERRY_MUNGE_SOCKET");
	char payload[96];
	struct cnk_fd_window w;
	enum cred_mode mode;
	munge_ctx_t ctx;
	char *cred = NULL;
	munge_err_t e;
	size_t n;
	int plen;
	int rc;

	*len = 0;
	rc = cred_mode(jobid, &mode);
	if (rc || mode == CRED_NONE)
		return rc;
	if (!sock || !*sock)
		sock = NULL;
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

		if (mode == CRED_AUTO && e == EMUNGE_SOCKET) {
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
