/* SPDX-License-Identifier: Apache-2.0 */
/*
 * ferry-iond's socket pieces without a network: the [sockets] policy
 * (port lists and ranges, CIDR matching on bit boundaries, bad input
 * refused with the culprit named) and the session's socket-state hook
 * (installed once, refused once the session is closed, told of the close
 * once and before the descriptors go, released with the session).
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <stdbool.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "session.h"
#include "sock_policy.h"
#include "stats.h"

static struct iond_sock_policy policy;

static void test_ports(void **state)
{
	char err[64] = "";

	(void)state;
	iond_sock_policy_init(&policy);
	assert_true(policy.enabled);
	assert_false(iond_sock_policy_port_allowed(&policy, 8080)); /* none by default */
	assert_int_equal(iond_sock_policy_set_ports(&policy, "8080, 9000-9002 65535", err,
						    sizeof(err)), 0);
	assert_true(iond_sock_policy_port_allowed(&policy, 8080));
	assert_true(iond_sock_policy_port_allowed(&policy, 9000));
	assert_true(iond_sock_policy_port_allowed(&policy, 9002));
	assert_true(iond_sock_policy_port_allowed(&policy, 65535));
	assert_false(iond_sock_policy_port_allowed(&policy, 9003));
	assert_false(iond_sock_policy_port_allowed(&policy, 8081));
	assert_false(iond_sock_policy_port_allowed(&policy, 0));
	assert_false(iond_sock_policy_port_allowed(&policy, 70000));
}

/* What SESSION_OPEN tells the runtime: the same ports, as ranges. */
static void test_port_ranges(void **state)
{
	char err[64];
	int64_t r[8];

	(void)state;
	iond_sock_policy_init(&policy);
	assert_int_equal(iond_sock_policy_set_ports(&policy, "8080, 9000-9002 9003 65535", err,
						    sizeof(err)), 0);
	assert_int_equal(iond_sock_policy_port_ranges(&policy, r, 4), 3);
	assert_int_equal(r[0], 8080);
	assert_int_equal(r[1], 8080);
	assert_int_equal(r[2], 9000);
	assert_int_equal(r[3], 9003);
	assert_int_equal(r[4], 65535);
	assert_int_equal(r[5], 65535);
	assert_int_equal(iond_sock_policy_port_ranges(&policy, r, 2), -E2BIG);
	policy.enabled = false;
	assert_int_equal(iond_sock_policy_port_ranges(&policy, r, 4), 0);
}

static void test_ports_refused(void **state)
{
	static const char *const bad[] = {"0", "65536", "80-70", "http",
					  "-5", "80-", "8x", "1-2-3"};
	char err[64];

	(void)state;
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		err[0] = '\0';
		iond_sock_policy_init(&policy);
		assert_int_equal(iond_sock_policy_set_ports(&policy, bad[i], err, sizeof(err)),
				 -EINVAL);
		assert_non_null(strstr(err, bad[i]));
	}
}

static bool allowed4(const char *addr)
{
	struct sockaddr_in sa = {.sin_family = AF_INET};

	assert_int_equal(inet_pton(AF_INET, addr, &sa.sin_addr), 1);
	return iond_sock_policy_connect_allowed(&policy, (struct sockaddr *)&sa);
}

static bool allowed6(const char *addr)
{
	struct sockaddr_in6 sa = {.sin6_family = AF_INET6};

	assert_int_equal(inet_pton(AF_INET6, addr, &sa.sin6_addr), 1);
	return iond_sock_policy_connect_allowed(&policy, (struct sockaddr *)&sa);
}

static void test_connect(void **state)
{
	char err[64];

	(void)state;
	iond_sock_policy_init(&policy);
	assert_true(allowed4("192.0.2.1")); /* any by default */
	assert_int_equal(iond_sock_policy_set_connect(&policy, "10.0.0.0/8, 172.16.0.0/12 "
						      "192.0.2.7 2001:db8::/33",
						      err, sizeof(err)), 0);
	assert_true(allowed4("10.255.1.2"));
	assert_false(allowed4("11.0.0.1"));
	assert_true(allowed4("172.31.255.255")); /* /12: a prefix inside a byte */
	assert_false(allowed4("172.32.0.0"));
	assert_true(allowed4("192.0.2.7"));
	assert_false(allowed4("192.0.2.8"));
	assert_true(allowed6("2001:db8:7fff::1"));
	assert_false(allowed6("2001:db8:8000::1"));
	assert_true(allowed6("::ffff:10.0.0.1")); /* an IPv4-mapped address is IPv4 */
	assert_false(allowed6("::ffff:11.0.0.1"));
	assert_int_equal(iond_sock_policy_set_connect(&policy, "0.0.0.0/0", err, sizeof(err)), 0);
	assert_true(allowed4("203.0.113.9"));
	assert_false(allowed6("2001:db8::1")); /* families are not mixed */
	assert_int_equal(iond_sock_policy_set_connect(&policy, "::/0", err, sizeof(err)), 0);
	assert_true(allowed6("2001:db8::1"));
	assert_false(allowed6("::ffff:203.0.113.9")); /* IPv6 nets do not cover IPv4 */
	assert_int_equal(iond_sock_policy_set_connect(&policy, "any", err, sizeof(err)), 0);
	assert_true(allowed6("2001:db8::1"));
}

static void test_connect_refused(void **state)
{
	static const char *const bad[] = {"10.0.0.0/33", "2001:db8::/129", "10.0.0/8",
					  "example.org", "10.0.0.0/", "10.0.0.0/x"};
	char err[64];

	(void)state;
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		err[0] = '\0';
		assert_int_equal(iond_sock_policy_set_connect(&policy, bad[i], err, sizeof(err)),
				 -EINVAL);
		assert_non_null(strstr(err, bad[i]));
	}
}

/* ---- the session hook ---- */

static int closes, releases;
static bool fd_open_at_close;

static void on_close(struct iond_session *s, void *state)
{
	int *fd = state;

	(void)s;
	closes++;
	/* Told before the session's descriptors are closed. */
	fd_open_at_close = fcntl(*fd, F_GETFD) != -1;
}

static void on_release(void *state)
{
	releases++;
	free(state);
}

static const struct iond_session_sockets_ops hook_ops = {on_close, on_release};

static void test_session_hook(void **state)
{
	struct iond_cred cred = {.pid = 1, .uid = 1000, .gid = 1000, .jobid = 5};
	static struct iond_stats stats;
	struct iond_sessions *t;
	struct iond_session *s;
	int *mine = malloc(sizeof(*mine)), *other = malloc(sizeof(*other));
	int pipefd[2];

	(void)state;
	iond_stats_init(&stats);
	assert_int_equal(iond_sessions_new(4, 16, &stats, &t), 0);
	iond_sessions_set_sockets_ops(t, &hook_ops);
	assert_int_equal(iond_session_open(t, 42, &cred, &s), 0);
	assert_int_equal(pipe(pipefd), 0);
	assert_int_equal(iond_session_add_fd(s, pipefd[0]), pipefd[0]);
	close(pipefd[1]);
	*mine = pipefd[0];
	assert_null(iond_session_sockets(s, NULL));
	assert_ptr_equal(iond_session_sockets(s, mine), mine);
	assert_ptr_equal(iond_session_sockets(s, other), mine); /* the first stays */
	free(other);
	assert_int_equal(iond_session_close(s, "test"), 1);
	assert_int_equal(closes, 1);
	assert_true(fd_open_at_close);
	assert_int_equal(fcntl(pipefd[0], F_GETFD), -1); /* closed after the hook */
	assert_null(iond_session_sockets(s, NULL));       /* closed: no state */
	assert_int_equal(iond_session_close(s, "again"), -ENOTCONN);
	assert_int_equal(closes, 1);
	assert_int_equal(releases, 0); /* the caller still holds the session */
	iond_session_put(s);
	assert_int_equal(releases, 1);
	iond_sessions_free(t);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_ports),
		cmocka_unit_test(test_port_ranges),
		cmocka_unit_test(test_ports_refused),
		cmocka_unit_test(test_connect),
		cmocka_unit_test(test_connect_refused),
		cmocka_unit_test(test_session_hook),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
