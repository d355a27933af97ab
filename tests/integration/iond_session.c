/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Sessions open and close: SESSION_OPEN returns a fresh id and is logged
 * with pid, uid and job; a replayed sequence number is logged; SESSION_CLOSE
 * ends it, after which the id is refused with ENOTCONN.
 */
#include <errno.h>
#include <stdio.h>
#include <unistd.h>

#include "iond_harness.h"

int main(int argc, char **argv)
{
	const char *transport = iond_test_begin(argc, argv, 60);
	static struct iond_reply rep;
	struct iond_daemon d;
	struct iond_client a, b;
	struct ferry_msg m;
	uint64_t first;
	char needle[128];

	iond_daemon_start(&d, transport, NULL);

	CHECK_ERR(iond_client_open(&a, d.uri, 42), 0);
	first = a.session;
	snprintf(needle, sizeof(needle), "session=%llu job=42 session opened: pid %d",
		 (unsigned long long)first, (int)getpid());
	CHECK(iond_log_contains(&d, needle, 5000), "no log line '%s'", needle);
	CHECK_ERR(iond_null(&a), 0);

	/* A replayed sequence number is served, and logged. */
	a.seq--;
	CHECK_ERR(iond_null(&a), 0);
	CHECK(iond_log_contains(&d, "duplicate sequence number", 5000), "replay not logged");

	/* A second session gets its own id. */
	CHECK_ERR(iond_client_open(&b, d.uri, 43), 0);
	CHECK(b.session != first, "two sessions share id %llu", (unsigned long long)first);

	ferry_msg_init(&m, FERRY_OP_SESSION_CLOSE, 0, 0);
	CHECK_ERR(iond_call_msg(&a, &m, NULL, &rep, 0), 0);
	CHECK_ERR(iond_rc(&rep), 0);
	CHECK(rep.msg.opcode == FERRY_OP_SESSION_CLOSE && rep.msg.session == first &&
		      rep.msg.seq == a.seq,
	      "reply does not echo opcode/session/seq");
	snprintf(needle, sizeof(needle), "session=%llu job=42 session closed (closed by client)",
		 (unsigned long long)first);
	CHECK(iond_log_contains(&d, needle, 5000), "no log line '%s'", needle);

	/* The closed id is gone; the other session is unaffected. */
	CHECK_ERR(iond_null(&a), -ENOTCONN);
	CHECK_ERR(iond_null(&b), 0);

	iond_client_close(&a);
	iond_client_close(&b);
	iond_test_pass("session open/close");
}
