/* SPDX-License-Identifier: Apache-2.0 */
#include "workers.h"

#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <ferry/log.h>

#define EXTRA_IDLE_EXIT_MS 10000 /* extra workers go away after this idle */
#define WORKERS_HARD_MAX 4096

struct work_item {
	void *item;
	struct work_item *next;
};

struct iond_workers {
	pthread_mutex_t lock;
	pthread_cond_t work_ready;  /* an item was queued or stop began */
	pthread_cond_t state_changed; /* a worker went idle or exited */
	struct work_item *head, *tail;
	struct work_item *free_items; /* recycled queue nodes */
	size_t nqueued;
	unsigned int min, max;
	unsigned int nthreads; /* running */
	unsigned int idle;     /* waiting for work */
	bool stopping;
	bool spinning;          /* one idle worker is polling the queue */
	unsigned int spin_us;   /* how long it polls before sleeping */
	atomic_size_t pending;  /* nqueued, readable without the lock */
	struct iond_worker_ops ops;
	void *arg;
};

static void deadline_after(struct timespec *ts, int ms)
{
	clock_gettime(CLOCK_MONOTONIC, ts);
	ts->tv_sec += ms / 1000;
	ts->tv_nsec += (long)(ms % 1000) * 1000000L;
	if (ts->tv_nsec >= 1000000000L) {
		ts->tv_sec++;
		ts->tv_nsec -= 1000000000L;
	}
}

static int cond_init_monotonic(pthread_cond_t *cond)
{
	pthread_condattr_t attr;
	int rc;

	rc = pthread_condattr_init(&attr);
	if (rc)
		return -rc;
	rc = pthread_condattr_setclock(&attr, CLOCK_MONOTONIC);
	if (!rc)
		rc = pthread_cond_init(cond, &attr);
	pthread_condattr_destroy(&attr);
	return -rc;
}

/* Take the next item, or NULL when this worker should exit.  Lock held. */
static uint64_t now_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
}

/*
 * Waking a sleeping thread costs tens of microseconds, far more than a
 * forwarded call on shm.  So one idle worker at a time polls the queue for
 * spin_us before it sleeps; under a steady stream of calls the next request
 * is picked up at once.  Lock held on entry and return.
 */
static void spin_for_work(struct iond_workers *w)
{
	uint64_t until = now_us() + w->spin_us;

	w->spinning = true;
	w->idle++;
	pthread_mutex_unlock(&w->lock);
	while (atomic_load_explicit(&w->pending, memory_order_acquire) == 0 && now_us() < until)
		__builtin_ia32_pause();
	pthread_mutex_lock(&w->lock);
	w->idle--;
	w->spinning = false;
}

static void *next_item_locked(struct iond_workers *w)
{
	bool spun = false;

	for (;;) {
		struct work_item *wi = w->head;
		struct timespec deadline;
		int rc;

		if (wi) {
			void *item = wi->item;

			w->head = wi->next;
			w->nqueued--;
			atomic_store_explicit(&w->pending, w->nqueued, memory_order_relaxed);
			if (!w->head)
				w->tail = NULL;
			wi->next = w->free_items;
			w->free_items = wi;
			return item;
		}
		if (w->stopping)
			return NULL;
		if (!spun && !w->spinning && w->spin_us) {
			spin_for_work(w);
			spun = true;
			continue;
		}
		w->idle++;
		pthread_cond_broadcast(&w->state_changed);
		if (w->nthreads > w->min) {
			deadline_after(&deadline, EXTRA_IDLE_EXIT_MS);
			rc = pthread_cond_timedwait(&w->work_ready, &w->lock, &deadline);
		} else {
			rc = pthread_cond_wait(&w->work_ready, &w->lock);
		}
		w->idle--;
		if (rc == ETIMEDOUT && !w->head && w->nthreads > w->min)
			return NULL;
	}
}

static void *worker_main(void *p)
{
	struct iond_workers *w = p;
	void *state = w->ops.thread_init ? w->ops.thread_init(w->arg) : w;

	if (!state)
		FLOG_ERR(0, 0, "worker: out of memory for its buffers; exiting");
	pthread_mutex_lock(&w->lock);
	while (state) {
		void *item = next_item_locked(w);

		if (!item)
			break;
		pthread_mutex_unlock(&w->lock);
		w->ops.run(item, state, w->arg);
		pthread_mutex_lock(&w->lock);
	}
	pthread_mutex_unlock(&w->lock);
	if (state && w->ops.thread_fini)
		w->ops.thread_fini(state, w->arg);
	/* After this unlock the pool may be freed by iond_workers_stop. */
	pthread_mutex_lock(&w->lock);
	w->nthreads--;
	pthread_cond_broadcast(&w->state_changed);
	pthread_mutex_unlock(&w->lock);
	return NULL;
}

/* Start one detached worker.  Lock held. */
static int spawn_locked(struct iond_workers *w)
{
	pthread_attr_t attr;
	pthread_t tid;
	int rc;

	rc = pthread_attr_init(&attr);
	if (rc)
		return -rc;
	rc = pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
	if (!rc)
		rc = pthread_create(&tid, &attr, worker_main, w);
	pthread_attr_destroy(&attr);
	if (rc)
		return -rc;
	w->nthreads++;
	return 0;
}

int iond_workers_start(unsigned int min, unsigned int max, const struct iond_worker_ops *ops,
		       void *arg, struct iond_workers **out)
{
	struct iond_workers *w;
	long nproc;
	int rc;

	if (!min) {
		nproc = sysconf(_SC_NPROCESSORS_ONLN);
		min = nproc > IOND_WORKERS_DEFAULT_MIN ? (unsigned int)nproc
						       : IOND_WORKERS_DEFAULT_MIN;
	}
	if (!max) {
		max = min * 4 > IOND_WORKERS_DEFAULT_MAX ? min * 4 : IOND_WORKERS_DEFAULT_MAX;
		if (max > WORKERS_HARD_MAX)
			max = WORKERS_HARD_MAX;
	}
	if (min > max)
		return -EINVAL;
	w = calloc(1, sizeof(*w));
	if (!w)
		return -ENOMEM;
	w->min = min;
	w->max = max;
	atomic_init(&w->pending, 0);
	w->ops = *ops;
	w->arg = arg;
	rc = -pthread_mutex_init(&w->lock, NULL);
	if (rc)
		goto out_free;
	rc = cond_init_monotonic(&w->work_ready);
	if (rc)
		goto out_mutex;
	rc = cond_init_monotonic(&w->state_changed);
	if (rc)
		goto out_cond;
	pthread_mutex_lock(&w->lock);
	for (unsigned int i = 0; i < min && !rc; i++)
		rc = spawn_locked(w);
	pthread_mutex_unlock(&w->lock);
	if (rc) {
		/* Workers already started exit once they see stopping. */
		iond_workers_stop(w, 5000);
		return rc;
	}
	*out = w;
	return 0;

out_cond:
	pthread_cond_destroy(&w->work_ready);
out_mutex:
	pthread_mutex_destroy(&w->lock);
out_free:
	free(w);
	return rc;
}

unsigned int iond_workers_min(const struct iond_workers *w)
{
	return w->min;
}

unsigned int iond_workers_max(const struct iond_workers *w)
{
	return w->max;
}

int iond_workers_submit(struct iond_workers *w, void *item)
{
	struct work_item *wi;
	int rc = 0;

	pthread_mutex_lock(&w->lock);
	if (w->stopping) {
		rc = -ESHUTDOWN;
		goto out_unlock;
	}
	wi = w->free_items;
	if (wi) {
		w->free_items = wi->next;
	} else {
		wi = malloc(sizeof(*wi));
		if (!wi) {
			rc = -ENOMEM;
			goto out_unlock;
		}
	}
	wi->item = item;
	wi->next = NULL;
	if (w->tail)
		w->tail->next = wi;
	else
		w->head = wi;
	w->tail = wi;
	w->nqueued++;
	atomic_store_explicit(&w->pending, w->nqueued, memory_order_release);
	/* More work than idle workers (each busy one may be in a slow call):
	 * grow, so one client's blocking lock or long fsync never stalls
	 * everyone else. */
	if (w->nqueued > w->idle && w->nthreads < w->max) {
		int spawn_rc = spawn_locked(w);

		if (spawn_rc)
			FLOG_WARN(0, 0, "cannot start another worker (%u running): %s",
				  w->nthreads, strerror(-spawn_rc));
		else
			FLOG_DEBUG(0, 0, "all workers busy: started worker %u of at most %u",
				   w->nthreads, w->max);
	}
	/* A spinning worker rechecks the queue under the lock before it
	 * sleeps, so it needs no wake-up; waking a sleeper as well would only
	 * cost a context switch. */
	if (!w->spinning || w->nqueued > 1)
		pthread_cond_signal(&w->work_ready);
out_unlock:
	pthread_mutex_unlock(&w->lock);
	return rc;
}

void iond_workers_set_spin(struct iond_workers *w, unsigned int spin_us)
{
	pthread_mutex_lock(&w->lock);
	w->spin_us = spin_us;
	pthread_mutex_unlock(&w->lock);
}

int iond_workers_drain(struct iond_workers *w, int timeout_ms)
{
	struct timespec deadline;
	int rc = 0;

	deadline_after(&deadline, timeout_ms);
	pthread_mutex_lock(&w->lock);
	while ((w->head || w->idle < w->nthreads) && rc == 0)
		rc = pthread_cond_timedwait(&w->state_changed, &w->lock, &deadline);
	pthread_mutex_unlock(&w->lock);
	return rc ? -ETIMEDOUT : 0;
}

int iond_workers_stop(struct iond_workers *w, int timeout_ms)
{
	struct work_item *queued, *wi;
	struct timespec deadline;
	int rc = 0;

	deadline_after(&deadline, timeout_ms);
	pthread_mutex_lock(&w->lock);
	w->stopping = true;
	queued = w->head;
	w->head = w->tail = NULL;
	w->nqueued = 0;
	atomic_store(&w->pending, 0);
	pthread_cond_broadcast(&w->work_ready);
	pthread_mutex_unlock(&w->lock);

	while (queued) {
		wi = queued;
		queued = wi->next;
		if (w->ops.discard)
			w->ops.discard(wi->item, w->arg);
		free(wi);
	}

	pthread_mutex_lock(&w->lock);
	while (w->nthreads > 0 && rc == 0)
		rc = pthread_cond_timedwait(&w->state_changed, &w->lock, &deadline);
	pthread_mutex_unlock(&w->lock);
	if (rc)
		return -ETIMEDOUT;
	while (w->free_items) {
		wi = w->free_items;
		w->free_items = wi->next;
		free(wi);
	}
	pthread_cond_destroy(&w->state_changed);
	pthread_cond_destroy(&w->work_ready);
	pthread_mutex_destroy(&w->lock);
	free(w);
	return 0;
}
