/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The credential a compute process presents when it opens a session with the
 * I/O node (the data of FERRY_OP_SESSION_OPEN): a MUNGE credential made by
 * the munged of this node, whose payload binds the job and the process
 * ("ferry-session-v1 job=JOBID pid=PID"; ionode/auth.h checks it).
 *
 * FERRY_AUTH chooses:
 *   unset, "auto"  a credential if munged answers; if its socket is not
 *                  there, none (a daemon with --auth none accepts that)
 *   "munge"        a credential, or the session is not opened
 *   "none"         never a credential
 * FERRY_MUNGE_SOCKET names munged's socket (default libmunge's).
 */
#ifndef CNK_CREDENTIAL_H
#define CNK_CREDENTIAL_H

#include <stddef.h>
#include <stdint.h>

#define CNK_CREDENTIAL_PAYLOAD_PREFIX "ferry-session-v1 "

/* Fill buf (cap bytes) with a fresh credential for this process and job;
 * *len is 0 when no credential is sent.  0 or -errno (logged):
 * -EINVAL for a bad FERRY_AUTH, -ENOKEY when FERRY_AUTH=munge and munged
 * cannot make one, -EMSGSIZE when it does not fit. */
int cnk_credential_make(uint64_t jobid, void *buf, size_t cap, size_t *len);

/* What an I/O node's refusal of SESSION_OPEN with -err means, in words for
 * the runtime's error line (its daemon logs the precise reason), or NULL
 * when err is not an authentication refusal. */
const char *cnk_credential_refusal(int err);

#endif
