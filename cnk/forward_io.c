/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The data path of forwarded files.  Payloads up to the transport's inline
 * limit travel in the message; larger ones are exposed as one bulk region on
 * the caller's own buffer (a 1 MiB read is one RMA).  Counts above
 * CNK_IO_CHUNK are split into calls of that size, stopping at the first
 * short one, as POSIX allows.
 *
 * Vectored I/O gathers into (or scatters from) one buffer so that a writev
 * stays one write on the I/O node (atomic as to O_APPEND and the file
 * offset); above CNK_IO_CHUNK in total it falls back to one call per iovec.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <stdint.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <sys/uio.h>

#include "fdtable.h"
#include "forward.h"
#include "raw_syscall.h"
#include "session.h"

#define CNK_IO_CHUNK (64ul << 20)
#define CNK_COPY_BOUNCE (1ul << 20)
#define CNK_MAX_RW_COUNT 0x7ffff000l /* what Linux clamps one read/write to */

static long io_once(struct cnk_file *f, uint16_t op, void *buf, size_t count, int64_t off,
		    int rwf)
{
	enum ferry_bulk_dir dir = op == FERRY_OP_READ ? FERRY_BULK_FROM_SERVER : FERRY_BULK_TO_SERVER;
	struct ferry_rpc_bulk bulk = { .buf = buf, .len = count, .dir = dir };
	bool inline_data = count <= cnk_session_inline_max();
	struct ferry_msg m;
	size_t got = 0;
	long ret;

	cnk_session_msg(&m, op);
	ferry_msg_add_arg(&m, f->handle);
	ferry_msg_add_arg(&m, (int64_t)count);
	ferry_msg_add_arg(&m, off);
	ferry_msg_add_arg(&m, rwf);
	if (op == FERRY_OP_WRITE && inline_data) {
		m.data = buf;
		m.data_len = (uint32_t)count;
	}
	if (op == FERRY_OP_READ && inline_data) {
		ret = cnk_session_call(&m, NULL, buf, count, &got, CNK_CALL_DEFAULT);
		return ret < 0 ? ret : (long)got;
	}
	ret = cnk_session_call(&m, inline_data ? NULL : &bulk, NULL, 0, NULL, CNK_CALL_DEFAULT);
	if (ret > (long)count)
		return -EIO;
	return ret;
}

static long io_loop(struct cnk_file *f, uint16_t op, void *buf, size_t count, int64_t off, int rwf)
{
	size_t done = 0;

	if (count > (size_t)CNK_MAX_RW_COUNT)
		count = (size_t)CNK_MAX_RW_COUNT;
	if (count == 0)
		return io_once(f, op, buf, 0, off, rwf);
	while (done < count) {
		size_t chunk = count - done < CNK_IO_CHUNK ? count - done : CNK_IO_CHUNK;
		long n = io_once(f, op, (char *)buf + done, chunk, off < 0 ? -1 : off + (int64_t)done,
				 rwf);

		if (n < 0)
			return done ? (long)done : n;
		done += (size_t)n;
		if ((size_t)n < chunk)
			break;
	}
	return (long)done;
}

long cnk_fwd_file_read(struct cnk_file *f, void *buf, size_t count, int64_t off, int rwf)
{
	return io_loop(f, FERRY_OP_READ, buf, count, off, rwf);
}

long cnk_fwd_file_write(struct cnk_file *f, const void *buf, size_t count, int64_t off, int rwf)
{
	return io_loop(f, FERRY_OP_WRITE, (void *)buf, count, off, rwf);
}

/* Take the forwarded file behind a[0]; 0 means "run natively". */
#define ACQUIRE_OR_NATIVE(f, nr, a)                                                   \
	do {                                                                          \
		long acquired_ = cnk_fd_acquire((int)(a)[0], &(f));                   \
		if (acquired_ == 0)                                                   \
			return cnk_native((nr), (a));                                 \
		if (acquired_ < 0)                                                    \
			return acquired_;                                             \
	} while (0)

/*
 * The kernel fails a read or write into memory that is not mapped with
 * EFAULT; the runtime, which copies the data itself, must not fault in its
 * own copy instead.  msync(MS_ASYNC) checks that a range is mapped without
 * touching it (about 0.1 us, against microseconds for the forwarded call).
 * A mapped range without the access asked for is not caught.
 */
bool cnk_user_range_mapped(const void *p, size_t len)
{
	const uintptr_t page = 4096; /* x86-64, the runtime's only target */
	uintptr_t start = (uintptr_t)p & ~(page - 1), end = (uintptr_t)p + len;

	if (len == 0)
		return true;
	if (end < (uintptr_t)p)
		return false;
	return cnk_raw_syscall(SYS_msync, (long)start, (long)(end - start), MS_ASYNC) == 0;
}

long cnk_fwd_read(long nr, const long *a)
{
	struct cnk_file *f = NULL;
	int64_t off = nr == SYS_pread64 ? a[3] : -1;
	long ret;

	if (nr == SYS_pread64 && off < 0)
		return -EINVAL;
	ACQUIRE_OR_NATIVE(f, nr, a);
	ret = cnk_user_range_mapped((void *)a[1], (size_t)a[2])
		      ? cnk_fwd_file_read(f, (void *)a[1], (size_t)a[2], off, 0)
		      : -EFAULT;
	cnk_file_put(f);
	return ret;
}

long cnk_fwd_write(long nr, const long *a)
{
	struct cnk_file *f = NULL;
	int64_t off = nr == SYS_pwrite64 ? a[3] : -1;
	long ret;

	if (nr == SYS_pwrite64 && off < 0)
		return -EINVAL;
	ACQUIRE_OR_NATIVE(f, nr, a);
	ret = cnk_user_range_mapped((const void *)a[1], (size_t)a[2])
		      ? cnk_fwd_file_write(f, (const void *)a[1], (size_t)a[2], off, 0)
		      : -EFAULT;
	cnk_file_put(f);
	return ret;
}

/* Offset and flags of the vectored calls; -EINVAL for a bad offset. */
static int vec_position(long nr, const long *a, int64_t *off, int *rwf)
{
	*off = -1;
	*rwf = 0;
	switch (nr) {
	case SYS_preadv:
	case SYS_pwritev:
		*off = a[3];
		return *off < 0 ? -EINVAL : 0;
	case SYS_preadv2:
	case SYS_pwritev2:
		*off = a[3];
		*rwf = (int)a[5];
		return *off < -1 ? -EINVAL : 0;
	default:
		return 0;
	}
}

/* Total length of an iovec array, as the kernel checks it. */
static long vec_total(const struct iovec *iov, long cnt)
{
	size_t total = 0;
	long i;

	if (cnt < 0 || cnt > IOV_MAX)
		return -EINVAL;
	for (i = 0; i < cnt; i++) {
		if ((ssize_t)iov[i].iov_len < 0 || total + iov[i].iov_len > (size_t)SSIZE_MAX)
			return -EINVAL;
		total += iov[i].iov_len;
	}
	return (long)total;
}

/* One call per iovec, stopping at the first short one. */
static long vec_each(struct cnk_file *f, bool is_read, const struct iovec *iov, long cnt,
		     int64_t off, int rwf)
{
	long done = 0, i;

	for (i = 0; i < cnt; i++) {
		int64_t at = off < 0 ? -1 : off + done;
		long n = is_read ? cnk_fwd_file_read(f, iov[i].iov_base, iov[i].iov_len, at, rwf)
				 : cnk_fwd_file_write(f, iov[i].iov_base, iov[i].iov_len, at, rwf);

		if (n < 0)
			return done ? done : n;
		done += n;
		if ((size_t)n < iov[i].iov_len)
			break;
	}
	return done;
}

static long vec_io(long nr, const long *a, bool is_read)
{
	const struct iovec *iov = (const struct iovec *)a[1];
	long cnt = a[2], total, ret, i;
	struct cnk_file *f = NULL;
	size_t pos = 0;
	int64_t off;
	char *bounce;
	int rwf;

	ret = vec_position(nr, a, &off, &rwf);
	if (ret < 0)
		return ret;
	/* A local descriptor's iovecs are the kernel's to check. */
	ACQUIRE_OR_NATIVE(f, nr, a);
	if (cnt < 0 || cnt > IOV_MAX) {
		ret = -EINVAL;
		goto out;
	}
	if (!cnk_user_range_mapped(iov, (size_t)cnt * sizeof(*iov))) {
		ret = -EFAULT;
		goto out;
	}
	ret = total = vec_total(iov, cnt);
	if (total < 0)
		goto out;
	for (i = 0; i < cnt; i++) {
		if (!cnk_user_range_mapped(iov[i].iov_base, iov[i].iov_len)) {
			ret = -EFAULT;
			goto out;
		}
	}
	if (cnt <= 1 || (size_t)total > CNK_IO_CHUNK) {
		ret = vec_each(f, is_read, iov, cnt, off, rwf);
		goto out;
	}
	bounce = malloc((size_t)total ? (size_t)total : 1);
	if (!bounce) {
		ret = vec_each(f, is_read, iov, cnt, off, rwf);
		goto out;
	}
	if (!is_read) {
		for (i = 0; i < cnt; pos += iov[i].iov_len, i++)
			memcpy(bounce + pos, iov[i].iov_base, iov[i].iov_len);
		ret = cnk_fwd_file_write(f, bounce, (size_t)total, off, rwf);
	} else {
		ret = cnk_fwd_file_read(f, bounce, (size_t)total, off, rwf);
		for (i = 0; ret > 0 && i < cnt && pos < (size_t)ret; i++) {
			size_t n = iov[i].iov_len < (size_t)ret - pos ? iov[i].iov_len
								    : (size_t)ret - pos;

			memcpy(iov[i].iov_base, bounce + pos, n);
			pos += n;
		}
	}
	free(bounce);
out:
	cnk_file_put(f);
	return ret;
}

long cnk_fwd_readv(long nr, const long *a)
{
	return vec_io(nr, a, true);
}

long cnk_fwd_writev(long nr, const long *a)
{
	return vec_io(nr, a, false);
}

/* A call of the form op(h, args...) with no data. */
static long handle_op(long nr, const long *a, uint16_t op, const int64_t *args, int nargs,
		      int timeout)
{
	struct cnk_file *f = NULL;
	struct ferry_msg m;
	long ret;
	int i;

	ACQUIRE_OR_NATIVE(f, nr, a);
	cnk_session_msg(&m, op);
	ferry_msg_add_arg(&m, f->handle);
	for (i = 0; i < nargs; i++)
		ferry_msg_add_arg(&m, args[i]);
	ret = cnk_session_call(&m, NULL, NULL, 0, NULL, timeout);
	cnk_file_put(f);
	return ret;
}

long cnk_fwd_lseek(long nr, const long *a)
{
	int64_t args[2] = { a[1], a[2] };

	return handle_op(nr, a, FERRY_OP_LSEEK, args, 2, CNK_CALL_DEFAULT);
}

long cnk_fwd_ftruncate(long nr, const long *a)
{
	int64_t length = a[1];

	return handle_op(nr, a, FERRY_OP_FTRUNCATE, &length, 1, CNK_CALL_DEFAULT);
}

long cnk_fwd_fsync(long nr, const long *a)
{
	/* syncfs flushes the file's own data only: the I/O node's filesystem
	 * is not ours to sync as a whole. */
	int64_t datasync = (nr == SYS_fdatasync || nr == SYS_sync_file_range);

	return handle_op(nr, a, FERRY_OP_FSYNC, &datasync, 1, CNK_CALL_BLOCKING);
}

long cnk_fwd_fallocate(long nr, const long *a)
{
	int64_t args[3] = { a[1], a[2], a[3] };

	return handle_op(nr, a, FERRY_OP_FALLOCATE, args, 3, CNK_CALL_DEFAULT);
}

long cnk_fwd_fadvise(long nr, const long *a)
{
	int64_t args[3] = { a[1], a[2], a[3] };

	if (nr == SYS_readahead)
		args[2] = 3; /* POSIX_FADV_WILLNEED */
	return handle_op(nr, a, FERRY_OP_FADVISE, args, 3, CNK_CALL_DEFAULT);
}

/* Walk linux_dirent64 records to the d_off of the last one. */
static int64_t last_dirent_off(const char *buf, size_t len)
{
	int64_t off = -1;
	size_t pos = 0;

	while (pos + 19 <= len) {
		uint16_t reclen;

		memcpy(&off, buf + pos + 8, sizeof(off));
		memcpy(&reclen, buf + pos + 16, sizeof(reclen));
		if (reclen == 0)
			break;
		pos += reclen;
	}
	return off;
}

static size_t wire_dirent_count(const char *buf, size_t len)
{
	size_t pos = 0, n = 0;

	while (pos + FERRY_WIRE_DIRENT_FIXED <= len) {
		uint16_t namelen;

		memcpy(&namelen, buf + pos + 18, sizeof(namelen));
		pos += FERRY_WIRE_DIRENT_FIXED + namelen;
		n++;
	}
	return n;
}

long cnk_fwd_getdents64(long nr, const long *a)
{
	size_t count = (size_t)a[2], want, got = 0, used = 0;
	struct cnk_file *f = NULL;
	struct ferry_msg m;
	char *wire = NULL;
	long ret;

	ACQUIRE_OR_NATIVE(f, nr, a);
	if (!cnk_user_range_mapped((void *)a[1], count)) {
		cnk_file_put(f);
		return -EFAULT;
	}
	/* Wire records are never larger than the linux_dirent64 they come
	 * from, so what the I/O node read for `want` bytes fits in count. */
	want = count < cnk_session_inline_max() ? count : cnk_session_inline_max();
	wire = malloc(want ? want : 1);
	ret = -ENOMEM;
	if (!wire)
		goto out;
	cnk_session_msg(&m, FERRY_OP_GETDENTS);
	ferry_msg_add_arg(&m, f->handle);
	ferry_msg_add_arg(&m, (int64_t)want);
	ret = cnk_session_call(&m, NULL, wire, want, &got, CNK_CALL_DEFAULT);
	if (ret < 0 || got == 0) {
		ret = ret < 0 ? ret : 0;
		goto out;
	}
	ret = ferry_dirents_decode(wire, got, (void *)a[1], count, &used);
	if (ret < 0) {
		ret = ret == -EBADMSG ? -EIO : ret;
		goto out;
	}
	if (used < wire_dirent_count(wire, got)) {
		/* Put the records that did not fit back for the next call. */
		struct ferry_msg seek;
		long sret;

		cnk_session_msg(&seek, FERRY_OP_LSEEK);
		ferry_msg_add_arg(&seek, f->handle);
		ferry_msg_add_arg(&seek, last_dirent_off((const char *)a[1], (size_t)ret));
		ferry_msg_add_arg(&seek, SEEK_SET);
		sret = cnk_session_call(&seek, NULL, NULL, 0, NULL, CNK_CALL_DEFAULT);
		if (sret < 0)
			ret = sret;
	}
out:
	free(wire);
	cnk_file_put(f);
	return ret;
}

/* ---- copies between any mix of local and forwarded descriptors ---- */

struct copy_end {
	int fd;
	struct cnk_file *file; /* NULL: local */
	int64_t *off;          /* NULL: use and move the file position */
};

static long end_io(struct copy_end *e, bool is_read, void *buf, size_t len, size_t done)
{
	int64_t at = e->off ? *e->off + (int64_t)done : -1;

	if (e->file)
		return is_read ? cnk_fwd_file_read(e->file, buf, len, at, 0)
			       : cnk_fwd_file_write(e->file, buf, len, at, 0);
	if (is_read)
		return at < 0 ? cnk_raw_syscall(SYS_read, e->fd, buf, len)
			      : cnk_raw_syscall6(SYS_pread64, e->fd, (long)buf, (long)len, at, 0, 0);
	return at < 0 ? cnk_raw_syscall(SYS_write, e->fd, buf, len)
		      : cnk_raw_syscall6(SYS_pwrite64, e->fd, (long)buf, (long)len, at, 0, 0);
}

/* Bounded read/write loop through a bounce buffer. */
static long copy_loop(struct copy_end *in, struct copy_end *out, size_t len)
{
	size_t bounce_len = len < CNK_COPY_BOUNCE ? (len ? len : 1) : CNK_COPY_BOUNCE;
	char *bounce = malloc(bounce_len);
	size_t done_in = 0, done_out = 0;
	long ret = 0;

	if (!bounce)
		return -ENOMEM;
	while (done_out < len) {
		size_t want = len - done_out < bounce_len ? len - done_out : bounce_len;
		size_t written = 0;
		long n = end_io(in, true, bounce, want, done_in);

		if (n <= 0) {
			ret = n;
			break;
		}
		done_in += (size_t)n;
		while (written < (size_t)n) {
			long w = end_io(out, false, bounce + written, (size_t)n - written,
					done_out);

			if (w <= 0) {
				ret = w < 0 ? w : -EIO;
				goto out;
			}
			written += (size_t)w;
			done_out += (size_t)w;
		}
	}
out:
	free(bounce);
	if (in->off)
		*in->off += (int64_t)done_in;
	if (out->off)
		*out->off += (int64_t)done_out;
	return done_out ? (long)done_out : ret;
}

static long copy_remote(struct copy_end *in, struct copy_end *out, size_t len)
{
	struct ferry_msg m;
	long ret;

	cnk_session_msg(&m, FERRY_OP_COPY_RANGE);
	ferry_msg_add_arg(&m, in->file->handle);
	ferry_msg_add_arg(&m, in->off ? *in->off : -1);
	ferry_msg_add_arg(&m, out->file->handle);
	ferry_msg_add_arg(&m, out->off ? *out->off : -1);
	ferry_msg_add_arg(&m, (int64_t)len);
	ret = cnk_session_call(&m, NULL, NULL, 0, NULL, CNK_CALL_DEFAULT);
	if (ret > 0) {
		if (in->off)
			*in->off += ret;
		if (out->off)
			*out->off += ret;
	}
	return ret;
}

static long copy_between(long nr, const long *a, struct copy_end *in, struct copy_end *out,
			 size_t len)
{
	long ret;

	ret = cnk_fd_acquire(in->fd, &in->file);
	if (ret < 0)
		return ret;
	ret = cnk_fd_acquire(out->fd, &out->file);
	if (ret < 0)
		goto out;
	if (!in->file && !out->file)
		ret = cnk_native(nr, a);
	else if (in->file && out->file)
		ret = copy_remote(in, out, len);
	else
		ret = copy_loop(in, out, len);
out:
	if (in->file)
		cnk_file_put(in->file);
	if (out->file)
		cnk_file_put(out->file);
	return ret;
}

long cnk_fwd_copy_file_range(long nr, const long *a)
{
	struct copy_end in = { .fd = (int)a[0], .off = (int64_t *)a[1] };
	struct copy_end out = { .fd = (int)a[2], .off = (int64_t *)a[3] };
	size_t len = (size_t)a[4];

	if (a[5] != 0)
		return -EINVAL;
	if ((in.off && *in.off < 0) || (out.off && *out.off < 0))
		return -EINVAL;
	if (len > (size_t)CNK_MAX_RW_COUNT)
		len = (size_t)CNK_MAX_RW_COUNT;
	return copy_between(nr, a, &in, &out, len);
}

long cnk_fwd_sendfile(long nr, const long *a)
{
	struct copy_end out = { .fd = (int)a[0], .off = NULL };
	struct copy_end in = { .fd = (int)a[1], .off = (int64_t *)a[2] };
	size_t len = (size_t)a[3];

	if (in.off && *in.off < 0)
		return -EINVAL;
	if (len > (size_t)CNK_MAX_RW_COUNT)
		len = (size_t)CNK_MAX_RW_COUNT;
	return copy_between(nr, a, &in, &out, len);
}
