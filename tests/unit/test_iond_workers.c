/* SPDX-License-Identifier: Apache-2.0 */
/* ionode/workers.c: the pool runs everything, grows past blocked workers,
 * drains and stops. */
#include <errno.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <unistd.h>

#include <cmocka.h>

#include "workers.h"

struct pool_state {
	pthread_mutex_t mu;
	pthread_cond_t cv;
	int ran;
	int discarded;
	int blocked;
	int release;
};

static struct pool_state ps = {.mu = PTHREAD_MUTEX_INITIALIZER, .cv = PTHREAD_COND_INITIALIZER};

#define ITEM_BLOCK ((void *)2)

/* ITEM_BLOCK waits until released, as a blocking lock would. */
static void run(void *item, void *state, void *arg)
{
	pthread_mutex_lock(&ps.mu);
	if (item == ITEM_BLOCK) {
		ps.blocked++;
		pthread_cond_broadcast(&ps.cv);
		while (!ps.release)
			pthread_cond_wait(&ps.cv, &ps.mu);
		ps.blocked--;
	}
	ps.ran++;
	pthread_cond_broadcast(&ps.cv);
	pthread_mutex_unlock(&ps.mu);
}

static void discard(void *item, void *arg)
{
	ps.discarded++;
}

static const struct iond_worker_ops ops = {.run = run, .discard = discard};

static int wait_ran(int n)
{
	int ok;

	pthread_mutex_lock(&ps.mu);
	for (int i = 0; i < 500 && ps.ran < n; i++) {
		pthread_mutex_unlock(&ps.mu);
		usleep(10000);
		pthread_mutex_lock(&ps.mu);
	}
	ok = ps.ran >= n;
	pthread_mutex_unlock(&ps.mu);
	return ok;
}

static void test_runs_items(void **state)
{
	struct iond_workers *w;

	ps.ran = 0;
	assert_int_equal(iond_workers_start(2, 4, &ops, NULL, &w), 0);
	for (int i = 0; i < 100; i++)
		assert_int_equal(iond_workers_submit(w, (void *)1), 0);
	assert_int_equal(iond_workers_drain(w, 5000), 0);
	assert_int_equal(ps.ran, 100);
	assert_int_equal(iond_workers_stop(w, 5000), 0);
}

/* With a spinning idle worker, items submitted one by one (the spinner
 * picks them up without a wake-up) and in bursts all run. */
static void test_spinning_worker(void **state)
{
	struct iond_workers *w;

	ps.ran = 0;
	assert_int_equal(iond_workers_start(2, 4, &ops, NULL, &w), 0);
	iond_workers_set_spin(w, 2000);
	for (int i = 0; i < 50; i++) {
		assert_int_equal(iond_workers_submit(w, (void *)1), 0);
		assert_true(wait_ran(i + 1));
		if (i % 10 == 0)
			usleep(3000); /* let the spinner give up and sleep */
	}
	for (int i = 0; i < 50; i++)
		assert_int_equal(iond_workers_submit(w, (void *)1), 0);
	assert_int_equal(iond_workers_drain(w, 5000), 0);
	assert_int_equal(ps.ran, 100);
	assert_int_equal(iond_workers_stop(w, 5000), 0);
}

/* Every base worker blocked: a new item still runs. */
static void test_grows_past_blocked_workers(void **state)
{
	struct iond_workers *w;

	ps.ran = 0;
	ps.release = 0;
	assert_int_equal(iond_workers_start(1, 3, &ops, NULL, &w), 0);
	assert_int_equal(iond_workers_submit(w, ITEM_BLOCK), 0);
	assert_int_equal(iond_workers_submit(w, ITEM_BLOCK), 0);
	assert_int_equal(iond_workers_submit(w, (void *)1), 0);
	assert_true(wait_ran(1));
	pthread_mutex_lock(&ps.mu);
	assert_int_equal(ps.blocked, 2);
	ps.release = 1;
	pthread_cond_broadcast(&ps.cv);
	pthread_mutex_unlock(&ps.mu);
	assert_true(wait_ran(3));
	assert_int_equal(iond_workers_stop(w, 5000), 0);
}

/* Stop discards what never ran and refuses new items; a stuck worker
 * makes it time out. */
static void test_stop(void **state)
{
	struct iond_workers *w;

	ps.ran = 0;
	ps.release = 0;
	ps.discarded = 0;
	assert_int_equal(iond_workers_start(1, 1, &ops, NULL, &w), 0);
	assert_int_equal(iond_workers_submit(w, ITEM_BLOCK), 0);
	pthread_mutex_lock(&ps.mu);
	while (ps.blocked == 0)
		pthread_cond_wait(&ps.cv, &ps.mu);
	pthread_mutex_unlock(&ps.mu);
	assert_int_equal(iond_workers_submit(w, (void *)1), 0);
	assert_int_equal(iond_workers_drain(w, 100), -ETIMEDOUT);
	assert_int_equal(iond_workers_stop(w, 100), -ETIMEDOUT);
	assert_int_equal(ps.discarded, 1);
	assert_int_equal(iond_workers_submit(w, (void *)1), -ESHUTDOWN);
	pthread_mutex_lock(&ps.mu);
	ps.release = 1;
	pthread_cond_broadcast(&ps.cv);
	pthread_mutex_unlock(&ps.mu);
	assert_true(wait_ran(1));
	/* The pool was left allocated: stopping again finishes the job. */
	assert_int_equal(iond_workers_stop(w, 5000), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_runs_items),
		cmocka_unit_test(test_spinning_worker),
		cmocka_unit_test(test_grows_past_blocked_workers),
		cmocka_unit_test(test_stop),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
