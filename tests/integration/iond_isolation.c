/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Sessions are isolated: a handle of another session is EBADF, a session id
 * that is unknown or belongs to another connection is ENOTCONN, and the
 * owner keeps using its handle.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>

#include "iond_harness.h"

int main(int argc, char **argv)
{
	const char *transport = iond_test_begin(argc, argv, 60);
	struct iond_daemon d;
	struct iond_client a, b;
	uint64_t b_session;
	char buf[8];
	long h;

	iond_daemon_start(&d, transport, NULL);
	CHECK_ERR(iond_client_open(&a, d.uri, 1), 0);
	CHECK_ERR(iond_client_open(&b, d.uri, 2), 0);

	h = iond_openat(&a, "/pfs/secret", O_CREAT | O_RDWR, 0600);
	CHECK(h >= 0, "openat: %s", iond_errname(h));
	CHECK_ERR(iond_write(&a, h, "secret", 6, 0), 6);

	/* B names A's handle: as if it did not exist. */
	CHECK_ERR(iond_read(&b, h, buf, sizeof(buf), 0), -EBADF);
	CHECK_ERR(iond_write(&b, h, "evil", 4, 0), -EBADF);
	CHECK_ERR(iond_close_handle(&b, h), -EBADF);

	/* B uses A's session id from its own connection. */
	b_session = b.session;
	b.session = a.session;
	CHECK_ERR(iond_read(&b, h, buf, sizeof(buf), 0), -ENOTCONN);
	b.session = 987654321;
	CHECK_ERR(iond_null(&b), -ENOTCONN);
	CHECK(iond_log_contains(&d, "session=987654321 job=- peer", 5000),
	      "the unknown session was not logged");
	b.session = b_session;
	CHECK_ERR(iond_null(&b), 0);

	/* A is untouched. */
	memset(buf, 0, sizeof(buf));
	CHECK_ERR(iond_read(&a, h, buf, 6, 0), 6);
	CHECK(memcmp(buf, "secret", 6) == 0, "A's file changed");
	CHECK_ERR(iond_close_handle(&a, h), 0);

	iond_client_close(&a);
	iond_client_close(&b);
	iond_test_pass("session isolation");
}
