/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The wire codec: every opcode survives a round trip, every malformed
 * message is refused with the errno proto.h documents, and the kernel
 * structures (statx, statfs, flock, dirents) travel unchanged.  Logging:
 * the line format, levels, and one line per event.
 */
#include <errno.h>
#include <fcntl.h>
#include <regex.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cmocka.h>

#include "ferry/log.h"
#include "ferry/proto.h"

static const uint16_t all_ops[] = {
#define OP_NUM(name, num, doc) num,
	FERRY_OPS(OP_NUM)
#undef OP_NUM
};
#define N_OPS (sizeof(all_ops) / sizeof(all_ops[0]))

/* A request with two args, one path and some data: small and valid. */
static long encode_sample(uint8_t *buf, size_t cap, uint16_t op)
{
	static const char payload[] = "payload";
	struct ferry_msg m;

	ferry_msg_init(&m, op, 7, 42);
	assert_int_equal(ferry_msg_add_arg(&m, 3), 0);
	assert_int_equal(ferry_msg_add_arg(&m, -1), 0);
	assert_int_equal(ferry_msg_add_path(&m, "/pfs/a"), 0);
	m.data = payload;
	m.data_len = sizeof(payload) - 1;
	return ferry_msg_encode(&m, buf, cap);
}

/* Offsets of fields the tests corrupt. */
enum { HDR_VERSION = 4, HDR_BODY_LEN = 12, B_NARGS = 44, B_NPATHS = 45, B_RESERVED = 46,
       B_DATA_LEN = 48, B_ARGS = 52 };

static void put_le32(uint8_t *p, uint32_t v)
{
	for (int i = 0; i < 4; i++)
		p[i] = (uint8_t)(v >> (8 * i));
}

static void test_op_names(void **state)
{
	(void)state;
	for (size_t i = 0; i < N_OPS; i++)
		assert_non_null(ferry_op_name(all_ops[i]));
	assert_string_equal(ferry_op_name(FERRY_OP_OPENAT), "OPENAT");
	assert_string_equal(ferry_op_name(FERRY_OP_SESSION_OPEN), "SESSION_OPEN");
	assert_null(ferry_op_name(0));
	assert_null(ferry_op_name(9999));
}

static void test_roundtrip_every_opcode(void **state)
{
	static uint8_t buf[FERRY_HEADER_SIZE + FERRY_BODY_FIXED + 64 + 2 * 4100 + 256];
	char long_path[FERRY_PATH_MAX];
	uint8_t data[200];

	(void)state;
	memset(long_path, 'p', sizeof(long_path) - 1);
	long_path[0] = '/';
	long_path[sizeof(long_path) - 1] = '\0';
	for (size_t i = 0; i < sizeof(data); i++)
		data[i] = (uint8_t)(i * 7);

	for (size_t i = 0; i < N_OPS; i++) {
		struct ferry_msg m, d;
		unsigned nargs = (unsigned)(i % (FERRY_MAX_ARGS + 1));
		unsigned npaths = (unsigned)(i % (FERRY_MAX_PATHS + 1));
		long n;

		ferry_msg_init(&m, all_ops[i], 0x1122334455667788ull + i, 1000 + i);
		m.flags = (i & 1) ? FERRY_MSG_REPLY : 0;
		m.ret = (i & 1) ? -(int64_t)i : INT64_MAX - (int64_t)i;
		m.err = (i & 1) ? ENOENT : 0;
		for (unsigned a = 0; a < nargs; a++)
			assert_int_equal(ferry_msg_add_arg(&m, (a & 1) ? INT64_MIN + a : (int64_t)a * 12345), 0);
		if (npaths >= 1)
			assert_int_equal(ferry_msg_add_path(&m, i == 3 ? long_path : "/pfs/in/big.bin"), 0);
		if (npaths >= 2)
			assert_int_equal(ferry_msg_add_path(&m, ""), 0);
		m.data = (i % 3) ? data : NULL;
		m.data_len = (i % 3) ? (uint32_t)(i * 5 % sizeof(data)) : 0;

		n = ferry_msg_encode(&m, buf, sizeof(buf));
		assert_true(n > 0);
		assert_int_equal((size_t)n, ferry_msg_encoded_size(&m));
		assert_int_equal(ferry_msg_decode(buf, (size_t)n, &d), 0);
		assert_int_equal(d.version, FERRY_PROTO_VERSION);
		assert_int_equal(d.opcode, m.opcode);
		assert_int_equal(d.flags, m.flags);
		assert_true(d.session == m.session);
		assert_true(d.seq == m.seq);
		assert_true(d.ret == m.ret);
		assert_int_equal(d.err, m.err);
		assert_int_equal(d.nargs, m.nargs);
		assert_int_equal(d.npaths, m.npaths);
		for (unsigned a = 0; a < nargs; a++)
			assert_true(d.args[a] == m.args[a]);
		for (unsigned p = 0; p < npaths; p++) {
			assert_int_equal(d.path_len[p], m.path_len[p]);
			assert_string_equal(d.paths[p], m.paths[p]);
		}
		assert_int_equal(d.data_len, m.data_len);
		if (m.data_len)
			assert_memory_equal(d.data, m.data, m.data_len);
		else
			assert_null(d.data);
	}
}

static void test_wire_layout_is_little_endian(void **state)
{
	uint8_t buf[256];
	long n = encode_sample(buf, sizeof(buf), FERRY_OP_OPENAT);

	(void)state;
	assert_true(n > 0);
	assert_memory_equal(buf, "FERY", 4);
	assert_int_equal(buf[4], FERRY_PROTO_VERSION);
	assert_int_equal(buf[5], 0);
	assert_int_equal(buf[6], FERRY_OP_OPENAT);
	assert_int_equal(buf[12] | buf[13] << 8, n - FERRY_HEADER_SIZE);
	assert_int_equal(buf[16], 7);  /* session */
	assert_int_equal(buf[24], 42); /* seq */
	assert_int_equal(buf[B_NARGS], 2);
	assert_int_equal(buf[B_NPATHS], 1);
	assert_int_equal(buf[B_ARGS], 3);
	assert_int_equal(buf[B_ARGS + 8], 0xff); /* -1 */
}

static void test_reject_bad_magic(void **state)
{
	uint8_t buf[256];
	struct ferry_msg d;
	long n = encode_sample(buf, sizeof(buf), FERRY_OP_READ);

	(void)state;
	buf[0] ^= 0x20;
	assert_int_equal(ferry_msg_decode(buf, (size_t)n, &d), -EPROTO);
}

static void test_reject_version_keeps_addressing(void **state)
{
	uint8_t buf[256];
	struct ferry_msg d;
	long n = encode_sample(buf, sizeof(buf), FERRY_OP_STATX);

	(void)state;
	buf[HDR_VERSION] = FERRY_PROTO_VERSION + 1;
	assert_int_equal(ferry_msg_decode(buf, (size_t)n, &d), -EPROTONOSUPPORT);
	assert_int_equal(d.version, FERRY_PROTO_VERSION + 1);
	assert_int_equal(d.opcode, FERRY_OP_STATX);
	assert_true(d.session == 7);
	assert_true(d.seq == 42);
}

static void test_reject_truncated_at_every_offset(void **state)
{
	uint8_t buf[256];
	struct ferry_msg d;
	long n = encode_sample(buf, sizeof(buf), FERRY_OP_WRITE);

	(void)state;
	assert_true(n > FERRY_HEADER_SIZE);
	for (long len = 0; len < n; len++) {
		/* A fresh heap copy of exactly len bytes lets ASan catch any
		 * read past the end. */
		uint8_t *copy = malloc(len ? (size_t)len : 1);

		assert_non_null(copy);
		memcpy(copy, buf, (size_t)len);
		assert_int_equal(ferry_msg_decode(copy, (size_t)len, &d), -EBADMSG);
		free(copy);
	}
	assert_int_equal(ferry_msg_decode(buf, (size_t)n, &d), 0);
}

static void test_reject_body_len_mismatch(void **state)
{
	uint8_t buf[256];
	struct ferry_msg d;
	long n = encode_sample(buf, sizeof(buf), FERRY_OP_WRITE);
	uint32_t body = (uint32_t)(n - FERRY_HEADER_SIZE);

	(void)state;
	put_le32(buf + HDR_BODY_LEN, body + 1);
	assert_int_equal(ferry_msg_decode(buf, (size_t)n, &d), -EBADMSG);
	put_le32(buf + HDR_BODY_LEN, body - 1);
	assert_int_equal(ferry_msg_decode(buf, (size_t)n, &d), -EBADMSG);
	put_le32(buf + HDR_BODY_LEN, UINT32_MAX);
	assert_int_equal(ferry_msg_decode(buf, (size_t)n, &d), -EBADMSG);
	/* Consistent header, but one byte of trailing garbage. */
	put_le32(buf + HDR_BODY_LEN, body + 1);
	buf[n] = 0;
	assert_int_equal(ferry_msg_decode(buf, (size_t)n + 1, &d), -EBADMSG);
	/* A body too short for its own fixed part. */
	put_le32(buf + HDR_BODY_LEN, 4);
	assert_int_equal(ferry_msg_decode(buf, FERRY_HEADER_SIZE + 4, &d), -EBADMSG);
}

static void test_reject_counts_above_limits(void **state)
{
	uint8_t orig[256], buf[256];
	struct ferry_msg d;
	long n = encode_sample(orig, sizeof(orig), FERRY_OP_WRITE);

	(void)state;
	memcpy(buf, orig, sizeof(buf));
	buf[B_NARGS] = FERRY_MAX_ARGS + 1;
	assert_int_equal(ferry_msg_decode(buf, (size_t)n, &d), -EMSGSIZE);
	buf[B_NARGS] = 0xff;
	assert_int_equal(ferry_msg_decode(buf, (size_t)n, &d), -EMSGSIZE);

	memcpy(buf, orig, sizeof(buf));
	buf[B_NPATHS] = FERRY_MAX_PATHS + 1;
	assert_int_equal(ferry_msg_decode(buf, (size_t)n, &d), -EMSGSIZE);

	memcpy(buf, orig, sizeof(buf));
	put_le32(buf + B_DATA_LEN, FERRY_DATA_MAX + 1);
	assert_int_equal(ferry_msg_decode(buf, (size_t)n, &d), -EMSGSIZE);
	put_le32(buf + B_DATA_LEN, UINT32_MAX);
	assert_int_equal(ferry_msg_decode(buf, (size_t)n, &d), -EMSGSIZE);

	memcpy(buf, orig, sizeof(buf));
	put_le32(buf + B_ARGS + 16, FERRY_PATH_MAX + 1); /* the path's length */
	assert_int_equal(ferry_msg_decode(buf, (size_t)n, &d), -EMSGSIZE);
	put_le32(buf + B_ARGS + 16, UINT32_MAX);
	assert_int_equal(ferry_msg_decode(buf, (size_t)n, &d), -EMSGSIZE);

	/* Within limits but more than was received: truncated. */
	memcpy(buf, orig, sizeof(buf));
	put_le32(buf + B_ARGS + 16, 200);
	assert_int_equal(ferry_msg_decode(buf, (size_t)n, &d), -EBADMSG);
	memcpy(buf, orig, sizeof(buf));
	buf[B_NARGS] = FERRY_MAX_ARGS;
	assert_int_equal(ferry_msg_decode(buf, (size_t)n, &d), -EBADMSG);
	memcpy(buf, orig, sizeof(buf));
	put_le32(buf + B_DATA_LEN, 100);
	assert_int_equal(ferry_msg_decode(buf, (size_t)n, &d), -EBADMSG);
}

static void test_reject_bad_paths(void **state)
{
	uint8_t orig[256], buf[256];
	struct ferry_msg d;
	long n = encode_sample(orig, sizeof(orig), FERRY_OP_OPENAT);
	size_t path_at = B_ARGS + 16 + 4; /* "/pfs/a\0" */

	(void)state;
	memcpy(buf, orig, sizeof(buf));
	buf[path_at + 6] = 'x'; /* no terminating NUL */
	assert_int_equal(ferry_msg_decode(buf, (size_t)n, &d), -EBADMSG);

	memcpy(buf, orig, sizeof(buf));
	buf[path_at + 2] = '\0'; /* inner NUL */
	assert_int_equal(ferry_msg_decode(buf, (size_t)n, &d), -EBADMSG);

	memcpy(buf, orig, sizeof(buf));
	put_le32(buf + B_ARGS + 16, 0); /* a path must hold at least its NUL */
	assert_int_equal(ferry_msg_decode(buf, (size_t)n, &d), -EBADMSG);
}

static void test_reject_reserved_nonzero(void **state)
{
	uint8_t buf[256];
	struct ferry_msg d;
	long n = encode_sample(buf, sizeof(buf), FERRY_OP_READ);

	(void)state;
	buf[B_RESERVED + 1] = 1;
	assert_int_equal(ferry_msg_decode(buf, (size_t)n, &d), -EBADMSG);
}

static void test_unknown_opcode_decodes(void **state)
{
	uint8_t buf[256];
	struct ferry_msg d;
	long n = encode_sample(buf, sizeof(buf), 999);

	(void)state;
	assert_true(n > 0);
	assert_int_equal(ferry_msg_decode(buf, (size_t)n, &d), 0);
	assert_int_equal(d.opcode, 999);
	assert_null(ferry_op_name(d.opcode));
}

static void test_encode_limits(void **state)
{
	static char too_long[FERRY_PATH_MAX + 1];
	static const uint8_t payload[4];
	uint8_t buf[128];
	struct ferry_msg m;
	long n;

	(void)state;
	ferry_msg_init(&m, FERRY_OP_WRITE, 1, 1);
	for (int i = 0; i < FERRY_MAX_ARGS; i++)
		assert_int_equal(ferry_msg_add_arg(&m, i), 0);
	assert_int_equal(ferry_msg_add_arg(&m, 9), -E2BIG);

	memset(too_long, 'a', FERRY_PATH_MAX);
	assert_int_equal(ferry_msg_add_path(&m, too_long), -ENAMETOOLONG);
	too_long[FERRY_PATH_MAX - 1] = '\0'; /* exactly the limit with its NUL */
	assert_int_equal(ferry_msg_add_path(&m, too_long), 0);
	assert_int_equal(ferry_msg_add_path(&m, "/b"), 0);
	assert_int_equal(ferry_msg_add_path(&m, "/c"), -E2BIG);

	/* Too big for the buffer: EMSGSIZE; breaking a limit: EINVAL. */
	assert_int_equal(ferry_msg_encode(&m, buf, sizeof(buf)), -EMSGSIZE);
	ferry_msg_init(&m, FERRY_OP_WRITE, 1, 1);
	m.data = payload;
	m.data_len = FERRY_DATA_MAX + 1;
	assert_int_equal(ferry_msg_encoded_size(&m), 0);
	assert_int_equal(ferry_msg_encode(&m, buf, sizeof(buf)), -EINVAL);
	m.data_len = 4;
	m.nargs = FERRY_MAX_ARGS + 1;
	assert_int_equal(ferry_msg_encode(&m, buf, sizeof(buf)), -EINVAL);
	m.nargs = 0;
	m.npaths = 1;
	m.paths[0] = "/a";
	m.path_len[0] = 5; /* disagrees with the string */
	assert_int_equal(ferry_msg_encode(&m, buf, sizeof(buf)), -EINVAL);
	m.path_len[0] = 2;
	n = ferry_msg_encode(&m, buf, sizeof(buf));
	assert_int_equal(n, FERRY_HEADER_SIZE + FERRY_BODY_FIXED + 4 + 3 + 4);
	assert_int_equal(ferry_msg_encode(&m, buf, (size_t)n - 1), -EMSGSIZE);
}

static void test_max_size_message(void **state)
{
	static char paths[2][FERRY_PATH_MAX];
	struct ferry_msg m, d;
	uint8_t *buf = malloc(FERRY_MSG_MAX);
	void *data = calloc(1, FERRY_DATA_MAX);
	long n;

	(void)state;
	assert_non_null(buf);
	assert_non_null(data);
	ferry_msg_init(&m, FERRY_OP_WRITE, 1, 2);
	for (int i = 0; i < FERRY_MAX_ARGS; i++)
		assert_int_equal(ferry_msg_add_arg(&m, i), 0);
	for (int p = 0; p < 2; p++) {
		memset(paths[p], 'a' + p, FERRY_PATH_MAX - 1);
		assert_int_equal(ferry_msg_add_path(&m, paths[p]), 0);
	}
	m.data = data;
	m.data_len = FERRY_DATA_MAX;
	n = ferry_msg_encode(&m, buf, FERRY_MSG_MAX);
	assert_int_equal(n, FERRY_MSG_MAX);
	assert_int_equal(ferry_msg_decode(buf, (size_t)n, &d), 0);
	assert_int_equal(d.path_len[1], FERRY_PATH_MAX - 1);
	free(buf);
	free(data);
}

/* ---- kernel structures ---- */

static void test_statx_roundtrip_real_file(void **state)
{
	char path[] = "/tmp/ferry-proto-XXXXXX";
	uint8_t wire[FERRY_WIRE_STATX_SIZE];
	struct statx st, back;
	int fd = mkstemp(path);

	(void)state;
	assert_true(fd >= 0);
	assert_int_equal(write(fd, "hello", 5), 5);
	memset(&st, 0, sizeof(st));
	assert_int_equal(statx(fd, "", AT_EMPTY_PATH, STATX_ALL | STATX_MNT_ID, &st), 0);
	ferry_statx_encode(&st, wire);
	assert_int_equal(ferry_statx_decode(wire, sizeof(wire), &back), 0);
	/* The kernel's 160-byte statx, padding included, comes back intact. */
	assert_memory_equal(&st, &back, FERRY_WIRE_STATX_SIZE);
	assert_int_equal(back.stx_size, 5);
	assert_true(S_ISREG(back.stx_mode));
	assert_true(back.stx_mask & STATX_MNT_ID);
	assert_int_equal(ferry_statx_decode(wire, sizeof(wire) - 1, &back), -EBADMSG);

	/* Negative times (before 1970) keep their sign. */
	st.stx_mtime.tv_sec = -12345;
	st.stx_mtime.tv_nsec = 999999999;
	ferry_statx_encode(&st, wire);
	assert_int_equal(ferry_statx_decode(wire, sizeof(wire), &back), 0);
	assert_true(back.stx_mtime.tv_sec == -12345);
	assert_int_equal(back.stx_mtime.tv_nsec, 999999999);
	close(fd);
	unlink(path);
}

static void test_statfs_roundtrip_real_fs(void **state)
{
	uint8_t wire[FERRY_WIRE_STATFS_SIZE];
	struct statfs st, back;

	(void)state;
	memset(&st, 0, sizeof(st));
	assert_int_equal(statfs("/tmp", &st), 0);
	ferry_statfs_encode(&st, wire);
	assert_int_equal(ferry_statfs_decode(wire, sizeof(wire), &back), 0);
	assert_true(back.f_type == st.f_type);
	assert_true(back.f_bsize == st.f_bsize);
	assert_true(back.f_blocks == st.f_blocks);
	assert_true(back.f_bfree == st.f_bfree);
	assert_true(back.f_bavail == st.f_bavail);
	assert_true(back.f_files == st.f_files);
	assert_true(back.f_ffree == st.f_ffree);
	assert_memory_equal(&back.f_fsid, &st.f_fsid, sizeof(st.f_fsid));
	assert_true(back.f_namelen == st.f_namelen);
	assert_true(back.f_frsize == st.f_frsize);
	assert_true(back.f_flags == st.f_flags);
	assert_int_equal(ferry_statfs_decode(wire, 10, &back), -EBADMSG);
}

static void test_flock_roundtrip(void **state)
{
	uint8_t wire[FERRY_WIRE_FLOCK_SIZE];
	struct flock fl = { .l_type = F_WRLCK, .l_whence = SEEK_END, .l_start = -4096,
			    .l_len = INT64_MAX, .l_pid = -1 };
	struct flock back;

	(void)state;
	ferry_flock_encode(&fl, wire);
	assert_int_equal(ferry_flock_decode(wire, sizeof(wire), &back), 0);
	assert_int_equal(back.l_type, F_WRLCK);
	assert_int_equal(back.l_whence, SEEK_END);
	assert_true(back.l_start == -4096);
	assert_true(back.l_len == INT64_MAX);
	assert_int_equal(back.l_pid, -1);
	assert_int_equal(ferry_flock_decode(wire, sizeof(wire) - 1, &back), -EBADMSG);
}

/* A directory with names of length 1..255 and odd characters. */
static char *make_dir_with_entries(void)
{
	static char dir[] = "/tmp/ferry-dirents-XXXXXX";
	char name[300];

	assert_non_null(mkdtemp(dir));
	for (int len = 1; len <= 255; len += 17) {
		int fd;

		memset(name, 'n', sizeof(name));
		snprintf(name, sizeof(name), "%s/", dir);
		memset(name + strlen(dir) + 1, 'a' + len % 26, (size_t)len);
		name[strlen(dir) + 1 + (size_t)len] = '\0';
		fd = open(name, O_CREAT | O_WRONLY | O_CLOEXEC, 0600);
		assert_true(fd >= 0);
		close(fd);
	}
	snprintf(name, sizeof(name), "%s/%s", dir, "sp ace\tand\xc3\xa9");
	assert_int_equal(mkdir(name, 0700), 0);
	return dir;
}

static void remove_dir_entries(const char *dir)
{
	char cmd[128];

	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	assert_int_equal(system(cmd), 0);
}

static void test_dirents_roundtrip_real_dir(void **state)
{
	static uint8_t kbuf[8192], wire[8192], rebuilt[8192];
	char *dir = make_dir_with_entries();
	size_t consumed = 0, used = 0;
	long klen, rlen;
	size_t wlen;
	int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);

	(void)state;
	assert_true(fd >= 0);
	memset(kbuf, 0, sizeof(kbuf));
	klen = syscall(SYS_getdents64, fd, kbuf, sizeof(kbuf));
	assert_true(klen > 0);

	wlen = ferry_dirents_encode(kbuf, (size_t)klen, wire, sizeof(wire), &consumed);
	assert_int_equal(consumed, (size_t)klen);
	assert_true(wlen > 0);

	/* A buffer as large as the daemon's holds every rebuilt record, and
	 * the records are exactly what the kernel wrote. */
	memset(rebuilt, 0xaa, sizeof(rebuilt));
	rlen = ferry_dirents_decode(wire, wlen, rebuilt, (size_t)klen, &used);
	assert_int_equal(rlen, klen);
	assert_memory_equal(rebuilt, kbuf, (size_t)klen);
	assert_true(used >= 18); /* 15 files, a directory, "." and ".." */

	/* Too small for the first record: EINVAL; for some: a prefix. */
	assert_int_equal(ferry_dirents_decode(wire, wlen, rebuilt, 20, &used), -EINVAL);
	rlen = ferry_dirents_decode(wire, wlen, rebuilt, (size_t)klen - 1, &used);
	assert_true(rlen > 0 && rlen < klen);
	assert_memory_equal(rebuilt, kbuf, (size_t)rlen);

	/* Encoding into a small buffer stops on a record boundary. */
	wlen = ferry_dirents_encode(kbuf, (size_t)klen, wire, 300, &consumed);
	assert_true(wlen > 0 && wlen <= 300);
	assert_true(consumed > 0 && consumed < (size_t)klen);
	rlen = ferry_dirents_decode(wire, wlen, rebuilt, sizeof(rebuilt), &used);
	assert_int_equal(rlen, consumed);
	assert_memory_equal(rebuilt, kbuf, consumed);

	close(fd);
	remove_dir_entries(dir);
}

static size_t wire_dirent(uint8_t *out, uint16_t namelen, const char *name)
{
	memset(out, 0, FERRY_WIRE_DIRENT_FIXED);
	out[0] = 5;  /* ino */
	out[8] = 9;  /* off */
	out[16] = 8; /* DT_REG */
	out[18] = (uint8_t)namelen;
	out[19] = (uint8_t)(namelen >> 8);
	memcpy(out + FERRY_WIRE_DIRENT_FIXED, name, strlen(name));
	return FERRY_WIRE_DIRENT_FIXED + strlen(name);
}

static void test_dirents_reject_malformed(void **state)
{
	static char long_name[257];
	uint8_t in[600], out[1024];
	size_t used = 99, n;

	(void)state;
	n = wire_dirent(in, 3, "abc");
	assert_int_equal(ferry_dirents_decode(in, n, out, sizeof(out), &used), 24);
	assert_int_equal(used, 1);
	assert_int_equal(ferry_dirents_decode(in, 0, out, sizeof(out), &used), 0);

	n = wire_dirent(in, 0, "");
	assert_int_equal(ferry_dirents_decode(in, n, out, sizeof(out), &used), -EBADMSG);
	memset(long_name, 'x', 256);
	n = wire_dirent(in, 256, long_name);
	assert_int_equal(ferry_dirents_decode(in, n, out, sizeof(out), &used), -EBADMSG);
	n = wire_dirent(in, 3, "a/b");
	assert_int_equal(ferry_dirents_decode(in, n, out, sizeof(out), &used), -EBADMSG);
	n = wire_dirent(in, 3, "abc");
	in[FERRY_WIRE_DIRENT_FIXED + 1] = '\0';
	assert_int_equal(ferry_dirents_decode(in, n, out, sizeof(out), &used), -EBADMSG);
	n = wire_dirent(in, 4, "abc"); /* namelen past the end */
	assert_int_equal(ferry_dirents_decode(in, n, out, sizeof(out), &used), -EBADMSG);
	/* A good record followed by a truncated header: nothing is used. */
	n = wire_dirent(in, 3, "abc");
	assert_int_equal(ferry_dirents_decode(in, n + 5, out, sizeof(out), &used), -EBADMSG);
	assert_int_equal(used, 0);
}

/* ---- logging ---- */

static char *read_all(int fd)
{
	static char buf[8192];
	ssize_t n = pread(fd, buf, sizeof(buf) - 1, 0);

	assert_true(n >= 0);
	buf[n] = '\0';
	return buf;
}

static int temp_log_fd(void)
{
	char path[] = "/tmp/ferry-log-XXXXXX";
	int fd = mkstemp(path);

	assert_true(fd >= 0);
	unlink(path);
	return fd;
}

static void test_log_line_format(void **state)
{
	regex_t re;
	int fd = temp_log_fd();
	char *text;

	(void)state;
	unsetenv("FERRY_LOG_LEVEL");
	unsetenv("FERRY_LOG_FILE");
	ferry_log_init("ferry-iond", FERRY_LOG_INFO, fd);
	errno = EIO;
	FLOG_INFO(7, 42, "opened from pid %d", 99);
	assert_int_equal(errno, EIO); /* logging leaves errno alone */
	FLOG_WARN(0, 0, "no session\nforged line");
	FLOG_DEBUG(1, 1, "not shown at info");
	text = read_all(fd);
	assert_int_equal(regcomp(&re,
				 "^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}\\.[0-9]{3}Z "
				 "ferry-iond\\[[0-9]+\\] INFO session=7 job=42 opened from pid 99\n"
				 "[0-9T:.Z-]+ ferry-iond\\[[0-9]+\\] WARN session=- job=- "
				 "no session forged line\n$",
				 REG_EXTENDED),
			 0);
	assert_int_equal(regexec(&re, text, 0, NULL, 0), 0);
	regfree(&re);
	close(fd);
}

static void test_log_levels_and_truncation(void **state)
{
	char big[3000];
	int fd = temp_log_fd();
	char *text;

	(void)state;
	setenv("FERRY_LOG_LEVEL", "debug", 1);
	ferry_log_init("t", FERRY_LOG_ERROR, fd);
	assert_true(ferry_log_enabled(FERRY_LOG_DEBUG));
	setenv("FERRY_LOG_LEVEL", "error", 1);
	ferry_log_init("t", FERRY_LOG_DEBUG, fd);
	assert_false(ferry_log_enabled(FERRY_LOG_WARN));
	FLOG_WARN(1, 2, "suppressed");
	FLOG_ERR(1, 2, "shown");
	unsetenv("FERRY_LOG_LEVEL");
	ferry_log_init("t", FERRY_LOG_INFO, fd);
	memset(big, 'z', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	FLOG_INFO(1, 2, "%s", big);
	text = read_all(fd);
	assert_null(strstr(text, "suppressed"));
	assert_non_null(strstr(text, "ERROR session=1 job=2 shown\n"));
	/* The long line is cut, marked, and still one line. */
	text = strchr(text, '\n') + 1;
	assert_true(strlen(text) < 1024);
	assert_non_null(strstr(text, "z...\n"));
	close(fd);
}

static void test_log_file_env(void **state)
{
	char path[] = "/tmp/ferry-logfile-XXXXXX";
	int fd = mkstemp(path);
	char *text;

	(void)state;
	assert_true(fd >= 0);
	setenv("FERRY_LOG_FILE", path, 1);
	ferry_log_init("envlog", FERRY_LOG_INFO, -1);
	FLOG_INFO(3, 0, "to the file");
	text = read_all(fd);
	assert_non_null(strstr(text, "envlog["));
	assert_non_null(strstr(text, "INFO session=3 job=- to the file\n"));
	unsetenv("FERRY_LOG_FILE");
	ferry_log_init("t", FERRY_LOG_INFO, -1);
	close(fd);
	unlink(path);
}

static void test_i64s(void **state)
{
	const int64_t v[3] = { 1, -2, INT64_MAX };
	uint8_t wire[24];
	int64_t back[3];

	assert_int_equal(ferry_i64s_encode(v, 3, wire, sizeof(wire)), 24);
	assert_int_equal(wire[0], 1);
	assert_int_equal(wire[8], 0xfe); /* little-endian two's complement */
	assert_int_equal(ferry_i64s_encode(v, 3, wire, 23), 0);
	assert_int_equal(ferry_i64s_decode(wire, 24, back, 3), 3);
	assert_memory_equal(back, v, sizeof(v));
	assert_int_equal(ferry_i64s_decode(wire, 23, back, 3), -EBADMSG);
	assert_int_equal(ferry_i64s_decode(wire, 24, back, 2), -E2BIG);
	assert_int_equal(ferry_i64s_decode(wire, 0, back, 0), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_op_names),
		cmocka_unit_test(test_roundtrip_every_opcode),
		cmocka_unit_test(test_wire_layout_is_little_endian),
		cmocka_unit_test(test_reject_bad_magic),
		cmocka_unit_test(test_reject_version_keeps_addressing),
		cmocka_unit_test(test_reject_truncated_at_every_offset),
		cmocka_unit_test(test_reject_body_len_mismatch),
		cmocka_unit_test(test_reject_counts_above_limits),
		cmocka_unit_test(test_reject_bad_paths),
		cmocka_unit_test(test_reject_reserved_nonzero),
		cmocka_unit_test(test_unknown_opcode_decodes),
		cmocka_unit_test(test_encode_limits),
		cmocka_unit_test(test_max_size_message),
		cmocka_unit_test(test_statx_roundtrip_real_file),
		cmocka_unit_test(test_statfs_roundtrip_real_fs),
		cmocka_unit_test(test_flock_roundtrip),
		cmocka_unit_test(test_dirents_roundtrip_real_dir),
		cmocka_unit_test(test_dirents_reject_malformed),
		cmocka_unit_test(test_i64s),
		cmocka_unit_test(test_log_line_format),
		cmocka_unit_test(test_log_levels_and_truncation),
		cmocka_unit_test(test_log_file_env),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
