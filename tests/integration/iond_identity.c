/* SPDX-License-Identifier: Apache-2.0 */
/*
 * A daemon running as root serves each call as the session's user: a
 * session of uid/gid 65534 creates files it owns, is refused (EACCES) what
 * its user may not touch, and the next root session on the same worker has
 * its rights back.  Skipped (77) when the test does not run as root.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "iond_harness.h"

#define NOBODY 65534

static int open_session_as(struct iond_client *c, const char *uri, uint32_t uid)
{
	static struct iond_reply rep;
	struct ferry_msg m;
	int rc;

	rc = iond_client_connect(c, uri);
	if (rc)
		return rc;
	ferry_msg_init(&m, FERRY_OP_SESSION_OPEN, 0, 0);
	ferry_msg_add_arg(&m, getpid());
	ferry_msg_add_arg(&m, uid);
	ferry_msg_add_arg(&m, uid);
	ferry_msg_add_arg(&m, 1);
	rc = iond_call_msg(c, &m, NULL, &rep, 0);
	if (rc)
		return rc;
	if (iond_rc(&rep) < 0)
		return (int)iond_rc(&rep);
	c->session = (uint64_t)rep.msg.ret;
	return 0;
}

int main(int argc, char **argv)
{
	const char *transport = iond_test_begin(argc, argv, 60);
	static const char *const args[] = {"--workers", "1", NULL};
	struct iond_daemon d;
	struct iond_client user, root;
	char path[PATH_MAX + 16];
	struct stat st;
	long h;
	int fd;

	if (geteuid() != 0) {
		printf("SKIP: needs root\n");
		return 77;
	}
	iond_daemon_start(&d, transport, args);
	iond_export_path(&d, "pub", path, sizeof(path));
	CHECK(mkdir(path, 0777) == 0 && chmod(path, 0777) == 0, "mkdir pub: %s", strerror(errno));
	iond_export_path(&d, "private", path, sizeof(path));
	fd = open(path, O_CREAT | O_WRONLY, 0600);
	CHECK(fd >= 0, "create private: %s", strerror(errno));
	close(fd);

	CHECK_ERR(open_session_as(&user, d.uri, NOBODY), 0);
	h = iond_openat(&user, "/pfs/pub/mine", O_CREAT | O_WRONLY, 0644);
	CHECK(h >= 0, "create as nobody: %s", iond_errname(h));
	iond_export_path(&d, "pub/mine", path, sizeof(path));
	CHECK(stat(path, &st) == 0 && st.st_uid == NOBODY && st.st_gid == NOBODY,
	      "pub/mine owned by %u:%u", st.st_uid, st.st_gid);
	CHECK_ERR(iond_openat(&user, "/pfs/private", O_RDONLY, 0), -EACCES);
	CHECK_ERR(iond_openat(&user, "/pfs/not-in-pub", O_CREAT | O_WRONLY, 0644), -EACCES);

	CHECK_ERR(iond_client_open(&root, d.uri, 2), 0);
	h = iond_openat(&root, "/pfs/private", O_RDONLY, 0);
	CHECK(h >= 0, "root after nobody: %s", iond_errname(h));

	iond_client_close(&user);
	iond_client_close(&root);
	iond_test_pass("calls run as the session's user");
}
