/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The worker pool: the rpc progress thread only enqueues requests; workers
 * run them.  `min` workers always run; when a request arrives and none is
 * idle (every worker is inside a slow call: a blocking lock, a long fsync),
 * the pool starts another, up to `max`.  Extra workers exit after being
 * idle for a while.  See README.md for why.
 */
#ifndef IOND_WORKERS_H
#define IOND_WORKERS_H

#include <stddef.h>

struct iond_workers;

struct iond_worker_ops {
	/* Per-thread state (scratch buffers); NULL means out of memory. */
	void *(*thread_init)(void *arg);
	void (*thread_fini)(void *state, void *arg);
	/* Run one item. */
	void (*run)(void *item, void *state, void *arg);
	/* Dispose of an item that will never run (shutdown). */
	void (*discard)(void *item, void *arg);
};

#define IOND_WORKERS_DEFAULT_MIN 4
#define IOND_WORKERS_DEFAULT_MAX 256

/* min 0: max(4, nproc); max 0: max(min * 4, 256 capped at 4096). */
int iond_workers_start(unsigned int min, unsigned int max, const struct iond_worker_ops *ops,
		       void *arg, struct iond_workers **out);
unsigned int iond_workers_min(const struct iond_workers *w);
unsigned int iond_workers_max(const struct iond_workers *w);
/* Let one idle worker poll the queue for spin_us before sleeping (0: off). */
void iond_workers_set_spin(struct iond_workers *w, unsigned int spin_us);
/* Queue an item (progress thread).  -ESHUTDOWN after stop began. */
int iond_workers_submit(struct iond_workers *w, void *item);
/* Wait up to timeout_ms for the queue to empty and every worker to go
 * idle.  Returns 0 or -ETIMEDOUT. */
int iond_workers_drain(struct iond_workers *w, int timeout_ms);
/* Refuse new items, discard queued ones, and wait up to timeout_ms for the
 * workers to exit.  Returns 0 (the pool is freed) or -ETIMEDOUT (a worker is
 * stuck in a call; the pool is left allocated, the process should exit). */
int iond_workers_stop(struct iond_workers *w, int timeout_ms);

#endif
