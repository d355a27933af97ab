/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Nothing outside the export is reachable: "..", a symlink to an absolute
 * path outside, and a relative symlink climbing out all fail (EACCES or
 * ENOENT, never the file), and the attempt is logged with its session.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "iond_harness.h"

static void expect_refused(struct iond_client *c, const char *path)
{
	long h = iond_openat(c, path, O_RDONLY, 0);

	CHECK(h == -EACCES || h == -ENOENT || h == -EXDEV, "%s: got %s, want a refusal", path,
	      iond_errname(h));
}

int main(int argc, char **argv)
{
	const char *transport = iond_test_begin(argc, argv, 60);
	struct iond_daemon d;
	struct iond_client c;
	char link_path[PATH_MAX + 16], outside[PATH_MAX + 16];
	int fd;

	iond_daemon_start(&d, transport, NULL);
	/* A file right next to the export, and links pointing at it. */
	snprintf(outside, sizeof(outside), "%s/outside.txt", d.dir);
	fd = open(outside, O_CREAT | O_WRONLY, 0644);
	CHECK(fd >= 0, "create %s: %s", outside, strerror(errno));
	close(fd);
	iond_export_path(&d, "abs-link", link_path, sizeof(link_path));
	CHECK(symlink(outside, link_path) == 0, "symlink: %s", strerror(errno));
	iond_export_path(&d, "rel-link", link_path, sizeof(link_path));
	CHECK(symlink("../outside.txt", link_path) == 0, "symlink: %s", strerror(errno));

	CHECK_ERR(iond_client_open(&c, d.uri, 9), 0);
	expect_refused(&c, "/pfs/../../etc/passwd");
	expect_refused(&c, "/pfs/../outside.txt");
	expect_refused(&c, "/pfs/abs-link");
	expect_refused(&c, "/pfs/rel-link");
	CHECK(iond_log_contains(&d, "job=9 OPENAT: path escapes the export", 5000),
	      "escape not logged with its session");

	iond_client_close(&c);
	iond_test_pass("confinement to the export");
}
