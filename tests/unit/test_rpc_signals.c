/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Opening the transport must leave the application's signal dispositions
 * alone: libraries that libfabric loads install handlers of their own for
 * SIGINT, SIGSEGV, SIGTERM and others (and override an inherited SIG_IGN).
 */
#include <errno.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "ferry/rpc.h"

static void app_handler(int sig)
{
}

static void handler(struct ferry_rpc_request *r, void *arg)
{
	ferry_rpc_drop(r);
}

static void test_dispositions_survive_open(void **state)
{
	struct sigaction ign = { .sa_handler = SIG_IGN }, app = { .sa_handler = app_handler };
	struct sigaction before[32], after;
	struct ferry_rpc_server *s = NULL;
	char uri[64];
	int sig;

	alarm(60);
	assert_int_equal(sigaction(SIGINT, &ign, NULL), 0);  /* as a background job has */
	assert_int_equal(sigaction(SIGTERM, &app, NULL), 0); /* as the application set */
	for (sig = 1; sig < 32; sig++)
		assert_int_equal(sigaction(sig, NULL, &before[sig]), 0);
	snprintf(uri, sizeof(uri), "shm://ferry-sig-%d", (int)getpid());
	assert_int_equal(ferry_rpc_server_open(uri, NULL, handler, NULL, &s), 0);

	for (sig = 1; sig < 32; sig++) {
		assert_int_equal(sigaction(sig, NULL, &after), 0);
		if (after.sa_handler != before[sig].sa_handler)
			fail_msg("signal %d (%s): handler changed by the transport", sig,
				 strsignal(sig));
	}
	ferry_rpc_server_close(s);
	alarm(0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_dispositions_survive_open),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
