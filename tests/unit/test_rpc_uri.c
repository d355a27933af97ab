/* SPDX-License-Identifier: Apache-2.0 */
/* URI parsing: scheme → provider, node and service. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <string.h>

#include <cmocka.h>

#include "ferry/rpc.h"

struct parsed {
	char prov[32], node[64], service[16];
};

static int parse(const char *uri, struct parsed *p)
{
	memset(p, 0, sizeof(*p));
	return ferry_rpc_parse_uri(uri, p->prov, sizeof(p->prov), p->node, sizeof(p->node),
				   p->service, sizeof(p->service));
}

static void test_tcp_host_port(void **state)
{
	struct parsed p;

	assert_int_equal(parse("tcp://127.0.0.1:7700", &p), 0);
	assert_string_equal(p.prov, "tcp;ofi_rxm");
	assert_string_equal(p.node, "127.0.0.1");
	assert_string_equal(p.service, "7700");
}

static void test_verbs_and_ipv6(void **state)
{
	struct parsed p;

	assert_int_equal(parse("verbs://10.0.0.1:1", &p), 0);
	assert_string_equal(p.prov, "verbs;ofi_rxm");
	assert_int_equal(parse("tcp://[::1]:80", &p), 0);
	assert_string_equal(p.node, "::1");
	assert_string_equal(p.service, "80");
}

static void test_shm_name(void **state)
{
	struct parsed p;

	assert_int_equal(parse("shm://ferry-io0", &p), 0);
	assert_string_equal(p.prov, "shm");
	assert_string_equal(p.node, "ferry-io0");
	assert_string_equal(p.service, "");
}

static void test_rejects_malformed(void **state)
{
	static const char *bad[] = {
		"", "tcp://", "tcp://host", "tcp://host:", "tcp://:80", "tcp://h:8x0",
		"tcp://h:123456", "udp://h:1", "shm://", "shm://a/b", "tcp://[::1:80",
	};
	struct parsed p;
	size_t i;

	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		assert_int_equal(parse(bad[i], &p), -EINVAL);
	assert_int_equal(ferry_rpc_parse_uri(NULL, p.prov, 1, p.node, 1, p.service, 1), -EINVAL);
}

static void test_rejects_small_buffers(void **state)
{
	char prov[4], node[64], service[16];

	assert_int_equal(ferry_rpc_parse_uri("tcp://h:1", prov, sizeof(prov), node, sizeof(node),
					     service, sizeof(service)),
			 -EINVAL);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_tcp_host_port),     cmocka_unit_test(test_verbs_and_ipv6),
		cmocka_unit_test(test_shm_name),          cmocka_unit_test(test_rejects_malformed),
		cmocka_unit_test(test_rejects_small_buffers),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
