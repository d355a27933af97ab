/* SPDX-License-Identifier: Apache-2.0 */
/*
 * One slow call does not stall other clients: with a single base worker, a
 * client blocked in F_SETLKW (the lock is held by another session) leaves
 * the daemon answering everyone else; the lock holder's unlock then wakes
 * the waiter.  Also shows record locks conflict between two compute
 * processes served by the same daemon.
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "iond_harness.h"

struct waiter {
	const char *uri;
	long rc;
	int done;
	pthread_mutex_t mu;
};

static void *wait_for_lock(void *arg)
{
	struct waiter *w = arg;
	struct iond_client c;
	long h, rc = -1;

	if (iond_client_open(&c, w->uri, 2) == 0) {
		h = iond_openat(&c, "/pfs/lockfile", O_RDWR, 0);
		rc = h < 0 ? h : iond_lock(&c, h, F_SETLKW, F_WRLCK, 30000);
		iond_client_close(&c);
	}
	pthread_mutex_lock(&w->mu);
	w->rc = rc;
	w->done = 1;
	pthread_mutex_unlock(&w->mu);
	return NULL;
}

static int waiter_done(struct waiter *w)
{
	int done;

	pthread_mutex_lock(&w->mu);
	done = w->done;
	pthread_mutex_unlock(&w->mu);
	return done;
}

int main(int argc, char **argv)
{
	const char *transport = iond_test_begin(argc, argv, 60);
	static const char *const args[] = {"--workers", "1", NULL};
	struct waiter w = {.mu = PTHREAD_MUTEX_INITIALIZER};
	struct timespec tick = {0, 20000000};
	struct iond_daemon d;
	struct iond_client holder, other;
	pthread_t tid;
	long h;

	iond_daemon_start(&d, transport, args);
	CHECK_ERR(iond_client_open(&holder, d.uri, 1), 0);
	h = iond_openat(&holder, "/pfs/lockfile", O_CREAT | O_RDWR, 0644);
	CHECK(h >= 0, "openat: %s", iond_errname(h));
	CHECK_ERR(iond_lock(&holder, h, F_SETLK, F_WRLCK, 30000), 0);

	w.uri = d.uri;
	CHECK(pthread_create(&tid, NULL, wait_for_lock, &w) == 0, "pthread_create");
	/* Give the waiter time to block inside the daemon. */
	for (int i = 0; i < 25; i++)
		nanosleep(&tick, NULL);
	CHECK(!waiter_done(&w), "F_SETLKW returned (%ld) while the lock was held", w.rc);

	/* Everyone else is still served, including a non-blocking probe. */
	CHECK_ERR(iond_client_open(&other, d.uri, 3), 0);
	CHECK_ERR(iond_null(&other), 0);
	{
		long h2 = iond_openat(&other, "/pfs/lockfile", O_RDWR, 0);

		CHECK(h2 >= 0, "openat: %s", iond_errname(h2));
		CHECK_ERR(iond_lock(&other, h2, F_SETLK, F_WRLCK, 30000), -EAGAIN);
	}

	CHECK_ERR(iond_lock(&holder, h, F_SETLK, F_UNLCK, 30000), 0);
	for (int i = 0; i < 500 && !waiter_done(&w); i++)
		nanosleep(&tick, NULL);
	CHECK(waiter_done(&w), "the waiter never got the lock");
	CHECK_ERR(w.rc, 0);
	pthread_join(tid, NULL);

	iond_client_close(&other);
	iond_client_close(&holder);
	iond_test_pass("a slow call does not stall other clients");
}
