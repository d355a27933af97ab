/* SPDX-License-Identifier: Apache-2.0 */
/*
 * fsproxy against a real directory tree: the export mapping, every
 * operation's result and errno, and confinement — no path, symlink or
 * dirfd reaches a file outside its export, while ".." that stays inside
 * works.  Layout under a fresh temporary directory:
 *   exp/      exported as /pfs        sub/  exported as /pfs/sub
 *   exp2/     exported as /pfs2       outside/secret  never reachable
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/file.h>
#include <sys/statfs.h>
#include <sys/sysmacros.h>
#include <sys/uio.h>
#include <sys/xattr.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "ferry/fsproxy.h"

struct fixture {
	char top[64];
	char exp[96], exp2[96], sub[96], outside[96];
	struct fsp_exports *e;
	int escapes;
	pthread_mutex_t escape_lock; /* the hook runs on every worker thread */
	char last_escape[256];
};

static void on_escape(const char *path, void *arg)
{
	struct fixture *f = arg;

	__atomic_add_fetch(&f->escapes, 1, __ATOMIC_SEQ_CST);
	pthread_mutex_lock(&f->escape_lock);
	snprintf(f->last_escape, sizeof(f->last_escape), "%s", path);
	pthread_mutex_unlock(&f->escape_lock);
}

static void write_file(const char *dir, const char *name, const char *text)
{
	char path[256];
	int fd;

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	fd = open(path, O_CREAT | O_TRUNC | O_WRONLY | O_CLOEXEC, 0644);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, text, strlen(text)), (ssize_t)strlen(text));
	close(fd);
}

static int host_exists(const char *dir, const char *name)
{
	char path[256];
	struct stat st;

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	return lstat(path, &st) == 0;
}

static int setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));
	char spec[256];

	assert_non_null(f);
	assert_int_equal(pthread_mutex_init(&f->escape_lock, NULL), 0);
	snprintf(f->top, sizeof(f->top), "/tmp/ferry-fsp-XXXXXX");
	assert_non_null(mkdtemp(f->top));
	snprintf(f->exp, sizeof(f->exp), "%s/exp", f->top);
	snprintf(f->exp2, sizeof(f->exp2), "%s/exp2", f->top);
	snprintf(f->sub, sizeof(f->sub), "%s/sub", f->top);
	snprintf(f->outside, sizeof(f->outside), "%s/outside", f->top);
	assert_int_equal(mkdir(f->exp, 0755), 0);
	assert_int_equal(mkdir(f->exp2, 0755), 0);
	assert_int_equal(mkdir(f->sub, 0755), 0);
	assert_int_equal(mkdir(f->outside, 0755), 0);
	write_file(f->outside, "secret", "secret");
	write_file(f->exp, "file", "hello");

	umask(022); /* a typical daemon umask, which fsproxy must neutralise */
	assert_int_equal(fsp_exports_new(&f->e), 0);
	snprintf(spec, sizeof(spec), "/pfs=%s", f->exp);
	assert_int_equal(fsp_exports_add(f->e, spec), 0);
	snprintf(spec, sizeof(spec), "/pfs2/=%s", f->exp2); /* trailing '/' is dropped */
	assert_int_equal(fsp_exports_add(f->e, spec), 0);
	snprintf(spec, sizeof(spec), "/pfs/sub=%s", f->sub);
	assert_int_equal(fsp_exports_add(f->e, spec), 0);
	fsp_exports_on_escape(f->e, on_escape, f);
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;
	char cmd[128];

	fsp_exports_free(f->e);
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", f->top);
	assert_int_equal(system(cmd), 0);
	pthread_mutex_destroy(&f->escape_lock);
	free(f);
	return 0;
}

/* ---- exports ---- */

static void test_exports_add_errors(void **state)
{
	struct fixture *f = *state;
	char spec[256];

	assert_int_equal(fsp_exports_count(f->e), 3);
	assert_non_null(strstr(fsp_exports_describe(f->e, 0), "/pfs="));
	assert_null(fsp_exports_describe(f->e, 3));
	assert_int_equal(fsp_exports_add(f->e, "no-equals-sign"), -EINVAL);
	assert_int_equal(fsp_exports_add(f->e, "relative=/tmp"), -EINVAL);
	assert_int_equal(fsp_exports_add(f->e, "/x/../y=/tmp"), -EINVAL);
	assert_int_equal(fsp_exports_add(f->e, "/pfs/=/tmp"), -EINVAL); /* duplicate */
	snprintf(spec, sizeof(spec), "/new=%s/missing", f->top);
	assert_int_equal(fsp_exports_add(f->e, spec), -ENOENT);
	snprintf(spec, sizeof(spec), "/new=%s/file", f->exp);
	assert_int_equal(fsp_exports_add(f->e, spec), -ENOTDIR);
	assert_int_equal(fsp_exports_count(f->e), 3);
}

static void test_longest_whole_component_prefix(void **state)
{
	struct fixture *f = *state;
	struct statx st;
	int fd;

	fd = fsp_openat(f->e, FSP_AT_ROOT, "/pfs/sub/created", O_CREAT | O_WRONLY, 0600);
	assert_true(fd >= 0);
	close(fd);
	assert_true(host_exists(f->sub, "created"));
	assert_false(host_exists(f->exp, "sub"));

	fd = fsp_openat(f->e, FSP_AT_ROOT, "/pfs//in-exp", O_CREAT | O_WRONLY, 0600);
	assert_true(fd >= 0);
	close(fd);
	assert_true(host_exists(f->exp, "in-exp"));

	assert_int_equal(fsp_statx(f->e, FSP_AT_ROOT, "/pfsx/file", 0, STATX_BASIC_STATS, &st),
			 -ENOENT);
	assert_int_equal(fsp_statx(f->e, FSP_AT_ROOT, "/other", 0, STATX_BASIC_STATS, &st),
			 -ENOENT);
	assert_int_equal(fsp_statx(f->e, FSP_AT_ROOT, "pfs/file", 0, STATX_BASIC_STATS, &st),
			 -ENOENT);
	assert_int_equal(fsp_statx(f->e, FSP_AT_ROOT, "/pfs", 0, STATX_BASIC_STATS, &st), 0);
	assert_true(S_ISDIR(st.stx_mode));
	assert_int_equal(fsp_statx(f->e, FSP_AT_ROOT, "/pfs2/", 0, STATX_BASIC_STATS, &st), 0);
	assert_true(S_ISDIR(st.stx_mode));
	assert_int_equal(fsp_statx(f->e, FSP_AT_ROOT, "/pfs/file", 0, STATX_BASIC_STATS, &st), 0);
	assert_int_equal(st.stx_size, 5);
}

/* ---- open ---- */

static void test_open_semantics(void **state)
{
	struct fixture *f = *state;
	char buf[16];
	int fd;

	fd = fsp_openat(f->e, FSP_AT_ROOT, "/pfs/file", O_RDONLY, 0);
	assert_true(fd >= 0);
	assert_true(fcntl(fd, F_GETFD) & FD_CLOEXEC);
	assert_int_equal(fsp_pread(fd, buf, sizeof(buf), -1, 0), 5);
	assert_memory_equal(buf, "hello", 5);
	close(fd);

	assert_int_equal(fsp_openat(f->e, FSP_AT_ROOT, "/pfs/file", O_CREAT | O_EXCL | O_WRONLY, 0600),
			 -EEXIST);
	assert_int_equal(fsp_openat(f->e, FSP_AT_ROOT, "/pfs/missing", O_RDONLY, 0), -ENOENT);
	assert_int_equal(fsp_openat(f->e, FSP_AT_ROOT, "/pfs/file", O_RDONLY | O_DIRECTORY, 0),
			 -ENOTDIR);
	assert_int_equal(fsp_openat(f->e, FSP_AT_ROOT, "/pfs/file/", O_RDONLY, 0), -ENOTDIR);
	assert_int_equal(fsp_openat(f->e, FSP_AT_ROOT, "/pfs/file/x", O_RDONLY, 0), -ENOTDIR);
	assert_int_equal(fsp_openat(f->e, FSP_AT_ROOT, "/pfs", O_WRONLY, 0), -EISDIR);

	assert_int_equal(fsp_symlinkat(f->e, "file", FSP_AT_ROOT, "/pfs/link"), 0);
	assert_int_equal(fsp_openat(f->e, FSP_AT_ROOT, "/pfs/link", O_RDONLY | O_NOFOLLOW, 0),
			 -ELOOP);
	fd = fsp_openat(f->e, FSP_AT_ROOT, "/pfs/link", O_RDONLY, 0);
	assert_true(fd >= 0);
	close(fd);

	/* O_TRUNC and O_APPEND behave as open(2). */
	fd = fsp_openat(f->e, FSP_AT_ROOT, "/pfs/file", O_WRONLY | O_APPEND, 0);
	assert_true(fd >= 0);
	assert_int_equal(fsp_pwrite(fd, "!", 1, -1, 0), 1);
	close(fd);
	fd = fsp_openat(f->e, FSP_AT_ROOT, "/pfs/file", O_RDONLY, 0);
	assert_int_equal(fsp_pread(fd, buf, sizeof(buf), 0, 0), 6);
	assert_memory_equal(buf, "hello!", 6);
	close(fd);
	fd = fsp_openat(f->e, FSP_AT_ROOT, "/pfs/file", O_WRONLY | O_TRUNC, 0);
	assert_true(fd >= 0);
	close(fd);
	fd = fsp_openat(f->e, FSP_AT_ROOT, "/pfs/file", O_RDONLY, 0);
	assert_int_equal(fsp_pread(fd, buf, sizeof(buf), 0, 0), 0);
	close(fd);
	/* A flag the kernel does not know fails with EINVAL, never silently. */
	assert_int_equal(fsp_openat(f->e, FSP_AT_ROOT, "/pfs/file", O_RDONLY | (1 << 30), 0),
			 -EINVAL);
}

/* ---- namespace operations ---- */

static void test_mkdir_unlink_rmdir(void **state)
{
	struct fixture *f = *state;
	struct statx st;
	int fd;

	assert_int_equal(fsp_mkdirat(f->e, FSP_AT_ROOT, "/pfs/d", 0755), 0);
	assert_int_equal(fsp_mkdirat(f->e, FSP_AT_ROOT, "/pfs/d", 0755), -EEXIST);
	assert_int_equal(fsp_mkdirat(f->e, FSP_AT_ROOT, "/pfs/d2/", 0755), 0); /* "mkdir a/" */
	assert_int_equal(fsp_mkdirat(f->e, FSP_AT_ROOT, "/pfs/none/x", 0755), -ENOENT);
	assert_int_equal(fsp_mkdirat(f->e, FSP_AT_ROOT, "/pfs/file/x", 0755), -ENOTDIR);
	assert_int_equal(fsp_mkdirat(f->e, FSP_AT_ROOT, "/pfs", 0755), -EEXIST);
	assert_int_equal(fsp_mkdirat(f->e, FSP_AT_ROOT, "/pfs/d/.", 0755), -EEXIST);
	assert_int_equal(fsp_statx(f->e, FSP_AT_ROOT, "/pfs/d2", 0, STATX_MODE, &st), 0);
	assert_true(S_ISDIR(st.stx_mode));
	/* Modes are applied as sent (the compute node applied its umask). */
	assert_int_equal(fsp_mkdirat(f->e, FSP_AT_ROOT, "/pfs/open-dir", 0777), 0);
	assert_int_equal(fsp_statx(f->e, FSP_AT_ROOT, "/pfs/open-dir", 0, STATX_MODE, &st), 0);
	assert_int_equal(st.stx_mode & 07777, 0777);
	assert_int_equal(fsp_unlinkat(f->e, FSP_AT_ROOT, "/pfs/open-dir", AT_REMOVEDIR), 0);
	fd = fsp_openat(f->e, FSP_AT_ROOT, "/pfs/open-file", O_CREAT | O_WRONLY, 0666);
	assert_true(fd >= 0);
	close(fd);
	assert_int_equal(fsp_statx(f->e, FSP_AT_ROOT, "/pfs/open-file", 0, STATX_MODE, &st), 0);
	assert_int_equal(st.stx_mode & 07777, 0666);

	write_file(f->exp, "d/inner", "x");
	assert_int_equal(fsp_unlinkat(f->e, FSP_AT_ROOT, "/pfs/d", 0), -EISDIR);
	assert_int_equal(fsp_unlinkat(f->e, FSP_AT_ROOT, "/pfs/d", AT_REMOVEDIR), -ENOTEMPTY);
	assert_int_equal(fsp_unlinkat(f->e, FSP_AT_ROOT, "/pfs/d/inner", AT_REMOVEDIR), -ENOTDIR);
	assert_int_equal(fsp_unlinkat(f->e, FSP_AT_ROOT, "/pfs/d/inner/", 0), -ENOTDIR);
	assert_int_equal(fsp_unlinkat(f->e, FSP_AT_ROOT, "/pfs/d/missing", 0), -ENOENT);
	assert_int_equal(fsp_unlinkat(f->e, FSP_AT_ROOT, "/pfs/d/inner", 0), 0);
	assert_int_equal(fsp_unlinkat(f->e, FSP_AT_ROOT, "/pfs/d/", AT_REMOVEDIR), 0);
	assert_false(host_exists(f->exp, "d"));
	assert_int_equal(fsp_unlinkat(f->e, FSP_AT_ROOT, "/pfs/d2", 12345), -EINVAL);

	assert_int_equal(fsp_mknodat(f->e, FSP_AT_ROOT, "/pfs/fifo", S_IFIFO | 0600, 0), 0);
	assert_int_equal(fsp_statx(f->e, FSP_AT_ROOT, "/pfs/fifo", 0, STATX_MODE, &st), 0);
	assert_true(S_ISFIFO(st.stx_mode));
	assert_int_equal(fsp_mknodat(f->e, FSP_AT_ROOT, "/pfs/dev", S_IFCHR | 0600, makedev(1, 3)),
			 -EPERM);
	assert_int_equal(fsp_mknodat(f->e, FSP_AT_ROOT, "/pfs/fifo", S_IFREG | 0600, 0), -EEXIST);
}

static void test_rename_and_links(void **state)
{
	struct fixture *f = *state;
	char target[64];
	struct statx st;

	write_file(f->exp, "a", "A");
	write_file(f->exp, "b", "B");
	write_file(f->exp2, "c", "C");
	assert_int_equal(fsp_renameat2(f->e, FSP_AT_ROOT, "/pfs/a", FSP_AT_ROOT, "/pfs/b",
				       RENAME_NOREPLACE),
			 -EEXIST);
	assert_int_equal(fsp_renameat2(f->e, FSP_AT_ROOT, "/pfs/a", FSP_AT_ROOT, "/pfs/a2", 0), 0);
	assert_true(host_exists(f->exp, "a2"));
	assert_int_equal(fsp_renameat2(f->e, FSP_AT_ROOT, "/pfs/missing", FSP_AT_ROOT, "/pfs/x", 0),
			 -ENOENT);
	/* Two exports on one filesystem: still EXDEV, as two mounts. */
	assert_int_equal(fsp_renameat2(f->e, FSP_AT_ROOT, "/pfs/a2", FSP_AT_ROOT, "/pfs2/a2", 0),
			 -EXDEV);
	assert_int_equal(fsp_renameat2(f->e, FSP_AT_ROOT, "/pfs/a2", FSP_AT_ROOT, "/pfs/sub/a2", 0),
			 -EXDEV);
	assert_int_equal(fsp_linkat(f->e, FSP_AT_ROOT, "/pfs2/c", FSP_AT_ROOT, "/pfs/c", 0), -EXDEV);
	assert_int_equal(fsp_renameat2(f->e, FSP_AT_ROOT, "/pfs/a2/", FSP_AT_ROOT, "/pfs/a3", 0),
			 -ENOTDIR);

	assert_int_equal(fsp_linkat(f->e, FSP_AT_ROOT, "/pfs/b", FSP_AT_ROOT, "/pfs/b-hard", 0), 0);
	assert_int_equal(fsp_statx(f->e, FSP_AT_ROOT, "/pfs/b", 0, STATX_NLINK, &st), 0);
	assert_int_equal(st.stx_nlink, 2);
	assert_int_equal(fsp_linkat(f->e, FSP_AT_ROOT, "/pfs/b", FSP_AT_ROOT, "/pfs/b-hard", 0),
			 -EEXIST);

	/* The target is stored verbatim, even one that points nowhere. */
	assert_int_equal(fsp_symlinkat(f->e, "../../weird//target", FSP_AT_ROOT, "/pfs/sl"), 0);
	assert_int_equal(fsp_readlinkat(f->e, FSP_AT_ROOT, "/pfs/sl", target, sizeof(target)),
			 (long)strlen("../../weird//target"));
	assert_memory_equal(target, "../../weird//target", strlen("../../weird//target"));
	assert_int_equal(fsp_symlinkat(f->e, "x", FSP_AT_ROOT, "/pfs/sl"), -EEXIST);
	assert_int_equal(fsp_readlinkat(f->e, FSP_AT_ROOT, "/pfs/b", target, sizeof(target)),
			 -EINVAL);
	/* A hard link to a symlink links the symlink itself without following. */
	assert_int_equal(fsp_linkat(f->e, FSP_AT_ROOT, "/pfs/sl", FSP_AT_ROOT, "/pfs/sl-hard", 0), 0);
	assert_int_equal(fsp_statx(f->e, FSP_AT_ROOT, "/pfs/sl-hard", AT_SYMLINK_NOFOLLOW,
				   STATX_MODE, &st),
			 0);
	assert_true(S_ISLNK(st.stx_mode));
	/* AT_SYMLINK_FOLLOW links the target. */
	assert_int_equal(fsp_symlinkat(f->e, "b", FSP_AT_ROOT, "/pfs/to-b"), 0);
	assert_int_equal(fsp_linkat(f->e, FSP_AT_ROOT, "/pfs/to-b", FSP_AT_ROOT, "/pfs/b-hard2",
				    AT_SYMLINK_FOLLOW),
			 0);
	assert_int_equal(fsp_statx(f->e, FSP_AT_ROOT, "/pfs/b-hard2", AT_SYMLINK_NOFOLLOW,
				   STATX_MODE | STATX_NLINK, &st),
			 0);
	assert_true(S_ISREG(st.stx_mode));
	assert_int_equal(st.stx_nlink, 3);
}

static void test_stat_follow_and_nofollow(void **state)
{
	struct fixture *f = *state;
	struct statx st;

	assert_int_equal(fsp_symlinkat(f->e, "file", FSP_AT_ROOT, "/pfs/lnk"), 0);
	assert_int_equal(fsp_statx(f->e, FSP_AT_ROOT, "/pfs/lnk", 0, STATX_BASIC_STATS, &st), 0);
	assert_true(S_ISREG(st.stx_mode));
	assert_int_equal(fsp_statx(f->e, FSP_AT_ROOT, "/pfs/lnk", AT_SYMLINK_NOFOLLOW,
				   STATX_BASIC_STATS, &st),
			 0);
	assert_true(S_ISLNK(st.stx_mode));
	assert_int_equal(fsp_statx(f->e, FSP_AT_ROOT, "/pfs/lnk/", AT_SYMLINK_NOFOLLOW,
				   STATX_BASIC_STATS, &st),
			 -ENOTDIR);
	assert_int_equal(fsp_symlinkat(f->e, "nowhere", FSP_AT_ROOT, "/pfs/dangling"), 0);
	assert_int_equal(fsp_statx(f->e, FSP_AT_ROOT, "/pfs/dangling", 0, STATX_BASIC_STATS, &st),
			 -ENOENT);
	assert_int_equal(fsp_statx(f->e, FSP_AT_ROOT, "/pfs/dangling", AT_SYMLINK_NOFOLLOW,
				   STATX_BASIC_STATS, &st),
			 0);
	assert_int_equal(fsp_faccessat(f->e, FSP_AT_ROOT, "/pfs/file", R_OK | W_OK, 0), 0);
	assert_int_equal(fsp_faccessat(f->e, FSP_AT_ROOT, "/pfs/dangling", F_OK, 0), -ENOENT);
	assert_int_equal(fsp_faccessat(f->e, FSP_AT_ROOT, "/pfs/dangling", F_OK, AT_SYMLINK_NOFOLLOW),
			 0);
	/* Unlinking a symlink removes the link, never its target. */
	assert_int_equal(fsp_unlinkat(f->e, FSP_AT_ROOT, "/pfs/lnk", 0), 0);
	assert_true(host_exists(f->exp, "file"));
}

static void test_attribute_operations(void **state)
{
	struct fixture *f = *state;
	struct timespec times[2] = { { .tv_sec = 1000000000, .tv_nsec = 5 },
				     { .tv_sec = 1234567890, .tv_nsec = 6 } };
	struct statfs sfs, host_sfs;
	struct statx st;
	char value[16];
	long n;

	assert_int_equal(fsp_truncate(f->e, FSP_AT_ROOT, "/pfs/file", 100), 0);
	assert_int_equal(fsp_statx(f->e, FSP_AT_ROOT, "/pfs/file", 0, STATX_SIZE, &st), 0);
	assert_int_equal(st.stx_size, 100);
	assert_int_equal(fsp_truncate(f->e, FSP_AT_ROOT, "/pfs", 0), -EISDIR);
	assert_int_equal(fsp_truncate(f->e, FSP_AT_ROOT, "/pfs/missing", 0), -ENOENT);

	assert_int_equal(fsp_fchmodat(f->e, FSP_AT_ROOT, "/pfs/file", 0600, 0), 0);
	assert_int_equal(fsp_statx(f->e, FSP_AT_ROOT, "/pfs/file", 0, STATX_MODE, &st), 0);
	assert_int_equal(st.stx_mode & 07777, 0600);
	assert_int_equal(fsp_fchownat(f->e, FSP_AT_ROOT, "/pfs/file", getuid(), getgid(), 0), 0);
	assert_int_equal(fsp_fchmodat(f->e, FSP_AT_ROOT, "/pfs/missing", 0600, 0), -ENOENT);

	assert_int_equal(fsp_utimensat(f->e, FSP_AT_ROOT, "/pfs/file", times, 0), 0);
	assert_int_equal(fsp_statx(f->e, FSP_AT_ROOT, "/pfs/file", 0, STATX_ATIME | STATX_MTIME, &st),
			 0);
	assert_true(st.stx_atime.tv_sec == 1000000000);
	assert_true(st.stx_mtime.tv_sec == 1234567890);
	assert_int_equal(st.stx_mtime.tv_nsec, 6);
	assert_int_equal(fsp_symlinkat(f->e, "file", FSP_AT_ROOT, "/pfs/tl"), 0);
	assert_int_equal(fsp_utimensat(f->e, FSP_AT_ROOT, "/pfs/tl", times, AT_SYMLINK_NOFOLLOW), 0);
	assert_int_equal(fsp_statx(f->e, FSP_AT_ROOT, "/pfs/tl", AT_SYMLINK_NOFOLLOW, STATX_MTIME,
				   &st),
			 0);
	assert_true(st.stx_mtime.tv_sec == 1234567890);
	assert_int_equal(fsp_utimensat(f->e, FSP_AT_ROOT, "/pfs/file", NULL, 0), 0);
	assert_int_equal(fsp_statx(f->e, FSP_AT_ROOT, "/pfs/file", 0, STATX_MTIME, &st), 0);
	assert_true(st.stx_mtime.tv_sec > 1234567890);

	assert_int_equal(fsp_statfs(f->e, FSP_AT_ROOT, "/pfs/file", &sfs), 0);
	assert_int_equal(statfs(f->exp, &host_sfs), 0);
	assert_true(sfs.f_type == host_sfs.f_type);
	assert_int_equal(fsp_statfs(f->e, FSP_AT_ROOT, "/pfs/missing", &sfs), -ENOENT);

	n = fsp_setxattr(f->e, FSP_AT_ROOT, "/pfs/file", 0, "user.ferry", "v1", 2, 0);
	if (n == -EOPNOTSUPP) /* the filesystem under the test may lack user xattrs */
		return;
	assert_int_equal(n, 0);
	assert_int_equal(fsp_getxattr(f->e, FSP_AT_ROOT, "/pfs/tl", 0, "user.ferry", value,
				      sizeof(value)),
			 2);
	assert_memory_equal(value, "v1", 2);
	assert_true(fsp_listxattr(f->e, FSP_AT_ROOT, "/pfs/file", 0, value, sizeof(value)) > 0);
	assert_int_equal(fsp_getxattr(f->e, FSP_AT_ROOT, "/pfs/tl", 1, "user.ferry", value,
				      sizeof(value)),
			 -ENODATA);
	assert_int_equal(fsp_removexattr(f->e, FSP_AT_ROOT, "/pfs/file", 0, "user.ferry"), 0);
	assert_int_equal(fsp_getxattr(f->e, FSP_AT_ROOT, "/pfs/file", 0, "user.ferry", value,
				      sizeof(value)),
			 -ENODATA);
}

/* ---- confinement ---- */

static void assert_escape(struct fixture *f, int ret)
{
	assert_int_equal(ret, -EACCES);
	assert_true(f->escapes > 0);
	f->escapes = 0;
}

static void test_escape_by_dotdot(void **state)
{
	struct fixture *f = *state;
	struct statx st;

	f->escapes = 0;
	assert_escape(f, fsp_openat(f->e, FSP_AT_ROOT, "/pfs/../../etc/passwd", O_RDONLY, 0));
	assert_string_equal(f->last_escape, "/pfs/../../etc/passwd");
	assert_escape(f, fsp_openat(f->e, FSP_AT_ROOT, "/pfs/../outside/secret", O_RDONLY, 0));
	assert_escape(f, fsp_statx(f->e, FSP_AT_ROOT, "/pfs/..", 0, STATX_MODE, &st));
	assert_escape(f, fsp_mkdirat(f->e, FSP_AT_ROOT, "/pfs/../evil", 0755));
	assert_false(host_exists(f->top, "evil"));
	assert_escape(f, fsp_unlinkat(f->e, FSP_AT_ROOT, "/pfs/../outside/secret", 0));
	assert_true(host_exists(f->outside, "secret"));
	assert_escape(f, fsp_renameat2(f->e, FSP_AT_ROOT, "/pfs/file", FSP_AT_ROOT,
				       "/pfs/../outside/stolen", 0));
	assert_escape(f, fsp_symlinkat(f->e, "x", FSP_AT_ROOT, "/pfs/../outside/l"));

	/* ".." that stays inside the export is ordinary. */
	assert_int_equal(fsp_mkdirat(f->e, FSP_AT_ROOT, "/pfs/d", 0755), 0);
	assert_int_equal(fsp_statx(f->e, FSP_AT_ROOT, "/pfs/d/../file", 0, STATX_SIZE, &st), 0);
	assert_int_equal(st.stx_size, 5);
	assert_int_equal(fsp_statx(f->e, FSP_AT_ROOT, "/pfs/d/..", 0, STATX_MODE, &st), 0);
	assert_int_equal(f->escapes, 0);
}

static void test_escape_by_symlinks(void **state)
{
	struct fixture *f = *state;
	char secret[128], outside_rel[128], buf[64];
	struct statx st;
	int fd;

	snprintf(secret, sizeof(secret), "%s/secret", f->outside);
	assert_int_equal(fsp_symlinkat(f->e, secret, FSP_AT_ROOT, "/pfs/abs"), 0);
	assert_int_equal(fsp_symlinkat(f->e, "../outside/secret", FSP_AT_ROOT, "/pfs/rel"), 0);
	assert_int_equal(fsp_symlinkat(f->e, "/proc/self/root", FSP_AT_ROOT, "/pfs/procroot"), 0);
	snprintf(outside_rel, sizeof(outside_rel), "../outside");
	assert_int_equal(fsp_symlinkat(f->e, outside_rel, FSP_AT_ROOT, "/pfs/outdir"), 0);
	f->escapes = 0;

	assert_escape(f, fsp_openat(f->e, FSP_AT_ROOT, "/pfs/abs", O_RDONLY, 0));
	assert_escape(f, fsp_openat(f->e, FSP_AT_ROOT, "/pfs/rel", O_RDONLY, 0));
	assert_escape(f, fsp_openat(f->e, FSP_AT_ROOT, "/pfs/procroot/etc/passwd", O_RDONLY, 0));
	assert_escape(f, fsp_openat(f->e, FSP_AT_ROOT, "/pfs/procroot", O_RDONLY, 0));
	assert_escape(f, fsp_statx(f->e, FSP_AT_ROOT, "/pfs/abs", 0, STATX_SIZE, &st));
	assert_escape(f, fsp_statx(f->e, FSP_AT_ROOT, "/pfs/outdir/secret", 0, STATX_SIZE, &st));
	assert_escape(f, fsp_truncate(f->e, FSP_AT_ROOT, "/pfs/rel", 0));
	assert_escape(f, fsp_fchmodat(f->e, FSP_AT_ROOT, "/pfs/abs", 0777, 0));
	assert_escape(f, fsp_utimensat(f->e, FSP_AT_ROOT, "/pfs/abs", NULL, 0));
	assert_escape(f, fsp_linkat(f->e, FSP_AT_ROOT, "/pfs/abs", FSP_AT_ROOT, "/pfs/h",
				    AT_SYMLINK_FOLLOW));
	assert_escape(f, fsp_mkdirat(f->e, FSP_AT_ROOT, "/pfs/outdir/newdir", 0755));
	assert_escape(f, fsp_getxattr(f->e, FSP_AT_ROOT, "/pfs/abs", 0, "user.x", buf, sizeof(buf)));
	assert_escape(f, fsp_openat(f->e, FSP_AT_ROOT, "/pfs/abs", O_WRONLY | O_CREAT, 0600));

	/* Calls that do not follow the link act on the link, harmlessly. */
	assert_int_equal(fsp_statx(f->e, FSP_AT_ROOT, "/pfs/abs", AT_SYMLINK_NOFOLLOW, STATX_MODE,
				   &st),
			 0);
	assert_true(S_ISLNK(st.stx_mode));
	assert_int_equal(fsp_readlinkat(f->e, FSP_AT_ROOT, "/pfs/abs", buf, sizeof(buf)),
			 (long)strlen(secret));
	assert_int_equal(fsp_openat(f->e, FSP_AT_ROOT, "/pfs/abs", O_RDONLY | O_NOFOLLOW, 0), -ELOOP);
	fd = fsp_openat(f->e, FSP_AT_ROOT, "/pfs/abs", O_PATH | O_NOFOLLOW, 0);
	assert_true(fd >= 0);
	close(fd);
	assert_int_equal(fsp_unlinkat(f->e, FSP_AT_ROOT, "/pfs/abs", 0), 0);
	assert_int_equal(f->escapes, 0);

	/* The secret is untouched. */
	assert_true(host_exists(f->outside, "secret"));
	assert_false(host_exists(f->outside, "newdir"));
	fd = open(secret, O_RDONLY | O_CLOEXEC);
	assert_true(fd >= 0);
	assert_int_equal(read(fd, buf, sizeof(buf)), 6);
	assert_memory_equal(buf, "secret", 6);
	close(fd);
}

static void test_symlink_loop_is_eloop(void **state)
{
	struct fixture *f = *state;
	struct statx st;

	assert_int_equal(fsp_symlinkat(f->e, "loop2", FSP_AT_ROOT, "/pfs/loop1"), 0);
	assert_int_equal(fsp_symlinkat(f->e, "loop1", FSP_AT_ROOT, "/pfs/loop2"), 0);
	f->escapes = 0;
	assert_int_equal(fsp_openat(f->e, FSP_AT_ROOT, "/pfs/loop1", O_RDONLY, 0), -ELOOP);
	assert_int_equal(fsp_statx(f->e, FSP_AT_ROOT, "/pfs/loop1/x", 0, STATX_MODE, &st), -ELOOP);
	assert_int_equal(f->escapes, 0);
}

/* A magic link met inside an export (here one holding /proc/self) is
 * refused as an escape, not reported as a symlink loop. */
static void test_magic_link_inside_export(void **state)
{
	struct fixture *f = *state;
	struct statx st;

	assert_int_equal(fsp_exports_add(f->e, "/procself=/proc/self"), 0);
	f->escapes = 0;
	assert_int_equal(fsp_statx(f->e, FSP_AT_ROOT, "/procself/status", 0, STATX_MODE, &st), 0);
	assert_escape(f, fsp_openat(f->e, FSP_AT_ROOT, "/procself/root/etc/passwd", O_RDONLY, 0));
	assert_escape(f, fsp_statx(f->e, FSP_AT_ROOT, "/procself/cwd", 0, STATX_MODE, &st));
	assert_escape(f, fsp_openat(f->e, FSP_AT_ROOT, "/procself/exe", O_RDONLY, 0));
	/* Not following it is harmless: the link itself. */
	assert_int_equal(fsp_statx(f->e, FSP_AT_ROOT, "/procself/exe", AT_SYMLINK_NOFOLLOW,
				   STATX_MODE, &st),
			 0);
	assert_true(S_ISLNK(st.stx_mode));
	assert_int_equal(f->escapes, 0);
}

static void test_dirfd_relative_paths(void **state)
{
	struct fixture *f = *state;
	struct statx st;
	int dfd, deep, fd;

	assert_int_equal(fsp_mkdirat(f->e, FSP_AT_ROOT, "/pfs/d", 0755), 0);
	assert_int_equal(fsp_mkdirat(f->e, FSP_AT_ROOT, "/pfs/d/e", 0755), 0);
	dfd = fsp_openat(f->e, FSP_AT_ROOT, "/pfs/d", O_RDONLY | O_DIRECTORY, 0);
	assert_true(dfd >= 0);
	deep = fsp_openat(f->e, dfd, "e", O_RDONLY | O_DIRECTORY, 0);
	assert_true(deep >= 0);

	fd = fsp_openat(f->e, dfd, "new", O_CREAT | O_WRONLY, 0644);
	assert_true(fd >= 0);
	close(fd);
	assert_true(host_exists(f->exp, "d/new"));

	/* ".." above the dirfd but inside the export: allowed. */
	assert_int_equal(fsp_statx(f->e, dfd, "../file", 0, STATX_SIZE, &st), 0);
	assert_int_equal(st.stx_size, 5);
	assert_int_equal(fsp_statx(f->e, deep, "../../file", 0, STATX_SIZE, &st), 0);
	assert_int_equal(fsp_mkdirat(f->e, deep, "../../made-from-deep", 0755), 0);
	assert_true(host_exists(f->exp, "made-from-deep"));
	assert_int_equal(fsp_renameat2(f->e, deep, "../new", dfd, "../moved", 0), 0);
	assert_true(host_exists(f->exp, "moved"));

	/* Beyond the export root: refused. */
	f->escapes = 0;
	assert_escape(f, fsp_statx(f->e, dfd, "../..", 0, STATX_MODE, &st));
	assert_escape(f, fsp_openat(f->e, deep, "../../../outside/secret", O_RDONLY, 0));
	assert_escape(f, fsp_openat(f->e, dfd, "../../outside/secret", O_RDONLY, 0));
	assert_escape(f, fsp_mkdirat(f->e, deep, "../../../evil", 0755));
	assert_false(host_exists(f->top, "evil"));

	/* AT_EMPTY_PATH names the dirfd itself; an absolute path ignores it. */
	assert_int_equal(fsp_statx(f->e, deep, "", AT_EMPTY_PATH, STATX_MODE, &st), 0);
	assert_true(S_ISDIR(st.stx_mode));
	assert_int_equal(fsp_statx(f->e, deep, "", 0, STATX_MODE, &st), -ENOENT);
	assert_int_equal(fsp_statx(f->e, deep, "/pfs/file", 0, STATX_SIZE, &st), 0);
	assert_int_equal(st.stx_size, 5);
	close(deep);
	close(dfd);
}

/* ---- descriptor operations ---- */

static void test_descriptor_operations(void **state)
{
	struct fixture *f = *state;
	char buf[8192];
	struct statx st;
	struct statfs sfs;
	off_t off_in = 0, off_out = 0;
	int fd, dfd, out2;
	long n;

	fd = fsp_openat(f->e, FSP_AT_ROOT, "/pfs/rw", O_CREAT | O_RDWR, 0644);
	assert_true(fd >= 0);
	assert_int_equal(fsp_pwrite(fd, "abcdef", 6, -1, 0), 6);
	assert_int_equal(fsp_pwrite(fd, "XY", 2, 1, 0), 2);
	assert_int_equal(fsp_lseek(fd, 0, SEEK_CUR), 6);
	assert_int_equal(fsp_pread(fd, buf, 6, 0, 0), 6);
	assert_memory_equal(buf, "aXYdef", 6);
	assert_int_equal(fsp_lseek(fd, 2, SEEK_SET), 2);
	assert_int_equal(fsp_pread(fd, buf, 2, -1, 0), 2);
	assert_memory_equal(buf, "Yd", 2);
	assert_int_equal(fsp_pwrite(fd, "Z", 1, 0, RWF_DSYNC), 1);
	assert_int_equal(fsp_pread(fd, buf, 1, 0, RWF_NOWAIT) == 1 ||
				 fsp_pread(fd, buf, 1, 0, RWF_NOWAIT) == -EOPNOTSUPP,
			 1);
	assert_int_equal(fsp_pread(fd, buf, 1, -5, 0), -EINVAL);
	assert_int_equal(fsp_lseek(fd, -1, SEEK_SET), -EINVAL);
	assert_int_equal(fsp_ftruncate(fd, 3), 0);
	assert_int_equal(fsp_fsync(fd, 0), 0);
	assert_int_equal(fsp_fsync(fd, 1), 0);
	assert_int_equal(fsp_fallocate(fd, 0, 0, 4096), 0);
	assert_int_equal(fsp_fadvise(fd, 0, 0, POSIX_FADV_SEQUENTIAL), 0);
	assert_int_equal(fsp_fadvise(fd, 0, 0, 9999), -EINVAL);
	assert_int_equal(fsp_flock(fd, LOCK_EX), 0);
	assert_int_equal(fsp_flock(fd, LOCK_UN), 0);
	assert_int_equal(fsp_ftruncate(fd, 5), 0);

	/* fstat/fchmod/fchown/futimens on a handle: AT_EMPTY_PATH, and the
	 * handle stays open afterwards. */
	assert_int_equal(fsp_statx(f->e, fd, "", AT_EMPTY_PATH, STATX_SIZE, &st), 0);
	assert_int_equal(st.stx_size, 5);
	assert_int_equal(fsp_fchmodat(f->e, fd, "", 0640, AT_EMPTY_PATH), 0);
	assert_int_equal(fsp_fchownat(f->e, fd, "", getuid(), getgid(), AT_EMPTY_PATH), 0);
	assert_int_equal(fsp_utimensat(f->e, fd, "", NULL, AT_EMPTY_PATH), 0);
	assert_int_equal(fsp_statfs(f->e, fd, "", &sfs), 0);
	assert_int_equal(fsp_statx(f->e, fd, "", AT_EMPTY_PATH, STATX_MODE, &st), 0);
	assert_int_equal(st.stx_mode & 07777, 0640);
	assert_int_equal(fsp_statx(f->e, FSP_AT_ROOT, "", AT_EMPTY_PATH, STATX_MODE, &st), -ENOENT);
	assert_true(fcntl(fd, F_GETFD) >= 0);

	/* copy_range: both with explicit offsets and with file positions. */
	out2 = fsp_openat(f->e, FSP_AT_ROOT, "/pfs2/copy", O_CREAT | O_RDWR, 0644);
	assert_true(out2 >= 0);
	assert_int_equal(fsp_copy_range(fd, &off_in, out2, &off_out, 100), 5);
	assert_int_equal(off_in, 5);
	assert_int_equal(off_out, 5);
	assert_int_equal(fsp_pread(out2, buf, sizeof(buf), 0, 0), 5);
	assert_memory_equal(buf, "ZXY\0\0", 5);
	assert_int_equal(fsp_lseek(fd, 0, SEEK_SET), 0);
	assert_int_equal(fsp_copy_range(fd, NULL, out2, NULL, 3), 3);
	assert_int_equal(fsp_lseek(out2, 0, SEEK_CUR), 3);
	assert_int_equal(fsp_copy_range(fd, &off_in, -1, NULL, 3), -EBADF);
	close(out2);

	dfd = fsp_openat(f->e, FSP_AT_ROOT, "/pfs", O_RDONLY | O_DIRECTORY, 0);
	assert_true(dfd >= 0);
	n = fsp_getdents(dfd, buf, sizeof(buf));
	assert_true(n > 0);
	assert_int_equal(fsp_getdents(fd, buf, sizeof(buf)), -ENOTDIR);
	assert_int_equal(fsp_pwrite(dfd, "x", 1, -1, 0), -EBADF);
	close(dfd);
	close(fd);
	assert_int_equal(fsp_fsync(fd, 0), -EBADF);
}

static void test_fcntl_flags_and_ofd_locks(void **state)
{
	struct fixture *f = *state;
	struct flock fl;
	int a, b;

	a = fsp_openat(f->e, FSP_AT_ROOT, "/pfs/file", O_RDWR, 0);
	b = fsp_openat(f->e, FSP_AT_ROOT, "/pfs/file", O_RDWR, 0);
	assert_true(a >= 0 && b >= 0);

	assert_int_equal(fsp_fcntl(a, F_GETFL, 0, NULL) & O_ACCMODE, O_RDWR);
	assert_int_equal(fsp_fcntl(a, F_SETFL, O_APPEND, NULL), 0);
	assert_true(fsp_fcntl(a, F_GETFL, 0, NULL) & O_APPEND);
	assert_int_equal(fsp_fcntl(a, F_SETFD, 0, NULL), 0);
	assert_true(fsp_fcntl(a, F_GETFD, 0, NULL) & FD_CLOEXEC); /* stays on */
	assert_int_equal(fsp_fcntl(a, F_DUPFD, 0, NULL), -EINVAL);
	assert_int_equal(fsp_fcntl(a, F_SETLK, 0, NULL), -EFAULT);

	/* Same process, two descriptors: classic POSIX locks would not
	 * conflict here; the OFD locks fsproxy uses do. */
	fl = (struct flock){ .l_type = F_WRLCK, .l_whence = SEEK_SET, .l_start = 0, .l_len = 10 };
	assert_int_equal(fsp_fcntl(a, F_SETLK, 0, &fl), 0);
	fl = (struct flock){ .l_type = F_WRLCK, .l_whence = SEEK_SET, .l_start = 5, .l_len = 1 };
	assert_int_equal(fsp_fcntl(b, F_SETLK, 0, &fl), -EAGAIN);
	fl = (struct flock){ .l_type = F_RDLCK, .l_whence = SEEK_SET, .l_start = 0, .l_len = 0 };
	assert_int_equal(fsp_fcntl(b, F_GETLK, 0, &fl), 0);
	assert_int_equal(fl.l_type, F_WRLCK);
	assert_int_equal(fl.l_start, 0);
	assert_int_equal(fl.l_len, 10);
	assert_int_equal(fl.l_pid, -1);
	/* Outside the locked range: free. */
	fl = (struct flock){ .l_type = F_WRLCK, .l_whence = SEEK_SET, .l_start = 10, .l_len = 5 };
	assert_int_equal(fsp_fcntl(b, F_SETLKW, 0, &fl), 0);

	fl = (struct flock){ .l_type = F_UNLCK, .l_whence = SEEK_SET, .l_start = 0, .l_len = 10 };
	assert_int_equal(fsp_fcntl(a, F_SETLK, 0, &fl), 0);
	fl = (struct flock){ .l_type = F_WRLCK, .l_whence = SEEK_SET, .l_start = 5, .l_len = 1 };
	assert_int_equal(fsp_fcntl(b, F_OFD_SETLK, 0, &fl), 0);
	fl = (struct flock){ .l_type = F_WRLCK, .l_whence = SEEK_SET, .l_start = 0, .l_len = 0 };
	assert_int_equal(fsp_fcntl(b, F_GETLK, 0, &fl), 0);
	assert_int_equal(fl.l_type, F_UNLCK); /* own locks never conflict */
	/* Closing one descriptor drops only its own locks. */
	close(a);
	fl = (struct flock){ .l_type = F_WRLCK, .l_whence = SEEK_SET, .l_start = 0, .l_len = 0 };
	a = fsp_openat(f->e, FSP_AT_ROOT, "/pfs/file", O_RDWR, 0);
	assert_int_equal(fsp_fcntl(a, F_SETLK, 0, &fl), -EAGAIN);
	close(a);
	close(b);
}

/* Workers call fsproxy concurrently: many threads resolving at once. */
struct worker_arg {
	struct fixture *f;
	int id;
	int failures;
};

static void *worker(void *p)
{
	struct worker_arg *w = p;
	char path[64];

	for (int i = 0; i < 200; i++) {
		struct statx st;
		int fd;

		snprintf(path, sizeof(path), "/pfs/t%d-%d", w->id, i % 5);
		fd = fsp_openat(w->f->e, FSP_AT_ROOT, path, O_CREAT | O_RDWR, 0644);
		if (fd < 0 || fsp_pwrite(fd, "x", 1, 0, 0) != 1)
			w->failures++;
		if (fd >= 0)
			close(fd);
		if (fsp_statx(w->f->e, FSP_AT_ROOT, path, 0, STATX_SIZE, &st) != 0 || st.stx_size != 1)
			w->failures++;
		if (fsp_openat(w->f->e, FSP_AT_ROOT, "/pfs/../x", O_RDONLY, 0) != -EACCES)
			w->failures++;
	}
	return NULL;
}

static void test_concurrent_workers(void **state)
{
	struct fixture *f = *state;
	pthread_t threads[4];
	struct worker_arg args[4];

	for (int i = 0; i < 4; i++) {
		args[i] = (struct worker_arg){ .f = f, .id = i };
		assert_int_equal(pthread_create(&threads[i], NULL, worker, &args[i]), 0);
	}
	for (int i = 0; i < 4; i++) {
		assert_int_equal(pthread_join(threads[i], NULL), 0);
		assert_int_equal(args[i].failures, 0);
	}
}

int main(void)
{
#define T(fn) cmocka_unit_test_setup_teardown(fn, setup, teardown)
	const struct CMUnitTest tests[] = {
		T(test_exports_add_errors),
		T(test_longest_whole_component_prefix),
		T(test_open_semantics),
		T(test_mkdir_unlink_rmdir),
		T(test_rename_and_links),
		T(test_stat_follow_and_nofollow),
		T(test_attribute_operations),
		T(test_escape_by_dotdot),
		T(test_escape_by_symlinks),
		T(test_symlink_loop_is_eloop),
		T(test_magic_link_inside_export),
		T(test_dirfd_relative_paths),
		T(test_descriptor_operations),
		T(test_fcntl_flags_and_ofd_locks),
		T(test_concurrent_workers),
	};
#undef T
	return cmocka_run_group_tests(tests, NULL, NULL);
}
