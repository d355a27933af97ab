/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Every namespace and descriptor opcode once, each checked against what the
 * same call does on the export directory: symlink/readlink, link, rename,
 * truncate/ftruncate, fallocate, fadvise, fsync, flock, fcntl flags,
 * fchmod/fchown, utimensat, statfs, faccessat, mknod (FIFO only), xattrs,
 * copy_range.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/xattr.h>
#include <unistd.h>

#include "iond_harness.h"

static struct iond_reply rep;

/* Build and send op with args (and up to two paths); returns ret or -err. */
static long call(struct iond_client *c, uint16_t op, int nargs, const int64_t *args,
		 const char *p0, const char *p1, const void *data, uint32_t data_len)
{
	struct ferry_msg m;
	int rc;

	ferry_msg_init(&m, op, 0, 0);
	for (int i = 0; i < nargs; i++)
		ferry_msg_add_arg(&m, args[i]);
	if (p0)
		ferry_msg_add_path(&m, p0);
	if (p1)
		ferry_msg_add_path(&m, p1);
	m.data = data;
	m.data_len = data_len;
	rc = iond_call_msg(c, &m, NULL, &rep, 0);
	return rc ? rc : iond_rc(&rep);
}

#define ARGS(...) (sizeof((int64_t[]){__VA_ARGS__}) / sizeof(int64_t)), (int64_t[]){__VA_ARGS__}
#define ROOT FERRY_AT_ROOT

static void local_stat(const struct iond_daemon *d, const char *rel, struct stat *st)
{
	char path[PATH_MAX + 16];

	iond_export_path(d, rel, path, sizeof(path));
	CHECK(lstat(path, st) == 0, "lstat %s: %s", path, strerror(errno));
}

static void put_le64(unsigned char *p, int64_t v)
{
	for (int i = 0; i < 8; i++)
		p[i] = (unsigned char)((uint64_t)v >> (8 * i));
}

int main(int argc, char **argv)
{
	const char *transport = iond_test_begin(argc, argv, 60);
	struct iond_daemon d;
	struct iond_client c;
	struct stat st;
	unsigned char times[32];
	long h, h2;

	iond_daemon_start(&d, transport, NULL);
	CHECK_ERR(iond_client_open(&c, d.uri, 1), 0);
	h = iond_openat(&c, "/pfs/f", O_CREAT | O_RDWR, 0644);
	CHECK(h >= 0, "openat: %s", iond_errname(h));
	CHECK_ERR(iond_write(&c, h, "0123456789", 10, 0), 10);

	/* symlink is stored verbatim; readlink returns it. */
	CHECK_ERR(call(&c, FERRY_OP_SYMLINKAT, ARGS(ROOT), "f", "/pfs/l", NULL, 0), 0);
	CHECK_ERR(call(&c, FERRY_OP_READLINKAT, ARGS(ROOT, 64), "/pfs/l", NULL, NULL, 0), 1);
	CHECK(rep.msg.data_len == 1 && !memcmp(rep.msg.data, "f", 1), "readlink data");
	CHECK_ERR(call(&c, FERRY_OP_READLINKAT, ARGS(ROOT, 64), "/pfs/f", NULL, NULL, 0), -EINVAL);

	CHECK_ERR(call(&c, FERRY_OP_LINKAT, ARGS(ROOT, ROOT, 0), "/pfs/f", "/pfs/hard", NULL, 0), 0);
	local_stat(&d, "f", &st);
	CHECK(st.st_nlink == 2, "nlink %lu", (unsigned long)st.st_nlink);
	CHECK_ERR(call(&c, FERRY_OP_RENAMEAT2, ARGS(ROOT, ROOT, 0), "/pfs/hard", "/pfs/moved", NULL,
		       0),
		  0);
	local_stat(&d, "moved", &st);
	CHECK_ERR(call(&c, FERRY_OP_RENAMEAT2, ARGS(ROOT, ROOT, RENAME_NOREPLACE), "/pfs/moved",
		       "/pfs/f", NULL, 0),
		  -EEXIST);

	CHECK_ERR(call(&c, FERRY_OP_TRUNCATE, ARGS(ROOT, 4), "/pfs/f", NULL, NULL, 0), 0);
	local_stat(&d, "f", &st);
	CHECK(st.st_size == 4, "size %lld after truncate", (long long)st.st_size);
	CHECK_ERR(call(&c, FERRY_OP_FTRUNCATE, ARGS(h, 3), NULL, NULL, NULL, 0), 0);
	CHECK_ERR(call(&c, FERRY_OP_FALLOCATE, ARGS(h, 0, 0, 8192), NULL, NULL, NULL, 0), 0);
	local_stat(&d, "f", &st);
	CHECK(st.st_size == 8192, "size %lld after fallocate", (long long)st.st_size);
	CHECK_ERR(call(&c, FERRY_OP_FADVISE, ARGS(h, 0, 0, POSIX_FADV_SEQUENTIAL), NULL, NULL, NULL,
		       0),
		  0);
	CHECK_ERR(call(&c, FERRY_OP_FSYNC, ARGS(h, 0), NULL, NULL, NULL, 0), 0);
	CHECK_ERR(call(&c, FERRY_OP_FSYNC, ARGS(h, 1), NULL, NULL, NULL, 0), 0);
	CHECK_ERR(call(&c, FERRY_OP_FLOCK, ARGS(h, LOCK_EX | LOCK_NB), NULL, NULL, NULL, 0), 0);
	CHECK_ERR(call(&c, FERRY_OP_FLOCK, ARGS(h, LOCK_UN), NULL, NULL, NULL, 0), 0);

	/* fcntl flag commands. */
	CHECK_ERR(call(&c, FERRY_OP_FCNTL, ARGS(h, F_SETFL, O_APPEND), NULL, NULL, NULL, 0), 0);
	h2 = call(&c, FERRY_OP_FCNTL, ARGS(h, F_GETFL, 0), NULL, NULL, NULL, 0);
	CHECK(h2 >= 0 && (h2 & O_APPEND) && (h2 & O_ACCMODE) == O_RDWR, "F_GETFL %#lx", h2);

	/* Modes, owners, times. */
	CHECK_ERR(call(&c, FERRY_OP_FCHMODAT, ARGS(ROOT, 0600, 0), "/pfs/f", NULL, NULL, 0), 0);
	CHECK_ERR(call(&c, FERRY_OP_FCHMODAT, ARGS(h, 0640, AT_EMPTY_PATH), "", NULL, NULL, 0), 0);
	local_stat(&d, "f", &st);
	CHECK((st.st_mode & 0777) == 0640, "mode %o", st.st_mode & 0777);
	CHECK_ERR(call(&c, FERRY_OP_FCHOWNAT, ARGS(ROOT, -1, -1, 0), "/pfs/f", NULL, NULL, 0), 0);
	put_le64(times, 1000000000);
	put_le64(times + 8, 5);
	put_le64(times + 16, 1500000000);
	put_le64(times + 24, 7);
	CHECK_ERR(call(&c, FERRY_OP_UTIMENSAT, ARGS(ROOT, 0, 1), "/pfs/f", NULL, times, 32), 0);
	local_stat(&d, "f", &st);
	CHECK(st.st_mtim.tv_sec == 1500000000 && st.st_mtim.tv_nsec == 7 &&
		      st.st_atim.tv_sec == 1000000000,
	      "times %lld.%ld", (long long)st.st_mtim.tv_sec, st.st_mtim.tv_nsec);
	CHECK_ERR(call(&c, FERRY_OP_UTIMENSAT, ARGS(ROOT, 0, 1), "/pfs/f", NULL, times, 16),
		  -EINVAL);
	CHECK_ERR(call(&c, FERRY_OP_UTIMENSAT, ARGS(ROOT, 0, 0), "/pfs/f", NULL, NULL, 0), 0);

	/* statfs, faccessat, mknod. */
	CHECK_ERR(call(&c, FERRY_OP_STATFS, ARGS(ROOT), "/pfs", NULL, NULL, 0), 0);
	{
		struct statfs sfs;

		CHECK_ERR(ferry_statfs_decode(rep.msg.data, rep.msg.data_len, &sfs), 0);
		CHECK(sfs.f_bsize > 0, "statfs f_bsize %ld", (long)sfs.f_bsize);
	}
	CHECK_ERR(call(&c, FERRY_OP_FACCESSAT, ARGS(ROOT, R_OK | W_OK, 0), "/pfs/f", NULL, NULL, 0),
		  0);
	CHECK_ERR(call(&c, FERRY_OP_FACCESSAT, ARGS(ROOT, F_OK, 0), "/pfs/nope", NULL, NULL, 0),
		  -ENOENT);
	CHECK_ERR(call(&c, FERRY_OP_MKNODAT, ARGS(ROOT, S_IFIFO | 0600, 0), "/pfs/fifo", NULL, NULL,
		       0),
		  0);
	local_stat(&d, "fifo", &st);
	CHECK(S_ISFIFO(st.st_mode), "not a FIFO");
	CHECK_ERR(call(&c, FERRY_OP_MKNODAT, ARGS(ROOT, S_IFCHR | 0600, 0x0103), "/pfs/null", NULL,
		       NULL, 0),
		  -EPERM);

	/* xattrs (user namespace; skipped where the filesystem has none). */
	if (call(&c, FERRY_OP_XATTR_SET, ARGS(ROOT, 0, 0), "/pfs/f", "user.k", "v1", 2) == 0) {
		CHECK_ERR(call(&c, FERRY_OP_XATTR_GET, ARGS(ROOT, 0, 0), "/pfs/f", "user.k", NULL, 0),
			  2);
		CHECK_ERR(call(&c, FERRY_OP_XATTR_GET, ARGS(ROOT, 64, 0), "/pfs/f", "user.k", NULL,
			       0),
			  2);
		CHECK(rep.msg.data_len == 2 && !memcmp(rep.msg.data, "v1", 2), "getxattr data");
		CHECK_ERR(call(&c, FERRY_OP_XATTR_GET, ARGS(h, 64, 0), "", "user.k", NULL, 0), 2);
		CHECK_ERR(call(&c, FERRY_OP_XATTR_SET, ARGS(ROOT, XATTR_CREATE, 0), "/pfs/f",
			       "user.k", "v2", 2),
			  -EEXIST);
		CHECK(call(&c, FERRY_OP_XATTR_LIST, ARGS(ROOT, 256, 0), "/pfs/f", NULL, NULL, 0) >=
			      7,
		      "listxattr");
		CHECK(memmem(rep.msg.data, rep.msg.data_len, "user.k", 7), "user.k not listed");
		CHECK_ERR(call(&c, FERRY_OP_XATTR_REMOVE, ARGS(ROOT, 0), "/pfs/f", "user.k", NULL, 0),
			  0);
		CHECK_ERR(call(&c, FERRY_OP_XATTR_GET, ARGS(ROOT, 64, 0), "/pfs/f", "user.k", NULL,
			       0),
			  -ENODATA);
	} else {
		printf("note: no user xattrs on this filesystem (%s)\n",
		       iond_errname(iond_rc(&rep)));
	}

	/* copy_range between two handles of the session. */
	CHECK_ERR(call(&c, FERRY_OP_FCNTL, ARGS(h, F_SETFL, 0), NULL, NULL, NULL, 0), 0);
	CHECK_ERR(iond_write(&c, h, "abcdef", 6, 0), 6);
	h2 = iond_openat(&c, "/pfs/copy", O_CREAT | O_RDWR, 0644);
	CHECK(h2 >= 0, "openat copy: %s", iond_errname(h2));
	CHECK_ERR(call(&c, FERRY_OP_COPY_RANGE, ARGS(h, 1, h2, 0, 4), NULL, NULL, NULL, 0), 4);
	{
		char buf[8] = {0};

		CHECK_ERR(iond_read(&c, h2, buf, sizeof(buf), 0), 4);
		CHECK(!memcmp(buf, "bcde", 4), "copied bytes: %.4s", buf);
	}
	CHECK_ERR(call(&c, FERRY_OP_COPY_RANGE, ARGS(h, 0, 12345, 0, 4), NULL, NULL, NULL, 0),
		  -EBADF);

	CHECK_ERR(iond_close_handle(&c, h), 0);
	CHECK_ERR(iond_close_handle(&c, h2), 0);
	iond_client_close(&c);
	iond_test_pass("every opcode");
}
