/* SPDX-License-Identifier: Apache-2.0 */
/*
 * SIGTERM while a call is blocked (F_SETLKW on a lock that is never
 * released): after --drain-timeout the daemon closes the sessions,
 * interrupts the call, and still exits 0 promptly.
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "iond_harness.h"

static struct iond_client waiter;
static long waiter_h;

static void *wait_for_lock(void *arg)
{
	iond_lock(&waiter, waiter_h, F_SETLKW, F_WRLCK, 30000);
	return NULL;
}

int main(int argc, char **argv)
{
	const char *transport = iond_test_begin(argc, argv, 60);
	static const char *const args[] = {"--drain-timeout", "1", NULL};
	struct timespec start, end, tick = {0, 300000000};
	struct iond_daemon d;
	struct iond_client holder;
	pthread_t tid;
	double secs;
	int status;
	long h;

	iond_daemon_start(&d, transport, args);
	CHECK_ERR(iond_client_open(&holder, d.uri, 1), 0);
	h = iond_openat(&holder, "/pfs/lockfile", O_CREAT | O_RDWR, 0644);
	CHECK(h >= 0, "openat: %s", iond_errname(h));
	CHECK_ERR(iond_lock(&holder, h, F_SETLK, F_WRLCK, 0), 0);
	CHECK_ERR(iond_client_open(&waiter, d.uri, 2), 0);
	waiter_h = iond_openat(&waiter, "/pfs/lockfile", O_RDWR, 0);
	CHECK(waiter_h >= 0, "openat: %s", iond_errname(waiter_h));
	CHECK(pthread_create(&tid, NULL, wait_for_lock, NULL) == 0, "pthread_create");
	nanosleep(&tick, NULL); /* into F_SETLKW */

	clock_gettime(CLOCK_MONOTONIC, &start);
	status = iond_daemon_stop(&d, SIGTERM, 20);
	clock_gettime(CLOCK_MONOTONIC, &end);
	secs = (double)(end.tv_sec - start.tv_sec) + (double)(end.tv_nsec - start.tv_nsec) / 1e9;
	CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0, "exit status %#x", status);
	CHECK(secs < 8, "shutdown took %.1f s", secs);
	CHECK(iond_log_contains(&d, "interrupting them", 0), "no interruption logged");
	CHECK(iond_log_contains(&d, "job=2 session closed (shutdown)", 0), "waiter not closed");
	pthread_join(tid, NULL);

	iond_client_close(&waiter);
	iond_client_close(&holder);
	iond_test_pass("shutdown interrupts a blocked call");
}
