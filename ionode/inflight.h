/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Calls in flight, per worker thread, so a call whose session is gone can be
 * interrupted.  A worker blocked for a client that died (F_SETLKW on a lock
 * nobody releases, opening a FIFO nobody writes) would otherwise be lost for
 * good.  Interrupting = a signal with an empty handler installed without
 * SA_RESTART: the blocking system call fails with EINTR and the worker moves
 * on.  The progress loop calls iond_inflight_interrupt_orphans periodically,
 * which also covers a signal that arrived just before the call blocked.
 */
#ifndef IOND_INFLIGHT_H
#define IOND_INFLIGHT_H

#include <stddef.h>
#include <stdint.h>

struct iond_session;
struct iond_inflight;

/* Install the interrupt signal's handler (once, before workers start). */
int iond_inflight_init(void);
/* The calling worker's slot; NULL when out of memory. */
struct iond_inflight *iond_inflight_register(void);
void iond_inflight_unregister(struct iond_inflight *slot);
/* Mark the start and end of a call of session s on this worker. */
void iond_inflight_begin(struct iond_inflight *slot, struct iond_session *s, uint64_t seq);
void iond_inflight_end(struct iond_inflight *slot);
/* Signal every worker running a call of a closed session; returns how many. */
size_t iond_inflight_interrupt_orphans(void);
/* Interrupt the worker running call seq of session s (EINTR in a blocked
 * lock request).  1 when one was signalled, 0 when the call is not running. */
int iond_inflight_interrupt(struct iond_session *s, uint64_t seq);

#endif
