/* SPDX-License-Identifier: Apache-2.0 */
/* Forwarded descriptors: placeholders, shared remote files, refcounts. */
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <unistd.h>

#include <cmocka.h>

#include "fdtable.h"

static int released;
static int64_t last_released;
static int stale_seen;

static int count_release(struct cnk_file *f)
{
	released++;
	last_released = f->handle;
	return 0;
}

static int count_stale(int fd, const struct cnk_file *f)
{
	stale_seen++;
	return -EBADF;
}

static int setup(void **state)
{
	released = 0;
	last_released = -1;
	stale_seen = 0;
	cnk_fdtable_set_release(count_release);
	cnk_fdtable_set_stale_hook(count_stale);
	return 0;
}

/* A forwarded fd backed by handle h. */
static int forwarded_fd(int64_t h, bool cloexec)
{
	struct cnk_file *f = cnk_file_new(h, O_RDWR, "/pfs/f");
	int fd;

	assert_non_null(f);
	fd = cnk_fd_install_new(f, cloexec);
	cnk_file_put(f);
	assert_true(fd >= 0);
	return fd;
}

static void placeholder_is_a_real_descriptor(void **state)
{
	int fd = forwarded_fd(7, false);

	assert_true(cnk_fd_is_forwarded(fd));
	assert_false(cnk_fdtable_empty());
	assert_true(fcntl(fd, F_GETFD) >= 0);
	/* A local open never gets the same number. */
	{
		int local = open("/dev/null", O_RDONLY);

		assert_true(local >= 0);
		assert_int_not_equal(local, fd);
		assert_false(cnk_fd_is_forwarded(local));
		close(local);
	}
	assert_int_equal(cnk_fd_close(fd), 0);
	assert_int_equal(released, 1);
	assert_int_equal(last_released, 7);
	assert_false(cnk_fd_is_forwarded(fd));
	assert_int_equal(fcntl(fd, F_GETFD), -1);
	assert_true(cnk_fdtable_empty());
	assert_int_equal(cnk_fd_close(fd), -EBADF);
}

static void cloexec_lives_on_the_placeholder(void **state)
{
	int with = forwarded_fd(1, true), without = forwarded_fd(2, false);

	assert_true(fcntl(with, F_GETFD) & FD_CLOEXEC);
	assert_false(fcntl(without, F_GETFD) & FD_CLOEXEC);
	cnk_fd_close(with);
	cnk_fd_close(without);
	assert_int_equal(released, 2);
}

static void dup_shares_the_remote_file_until_last_close(void **state)
{
	int fd = forwarded_fd(11, false), d1, d2, d3;
	struct cnk_file *a, *b;

	d1 = cnk_fd_dup(fd, -1, CNK_DUP, 0);
	d2 = cnk_fd_dup(fd, 100, CNK_DUPFD_MIN, O_CLOEXEC);
	d3 = cnk_fd_dup(fd, 200, CNK_DUP3, 0);
	assert_true(d1 >= 0 && d1 != fd);
	assert_true(d2 >= 100);
	assert_int_equal(d3, 200);
	assert_true(fcntl(d2, F_GETFD) & FD_CLOEXEC);
	assert_false(fcntl(d3, F_GETFD) & FD_CLOEXEC);
	a = cnk_fd_get(fd);
	b = cnk_fd_get(d3);
	assert_ptr_equal(a, b);
	assert_int_equal(atomic_load(&a->refs), 6); /* 4 slots + 2 here */
	cnk_file_put(a);
	cnk_file_put(b);

	assert_int_equal(cnk_fd_close(fd), 0);
	assert_int_equal(cnk_fd_close(d1), 0);
	assert_int_equal(cnk_fd_close(d2), 0);
	assert_int_equal(released, 0);
	assert_int_equal(cnk_fd_close(d3), 0);
	assert_int_equal(released, 1);
}

static void dup2_over_a_forwarded_fd_releases_it(void **state)
{
	int a = forwarded_fd(21, false), b = forwarded_fd(22, false);
	struct cnk_file *f;

	assert_int_equal(cnk_fd_dup(a, b, CNK_DUP3, 0), b);
	assert_int_equal(released, 1);
	assert_int_equal(last_released, 22);
	f = cnk_fd_get(b);
	assert_non_null(f);
	assert_int_equal(f->handle, 21);
	cnk_file_put(f);
	/* A local descriptor replacing a forwarded one. */
	assert_int_equal(dup2(STDERR_FILENO, b), b);
	cnk_fd_forget_range((unsigned)b, (unsigned)b);
	assert_false(cnk_fd_is_forwarded(b));
	close(b);
	assert_int_equal(released, 1);
	cnk_fd_close(a);
	assert_int_equal(released, 2);
}

static void fork_children_see_stale_files(void **state)
{
	int fd = forwarded_fd(31, false);
	struct cnk_file *f = NULL;

	assert_int_equal(cnk_fd_acquire(fd, &f), 1);
	cnk_file_put(f);
	cnk_fdtable_mark_all_stale();
	assert_int_equal(cnk_fd_acquire(fd, &f), -EBADF);
	assert_null(f);
	assert_int_equal(stale_seen, 1);
	assert_true(cnk_fd_is_forwarded(fd));
	/* The parent's handle is never closed from the child. */
	assert_int_equal(cnk_fd_close(fd), 0);
	assert_int_equal(released, 0);
}

static void out_of_range_numbers_are_local(void **state)
{
	assert_false(cnk_fd_is_forwarded(-1));
	assert_false(cnk_fd_is_forwarded(CNK_FD_MAX));
	assert_null(cnk_fd_get(-100));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup(placeholder_is_a_real_descriptor, setup),
		cmocka_unit_test_setup(cloexec_lives_on_the_placeholder, setup),
		cmocka_unit_test_setup(dup_shares_the_remote_file_until_last_close, setup),
		cmocka_unit_test_setup(dup2_over_a_forwarded_fd_releases_it, setup),
		cmocka_unit_test_setup(fork_children_see_stale_files, setup),
		cmocka_unit_test_setup(out_of_range_numbers_are_local, setup),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
