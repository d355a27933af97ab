/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Errno fidelity: each forwarded call fails with the errno the I/O node's
 * filesystem gave (ENOENT, EEXIST for O_CREAT|O_EXCL, EISDIR, ENOTEMPTY,
 * ENOTDIR), and a malformed call with EINVAL.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <sys/stat.h>

#include "iond_harness.h"

static long path_call(struct iond_client *c, uint16_t op, int64_t a1, const char *path)
{
	static struct iond_reply rep;
	struct ferry_msg m;
	int rc;

	ferry_msg_init(&m, op, 0, 0);
	ferry_msg_add_arg(&m, FERRY_AT_ROOT);
	ferry_msg_add_arg(&m, a1);
	ferry_msg_add_path(&m, path);
	rc = iond_call_msg(c, &m, NULL, &rep, 0);
	return rc ? rc : iond_rc(&rep);
}

int main(int argc, char **argv)
{
	const char *transport = iond_test_begin(argc, argv, 60);
	static struct iond_reply rep;
	struct iond_daemon d;
	struct iond_client c;
	struct ferry_msg m;
	long h;

	iond_daemon_start(&d, transport, NULL);
	CHECK_ERR(iond_client_open(&c, d.uri, 1), 0);

	CHECK_ERR(iond_openat(&c, "/pfs/missing", O_RDONLY, 0), -ENOENT);
	CHECK_ERR(iond_openat(&c, "/pfs/no/such/dir/file", O_CREAT | O_WRONLY, 0644), -ENOENT);

	h = iond_openat(&c, "/pfs/exists", O_CREAT | O_EXCL | O_WRONLY, 0644);
	CHECK(h >= 0, "create: %s", iond_errname(h));
	CHECK_ERR(iond_openat(&c, "/pfs/exists", O_CREAT | O_EXCL | O_WRONLY, 0644), -EEXIST);
	CHECK_ERR(iond_openat(&c, "/pfs/exists/below", O_RDONLY, 0), -ENOTDIR);

	CHECK_ERR(path_call(&c, FERRY_OP_MKDIRAT, 0755, "/pfs/dir"), 0);
	CHECK_ERR(path_call(&c, FERRY_OP_MKDIRAT, 0755, "/pfs/dir"), -EEXIST);
	CHECK_ERR(iond_openat(&c, "/pfs/dir", O_WRONLY, 0), -EISDIR);
	CHECK_ERR(iond_openat(&c, "/pfs/dir/f", O_CREAT | O_WRONLY, 0644) >= 0 ? 0 : -1, 0);
	CHECK_ERR(path_call(&c, FERRY_OP_UNLINKAT, AT_REMOVEDIR, "/pfs/dir"), -ENOTEMPTY);
	CHECK_ERR(path_call(&c, FERRY_OP_UNLINKAT, 0, "/pfs/dir"), -EISDIR);
	CHECK_ERR(path_call(&c, FERRY_OP_UNLINKAT, 0, "/pfs/gone"), -ENOENT);

	/* A path under no export does not exist on the I/O node. */
	CHECK_ERR(iond_openat(&c, "/elsewhere/file", O_RDONLY, 0), -ENOENT);

	/* Writing to a read-only handle: EBADF from the filesystem. */
	CHECK_ERR(iond_close_handle(&c, h), 0);
	h = iond_openat(&c, "/pfs/exists", O_RDONLY, 0);
	CHECK(h >= 0, "open: %s", iond_errname(h));
	CHECK_ERR(iond_write(&c, h, "x", 1, 0), -EBADF);

	/* Wrong argument count for the opcode. */
	ferry_msg_init(&m, FERRY_OP_CLOSE, 0, 0);
	CHECK_ERR(iond_call_msg(&c, &m, NULL, &rep, 0), 0);
	CHECK_ERR(iond_rc(&rep), -EINVAL);

	iond_client_close(&c);
	iond_test_pass("errno fidelity");
}
