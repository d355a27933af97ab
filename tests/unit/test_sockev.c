/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The socket event codec (SOCK_POLL's reply data): events survive a round
 * trip in order, the layout is the one proto.h documents, a batch cut at
 * any byte is refused (never read past its end), and the decoder refuses
 * an unknown kind, an address above FERRY_SOCKADDR_MAX and a nonzero
 * reserved field; the encoder refuses what would not decode.
 */
#include <errno.h>
#include <netinet/in.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "ferry/proto.h"

/* A DATA event with a datagram's source, an EOF, an ERROR, an ACCEPT. */
static size_t encode_batch(uint8_t *buf, size_t cap, const struct sockaddr_in *from)
{
	static const char payload[] = "hello, world";
	const struct ferry_sockev evs[] = {
		{.handle = 7, .kind = FERRY_SOCKEV_DATA, .addr_len = sizeof(*from), .addr = from,
		 .data_len = sizeof(payload), .data = payload},
		{.handle = 7, .kind = FERRY_SOCKEV_EOF},
		{.handle = 9, .kind = FERRY_SOCKEV_ERROR, .value = ECONNRESET},
		{.handle = 11, .kind = FERRY_SOCKEV_ACCEPT, .aux = 12, .addr_len = sizeof(*from),
		 .addr = from},
	};
	size_t off = 0;

	for (size_t i = 0; i < sizeof(evs) / sizeof(evs[0]); i++)
		assert_int_equal(ferry_sockev_encode(&evs[i], buf, cap, &off), 0);
	return off;
}

static void test_roundtrip(void **state)
{
	struct sockaddr_in from = {.sin_family = AF_INET, .sin_port = htons(80),
				   .sin_addr.s_addr = htonl(0x0a000001)};
	uint8_t buf[512];
	size_t len = encode_batch(buf, sizeof(buf), &from), off = 0;
	struct ferry_sockev ev;

	(void)state;
	assert_int_equal(len, 4 * FERRY_WIRE_SOCKEV_FIXED + 2 * sizeof(from) + 13);
	assert_int_equal(ferry_sockev_decode(buf, len, &off, &ev), 1);
	assert_int_equal(ev.handle, 7);
	assert_int_equal(ev.kind, FERRY_SOCKEV_DATA);
	assert_int_equal(ev.addr_len, sizeof(from));
	assert_memory_equal(ev.addr, &from, sizeof(from));
	assert_int_equal(ev.data_len, 13);
	assert_string_equal(ev.data, "hello, world");
	assert_int_equal(ferry_sockev_decode(buf, len, &off, &ev), 1);
	assert_int_equal(ev.kind, FERRY_SOCKEV_EOF);
	assert_null(ev.addr);
	assert_null(ev.data);
	assert_int_equal(ferry_sockev_decode(buf, len, &off, &ev), 1);
	assert_int_equal(ev.kind, FERRY_SOCKEV_ERROR);
	assert_int_equal(ev.handle, 9);
	assert_int_equal(ev.value, ECONNRESET);
	assert_int_equal(ferry_sockev_decode(buf, len, &off, &ev), 1);
	assert_int_equal(ev.kind, FERRY_SOCKEV_ACCEPT);
	assert_int_equal(ev.aux, 12);
	assert_int_equal(ev.handle, 11);
	assert_int_equal(off, len);
	assert_int_equal(ferry_sockev_decode(buf, len, &off, &ev), 0); /* the end */
}

static void test_layout(void **state)
{
	const struct ferry_sockev ev = {.handle = 0x0102030405060708, .kind = FERRY_SOCKEV_ERROR,
					.value = -2, .aux = 3};
	uint8_t buf[FERRY_WIRE_SOCKEV_FIXED];
	size_t off = 0;

	(void)state;
	assert_int_equal(ferry_sockev_encode(&ev, buf, sizeof(buf), &off), 0);
	assert_int_equal(off, FERRY_WIRE_SOCKEV_FIXED);
	assert_int_equal(buf[0], 0x08); /* little-endian */
	assert_int_equal(buf[8], FERRY_SOCKEV_ERROR);
	assert_int_equal(buf[12], 0xfe);
	assert_int_equal(buf[16], 3);
	for (int i = 24; i < 32; i++)
		assert_int_equal(buf[i], 0); /* data_len and reserved */
}

/* Every proper prefix of a batch ends in a truncated event. */
static void test_truncated_at_every_byte(void **state)
{
	struct sockaddr_in from = {.sin_family = AF_INET};
	uint8_t buf[512];
	size_t len = encode_batch(buf, sizeof(buf), &from);

	(void)state;
	for (size_t cut = 0; cut < len; cut++) {
		uint8_t *copy = malloc(cut ? cut : 1);
		struct ferry_sockev ev;
		size_t off = 0;
		int rc;

		memcpy(copy, buf, cut);
		while ((rc = ferry_sockev_decode(copy, cut, &off, &ev)) == 1)
			assert_true(off <= cut);
		/* A cut on an event boundary is a shorter valid batch. */
		assert_true(rc == -EBADMSG || (rc == 0 && off == cut));
		free(copy);
	}
}

static void test_encode_refuses(void **state)
{
	uint8_t buf[FERRY_WIRE_SOCKEV_FIXED + FERRY_SOCKADDR_MAX + 1];
	uint8_t addr[FERRY_SOCKADDR_MAX + 1] = {0};
	struct ferry_sockev ev = {.kind = FERRY_SOCKEV_DATA, .data = "x", .data_len = 1};
	size_t off = 0;

	(void)state;
	ev.kind = 0;
	assert_int_equal(ferry_sockev_encode(&ev, buf, sizeof(buf), &off), -EINVAL);
	ev.kind = FERRY_SOCKEV_ACCEPT + 1;
	assert_int_equal(ferry_sockev_encode(&ev, buf, sizeof(buf), &off), -EINVAL);
	ev.kind = FERRY_SOCKEV_DATA;
	ev.addr = addr;
	ev.addr_len = FERRY_SOCKADDR_MAX + 1;
	assert_int_equal(ferry_sockev_encode(&ev, buf, sizeof(buf), &off), -EINVAL);
	ev.addr_len = FERRY_SOCKADDR_MAX;
	assert_int_equal(ferry_sockev_encode(&ev, buf, sizeof(buf) - 2, &off), -EMSGSIZE);
	assert_int_equal(off, 0);
	assert_int_equal(ferry_sockev_encode(&ev, buf, sizeof(buf), &off), 0);
	assert_int_equal(off, sizeof(buf));
}

/* Patch one field of an encoded event and decode it. */
static int decode_patched(size_t at, uint16_t value)
{
	const struct ferry_sockev ev = {.handle = 1, .kind = FERRY_SOCKEV_EOF};
	uint8_t buf[FERRY_WIRE_SOCKEV_FIXED + FERRY_SOCKADDR_MAX + 8] = {0};
	struct ferry_sockev out;
	size_t off = 0;

	assert_int_equal(ferry_sockev_encode(&ev, buf, sizeof(buf), &off), 0);
	buf[at] = (uint8_t)value;
	buf[at + 1] = (uint8_t)(value >> 8);
	off = 0;
	return ferry_sockev_decode(buf, sizeof(buf), &off, &out);
}

static void test_decode_refuses(void **state)
{
	(void)state;
	assert_int_equal(decode_patched(8, 0), -EBADMSG);                       /* kind 0 */
	assert_int_equal(decode_patched(8, FERRY_SOCKEV_ACCEPT + 1), -EBADMSG); /* unknown kind */
	assert_int_equal(decode_patched(10, FERRY_SOCKADDR_MAX + 1), -EBADMSG); /* addr_len */
	assert_int_equal(decode_patched(10, 0xffff), -EBADMSG);
	assert_int_equal(decode_patched(28, 1), -EBADMSG);                      /* reserved */
	assert_int_equal(decode_patched(24, 0xffff), -EBADMSG);  /* data_len past the end */
	assert_int_equal(decode_patched(10, FERRY_SOCKADDR_MAX), 1);            /* the limit */
}

static void test_offset_past_end(void **state)
{
	uint8_t buf[FERRY_WIRE_SOCKEV_FIXED] = {0};
	struct ferry_sockev ev;
	size_t off = sizeof(buf) + 1;

	(void)state;
	assert_int_equal(ferry_sockev_decode(buf, sizeof(buf), &off, &ev), -EBADMSG);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_roundtrip),
		cmocka_unit_test(test_layout),
		cmocka_unit_test(test_truncated_at_every_byte),
		cmocka_unit_test(test_encode_refuses),
		cmocka_unit_test(test_decode_refuses),
		cmocka_unit_test(test_offset_past_end),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
