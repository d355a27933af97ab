/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Thousands of damaged requests from one session: random opcodes with
 * random arguments, paths and data, then a few random bytes of the body
 * flipped.  Every one gets a reply addressed to its sequence number, the
 * daemon keeps serving, and it shuts down cleanly (exit 0: no sanitizer
 * report).  Opcodes that may block forever by design (FCNTL and FLOCK
 * locks, MKNODAT FIFOs that an OPENAT would then wait on) are left out.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "iond_harness.h"

#define ROUNDS 3000

static uint64_t rng_state;

static uint64_t rnd(void)
{
	rng_state ^= rng_state << 13;
	rng_state ^= rng_state >> 7;
	rng_state ^= rng_state << 17;
	return rng_state;
}

/* Argument and path counts per opcode (proto.h), so most requests get past
 * admission and into the opcode handlers. */
static const unsigned char shape[][2] = {
	[FERRY_OP_SESSION_OPEN] = {4, 0}, [FERRY_OP_NULL_CALL] = {0, 0},
	[FERRY_OP_OPENAT] = {4, 1},       [FERRY_OP_CLOSE] = {1, 0},
	[FERRY_OP_READ] = {4, 0},         [FERRY_OP_WRITE] = {4, 0},
	[FERRY_OP_LSEEK] = {3, 0},        [FERRY_OP_STATX] = {3, 1},
	[FERRY_OP_FACCESSAT] = {3, 1},    [FERRY_OP_MKDIRAT] = {2, 1},
	[FERRY_OP_UNLINKAT] = {2, 1},     [FERRY_OP_RENAMEAT2] = {3, 2},
	[FERRY_OP_LINKAT] = {3, 2},       [FERRY_OP_SYMLINKAT] = {1, 2},
	[FERRY_OP_READLINKAT] = {2, 1},   [FERRY_OP_GETDENTS] = {2, 0},
	[FERRY_OP_TRUNCATE] = {2, 1},     [FERRY_OP_FTRUNCATE] = {2, 0},
	[FERRY_OP_FSYNC] = {2, 0},        [FERRY_OP_FCHMODAT] = {3, 1},
	[FERRY_OP_FCHOWNAT] = {4, 1},     [FERRY_OP_UTIMENSAT] = {3, 1},
	[FERRY_OP_STATFS] = {1, 1},       [FERRY_OP_FALLOCATE] = {4, 0},
	[FERRY_OP_FADVISE] = {4, 0},      [FERRY_OP_XATTR_GET] = {3, 2},
	[FERRY_OP_XATTR_SET] = {3, 2},    [FERRY_OP_XATTR_LIST] = {3, 1},
	[FERRY_OP_XATTR_REMOVE] = {2, 2}, [FERRY_OP_COPY_RANGE] = {5, 0},
};

static int blocking_op(unsigned int op)
{
	return op == FERRY_OP_FCNTL || op == FERRY_OP_FLOCK || op == FERRY_OP_MKNODAT;
}

static int64_t random_arg(const long *handles, int nhandles)
{
	switch (rnd() % 6) {
	case 0:
		return handles[rnd() % (uint64_t)nhandles];
	case 1:
		return FERRY_AT_ROOT;
	case 2:
		return (int64_t)(rnd() % 8);
	case 3:
		return -1;
	case 4:
		return (int64_t)(rnd() % 70000);
	default:
		return (int64_t)rnd();
	}
}

static const char *random_path(void)
{
	static const char *const paths[] = {"/pfs/f", "/pfs/d", "/pfs/d/g", "", "/pfs",
					    "/pfs/../etc/passwd", "f", "/elsewhere", "/pfs/new"};

	return paths[rnd() % (sizeof(paths) / sizeof(paths[0]))];
}

int main(int argc, char **argv)
{
	const char *transport = iond_test_begin(argc, argv, 170);
	static unsigned char frame[8192], data[512];
	static struct iond_reply rep;
	const char *seed_env = getenv("IOND_FUZZ_SEED");
	struct iond_daemon d;
	struct iond_client c;
	long handles[3];
	int replies = 0;

	rng_state = seed_env ? strtoull(seed_env, NULL, 0) : 0x9E3779B97F4A7C15ull;
	printf("seed %#llx (IOND_FUZZ_SEED)\n", (unsigned long long)rng_state);
	iond_daemon_start(&d, transport, NULL);
	CHECK_ERR(iond_client_open(&c, d.uri, 1), 0);
	handles[0] = iond_openat(&c, "/pfs/f", O_CREAT | O_RDWR, 0644);
	CHECK_ERR(iond_write(&c, handles[0], "hello", 5, 0), 5);
	handles[1] = iond_openat(&c, "/pfs", O_RDONLY | O_DIRECTORY, 0);
	handles[2] = 12345;
	CHECK(handles[0] >= 0 && handles[1] >= 0, "setup");

	for (int round = 0; round < ROUNDS; round++) {
		struct ferry_msg m;
		unsigned int op;
		int nargs, npaths;
		long len;
		int rc;

		do
			op = 1 + (unsigned int)(rnd() % 45);
		while (blocking_op(op) || op == FERRY_OP_SESSION_CLOSE);
		ferry_msg_init(&m, (uint16_t)op, c.session, ++c.seq);
		if (op < sizeof(shape) / sizeof(shape[0]) && rnd() % 4) {
			nargs = shape[op][0];
			npaths = shape[op][1];
		} else {
			nargs = (int)(rnd() % (FERRY_MAX_ARGS + 1));
			npaths = (int)(rnd() % (FERRY_MAX_PATHS + 1));
		}
		for (int i = 0; i < nargs; i++)
			ferry_msg_add_arg(&m, random_arg(handles, 3));
		for (int i = 0; i < npaths; i++)
			ferry_msg_add_path(&m, random_path());
		if (rnd() % 2) {
			for (size_t i = 0; i < sizeof(data); i++)
				data[i] = (unsigned char)rnd();
			m.data = data;
			m.data_len = (uint32_t)(rnd() % sizeof(data));
		}
		len = ferry_msg_encode(&m, frame, sizeof(frame));
		CHECK(len > 0, "encode: %s", iond_errname(len));
		/* Damage the body (never the header, so a reply can come). */
		for (int flips = rnd() % 2 ? 0 : 1 + (int)(rnd() % 3);
		     flips > 0 && len > FERRY_HEADER_SIZE; flips--) {
			size_t at = FERRY_HEADER_SIZE + rnd() % (uint64_t)(len - FERRY_HEADER_SIZE);

			frame[at] ^= (unsigned char)(1u << (rnd() % 8));
		}
		/* A damaged body may still decode as a blocking call: skip it. */
		{
			struct ferry_msg check;

			if (ferry_msg_decode(frame, (size_t)len, &check) == 0 &&
			    blocking_op(check.opcode))
				continue;
		}
		rc = iond_call_raw(&c, frame, (size_t)len, &rep, 10000);
		CHECK(rc == 0, "round %d (op %u): no reply: %s", round, op, iond_errname(rc));
		CHECK(rep.msg.seq == c.seq, "round %d: reply seq %llu, want %llu", round,
		      (unsigned long long)rep.msg.seq, (unsigned long long)c.seq);
		replies++;
	}
	printf("%d replies\n", replies);

	CHECK_ERR(iond_null(&c), 0);
	iond_client_close(&c);
	iond_test_pass("damaged requests");
}
