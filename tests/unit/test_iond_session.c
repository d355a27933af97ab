/* SPDX-License-Identifier: Apache-2.0 */
/* ionode/session.c: ownership of sessions and descriptors; the warning
 * ceiling (warn_limit.c). */
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <unistd.h>

#include <cmocka.h>

#include "session.h"
#include "stats.h"
#include "warn_limit.h"

static struct iond_stats stats;

static int fd_is_open(int fd)
{
	return fcntl(fd, F_GETFD) >= 0;
}

static struct iond_session *open_session(struct iond_sessions *t, uint64_t peer, uint64_t job)
{
	struct iond_cred cred = {.pid = 1, .uid = 2, .gid = 3, .jobid = job};
	struct iond_session *s = NULL;

	assert_int_equal(iond_session_open(t, peer, &cred, &s), 0);
	return s;
}

static void test_session_bound_to_peer(void **state)
{
	struct iond_sessions *t;
	struct iond_session *s, *got;
	uint64_t id;

	iond_stats_init(&stats);
	assert_int_equal(iond_sessions_new(16, 16, &stats, &t), 0);
	s = open_session(t, 100, 7);
	id = iond_session_info(s)->id;
	assert_true(id > 0);

	assert_int_equal(iond_session_get(t, id, 100, &got), 0);
	assert_ptr_equal(got, s);
	iond_session_put(got);
	/* Another peer, or an id never issued: ENOTCONN. */
	assert_int_equal(iond_session_get(t, id, 101, &got), -ENOTCONN);
	assert_int_equal(iond_session_get(t, id + 1000, 100, &got), -ENOTCONN);

	assert_int_equal(iond_session_close(s, "test"), 0);
	assert_int_equal(iond_session_close(s, "test"), -ENOTCONN);
	assert_int_equal(iond_session_get(t, id, 100, &got), -ENOTCONN);
	iond_session_put(s);
	assert_int_equal(iond_sessions_count(t), 0);
	iond_sessions_free(t);
}

static void test_handles_are_per_session(void **state)
{
	struct iond_sessions *t;
	struct iond_session *a, *b;
	int fd, h, borrowed;

	assert_int_equal(iond_sessions_new(16, 16, &stats, &t), 0);
	a = open_session(t, 1, 1);
	b = open_session(t, 2, 2);
	fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
	assert_true(fd >= 0);
	h = iond_session_add_fd(a, fd);
	assert_int_equal(h, fd);

	assert_int_equal(iond_session_fd_get(b, h, &borrowed), -EBADF);
	assert_int_equal(iond_session_fd_close(b, h), -EBADF);
	assert_int_equal(iond_session_fd_get(a, -1, &borrowed), -EBADF);
	assert_int_equal(iond_session_fd_get(a, 1 << 30, &borrowed), -EBADF);
	assert_int_equal(iond_session_fd_get(a, h, &borrowed), 0);
	assert_int_equal(borrowed, fd);
	iond_session_fd_put(a, borrowed);

	assert_int_equal(iond_session_fd_close(a, h), 0);
	assert_false(fd_is_open(fd));
	assert_int_equal(iond_session_fd_close(a, h), -EBADF);

	iond_session_put(a);
	iond_session_put(b);
	iond_sessions_free(t);
}

/* A close while a call still uses the descriptor waits for that call. */
static void test_close_deferred_while_borrowed(void **state)
{
	struct iond_sessions *t;
	struct iond_session *s;
	int fd, fd2, borrowed;

	assert_int_equal(iond_sessions_new(16, 16, &stats, &t), 0);
	s = open_session(t, 1, 1);
	fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
	fd2 = open("/dev/null", O_RDONLY | O_CLOEXEC);
	assert_int_equal(iond_session_add_fd(s, fd), fd);
	assert_int_equal(iond_session_add_fd(s, fd2), fd2);
	assert_int_equal(iond_session_fd_get(s, fd, &borrowed), 0);

	/* Session close: the idle descriptor now, the borrowed one later. */
	assert_int_equal(iond_session_close(s, "test"), 2);
	assert_false(fd_is_open(fd2));
	assert_true(fd_is_open(fd));
	assert_int_equal(iond_session_fd_get(s, fd, &borrowed), -EBADF);
	iond_session_fd_put(s, fd);
	assert_false(fd_is_open(fd));

	/* A closed session takes no new descriptors (and closes them). */
	fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
	assert_int_equal(iond_session_add_fd(s, fd), -ENOTCONN);
	assert_false(fd_is_open(fd));
	iond_session_put(s);
	iond_sessions_free(t);
}

static void test_limits(void **state)
{
	struct iond_sessions *t;
	struct iond_session *s, *s2, *s3;
	struct iond_cred cred = {0};
	int fds[3];

	assert_int_equal(iond_sessions_new(2, 2, &stats, &t), 0);
	s = open_session(t, 1, 1);
	s2 = open_session(t, 1, 1);
	assert_int_equal(iond_session_open(t, 1, &cred, &s3), -EUSERS);
	for (int i = 0; i < 3; i++)
		fds[i] = open("/dev/null", O_RDONLY | O_CLOEXEC);
	assert_int_equal(iond_session_add_fd(s, fds[0]), fds[0]);
	assert_int_equal(iond_session_add_fd(s, fds[1]), fds[1]);
	assert_int_equal(iond_session_add_fd(s, fds[2]), -EMFILE);
	assert_false(fd_is_open(fds[2]));

	/* Closing the peer's sessions closes both and their descriptors. */
	assert_int_equal(iond_sessions_close_peer(t, 1, "peer down"), 2);
	assert_false(fd_is_open(fds[0]));
	assert_false(fd_is_open(fds[1]));
	iond_session_put(s);
	iond_session_put(s2);
	iond_sessions_free(t);
}

static void test_sequence_window(void **state)
{
	struct iond_sessions *t;
	struct iond_session *s;

	assert_int_equal(iond_sessions_new(16, 16, &stats, &t), 0);
	s = open_session(t, 1, 1);
	assert_int_equal(iond_session_note_seq(s, 1, 3), 0);
	assert_int_equal(iond_session_note_seq(s, 3, 3), 0);
	assert_int_equal(iond_session_note_seq(s, 2, 3), 0);  /* late, new */
	assert_int_equal(iond_session_note_seq(s, 2, 3), -EALREADY); /* duplicate */
	assert_int_equal(iond_session_note_seq(s, 3, 3), -EALREADY);
	assert_int_equal(iond_session_note_seq(s, 200, 3), 0);
	assert_int_equal(iond_session_note_seq(s, 4, 3), -EALREADY); /* stale */
	iond_session_put(s);
	iond_sessions_free(t);
}

/* Client-caused warnings: at most IOND_WARN_PER_SECOND per second (the
 * burst may straddle two seconds; earlier tests used a few). */
static void test_warning_ceiling(void **state)
{
	int allowed = 0;

	for (int i = 0; i < 1000; i++)
		allowed += iond_warn_allowed();
	assert_true(allowed >= IOND_WARN_PER_SECOND / 2);
	assert_true(allowed <= 2 * IOND_WARN_PER_SECOND);
}

/* fork/exec: a held session shares the open files (one offset), is
 * adopted only with its token by the same user and job, and is released
 * when nobody comes for it. */
static void test_detach_and_adopt(void **state)
{
	struct iond_sessions *t;
	struct iond_session *parent, *child, *other, *got;
	int64_t pairs[2 * 4], keep[1];
	uint64_t held, token;
	size_t npairs = 0;
	int fd, fd2, moved;

	iond_stats_init(&stats);
	assert_int_equal(iond_sessions_new(16, 16, &stats, &t), 0);
	parent = open_session(t, 100, 7);
	fd = iond_session_add_fd(parent, open("/dev/zero", O_RDONLY));
	fd2 = iond_session_add_fd(parent, open("/dev/null", O_RDONLY));
	assert_true(fd >= 0 && fd2 >= 0);

	assert_int_equal(iond_session_detach(parent, pairs, 1, &npairs, &held, &token), -E2BIG);
	assert_int_equal(iond_session_detach(parent, pairs, 4, &npairs, &held, &token), 0);
	assert_int_equal(npairs, 2);
	assert_true(pairs[0] == fd || pairs[0] == fd2);
	assert_true(pairs[1] != pairs[0] && fd_is_open((int)pairs[1]));
	/* Nobody can use the held session as a peer, not even peer 0. */
	assert_int_equal(iond_session_get(t, held, 0, &got), -ENOTCONN);

	/* Same user, another job: refused. */
	other = open_session(t, 300, 8);
	assert_int_equal(iond_session_adopt(other, held, token, NULL, 0), -EACCES);
	child = open_session(t, 200, 7);
	assert_int_equal(iond_session_adopt(child, held, token + 1, NULL, 0), -EACCES);
	/* The child keeps one of the two duplicates; the other is closed. */
	keep[0] = pairs[1];
	moved = (int)iond_session_adopt(child, held, token, keep, 1);
	assert_int_equal(moved, 1);
	assert_true(fd_is_open((int)pairs[1]));
	assert_false(fd_is_open((int)pairs[3]));
	assert_int_equal(iond_session_fd_get(child, pairs[1], &fd), 0);
	iond_session_fd_put(child, (int)pairs[1]);
	/* Adopted once only. */
	assert_int_equal(iond_session_adopt(child, held, token, keep, 1), -ESTALE);
	/* Closing the child leaves the parent's originals open. */
	assert_int_equal(iond_session_close(child, "test"), 1);
	assert_true(fd_is_open((int)pairs[0]) && fd_is_open((int)pairs[2]));

	/* Unclaimed: released by the reaper. */
	assert_int_equal(iond_session_detach(parent, pairs, 4, &npairs, &held, &token), 0);
	assert_int_equal(iond_sessions_reap_held(t, 60000), 0);
	assert_int_equal(iond_sessions_reap_held(t, 0), 1);
	assert_false(fd_is_open((int)pairs[1]));
	assert_int_equal(iond_session_adopt(other, held, token, NULL, 0), -ESTALE);

	iond_session_close(parent, "test");
	iond_session_close(other, "test");
	iond_session_put(parent);
	iond_session_put(child);
	iond_session_put(other);
	iond_sessions_free(t);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_session_bound_to_peer),
		cmocka_unit_test(test_handles_are_per_session),
		cmocka_unit_test(test_close_deferred_while_borrowed),
		cmocka_unit_test(test_limits),
		cmocka_unit_test(test_sequence_window),
		cmocka_unit_test(test_detach_and_adopt),
		cmocka_unit_test(test_warning_ceiling),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
