/* SPDX-License-Identifier: Apache-2.0 */
/*
 * libFuzzer target for everything that parses bytes from the network:
 * ferry_msg_decode, the statx/statfs/flock/dirent decoders and the socket
 * event decoder (SOCK_POLL replies).  Besides
 * the sanitizers' memory checks it asserts two properties:
 *  - a message the decoder accepts re-encodes to exactly the same bytes
 *    (the decoder accepts only the canonical form);
 *  - decode(encode(decode(x))) == decode(x) for the kernel structures.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statfs.h>

#include "ferry/proto.h"

#define CHECK(cond)                                                                                \
	do {                                                                                       \
		if (!(cond))                                                                       \
			__builtin_trap();                                                          \
	} while (0)

static void fuzz_message(const uint8_t *data, size_t size)
{
	struct ferry_msg m;
	uint8_t *again;
	long n;

	if (ferry_msg_decode(data, size, &m) != 0)
		return;
	CHECK(ferry_msg_encoded_size(&m) == size);
	again = malloc(size);
	CHECK(again != NULL);
	n = ferry_msg_encode(&m, again, size);
	CHECK(n == (long)size);
	CHECK(memcmp(again, data, size) == 0);
	CHECK(ferry_msg_encode(&m, again, size - 1) == -EMSGSIZE);
	free(again);
}

static void fuzz_structs(const uint8_t *data, size_t size)
{
	uint8_t wire_x[FERRY_WIRE_STATX_SIZE], wire_x2[FERRY_WIRE_STATX_SIZE];
	uint8_t wire_f[FERRY_WIRE_STATFS_SIZE], wire_f2[FERRY_WIRE_STATFS_SIZE];
	uint8_t wire_l[FERRY_WIRE_FLOCK_SIZE], wire_l2[FERRY_WIRE_FLOCK_SIZE];
	struct statx sx, sx2;
	struct statfs sf, sf2;
	struct flock fl, fl2;

	if (ferry_statx_decode(data, size, &sx) == 0) {
		ferry_statx_encode(&sx, wire_x);
		CHECK(ferry_statx_decode(wire_x, sizeof(wire_x), &sx2) == 0);
		ferry_statx_encode(&sx2, wire_x2);
		CHECK(memcmp(wire_x, wire_x2, sizeof(wire_x)) == 0);
	} else {
		CHECK(size < FERRY_WIRE_STATX_SIZE);
	}
	if (ferry_statfs_decode(data, size, &sf) == 0) {
		ferry_statfs_encode(&sf, wire_f);
		/* statfs has no padding on the wire: an exact round trip. */
		CHECK(memcmp(wire_f, data, sizeof(wire_f)) == 0);
		CHECK(ferry_statfs_decode(wire_f, sizeof(wire_f), &sf2) == 0);
		ferry_statfs_encode(&sf2, wire_f2);
		CHECK(memcmp(wire_f, wire_f2, sizeof(wire_f)) == 0);
	}
	{
		/* i64 arrays (SESSION_DETACH/ADOPT): a length that is not a
		 * multiple of 8 or over the cap is refused; the rest round-trips. */
		int64_t v[16];
		uint8_t wire_v[sizeof(v)];
		long n = ferry_i64s_decode(data, size, v, 16);

		CHECK(n == -EBADMSG || n == -E2BIG || (n >= 0 && (size_t)n * 8 == size));
		if (n >= 0) {
			CHECK(ferry_i64s_encode(v, (size_t)n, wire_v, sizeof(wire_v)) == size);
			CHECK(memcmp(wire_v, data, size) == 0);
		}
	}
	if (ferry_flock_decode(data, size, &fl) == 0) {
		ferry_flock_encode(&fl, wire_l);
		CHECK(memcmp(wire_l, data, sizeof(wire_l)) == 0);
		CHECK(ferry_flock_decode(wire_l, sizeof(wire_l), &fl2) == 0);
		ferry_flock_encode(&fl2, wire_l2);
		CHECK(memcmp(wire_l, wire_l2, sizeof(wire_l)) == 0);
	}
}

static void fuzz_dirents(const uint8_t *data, size_t size)
{
	/* A rebuilt record is at most 7 bytes longer than its wire form. */
	size_t cap = size * 2 + 64;
	uint8_t *rebuilt = malloc(cap);
	uint8_t *wire = malloc(cap);
	uint8_t *rebuilt2 = malloc(cap);
	size_t used = 0, used2 = 0, consumed = 0, wlen;
	long rlen, rlen2;

	CHECK(rebuilt && wire && rebuilt2);
	rlen = ferry_dirents_decode(data, size, rebuilt, cap, &used);
	if (rlen >= 0) {
		CHECK((size_t)rlen <= cap);
		/* Valid wire records rebuild into records the encoder accepts
		 * in full, and come back the same. */
		wlen = ferry_dirents_encode(rebuilt, (size_t)rlen, wire, cap, &consumed);
		CHECK(consumed == (size_t)rlen);
		CHECK(wlen == size);
		rlen2 = ferry_dirents_decode(wire, wlen, rebuilt2, cap, &used2);
		CHECK(rlen2 == rlen && used2 == used);
		CHECK(memcmp(rebuilt, rebuilt2, (size_t)rlen) == 0);
		/* A smaller buffer gets a prefix of whole records. */
		rlen2 = ferry_dirents_decode(data, size, rebuilt2, (size_t)rlen / 2, &used2);
		CHECK(rlen2 == -EINVAL || (rlen2 >= 0 && (size_t)rlen2 <= (size_t)rlen / 2 &&
					   memcmp(rebuilt, rebuilt2, (size_t)rlen2) == 0));
	}
	/* The daemon-side encoder must stay in bounds on any input too. */
	wlen = ferry_dirents_encode(data, size, wire, cap, &consumed);
	CHECK(consumed <= size && wlen <= cap);
	free(rebuilt);
	free(wire);
	free(rebuilt2);
}

/* Socket events: the decoder stays inside the buffer, and the events it
 * accepts re-encode to exactly the bytes they came from. */
static void fuzz_sockevs(const uint8_t *data, size_t size)
{
	uint8_t *again = malloc(size ? size : 1);
	size_t off = 0, out = 0;
	struct ferry_sockev ev;
	int rc;

	CHECK(again != NULL);
	while ((rc = ferry_sockev_decode(data, size, &off, &ev)) == 1) {
		CHECK(off <= size);
		CHECK(ev.addr_len <= FERRY_SOCKADDR_MAX);
		CHECK(ferry_sockev_encode(&ev, again, size, &out) == 0);
		CHECK(out == off);
	}
	CHECK(rc == 0 || rc == -EBADMSG);
	CHECK(rc != 0 || off == size);
	CHECK(memcmp(again, data, out) == 0);
	free(again);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	fuzz_message(data, size);
	fuzz_structs(data, size);
	fuzz_dirents(data, size);
	fuzz_sockevs(data, size);
	return 0;
}
