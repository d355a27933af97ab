/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Authentication of SESSION_OPEN: turns the request into the credential the
 * session runs with.
 *
 *   none   the claimed pid, uid, gid and job are believed (development only;
 *          announced loudly at start-up)
 *   munge  the request's data is a MUNGE credential, decoded by the munged on
 *          this node: the session gets the uid and gid MUNGE vouches for, and
 *          the credential's payload (see below) must name the job and pid the
 *          request claims.  A daemon that is not root serves only its own uid.
 *
 * The payload the runtime puts in the credential (cnk/credential.c) is the
 * text "ferry-session-v1 job=JOBID pid=PID" (decimal, nothing else).
 *
 * Refusals (negative errno returned, the reason written to why):
 *   -ENOKEY       no credential in the request
 *   -EKEYEXPIRED  the credential's time-to-live has passed
 *   -EKEYREJECTED anything else about the credential: not decodable by this
 *                 node's munged (forged, other key), replayed, payload or
 *                 claimed identity not matching, another user than a
 *                 non-root daemon's own, a user not in --allow-users
 *   -EAGAIN       this node's munged could not be reached (the client may
 *                 retry later)
 */
#ifndef IOND_AUTH_H
#define IOND_AUTH_H

#include <stddef.h>
#include <stdint.h>

#include <ferry/proto.h>

#include "session.h"

enum iond_auth_mode {
	IOND_AUTH_NONE = 0,
	IOND_AUTH_MUNGE = 1,
};

#define IOND_AUTH_PAYLOAD_PREFIX "ferry-session-v1 "
/* The longest credential accepted (a MUNGE credential for our payload is a
 * few hundred bytes). */
#define IOND_AUTH_CRED_MAX 4096

/* -EINVAL for a mode this build does not know (the caller names it). */
int iond_auth_parse(const char *name, enum iond_auth_mode *out);
const char *iond_auth_name(enum iond_auth_mode mode);
/* The munged socket to decode with (NULL: libmunge's default).  Call
 * before serving; the string is copied.  0 or -ENOMEM. */
int iond_auth_set_munge_socket(const char *path);
/* Serve only these users: list is names or uids separated by ','
 * (NULL or empty: anyone).  Names are resolved now.  0, or -EINVAL with
 * the culprit named in err, -ENOMEM. */
int iond_auth_set_allowed_users(const char *list, char *err, size_t err_len);
/* At exit: forget the used credentials (frees the table). */
void iond_auth_cleanup(void);
/* Log the start-up line a mode deserves: a loud warning for none; for munge,
 * which socket, and a warning if a credential cannot be made and decoded
 * there right now. */
void iond_auth_announce(enum iond_auth_mode mode);
/* Check a SESSION_OPEN request (args: pid, uid, gid, jobid; data: the
 * credential).  Returns 0 with cred filled in, -EINVAL for missing or
 * out-of-range arguments, or a refusal listed above; why (why_len bytes)
 * then says what was wrong, in words for the log. */
int iond_auth_check(enum iond_auth_mode mode, const struct ferry_msg *req,
		    struct iond_cred *cred, char *why, size_t why_len);

/* Parse a credential payload ("ferry-session-v1 job=J pid=P", exactly).
 * 0, or -EINVAL. */
int iond_auth_payload_parse(const void *payload, size_t len, uint64_t *jobid, int64_t *pid);

#endif
