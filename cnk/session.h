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

/* Read FERRY_IONODE, FERRY_JOB_ID (or SLURM_JOB_ID), FERRY_TIMEOUT_MS,
 * FERRY_CONNECT.  The session opens now when connect_now (or
 * FERRY_CONNECT=start), else at the first forwarded call. */
int cnk_session_init(bool connect_now);
/* Whether the I/O node lets this job bind port: 1 yes, 0 no, -1 not known
 * (no session yet, or the I/O node did not say). */
int cnk_session_port_bindable(unsigned int port);
/* At exit_group: SESSION_CLOSE and close the endpoint (idempotent). */
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
/* May this vfork child make calls through its parent's session, as a thread
 * of the parent would?  Only while the session is open and the child still
 * holds the transport's descriptors (posix_spawn's file actions and Python
 * may close them before the exec). */
bool cnk_session_vfork_child_may_call(void);
/* In a vfork child: the parent (whose memory it shares) has a live session. */
bool cnk_session_parent_owns_endpoint(void);
/* The exec failed after all: reopen at the next call. */
void cnk_session_after_failed_exec(void);

/*
 * Sharing open files with fork and exec children (the I/O node's
 * SESSION_DETACH / SESSION_ADOPT).  A held record names descriptors the I/O
 * node holds for a child: pairs[2i] is a handle of this session,
 * pairs[2i+1] the held duplicate (same open file, same offset).  Records
 * live in private anonymous mappings, never the heap: they are made where
 * malloc is off limits (a vfork child) and survive fork by copy.
 */
struct cnk_held {
	size_t map_len;
	uint64_t id;
	uint64_t token;
	size_t npairs;
	int64_t pairs[];
};
/* Ask the I/O node to hold duplicates of every descriptor of this session;
 * NULL when it cannot (logged at debug: the caller falls back). */
struct cnk_held *cnk_session_detach(void);
void cnk_held_free(struct cnk_held *h);
/* The held duplicate of this session's handle, or -1. */
int64_t cnk_held_lookup(const struct cnk_held *h, int64_t handle);
/* Take the held descriptors listed in keep into this session (the others
 * are closed).  Returns how many were taken or -errno. */
long cnk_session_adopt(uint64_t id, uint64_t token, const int64_t *keep, size_t nkeep);
/* This process's files are the ones of h (a fork child, or an exec that
 * failed after detaching): the session is reopened at the next call and
 * adopts h, and the descriptor table is renumbered (cnk_fdtable_remap).
 * The session takes ownership of h. */
void cnk_session_inherit(struct cnk_held *h);
/* The record a fork child has not claimed yet (NULL when none). */
const struct cnk_held *cnk_session_inherited(void);
/* Open the session now if it is not open yet, as the first forwarded call
 * would: a first open, or a fork child's reopen (adopting what it
 * inherited).  0 or -errno. */
int cnk_session_claim(void);

uint64_t cnk_session_id(void);
uint64_t cnk_session_job(void);
/* Largest payload that travels inline (in the request or the reply). */
size_t cnk_session_inline_max(void);

/* Start a request: opcode, session id and the next sequence number. */
void cnk_session_msg(struct ferry_msg *m, uint16_t opcode);

/* Timeouts for calls that may block on purpose (F_SETLKW, flock). */
#define CNK_CALL_DEFAULT 0
#define CNK_CALL_BLOCKING (-1)
/* A wait a signal interrupts, as Linux's lock waits (F_SETLKW, flock): when
 * a signal the application does not block arrives, the I/O node is asked to
 * interrupt the call, which then fails with EINTR. */
#define CNK_CALL_INTERRUPTIBLE (-2)

/* The application's signal mask while its call is forwarded (the
 * dispatcher blocks signals meanwhile); read by the interruptible wait. */
void cnk_session_set_app_mask(uint64_t mask);
/* The signals that interrupted this thread's last call (0: none); cleared. */
uint64_t cnk_session_take_interrupting_signals(void);
/* Signals pending for this thread that mask does not block and whose
 * disposition is not to ignore them. */
uint64_t cnk_deliverable_signals(uint64_t mask);

/* Send req (with an optional bulk region), wait for the reply.  The reply's
 * data (at most data_cap bytes) is copied to data, its length to *data_len
 * (both may be NULL/0 when no data is expected).  Returns the reply's result,
 * or -errno from the I/O node, or -EIO when the transport failed. */
long cnk_session_call(struct ferry_msg *req, const struct ferry_rpc_bulk *bulk, void *data,
		      size_t data_cap, size_t *data_len, int timeout);

#endif
