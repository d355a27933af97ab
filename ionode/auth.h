/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Authentication of SESSION_OPEN: turns the request into the credential the
 * session runs with.  Only "none" exists now (the claimed pid, uid, gid and
 * job are believed); MUNGE plugs in here later.
 */
#ifndef IOND_AUTH_H
#define IOND_AUTH_H

#include <ferry/proto.h>

#include "session.h"

enum iond_auth_mode {
	IOND_AUTH_NONE = 0,
};

/* -EINVAL for a mode this build does not know (the caller names it). */
int iond_auth_parse(const char *name, enum iond_auth_mode *out);
const char *iond_auth_name(enum iond_auth_mode mode);
/* Log the start-up warning a mode deserves, if any. */
void iond_auth_announce(enum iond_auth_mode mode);
/* Check a SESSION_OPEN request (args: pid, uid, gid, jobid; data: the
 * credential).  Returns 0 with cred filled in, -EINVAL for missing or
 * out-of-range arguments, -EACCES for a credential that does not verify. */
int iond_auth_check(enum iond_auth_mode mode, const struct ferry_msg *req,
		    struct iond_cred *cred);

#endif
