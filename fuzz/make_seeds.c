/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Writes the fuzzer's seed corpus into the directory given: valid messages
 * of several opcodes (requests and replies, with args, paths and data) and
 * valid dirent records, so fuzzing starts from deep inside the decoder.
 * Generated at build time rather than committed as binary blobs.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "ferry/proto.h"

static int write_seed(const char *dir, const char *name, const void *buf, size_t len)
{
	char path[4096];
	int fd, ret = 0;

	if ((size_t)snprintf(path, sizeof(path), "%s/%s", dir, name) >= sizeof(path))
		return -ENAMETOOLONG;
	fd = open(path, O_CREAT | O_TRUNC | O_WRONLY | O_CLOEXEC, 0644);
	if (fd < 0)
		return -errno;
	if (write(fd, buf, len) != (ssize_t)len)
		ret = -EIO;
	if (close(fd) != 0 && ret == 0)
		ret = -errno;
	return ret;
}

static int seed_message(const char *dir, const struct ferry_msg *m)
{
	static unsigned char buf[16384];
	char name[64];
	long n = ferry_msg_encode(m, buf, sizeof(buf));

	if (n < 0)
		return (int)n;
	snprintf(name, sizeof(name), "msg-%s-%s", ferry_op_name(m->opcode),
		 (m->flags & FERRY_MSG_REPLY) ? "reply" : "req");
	return write_seed(dir, name, buf, (size_t)n);
}

/* A SOCK_POLL reply's events: DATA with a source address, then EOF. */
static int seed_sockevs(const char *dir)
{
	static const uint8_t from[16] = {2, 0, 0, 80, 10, 0, 0, 1};
	const struct ferry_sockev evs[] = {
		{.handle = 5, .kind = FERRY_SOCKEV_DATA, .addr_len = sizeof(from), .addr = from,
		 .data_len = 4, .data = "data"},
		{.handle = 5, .kind = FERRY_SOCKEV_EOF},
	};
	uint8_t buf[256];
	size_t off = 0;

	for (size_t i = 0; i < sizeof(evs) / sizeof(evs[0]); i++)
		if (ferry_sockev_encode(&evs[i], buf, sizeof(buf), &off))
			return 1;
	return write_seed(dir, "sockevs", buf, off);
}

int main(int argc, char **argv)
{
	static const char cred[] = "MUNGE:credential";
	static const char payload[] = "0123456789abcdef";
	unsigned char dirents[64];
	struct ferry_msg m;
	int ret = 0;

	if (argc != 2) {
		fprintf(stderr, "usage: %s DIR\n", argv[0]);
		return 2;
	}
	if (mkdir(argv[1], 0755) != 0 && errno != EEXIST) {
		perror(argv[1]);
		return 1;
	}

	ferry_msg_init(&m, FERRY_OP_SESSION_OPEN, 0, 1);
	ferry_msg_add_arg(&m, 1234);
	ferry_msg_add_arg(&m, 1000);
	ferry_msg_add_arg(&m, 1000);
	ferry_msg_add_arg(&m, 42);
	m.data = cred;
	m.data_len = sizeof(cred) - 1;
	ret |= seed_message(argv[1], &m);

	ferry_msg_init(&m, FERRY_OP_OPENAT, 7, 2);
	ferry_msg_add_arg(&m, FERRY_AT_ROOT);
	ferry_msg_add_arg(&m, O_CREAT | O_WRONLY | O_TRUNC);
	ferry_msg_add_arg(&m, 0644);
	ferry_msg_add_arg(&m, 0);
	ferry_msg_add_path(&m, "/pfs/in/big.bin");
	ret |= seed_message(argv[1], &m);

	ferry_msg_init(&m, FERRY_OP_WRITE, 7, 3);
	ferry_msg_add_arg(&m, 5);
	ferry_msg_add_arg(&m, sizeof(payload) - 1);
	ferry_msg_add_arg(&m, -1);
	ferry_msg_add_arg(&m, 0);
	m.data = payload;
	m.data_len = sizeof(payload) - 1;
	ret |= seed_message(argv[1], &m);

	ferry_msg_init(&m, FERRY_OP_RENAMEAT2, 7, 4);
	ferry_msg_add_arg(&m, FERRY_AT_ROOT);
	ferry_msg_add_arg(&m, FERRY_AT_ROOT);
	ferry_msg_add_arg(&m, 0);
	ferry_msg_add_path(&m, "/pfs/a");
	ferry_msg_add_path(&m, "/pfs/b");
	ret |= seed_message(argv[1], &m);

	ferry_msg_init(&m, FERRY_OP_READ, 7, 5);
	m.flags = FERRY_MSG_REPLY;
	m.ret = sizeof(payload) - 1;
	m.data = payload;
	m.data_len = sizeof(payload) - 1;
	ret |= seed_message(argv[1], &m);

	ferry_msg_init(&m, FERRY_OP_STATX, 7, 6);
	m.flags = FERRY_MSG_REPLY;
	m.ret = -1;
	m.err = ENOENT;
	ret |= seed_message(argv[1], &m);

	ferry_msg_init(&m, FERRY_OP_NULL_CALL, 7, 7);
	ret |= seed_message(argv[1], &m);

	/* Two wire dirents: "." and "file". */
	memset(dirents, 0, sizeof(dirents));
	dirents[0] = 2;
	dirents[8] = 1;
	dirents[16] = 4; /* DT_DIR */
	dirents[18] = 1;
	dirents[20] = '.';
	dirents[21] = 12;
	dirents[29] = 2;
	dirents[37] = 8; /* DT_REG */
	dirents[39] = 4;
	memcpy(dirents + 41, "file", 4);
	ret |= write_seed(argv[1], "dirents", dirents, 45);
	ret |= seed_sockevs(argv[1]);
	return ret ? 1 : 0;
}
