/* SPDX-License-Identifier: Apache-2.0 */
/* ionode/auth.c without a munged (the payload parser, the refusals made
 * before munged is asked, --auth none) and the auth settings of config.c. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "auth.h"
#include "auth_seen.h"
#include "config.h"

static int parse(const char *s, uint64_t *job, int64_t *pid)
{
	return iond_auth_payload_parse(s, strlen(s), job, pid);
}

static void test_payload_parse(void **state)
{
	uint64_t job = 0;
	int64_t pid = 0;

	(void)state;
	assert_int_equal(parse("ferry-session-v1 job=4242 pid=77", &job, &pid), 0);
	assert_int_equal(job, 4242);
	assert_int_equal(pid, 77);
	assert_int_equal(parse("ferry-session-v1 job=0 pid=1", &job, &pid), 0);
	assert_int_equal(job, 0);
	assert_int_equal(parse("ferry-session-v1 job=9223372036854775807 pid=2147483647", &job,
			       &pid),
			 0);
	assert_int_equal(job, INT64_MAX);
	assert_int_equal(pid, INT32_MAX);

	/* Exactly that text: nothing missing, extra, reordered or out of range. */
	static const char *const bad[] = {
		"",
		"ferry-session-v1",
		"ferry-session-v1 ",
		"ferry-session-v2 job=1 pid=1",
		"ferry-session-v1 job=1",
		"ferry-session-v1 job=1 pid=",
		"ferry-session-v1 job= pid=1",
		"ferry-session-v1 pid=1 job=1",
		"ferry-session-v1 job=1 pid=1 ",
		"ferry-session-v1 job=1 pid=1\n",
		"ferry-session-v1 job=1  pid=1",
		"ferry-session-v1 job=-1 pid=1",
		"ferry-session-v1 job=+1 pid=1",
		"ferry-session-v1 job=01 pid=1",
		"ferry-session-v1 job=1 pid=0x10",
		"ferry-session-v1 job=9223372036854775808 pid=1",
		"ferry-session-v1 job=1 pid=2147483648",
		"ferry-session-v1 job=1 pid=99999999999999999999999",
		"hello",
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		if (parse(bad[i], &job, &pid) != -EINVAL)
			fail_msg("payload '%s' accepted", bad[i]);
	}
	/* A NUL inside is not the end of the payload. */
	assert_int_equal(iond_auth_payload_parse("ferry-session-v1 job=1 pid=1\0x", 30, &job, &pid),
			 -EINVAL);
	assert_int_equal(iond_auth_payload_parse(NULL, 0, &job, &pid), -EINVAL);
}

static void test_mode_names(void **state)
{
	enum iond_auth_mode m;

	(void)state;
	assert_int_equal(iond_auth_parse("munge", &m), 0);
	assert_int_equal(m, IOND_AUTH_MUNGE);
	assert_string_equal(iond_auth_name(m), "munge");
	assert_int_equal(iond_auth_parse("none", &m), 0);
	assert_int_equal(m, IOND_AUTH_NONE);
	assert_string_equal(iond_auth_name(m), "none");
	assert_int_equal(iond_auth_parse("MUNGE", &m), -EINVAL);
	assert_int_equal(iond_auth_parse("", &m), -EINVAL);
}

static void open_req(struct ferry_msg *m, int64_t pid, int64_t uid, int64_t gid, int64_t job,
		     const void *data, uint32_t len)
{
	ferry_msg_init(m, FERRY_OP_SESSION_OPEN, 0, 0);
	ferry_msg_add_arg(m, pid);
	ferry_msg_add_arg(m, uid);
	ferry_msg_add_arg(m, gid);
	ferry_msg_add_arg(m, job);
	m->data = data;
	m->data_len = len;
}

static void test_none_believes_the_claim(void **state)
{
	struct iond_cred cred;
	struct ferry_msg m;
	char why[256];

	(void)state;
	open_req(&m, 10, 1000, 100, 7, "ignored", 7);
	assert_int_equal(iond_auth_check(IOND_AUTH_NONE, &m, &cred, why, sizeof(why)), 0);
	assert_int_equal(cred.pid, 10);
	assert_int_equal(cred.uid, 1000);
	assert_int_equal(cred.gid, 100);
	assert_int_equal(cred.jobid, 7);
	open_req(&m, 10, -1, 100, 7, NULL, 0);
	assert_int_equal(iond_auth_check(IOND_AUTH_NONE, &m, &cred, why, sizeof(why)), -EINVAL);
	assert_string_equal(why, "malformed request");
	open_req(&m, 10, 1, (int64_t)UINT32_MAX + 1, 7, NULL, 0);
	assert_int_equal(iond_auth_check(IOND_AUTH_NONE, &m, &cred, why, sizeof(why)), -EINVAL);
}

static long none_open_as(int64_t uid)
{
	struct iond_cred cred;
	struct ferry_msg m;
	char why[256];

	open_req(&m, 10, uid, 100, 7, NULL, 0);
	return iond_auth_check(IOND_AUTH_NONE, &m, &cred, why, sizeof(why));
}

static void test_allowed_users(void **state)
{
	char err[256] = "";

	(void)state;
	assert_int_equal(iond_auth_set_allowed_users("root, 12345", err, sizeof(err)), 0);
	assert_int_equal(none_open_as(0), 0);
	assert_int_equal(none_open_as(12345), 0);
	assert_int_equal(none_open_as(1000), -EKEYREJECTED);
	assert_int_equal(iond_auth_set_allowed_users("no-such-user-here", err, sizeof(err)),
			 -EINVAL);
	assert_string_equal(err, "allow_users: no user 'no-such-user-here'");
	assert_int_equal(iond_auth_set_allowed_users(",,", err, sizeof(err)), -EINVAL);
	assert_int_equal(iond_auth_set_allowed_users("12x", err, sizeof(err)), -EINVAL);
	/* Nothing listed: anyone. */
	assert_int_equal(iond_auth_set_allowed_users(NULL, err, sizeof(err)), 0);
	assert_int_equal(none_open_as(1000), 0);
	assert_int_equal(iond_auth_set_allowed_users("", err, sizeof(err)), 0);
	assert_int_equal(none_open_as(1000), 0);
}

static void test_munge_refusals_before_munged(void **state)
{
	static char big[IOND_AUTH_CRED_MAX + 1];
	struct iond_cred cred;
	struct ferry_msg m;
	char why[256];

	(void)state;
	assert_int_equal(iond_auth_set_munge_socket("/nonexistent/munge.sock"), 0);
	open_req(&m, 10, 1000, 100, 7, NULL, 0);
	assert_int_equal(iond_auth_check(IOND_AUTH_MUNGE, &m, &cred, why, sizeof(why)), -ENOKEY);
	assert_non_null(strstr(why, "no credential"));
	open_req(&m, 10, 1000, 100, 7, "MUNGE:\0abc:", 11);
	assert_int_equal(iond_auth_check(IOND_AUTH_MUNGE, &m, &cred, why, sizeof(why)),
			 -EKEYREJECTED);
	assert_non_null(strstr(why, "bad credential"));
	memset(big, 'A', sizeof(big));
	open_req(&m, 10, 1000, 100, 7, big, sizeof(big));
	assert_int_equal(iond_auth_check(IOND_AUTH_MUNGE, &m, &cred, why, sizeof(why)),
			 -EKEYREJECTED);
	/* Well formed as far as we can tell, but nobody to decode it. */
	open_req(&m, 10, 1000, 100, 7, "MUNGE:AwQFAAA=:", 15);
	assert_int_equal(iond_auth_check(IOND_AUTH_MUNGE, &m, &cred, why, sizeof(why)), -EAGAIN);
	assert_non_null(strstr(why, "munged unreachable on /nonexistent/munge.sock"));
	assert_int_equal(iond_auth_set_munge_socket(NULL), 0);
}

static void test_seen_once_until_expiry(void **state)
{
	const char *a = "MUNGE:credential-a:", *b = "MUNGE:credential-b:";

	(void)state;
	iond_auth_seen_reset();
	assert_true(iond_auth_seen_add(a, strlen(a), 200, 100));
	assert_false(iond_auth_seen_add(a, strlen(a), 200, 150));
	assert_false(iond_auth_seen_add(a, strlen(a), 200, 200));
	assert_true(iond_auth_seen_add(b, strlen(b), 200, 150));
	/* A prefix is another credential. */
	assert_true(iond_auth_seen_add(a, strlen(a) - 1, 200, 150));
	assert_int_equal(iond_auth_seen_count(), 3);
	/* Once expired (munged refuses it anyway), the slot may be reused. */
	assert_true(iond_auth_seen_add(a, strlen(a), 400, 201));
	assert_false(iond_auth_seen_add(a, strlen(a), 400, 300));
	iond_auth_seen_reset();
	assert_int_equal(iond_auth_seen_count(), 0);
}

static void test_seen_grows_and_forgets_expired(void **state)
{
	char cred[64];

	(void)state;
	iond_auth_seen_reset();
	for (int i = 0; i < 5000; i++) {
		snprintf(cred, sizeof(cred), "MUNGE:old-%d:", i);
		assert_true(iond_auth_seen_add(cred, strlen(cred), 10, 0));
	}
	assert_int_equal(iond_auth_seen_count(), 5000);
	for (int i = 0; i < 5000; i++) {
		snprintf(cred, sizeof(cred), "MUNGE:old-%d:", i);
		assert_false(iond_auth_seen_add(cred, strlen(cred), 10, 5));
	}
	/* Later, the old ones are dropped as the table makes room. */
	for (int i = 0; i < 20000; i++) {
		snprintf(cred, sizeof(cred), "MUNGE:new-%d:", i);
		assert_true(iond_auth_seen_add(cred, strlen(cred), 1000, 20));
	}
	assert_true(iond_auth_seen_count() >= 20000);
	assert_true(iond_auth_seen_count() < 25000);
	for (int i = 0; i < 20000; i += 97) {
		snprintf(cred, sizeof(cred), "MUNGE:new-%d:", i);
		assert_false(iond_auth_seen_add(cred, strlen(cred), 1000, 30));
	}
	iond_auth_seen_reset();
}

static int load(struct iond_config *cfg, char **argv)
{
	char err[512];
	int argc = 0;

	while (argv[argc])
		argc++;
	return iond_config_load(cfg, argc, argv, err, sizeof(err));
}

static void test_config_auth_settings(void **state)
{
	char path[] = "/tmp/test_iond_auth.XXXXXX";
	struct iond_config cfg;
	char cfg_opt[64];
	FILE *f;
	int fd;

	(void)state;
	unsetenv("FERRY_MUNGE_SOCKET");
	fd = mkstemp(path);
	assert_true(fd >= 0);
	f = fdopen(fd, "w");
	assert_non_null(f);
	fprintf(f, "[ionode]\nauth = munge\nmunge_socket = /from/file.sock\n");
	fclose(f);
	snprintf(cfg_opt, sizeof(cfg_opt), "--config=%s", path);

	/* Defaults: none, libmunge's socket. */
	char *a0[] = {"ferry-iond", "--config=/dev/null", "-l", "tcp://h:1", "-e", "/p=/d", NULL};
	assert_int_equal(load(&cfg, a0), IOND_CONFIG_RUN);
	assert_string_equal(cfg.auth, "none");
	assert_null(cfg.munge_socket);
	iond_config_free(&cfg);

	/* The file. */
	char *a1[] = {"ferry-iond", cfg_opt, "-l", "tcp://h:1", "-e", "/p=/d", NULL};
	assert_int_equal(load(&cfg, a1), IOND_CONFIG_RUN);
	assert_string_equal(cfg.auth, "munge");
	assert_string_equal(cfg.munge_socket, "/from/file.sock");
	iond_config_free(&cfg);

	/* The environment over the file, flags over both. */
	setenv("FERRY_MUNGE_SOCKET", "/from/env.sock", 1);
	assert_int_equal(load(&cfg, a1), IOND_CONFIG_RUN);
	assert_string_equal(cfg.munge_socket, "/from/env.sock");
	iond_config_free(&cfg);
	char *a2[] = {"ferry-iond", cfg_opt, "-l", "tcp://h:1", "-e", "/p=/d", "--auth", "none",
		      "--munge-socket", "/from/flag.sock", NULL};
	assert_int_equal(load(&cfg, a2), IOND_CONFIG_RUN);
	assert_string_equal(cfg.auth, "none");
	assert_string_equal(cfg.munge_socket, "/from/flag.sock");
	assert_null(cfg.allow_users);
	iond_config_free(&cfg);
	char *a3[] = {"ferry-iond", cfg_opt, "-l", "tcp://h:1", "-e", "/p=/d", "--allow-users",
		      "alice,1000", NULL};
	assert_int_equal(load(&cfg, a3), IOND_CONFIG_RUN);
	assert_string_equal(cfg.allow_users, "alice,1000");
	iond_config_free(&cfg);
	unsetenv("FERRY_MUNGE_SOCKET");
	assert_int_equal(unlink(path), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_payload_parse),
		cmocka_unit_test(test_mode_names),
		cmocka_unit_test(test_none_believes_the_claim),
		cmocka_unit_test(test_munge_refusals_before_munged),
		cmocka_unit_test(test_allowed_users),
		cmocka_unit_test(test_config_auth_settings),
		cmocka_unit_test(test_seen_once_until_expiry),
		cmocka_unit_test(test_seen_grows_and_forgets_expired),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
