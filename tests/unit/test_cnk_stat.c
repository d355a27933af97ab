/* SPDX-License-Identifier: Apache-2.0 */
/* statx -> struct stat must give what the kernel's own stat gives. */
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>

#include <cmocka.h>

#include "statx_convert.h"

static void expect_same_as_kernel(const char *path, int flags)
{
	struct statx stx;
	struct stat want, got;

	assert_int_equal(statx(AT_FDCWD, path, flags, STATX_BASIC_STATS, &stx), 0);
	assert_int_equal(fstatat(AT_FDCWD, path, &want, flags), 0);
	cnk_statx_to_stat(&stx, &got);
	assert_int_equal(got.st_dev, want.st_dev);
	assert_int_equal(got.st_ino, want.st_ino);
	assert_int_equal(got.st_mode, want.st_mode);
	assert_int_equal(got.st_nlink, want.st_nlink);
	assert_int_equal(got.st_uid, want.st_uid);
	assert_int_equal(got.st_gid, want.st_gid);
	assert_int_equal(got.st_rdev, want.st_rdev);
	assert_int_equal(got.st_size, want.st_size);
	assert_int_equal(got.st_blksize, want.st_blksize);
	assert_int_equal(got.st_blocks, want.st_blocks);
	assert_int_equal(got.st_mtim.tv_sec, want.st_mtim.tv_sec);
	assert_int_equal(got.st_mtim.tv_nsec, want.st_mtim.tv_nsec);
	assert_int_equal(got.st_ctim.tv_sec, want.st_ctim.tv_sec);
	assert_int_equal(got.st_ctim.tv_nsec, want.st_ctim.tv_nsec);
}

static void files_dirs_devices_and_links(void **state)
{
	expect_same_as_kernel("/proc/self/exe", 0);
	expect_same_as_kernel("/proc/self/exe", AT_SYMLINK_NOFOLLOW);
	expect_same_as_kernel("/", 0);
	expect_same_as_kernel("/dev/null", 0); /* rdev 1:3 */
}

static void large_device_numbers_encode_like_makedev(void **state)
{
	struct statx stx;
	struct stat st;

	memset(&stx, 0, sizeof(stx));
	stx.stx_dev_major = 259;
	stx.stx_dev_minor = 70000;
	stx.stx_rdev_major = 4095;
	stx.stx_rdev_minor = 1 << 19;
	stx.stx_mode = S_IFBLK | 0600;
	stx.stx_atime.tv_nsec = 999999999;
	cnk_statx_to_stat(&stx, &st);
	assert_int_equal(major(st.st_dev), 259);
	assert_int_equal(minor(st.st_dev), 70000);
	assert_int_equal(major(st.st_rdev), 4095);
	assert_int_equal(minor(st.st_rdev), 1 << 19);
	assert_int_equal(st.st_mode, S_IFBLK | 0600);
	assert_int_equal(st.st_atim.tv_nsec, 999999999);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(files_dirs_devices_and_links),
		cmocka_unit_test(large_device_numbers_encode_like_makedev),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
