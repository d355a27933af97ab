/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Signals: SIGUSR1 logs the statistics (with each opcode's slowest call)
 * and the daemon keeps serving;
 * SIGTERM closes every session and its descriptors, logs the per-op
 * summary, removes the ready file and exits 0.
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "iond_harness.h"

int main(int argc, char **argv)
{
	static const char *const debug_args[] = { "--log-level", "debug", NULL };
	const char *transport = iond_test_begin(argc, argv, 60);
	struct iond_daemon d;
	struct iond_client c;
	int status;
	long h;

	iond_daemon_start(&d, transport, debug_args);
	CHECK_ERR(iond_client_open(&c, d.uri, 5), 0);
	h = iond_openat(&c, "/pfs/open-at-exit", O_CREAT | O_RDWR, 0644);
	CHECK(h >= 0, "openat: %s", iond_errname(h));
	CHECK_ERR(iond_write(&c, h, "abc", 3, 0), 3);

	CHECK(kill(d.pid, SIGUSR1) == 0, "kill: %s", strerror(errno));
	CHECK(iond_log_contains(&d, "stats (SIGUSR1): calls", 5000), "no stats on SIGUSR1");
	/* Waits, not timings: a loaded CI machine may be slow to write. */
	CHECK(iond_log_contains(&d, "stats (SIGUSR1): WRITE calls 1 errors 0 slowest ", 5000),
	      "no per-op line on SIGUSR1");
	/* At debug, each call's queue wait and run time. */
	CHECK(iond_log_contains(&d, " WRITE seq ", 5000) && iond_log_contains(&d, " us -> 3", 5000),
	      "no per-call timing line at debug");
	CHECK_ERR(iond_null(&c), 0);

	status = iond_daemon_stop(&d, SIGTERM, 20);
	CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0, "exit status %#x", status);
	CHECK(iond_log_contains(&d, "job=5 session closed (shutdown)", 0), "session not closed");
	CHECK(iond_log_contains(&d, "1 fds closed", 0), "descriptor not closed");
	CHECK(iond_log_contains(&d, "stats (shutdown): OPENAT calls 1 errors 0", 0),
	      "no summary at shutdown");
	CHECK(access(d.ready_path, F_OK) != 0, "ready file left behind");

	iond_client_close(&c);
	iond_test_pass("signals");
}
