/* SPDX-License-Identifier: Apache-2.0 */
#include "stats.h"

#include <stdio.h>

#include <ferry/log.h>
#include <ferry/proto.h>

void iond_stats_init(struct iond_stats *st)
{
	for (int i = 0; i < IOND_STATS_OPS; i++) {
		atomic_init(&st->calls[i], 0);
		atomic_init(&st->errors[i], 0);
		atomic_init(&st->slowest_us[i], 0);
	}
	atomic_init(&st->malformed, 0);
	atomic_init(&st->bytes_in, 0);
	atomic_init(&st->bytes_out, 0);
	atomic_init(&st->sessions_open, 0);
	atomic_init(&st->sessions_total, 0);
}

void iond_stats_add(atomic_uint_fast64_t *counter, uint64_t n)
{
	atomic_fetch_add_explicit(counter, n, memory_order_relaxed);
}

void iond_stats_call(struct iond_stats *st, uint16_t opcode, int err, uint64_t run_us)
{
	unsigned int i = opcode < IOND_STATS_OPS ? opcode : 0;
	uint_fast64_t prev = atomic_load_explicit(&st->slowest_us[i], memory_order_relaxed);

	iond_stats_add(&st->calls[i], 1);
	if (err)
		iond_stats_add(&st->errors[i], 1);
	/* A failed exchange reloads prev; stop once ours is no longer larger. */
	while (run_us > prev && !atomic_compare_exchange_weak_explicit(&st->slowest_us[i], &prev,
								       run_us, memory_order_relaxed,
								       memory_order_relaxed))
		;
}

static uint64_t load(atomic_uint_fast64_t *counter)
{
	return atomic_load_explicit(counter, memory_order_relaxed);
}

void iond_stats_log(struct iond_stats *st, const char *why)
{
	uint64_t calls = 0, errors = 0;

	for (int i = 0; i < IOND_STATS_OPS; i++) {
		calls += load(&st->calls[i]);
		errors += load(&st->errors[i]);
	}
	FLOG_INFO(0, 0,
		  "stats (%s): calls %llu errors %llu malformed %llu sessions open %llu total "
		  "%llu bytes in %llu out %llu",
		  why, (unsigned long long)calls, (unsigned long long)errors,
		  (unsigned long long)load(&st->malformed),
		  (unsigned long long)load(&st->sessions_open),
		  (unsigned long long)load(&st->sessions_total),
		  (unsigned long long)load(&st->bytes_in), (unsigned long long)load(&st->bytes_out));
	for (int i = 0; i < IOND_STATS_OPS; i++) {
		uint64_t n = load(&st->calls[i]);
		const char *name;
		char unknown[24];

		if (!n)
			continue;
		name = i ? ferry_op_name((uint16_t)i) : NULL;
		if (!name) {
			snprintf(unknown, sizeof(unknown), i ? "op%d" : "unknown", i);
			name = unknown;
		}
		FLOG_INFO(0, 0, "stats (%s): %s calls %llu errors %llu slowest %llu ms", why, name,
			  (unsigned long long)n, (unsigned long long)load(&st->errors[i]),
			  (unsigned long long)(load(&st->slowest_us[i]) / 1000));
	}
}
