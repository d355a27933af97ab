/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The credential a compute process presents when it opens a session with the
 * I/O node (the data of FERRY_OP_SESSION_OPEN).  Which kind is chosen by
 * FERRY_AUTH; the daemon decides whether it accepts it.
 */
#ifndef CNK_CREDENTIAL_H
#define CNK_CREDENTIAL_H

#include <stddef.h>
#include <stdint.h>

/* Fill buf (cap bytes) with a fresh credential for this process and job;
 * *len is 0 when no credential is sent.  0 or -errno (logged). */
int cnk_credential_make(uint64_t jobid, void *buf, size_t cap, size_t *len);

#endif
