/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Daemon counters: calls, errors and the slowest call per opcode, sessions,
 * bytes moved.
 * Lock-free (relaxed atomics); printed as log lines at shutdown and on
 * SIGUSR1.
 */
#ifndef IOND_STATS_H
#define IOND_STATS_H

#include <stdatomic.h>
#include <stdint.h>

#define IOND_STATS_OPS 256 /* opcodes are u16 on the wire; larger ones count as 0 */

struct iond_stats {
	atomic_uint_fast64_t calls[IOND_STATS_OPS];
	atomic_uint_fast64_t errors[IOND_STATS_OPS];
	atomic_uint_fast64_t slowest_us[IOND_STATS_OPS]; /* longest run, queue wait excluded */
	atomic_uint_fast64_t malformed;   /* requests that did not decode */
	atomic_uint_fast64_t bytes_in;    /* written to the filesystem */
	atomic_uint_fast64_t bytes_out;   /* read from the filesystem */
	atomic_uint_fast64_t sessions_open;
	atomic_uint_fast64_t sessions_total;
};

void iond_stats_init(struct iond_stats *st);
/* One call of opcode that ran run_us microseconds, failed if err. */
void iond_stats_call(struct iond_stats *st, uint16_t opcode, int err, uint64_t run_us);
void iond_stats_add(atomic_uint_fast64_t *counter, uint64_t n);
/* Log the counters, one line for totals and one per opcode used. */
void iond_stats_log(struct iond_stats *st, const char *why);

#endif
