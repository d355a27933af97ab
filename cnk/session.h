/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The connection to the I/O node: one rpc client and one Ferry session per
 * process.  Every forwarded call goes through cnk_session_call, which never
 * falls back to the local filesystem: a transport failure is -EIO.
 */
#ifndef FERRY_CNK_SESSION_H
#define FERRY_CNK_SESSION_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <ferry/proto.h>
#include <ferry/rpc.h>

/* Logging (ident "ferry", default level warn), its file kept off the low
 * descriptor numbers the application uses. */
void cnk_session_log_init(void);

/* Read FERRY_IONODE, FERRY_JOB_ID (or SLURM_JOB_ID), FERRY_TIMEOUT_MS and
 * open the session.  Only called when some path is forwarded. */
int cnk_session_init(void);
/* SESSION_CLOSE and close the client (idempotent). */
void cnk_session_close(void);
/* In a fork child: the next call reopens the endpoint and a new session. */
void cnk_session_after_fork_child(void);

/* Before an exec that will probably succeed: close the session and the
 * endpoint, which the new image replaces with its own (an endpoint left
 * behind would outlive the image: a shm name is the pid's, and the I/O node
 * would keep the session).  True when closed; not in a vfork child. */
bool cnk_session_before_exec(void);
/* This process has its own live session (not a vfork child, not a fork
 * child that has not reconnected yet). */
bool cnk_session_owns_endpoint(void);
/* The exec failed after all: reopen at the next call. */
void cnk_session_after_failed_exec(void);

uint64_t cnk_session_id(void);
uint64_t cnk_session_job(void);
/* Largest payload that travels inline (in the request or the reply). */
size_t cnk_session_inline_max(void);

/* Start a request: opcode, session id and the next sequence number. */
void cnk_session_msg(struct ferry_msg *m, uint16_t opcode);

/* Timeouts for calls that may block on purpose (F_SETLKW, flock). */
#define CNK_CALL_DEFAULT 0
#define CNK_CALL_BLOCKING (-1)

/* Send req (with an optional bulk region), wait for the reply.  The reply's
 * data (at most data_cap bytes) is copied to data, its length to *data_len
 * (both may be NULL/0 when no data is expected).  Returns the reply's result,
 * or -errno from the I/O node, or -EIO when the transport failed. */
long cnk_session_call(struct ferry_msg *req, const struct ferry_rpc_bulk *bulk, void *data,
		      size_t data_cap, size_t *data_len, int timeout);

#endif
