/* SPDX-License-Identifier: Apache-2.0 */
/*
 * A call blocked for a client that died is interrupted: with a single
 * worker (--workers 1 --max-workers 1), a client blocked in F_SETLKW on a
 * lock that is never released is killed with SIGKILL; the daemon closes its
 * session, interrupts the worker, and the next client is served.
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "iond_harness.h"

/* The victim: block in F_SETLKW until killed. */
static void victim(const char *uri)
{
	struct iond_client c;
	long h;

	if (iond_client_open(&c, uri, 66))
		_exit(11);
	h = iond_openat(&c, "/pfs/lockfile", O_RDWR, 0);
	if (h < 0)
		_exit(12);
	iond_lock(&c, h, F_SETLKW, F_WRLCK, 600000);
	_exit(13);
}

int main(int argc, char **argv)
{
	const char *transport = iond_test_begin(argc, argv, 90);
	static const char *const args[] = {"--workers", "1", "--max-workers", "1", NULL};
	struct timespec tick = {0, 20000000};
	struct iond_daemon d;
	struct iond_client holder, next;
	int status;
	pid_t pid;
	long h;

	iond_daemon_start(&d, transport, args);
	CHECK_ERR(iond_client_open(&holder, d.uri, 1), 0);
	h = iond_openat(&holder, "/pfs/lockfile", O_CREAT | O_RDWR, 0644);
	CHECK(h >= 0, "openat: %s", iond_errname(h));
	CHECK_ERR(iond_lock(&holder, h, F_SETLK, F_WRLCK, 0), 0);

	pid = fork();
	CHECK(pid >= 0, "fork: %s", strerror(errno));
	if (pid == 0)
		victim(d.uri);
	CHECK(iond_log_contains(&d, "job=66 session opened", 10000), "the victim never connected");
	for (int i = 0; i < 25; i++)
		nanosleep(&tick, NULL); /* into F_SETLKW */
	CHECK(waitpid(pid, &status, WNOHANG) == 0, "the victim did not block (status %#x)", status);
	CHECK(kill(pid, SIGKILL) == 0 && waitpid(pid, &status, 0) == pid, "kill the victim");

	CHECK(iond_log_contains(&d, "job=66 session closed", 20000), "the session was not closed");
	/* The only worker is free again. */
	CHECK_ERR(iond_client_open(&next, d.uri, 2), 0);
	CHECK_ERR(iond_null(&next), 0);
	/* The lock is still the holder's. */
	{
		long h2 = iond_openat(&next, "/pfs/lockfile", O_RDWR, 0);

		CHECK(h2 >= 0, "openat: %s", iond_errname(h2));
		CHECK_ERR(iond_lock(&next, h2, F_SETLK, F_WRLCK, 0), -EAGAIN);
	}

	iond_client_close(&next);
	iond_client_close(&holder);
	iond_test_pass("a call blocked for a dead client is interrupted");
}
