/* SPDX-License-Identifier: Apache-2.0 */
/* Path classification: which compute paths the runtime forwards. */
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "fdtable.h"
#include "policy.h"

static const char *norm(const char *in)
{
	static char buf[FERRY_PATH_MAX];

	assert_true(cnk_path_normalize(in, buf, sizeof(buf)) >= 0);
	return buf;
}

static void normalize_collapses_slashes_and_dots_only(void **state)
{
	assert_string_equal(norm("/pfs//a///b"), "/pfs/a/b");
	assert_string_equal(norm("/pfs/./a/./b"), "/pfs/a/b");
	assert_string_equal(norm("//pfs/a"), "/pfs/a");
	assert_string_equal(norm("/pfs/../../etc/passwd"), "/pfs/../../etc/passwd");
	assert_string_equal(norm("/pfs/dir/"), "/pfs/dir/");
	assert_string_equal(norm("/pfs/."), "/pfs/.");
	assert_string_equal(norm("./a//b"), "a/b");
	assert_string_equal(norm("."), ".");
	assert_string_equal(norm("/"), "/");
	assert_string_equal(norm(""), "");
}

static void normalize_rejects_too_long(void **state)
{
	char big[FERRY_PATH_MAX + 10], out[FERRY_PATH_MAX];

	memset(big, 'a', sizeof(big) - 1);
	big[0] = '/';
	big[sizeof(big) - 1] = '\0';
	assert_int_equal(cnk_path_normalize(big, out, sizeof(out)), -ENAMETOOLONG);
}

static void mounts_match_whole_components(void **state)
{
	struct cnk_mounts m;

	assert_int_equal(cnk_mounts_parse(&m, "/pfs,/other/"), 0);
	assert_int_equal(m.count, 2);
	assert_true(cnk_mounts_match(&m, "/pfs"));
	assert_true(cnk_mounts_match(&m, "/pfs/a/b"));
	assert_true(cnk_mounts_match(&m, "/other/x"));
	assert_true(cnk_mounts_match(&m, norm("/pfs/../../etc/passwd")));
	assert_false(cnk_mounts_match(&m, "/pfsx"));
	assert_false(cnk_mounts_match(&m, "/pfsx/a"));
	assert_false(cnk_mounts_match(&m, "/pf"));
	assert_false(cnk_mounts_match(&m, "/tmp/pfs"));
	assert_false(cnk_mounts_match(&m, "pfs/a"));
	assert_true(cnk_mounts_match(&m, norm("//pfs//a")));
	assert_true(cnk_mounts_match(&m, norm("/./pfs/./a")));
}

static void mounts_parse_rejects_bad_specs(void **state)
{
	struct cnk_mounts m;

	assert_int_equal(cnk_mounts_parse(&m, "pfs"), -EINVAL);
	assert_int_equal(cnk_mounts_parse(&m, "/pfs,,/x"), -EINVAL);
	assert_int_equal(cnk_mounts_parse(&m, "/a:/b"), 0);
	assert_int_equal(m.count, 2);
}

static void root_mount_forwards_all_but_kernel_dirs(void **state)
{
	struct cnk_mounts m;

	assert_int_equal(cnk_mounts_parse(&m, "/"), 0);
	assert_true(m.everything);
	assert_true(cnk_mounts_match(&m, "/home/u/x"));
	assert_true(cnk_mounts_match(&m, "/"));
	assert_true(cnk_mounts_match(&m, "/devices"));
	assert_false(cnk_mounts_match(&m, "/proc/self/maps"));
	assert_false(cnk_mounts_match(&m, "/sys"));
	assert_false(cnk_mounts_match(&m, "/dev/null"));
}

static void join_and_collapse(void **state)
{
	char out[FERRY_PATH_MAX];

	assert_true(cnk_path_join("/pfs/d", "a/./b", out, sizeof(out)) > 0);
	assert_string_equal(out, "/pfs/d/a/b");
	assert_true(cnk_path_join("/pfs/d", "/abs", out, sizeof(out)) > 0);
	assert_string_equal(out, "/abs");
	strcpy(out, "/pfs/a/b/../c/./..");
	cnk_path_collapse_dotdot(out);
	assert_string_equal(out, "/pfs/a");
	strcpy(out, "/pfs/../..");
	cnk_path_collapse_dotdot(out);
	assert_string_equal(out, "/");
}

static void relative_paths_follow_the_forwarded_cwd(void **state)
{
	struct cnk_target t;

	assert_int_equal(cnk_policy_init("/pfs"), 0);
	assert_true(cnk_policy_wants(AT_FDCWD, "/pfs/x"));
	assert_false(cnk_policy_wants(AT_FDCWD, "/pfsx/x"));
	assert_false(cnk_policy_wants(AT_FDCWD, "rel"));
	assert_int_equal(cnk_policy_resolve(AT_FDCWD, "rel", &t), 0);

	assert_int_equal(cnk_cwd_set("/pfs/work"), 0);
	assert_true(cnk_policy_wants(AT_FDCWD, "rel"));
	assert_int_equal(cnk_policy_resolve(AT_FDCWD, "./sub//f", &t), 1);
	assert_int_equal(t.dh, FERRY_AT_ROOT);
	assert_string_equal(t.path, "/pfs/work/sub/f");
	assert_null(t.dir);
	/* ".." stays for the I/O node to judge. */
	assert_int_equal(cnk_policy_resolve(AT_FDCWD, "../../etc/passwd", &t), 1);
	assert_string_equal(t.path, "/pfs/work/../../etc/passwd");
	/* An absolute local path stays local whatever the cwd. */
	assert_int_equal(cnk_policy_resolve(AT_FDCWD, "/etc/passwd", &t), 0);
	assert_int_equal(cnk_cwd_set(NULL), 0);
	assert_false(cnk_policy_wants(AT_FDCWD, "rel"));
}

static void dirfd_decides_for_relative_at_calls(void **state)
{
	struct cnk_target t;
	struct cnk_file *dir;
	int fd;

	assert_int_equal(cnk_policy_init("/pfs"), 0);
	dir = cnk_file_new(42, O_DIRECTORY, "/pfs/d");
	assert_non_null(dir);
	fd = cnk_fd_install_new(dir, true);
	assert_true(fd >= 0);
	cnk_file_put(dir);

	assert_true(cnk_policy_wants(fd, "x"));
	assert_true(cnk_policy_wants(fd, ""));
	assert_true(cnk_policy_wants(fd, NULL));
	assert_int_equal(cnk_policy_resolve(fd, "x/./y", &t), 1);
	assert_int_equal(t.dh, 42);
	assert_string_equal(t.path, "x/y");
	{
		char abs[FERRY_PATH_MAX];

		assert_true(cnk_target_abspath(&t, abs, sizeof(abs)) > 0);
		assert_string_equal(abs, "/pfs/d/x/y");
	}
	cnk_target_release(&t);
	/* An absolute path ignores the dirfd. */
	assert_int_equal(cnk_policy_resolve(fd, "/etc", &t), 0);
	/* A local dirfd keeps a relative path local. */
	assert_false(cnk_policy_wants(STDIN_FILENO, "x"));
	assert_int_equal(cnk_fd_close(fd), 0);
	assert_false(cnk_policy_wants(fd, "x"));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(normalize_collapses_slashes_and_dots_only),
		cmocka_unit_test(normalize_rejects_too_long),
		cmocka_unit_test(mounts_match_whole_components),
		cmocka_unit_test(mounts_parse_rejects_bad_specs),
		cmocka_unit_test(root_mount_forwards_all_but_kernel_dirs),
		cmocka_unit_test(join_and_collapse),
		cmocka_unit_test(relative_paths_follow_the_forwarded_cwd),
		cmocka_unit_test(dirfd_decides_for_relative_at_calls),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
