/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Open, write, read, stat, list: small payloads inline, a large one by bulk
 * RMA (crossing the daemon's chunk size), positional and file-position I/O.
 * The bytes land in the export directory unchanged.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "iond_harness.h"

#define SMALL 1000
#define LARGE ((9u << 20) + 123) /* > 2 bulk chunks, odd size */

static void fill(unsigned char *p, size_t n, unsigned int seed)
{
	for (size_t i = 0; i < n; i++)
		p[i] = (unsigned char)((i * 2654435761u + seed) >> 13);
}

int main(int argc, char **argv)
{
	const char *transport = iond_test_begin(argc, argv, 120);
	static struct iond_reply rep;
	struct iond_daemon d;
	struct iond_client c;
	struct ferry_msg m;
	struct statx stx;
	unsigned char *out = malloc(SMALL + LARGE), *in = malloc(SMALL + LARGE), *local;
	char path[PATH_MAX + 16];
	long h, dh;
	size_t total = SMALL + LARGE;
	int fd;

	CHECK(out && in, "out of memory");
	fill(out, total, 7);
	iond_daemon_start(&d, transport, NULL);
	CHECK_ERR(iond_client_open(&c, d.uri, 1), 0);

	h = iond_openat(&c, "/pfs/data.bin", O_CREAT | O_RDWR | O_TRUNC, 0640);
	CHECK(h >= 0, "openat: %s", iond_errname(h));
	CHECK_ERR(iond_write(&c, h, out, SMALL, 0), SMALL);
	CHECK_ERR(iond_write(&c, h, out + SMALL, LARGE, SMALL), LARGE);

	memset(in, 0, total);
	CHECK_ERR(iond_read(&c, h, in, SMALL, 0), SMALL);
	CHECK_ERR(iond_read(&c, h, in + SMALL, LARGE, SMALL), LARGE);
	CHECK(memcmp(in, out, total) == 0, "read back differs from what was written");
	/* Reading past the end is a short read, at the end 0. */
	CHECK_ERR(iond_read(&c, h, in, SMALL, (int64_t)total - 10), 10);
	CHECK_ERR(iond_read(&c, h, in, SMALL, (int64_t)total), 0);

	/* offset -1: the file position (lseek to the end, then append). */
	ferry_msg_init(&m, FERRY_OP_LSEEK, 0, 0);
	ferry_msg_add_arg(&m, h);
	ferry_msg_add_arg(&m, 0);
	ferry_msg_add_arg(&m, SEEK_END);
	CHECK_ERR(iond_call_msg(&c, &m, NULL, &rep, 0), 0);
	CHECK_ERR(iond_rc(&rep), (long)total);
	CHECK_ERR(iond_write(&c, h, "tail", 4, -1), 4);
	total += 4;

	/* statx through the daemon, and the file itself in the export. */
	ferry_msg_init(&m, FERRY_OP_STATX, 0, 0);
	ferry_msg_add_arg(&m, FERRY_AT_ROOT);
	ferry_msg_add_arg(&m, 0);
	ferry_msg_add_arg(&m, STATX_BASIC_STATS);
	ferry_msg_add_path(&m, "/pfs/data.bin");
	CHECK_ERR(iond_call_msg(&c, &m, NULL, &rep, 0), 0);
	CHECK_ERR(iond_rc(&rep), 0);
	CHECK(rep.msg.data_len == FERRY_WIRE_STATX_SIZE, "statx data %u bytes", rep.msg.data_len);
	CHECK_ERR(ferry_statx_decode(rep.msg.data, rep.msg.data_len, &stx), 0);
	CHECK(stx.stx_size == total, "statx size %llu, want %zu",
	      (unsigned long long)stx.stx_size, total);
	CHECK(S_ISREG(stx.stx_mode) && (stx.stx_mode & 0777) == 0640, "statx mode %o",
	      stx.stx_mode);

	iond_export_path(&d, "data.bin", path, sizeof(path));
	local = malloc(total);
	CHECK(local, "out of memory");
	fd = open(path, O_RDONLY);
	CHECK(fd >= 0, "open %s: %s", path, strerror(errno));
	CHECK(pread(fd, local, total, 0) == (ssize_t)total, "short local read");
	close(fd);
	CHECK(memcmp(local, out, total - 4) == 0 && memcmp(local + total - 4, "tail", 4) == 0,
	      "file in the export differs");

	CHECK_ERR(iond_close_handle(&c, h), 0);
	CHECK_ERR(iond_close_handle(&c, h), -EBADF);

	/* The directory lists the file. */
	dh = iond_openat(&c, "/pfs", O_RDONLY | O_DIRECTORY, 0);
	CHECK(dh >= 0, "open dir: %s", iond_errname(dh));
	ferry_msg_init(&m, FERRY_OP_GETDENTS, 0, 0);
	ferry_msg_add_arg(&m, dh);
	ferry_msg_add_arg(&m, 4096);
	CHECK_ERR(iond_call_msg(&c, &m, NULL, &rep, 0), 0);
	CHECK(iond_rc(&rep) > 0, "getdents: %s", iond_errname(iond_rc(&rep)));
	{
		unsigned char dents[8192];
		size_t used = 0, found = 0;
		long n = ferry_dirents_decode(rep.msg.data, rep.msg.data_len, dents, sizeof(dents),
					      &used);

		CHECK(n > 0, "dirents_decode: %s", iond_errname(n));
		for (long off = 0; off < n;) {
			unsigned short reclen;

			memcpy(&reclen, dents + off + 16, 2);
			found |= !strcmp((char *)dents + off + 19, "data.bin");
			off += reclen;
		}
		CHECK(found, "data.bin not listed");
	}
	CHECK_ERR(iond_close_handle(&c, dh), 0);

	iond_client_close(&c);
	free(out);
	free(in);
	free(local);
	iond_test_pass("open-write-read-stat round trip");
}
