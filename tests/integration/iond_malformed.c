/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Malformed messages: a truncated body (EBADMSG), oversized counts and
 * lengths (EMSGSIZE), an unknown opcode (ENOTSUP), a foreign protocol
 * version (EPROTONOSUPPORT) each get an error reply; bytes without a Ferry
 * header are dropped.  Afterwards the same client and a new one are served.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "iond_harness.h"

/* Header and body offsets, from the layout in proto.h. */
#define OFF_VERSION 4
#define OFF_OPCODE 6
#define OFF_NARGS (FERRY_HEADER_SIZE + 4)
#define OFF_DATA_LEN (FERRY_HEADER_SIZE + 8)

static unsigned char frame[4096];

/* A well-formed NULL_CALL for c, to be damaged by the caller. */
static size_t good_request(struct iond_client *c, uint16_t opcode)
{
	struct ferry_msg m;
	long len;

	ferry_msg_init(&m, opcode, c->session, ++c->seq);
	ferry_msg_add_arg(&m, 1);
	len = ferry_msg_encode(&m, frame, sizeof(frame));
	CHECK(len > 0, "encode");
	return (size_t)len;
}

static void put_le(unsigned char *p, uint64_t v, int n)
{
	for (int i = 0; i < n; i++)
		p[i] = (unsigned char)(v >> (8 * i));
}

static void expect_error(struct iond_client *c, size_t len, int want, const char *what)
{
	static struct iond_reply rep;
	int rc = iond_call_raw(c, frame, len, &rep, 10000);

	CHECK(rc == 0, "%s: no reply (%s)", what, iond_errname(rc));
	CHECK(rep.msg.err == want, "%s: err %d (%s), want %d", what, rep.msg.err,
	      iond_errname(-rep.msg.err), want);
	CHECK(rep.msg.seq == c->seq, "%s: reply seq %llu, want %llu", what,
	      (unsigned long long)rep.msg.seq, (unsigned long long)c->seq);
}

int main(int argc, char **argv)
{
	const char *transport = iond_test_begin(argc, argv, 90);
	static struct iond_reply rep;
	struct iond_daemon d;
	struct iond_client c, fresh;
	size_t len;
	int rc;

	iond_daemon_start(&d, transport, NULL);
	CHECK_ERR(iond_client_open(&c, d.uri, 1), 0);

	/* Truncated: the header promises more body than arrives. */
	len = good_request(&c, FERRY_OP_NULL_CALL);
	expect_error(&c, len - 3, EBADMSG, "truncated body");

	/* Oversized counts and lengths. */
	len = good_request(&c, FERRY_OP_NULL_CALL);
	frame[OFF_NARGS] = 200;
	expect_error(&c, len, EMSGSIZE, "nargs 200");
	len = good_request(&c, FERRY_OP_NULL_CALL);
	put_le(frame + OFF_DATA_LEN, 0xFFFFFFFFu, 4);
	expect_error(&c, len, EMSGSIZE, "data_len 4 GiB");

	/* Unknown opcode, with a valid session. */
	len = good_request(&c, 999);
	expect_error(&c, len, ENOTSUP, "opcode 999");

	/* Another protocol version. */
	len = good_request(&c, FERRY_OP_NULL_CALL);
	put_le(frame + OFF_VERSION, FERRY_PROTO_VERSION + 7, 2);
	expect_error(&c, len, EPROTONOSUPPORT, "version mismatch");

	/* No readable header at all: dropped, so no reply comes. */
	good_request(&c, FERRY_OP_NULL_CALL);
	rc = iond_call_raw(&c, frame, 20, &rep, 1500);
	CHECK(rc == -ETIMEDOUT, "20-byte message: got %s, want a timeout", iond_errname(rc));
	memset(frame, 0xA5, 64);
	rc = iond_call_raw(&c, frame, 64, &rep, 1500);
	CHECK(rc == -ETIMEDOUT, "garbage: got %s, want a timeout", iond_errname(rc));
	CHECK(iond_log_contains(&d, "without a Ferry header", 5000), "drop not logged");

	/* The daemon still serves this client and a new one. */
	CHECK_ERR(iond_null(&c), 0);
	CHECK_ERR(iond_client_open(&fresh, d.uri, 2), 0);
	CHECK_ERR(iond_null(&fresh), 0);

	iond_client_close(&c);
	iond_client_close(&fresh);
	iond_test_pass("malformed messages");
}
