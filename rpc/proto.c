/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The one codec for the wire format declared in ferry/proto.h.  Every field
 * is read and written byte by byte through the helpers below, so the layout
 * is the same on any host and no unaligned or type-punned access happens.
 * The decoder trusts nothing: each count and length is checked against its
 * limit and against the bytes that remain before anything is read.
 */
#include "ferry/proto.h"

#include <errno.h>
#include <stdbool.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <fcntl.h>

/* ---- little-endian byte-order helpers ---- */

static void put_u8(uint8_t *p, uint8_t v) { p[0] = v; }

static void put_u16(uint8_t *p, uint16_t v)
{
	p[0] = (uint8_t)v;
	p[1] = (uint8_t)(v >> 8);
}

static void put_u32(uint8_t *p, uint32_t v)
{
	for (int i = 0; i < 4; i++)
		p[i] = (uint8_t)(v >> (8 * i));
}

static void put_u64(uint8_t *p, uint64_t v)
{
	for (int i = 0; i < 8; i++)
		p[i] = (uint8_t)(v >> (8 * i));
}

static uint16_t get_u16(const uint8_t *p) { return (uint16_t)(p[0] | (uint16_t)p[1] << 8); }

static uint32_t get_u32(const uint8_t *p)
{
	uint32_t v = 0;
	for (int i = 3; i >= 0; i--)
		v = v << 8 | p[i];
	return v;
}

static uint64_t get_u64(const uint8_t *p)
{
	uint64_t v = 0;
	for (int i = 7; i >= 0; i--)
		v = v << 8 | p[i];
	return v;
}

/* Two's-complement conversions spelled out: casting an out-of-range
 * unsigned value to a signed type is implementation-defined. */
static int64_t s64(uint64_t v)
{
	return v <= INT64_MAX ? (int64_t)v : -(int64_t)(~v) - 1;
}

static int32_t s32(uint32_t v)
{
	return v <= INT32_MAX ? (int32_t)v : -(int32_t)(~v) - 1;
}

static int16_t s16(uint16_t v)
{
	return v <= INT16_MAX ? (int16_t)v : (int16_t)(-(int32_t)(uint16_t)~v - 1);
}

/* ---- header and body layout (offsets from the start of the message) ---- */

enum {
	OFF_MAGIC = 0,
	OFF_VERSION = 4,
	OFF_OPCODE = 6,
	OFF_FLAGS = 8,
	OFF_BODY_LEN = 12,
	OFF_SESSION = 16,
	OFF_SEQ = 24,
	OFF_RET = 32,
	/* body, relative to FERRY_HEADER_SIZE */
	BOFF_ERR = 0,
	BOFF_NARGS = 4,
	BOFF_NPATHS = 5,
	BOFF_RESERVED = 6,
	BOFF_DATA_LEN = 8,
};

_Static_assert(OFF_RET + 8 == FERRY_HEADER_SIZE, "header layout");
_Static_assert(BOFF_DATA_LEN + 4 == FERRY_BODY_FIXED, "body layout");
_Static_assert(FERRY_MSG_MAX < UINT32_MAX, "body_len must fit in u32");

const char *ferry_op_name(uint16_t opcode)
{
	switch (opcode) {
#define FERRY_OP_CASE(name, num, doc)                                                              \
	case num:                                                                                  \
		return #name;
		FERRY_OPS(FERRY_OP_CASE)
#undef FERRY_OP_CASE
	default:
		return NULL;
	}
}

/* A path is valid for encoding when it is present, its recorded length is
 * within the limit and the string really ends there (no inner NUL). */
static bool path_is_encodable(const char *path, uint32_t len)
{
	if (!path || len >= FERRY_PATH_MAX)
		return false;
	return strnlen(path, (size_t)len + 1) == len;
}

size_t ferry_msg_encoded_size(const struct ferry_msg *m)
{
	size_t size = FERRY_HEADER_SIZE + FERRY_BODY_FIXED;

	if (!m || m->nargs > FERRY_MAX_ARGS || m->npaths > FERRY_MAX_PATHS ||
	    m->data_len > FERRY_DATA_MAX || (m->data_len && !m->data))
		return 0;
	size += 8u * m->nargs;
	for (unsigned i = 0; i < m->npaths; i++) {
		if (!path_is_encodable(m->paths[i], m->path_len[i]))
			return 0;
		size += 4u + m->path_len[i] + 1u;
	}
	/* All terms are bounded by the limits above, so this stays far
	 * below SIZE_MAX and FERRY_MSG_MAX. */
	return size + m->data_len;
}

long ferry_msg_encode(const struct ferry_msg *m, void *buf, size_t cap)
{
	size_t size = ferry_msg_encoded_size(m);
	uint8_t *p = buf;
	size_t pos;

	if (size == 0)
		return -EINVAL;
	if (!buf || cap < size)
		return -EMSGSIZE;

	put_u32(p + OFF_MAGIC, FERRY_MAGIC);
	put_u16(p + OFF_VERSION, FERRY_PROTO_VERSION);
	put_u16(p + OFF_OPCODE, m->opcode);
	put_u32(p + OFF_FLAGS, m->flags);
	put_u32(p + OFF_BODY_LEN, (uint32_t)(size - FERRY_HEADER_SIZE));
	put_u64(p + OFF_SESSION, m->session);
	put_u64(p + OFF_SEQ, m->seq);
	put_u64(p + OFF_RET, (uint64_t)m->ret);

	pos = FERRY_HEADER_SIZE;
	put_u32(p + pos + BOFF_ERR, (uint32_t)m->err);
	put_u8(p + pos + BOFF_NARGS, m->nargs);
	put_u8(p + pos + BOFF_NPATHS, m->npaths);
	put_u16(p + pos + BOFF_RESERVED, 0);
	put_u32(p + pos + BOFF_DATA_LEN, m->data_len);
	pos += FERRY_BODY_FIXED;

	for (unsigned i = 0; i < m->nargs; i++, pos += 8)
		put_u64(p + pos, (uint64_t)m->args[i]);
	for (unsigned i = 0; i < m->npaths; i++) {
		uint32_t wire_len = m->path_len[i] + 1;

		put_u32(p + pos, wire_len);
		memcpy(p + pos + 4, m->paths[i], wire_len); /* includes the NUL */
		pos += 4u + wire_len;
	}
	if (m->data_len)
		memcpy(p + pos, m->data, m->data_len);
	pos += m->data_len;
	return (long)pos;
}

int ferry_msg_decode(const void *buf, size_t len, struct ferry_msg *m)
{
	const uint8_t *p = buf;
	const uint8_t *body;
	size_t body_len, pos;
	uint32_t data_len;

	memset(m, 0, sizeof(*m));
	if (!buf || len < 4)
		return -EBADMSG;
	if (get_u32(p + OFF_MAGIC) != FERRY_MAGIC)
		return -EPROTO;
	if (len < FERRY_HEADER_SIZE)
		return -EBADMSG;

	m->version = get_u16(p + OFF_VERSION);
	m->opcode = get_u16(p + OFF_OPCODE);
	m->flags = get_u32(p + OFF_FLAGS);
	m->session = get_u64(p + OFF_SESSION);
	m->seq = get_u64(p + OFF_SEQ);
	m->ret = s64(get_u64(p + OFF_RET));
	if (m->version != FERRY_PROTO_VERSION)
		return -EPROTONOSUPPORT;

	body_len = get_u32(p + OFF_BODY_LEN);
	if (body_len != len - FERRY_HEADER_SIZE || body_len < FERRY_BODY_FIXED)
		return -EBADMSG;
	body = p + FERRY_HEADER_SIZE;

	if (get_u16(body + BOFF_RESERVED) != 0)
		return -EBADMSG;
	m->err = s32(get_u32(body + BOFF_ERR));
	m->nargs = body[BOFF_NARGS];
	m->npaths = body[BOFF_NPATHS];
	data_len = get_u32(body + BOFF_DATA_LEN);
	if (m->nargs > FERRY_MAX_ARGS || m->npaths > FERRY_MAX_PATHS || data_len > FERRY_DATA_MAX)
		return -EMSGSIZE;

	pos = FERRY_BODY_FIXED;
	/* From here on, "body_len - pos" is the number of unread bytes;
	 * every read is preceded by a check against it. */
	if (body_len - pos < 8u * m->nargs)
		return -EBADMSG;
	for (unsigned i = 0; i < m->nargs; i++, pos += 8)
		m->args[i] = s64(get_u64(body + pos));

	for (unsigned i = 0; i < m->npaths; i++) {
		uint32_t wire_len;
		const char *path;

		if (body_len - pos < 4)
			return -EBADMSG;
		wire_len = get_u32(body + pos);
		pos += 4;
		if (wire_len > FERRY_PATH_MAX)
			return -EMSGSIZE;
		if (wire_len == 0 || body_len - pos < wire_len)
			return -EBADMSG;
		path = (const char *)(body + pos);
		if (path[wire_len - 1] != '\0' || memchr(path, '\0', wire_len - 1))
			return -EBADMSG;
		m->paths[i] = path;
		m->path_len[i] = wire_len - 1;
		pos += wire_len;
	}

	if (body_len - pos != data_len)
		return -EBADMSG;
	m->data_len = data_len;
	m->data = data_len ? body + pos : NULL;
	return 0;
}

void ferry_msg_init(struct ferry_msg *m, uint16_t opcode, uint64_t session, uint64_t seq)
{
	memset(m, 0, sizeof(*m));
	m->version = FERRY_PROTO_VERSION;
	m->opcode = opcode;
	m->session = session;
	m->seq = seq;
}

int ferry_msg_add_arg(struct ferry_msg *m, int64_t v)
{
	if (m->nargs >= FERRY_MAX_ARGS)
		return -E2BIG;
	m->args[m->nargs++] = v;
	return 0;
}

int ferry_msg_add_path(struct ferry_msg *m, const char *path)
{
	size_t len;

	if (!path)
		return -EINVAL;
	if (m->npaths >= FERRY_MAX_PATHS)
		return -E2BIG;
	len = strnlen(path, FERRY_PATH_MAX);
	if (len >= FERRY_PATH_MAX)
		return -ENAMETOOLONG;
	m->paths[m->npaths] = path;
	m->path_len[m->npaths] = (uint32_t)len;
	m->npaths++;
	return 0;
}

/* ---- statx: 160 bytes ----
 *   0 mask u32, 4 blksize u32, 8 attributes u64, 16 nlink u32, 20 uid u32,
 *  24 gid u32, 28 mode u16, 30 pad, 32 ino, 40 size, 48 blocks,
 *  56 attributes_mask (u64 each), 64/80/96/112 atime/btime/ctime/mtime
 *  (i64 sec, u32 nsec, u32 pad), 128 rdev_major, 132 rdev_minor,
 * 136 dev_major, 140 dev_minor (u32 each), 144 mnt_id u64,
 * 152 dio_mem_align u32, 156 dio_offset_align u32.
 * glibc 2.36 keeps mnt_id and the dio fields in its padding; they sit at
 * the kernel's offsets, so they are copied from there. */

_Static_assert(offsetof(struct statx, stx_dev_minor) == 140, "kernel statx layout");
_Static_assert(sizeof(struct statx) >= 160, "kernel statx layout");

enum { STX_MNT_ID_OFF = 144, STX_DIO_MEM_OFF = 152, STX_DIO_OFFSET_OFF = 156 };

static void put_ts(uint8_t *p, const struct statx_timestamp *ts)
{
	put_u64(p, (uint64_t)ts->tv_sec);
	put_u32(p + 8, ts->tv_nsec);
	put_u32(p + 12, 0);
}

static void get_ts(const uint8_t *p, struct statx_timestamp *ts)
{
	ts->tv_sec = s64(get_u64(p));
	ts->tv_nsec = get_u32(p + 8);
}

void ferry_statx_encode(const struct statx *st, uint8_t out[FERRY_WIRE_STATX_SIZE])
{
	const unsigned char *raw = (const unsigned char *)st;
	uint64_t mnt_id;
	uint32_t dio_mem, dio_off;

	memcpy(&mnt_id, raw + STX_MNT_ID_OFF, sizeof(mnt_id));
	memcpy(&dio_mem, raw + STX_DIO_MEM_OFF, sizeof(dio_mem));
	memcpy(&dio_off, raw + STX_DIO_OFFSET_OFF, sizeof(dio_off));

	memset(out, 0, FERRY_WIRE_STATX_SIZE);
	put_u32(out + 0, st->stx_mask);
	put_u32(out + 4, st->stx_blksize);
	put_u64(out + 8, st->stx_attributes);
	put_u32(out + 16, st->stx_nlink);
	put_u32(out + 20, st->stx_uid);
	put_u32(out + 24, st->stx_gid);
	put_u16(out + 28, st->stx_mode);
	put_u64(out + 32, st->stx_ino);
	put_u64(out + 40, st->stx_size);
	put_u64(out + 48, st->stx_blocks);
	put_u64(out + 56, st->stx_attributes_mask);
	put_ts(out + 64, &st->stx_atime);
	put_ts(out + 80, &st->stx_btime);
	put_ts(out + 96, &st->stx_ctime);
	put_ts(out + 112, &st->stx_mtime);
	put_u32(out + 128, st->stx_rdev_major);
	put_u32(out + 132, st->stx_rdev_minor);
	put_u32(out + 136, st->stx_dev_major);
	put_u32(out + 140, st->stx_dev_minor);
	put_u64(out + 144, mnt_id);
	put_u32(out + 152, dio_mem);
	put_u32(out + 156, dio_off);
}

int ferry_statx_decode(const void *in, size_t len, struct statx *st)
{
	const uint8_t *p = in;
	unsigned char *raw = (unsigned char *)st;
	uint64_t mnt_id;
	uint32_t dio_mem, dio_off;

	if (!in || len < FERRY_WIRE_STATX_SIZE)
		return -EBADMSG;
	memset(st, 0, sizeof(*st));
	st->stx_mask = get_u32(p + 0);
	st->stx_blksize = get_u32(p + 4);
	st->stx_attributes = get_u64(p + 8);
	st->stx_nlink = get_u32(p + 16);
	st->stx_uid = get_u32(p + 20);
	st->stx_gid = get_u32(p + 24);
	st->stx_mode = get_u16(p + 28);
	st->stx_ino = get_u64(p + 32);
	st->stx_size = get_u64(p + 40);
	st->stx_blocks = get_u64(p + 48);
	st->stx_attributes_mask = get_u64(p + 56);
	get_ts(p + 64, &st->stx_atime);
	get_ts(p + 80, &st->stx_btime);
	get_ts(p + 96, &st->stx_ctime);
	get_ts(p + 112, &st->stx_mtime);
	st->stx_rdev_major = get_u32(p + 128);
	st->stx_rdev_minor = get_u32(p + 132);
	st->stx_dev_major = get_u32(p + 136);
	st->stx_dev_minor = get_u32(p + 140);
	mnt_id = get_u64(p + 144);
	dio_mem = get_u32(p + 152);
	dio_off = get_u32(p + 156);
	memcpy(raw + STX_MNT_ID_OFF, &mnt_id, sizeof(mnt_id));
	memcpy(raw + STX_DIO_MEM_OFF, &dio_mem, sizeof(dio_mem));
	memcpy(raw + STX_DIO_OFFSET_OFF, &dio_off, sizeof(dio_off));
	return 0;
}

/* ---- statfs: 88 bytes ----
 *   0 f_type i64, 8 f_bsize i64, 16 f_blocks, 24 f_bfree, 32 f_bavail,
 *  40 f_files, 48 f_ffree (u64 each), 56 f_fsid (2 x i32), 64 f_namelen,
 *  72 f_frsize, 80 f_flags (i64 each). */

void ferry_statfs_encode(const struct statfs *st, uint8_t out[FERRY_WIRE_STATFS_SIZE])
{
	int fsid[2];

	memcpy(fsid, &st->f_fsid, sizeof(fsid));
	put_u64(out + 0, (uint64_t)(int64_t)st->f_type);
	put_u64(out + 8, (uint64_t)(int64_t)st->f_bsize);
	put_u64(out + 16, st->f_blocks);
	put_u64(out + 24, st->f_bfree);
	put_u64(out + 32, st->f_bavail);
	put_u64(out + 40, st->f_files);
	put_u64(out + 48, st->f_ffree);
	put_u32(out + 56, (uint32_t)fsid[0]);
	put_u32(out + 60, (uint32_t)fsid[1]);
	put_u64(out + 64, (uint64_t)(int64_t)st->f_namelen);
	put_u64(out + 72, (uint64_t)(int64_t)st->f_frsize);
	put_u64(out + 80, (uint64_t)(int64_t)st->f_flags);
}

int ferry_statfs_decode(const void *in, size_t len, struct statfs *st)
{
	const uint8_t *p = in;
	int fsid[2];

	if (!in || len < FERRY_WIRE_STATFS_SIZE)
		return -EBADMSG;
	memset(st, 0, sizeof(*st));
	st->f_type = s64(get_u64(p + 0));
	st->f_bsize = s64(get_u64(p + 8));
	st->f_blocks = get_u64(p + 16);
	st->f_bfree = get_u64(p + 24);
	st->f_bavail = get_u64(p + 32);
	st->f_files = get_u64(p + 40);
	st->f_ffree = get_u64(p + 48);
	fsid[0] = s32(get_u32(p + 56));
	fsid[1] = s32(get_u32(p + 60));
	memcpy(&st->f_fsid, fsid, sizeof(fsid));
	st->f_namelen = s64(get_u64(p + 64));
	st->f_frsize = s64(get_u64(p + 72));
	st->f_flags = s64(get_u64(p + 80));
	return 0;
}

/* ---- flock: 24 bytes ----
 *   0 l_type i16, 2 l_whence i16, 4 l_pid i32, 8 l_start i64, 16 l_len i64 */

void ferry_flock_encode(const struct flock *fl, uint8_t out[FERRY_WIRE_FLOCK_SIZE])
{
	put_u16(out + 0, (uint16_t)fl->l_type);
	put_u16(out + 2, (uint16_t)fl->l_whence);
	put_u32(out + 4, (uint32_t)fl->l_pid);
	put_u64(out + 8, (uint64_t)(int64_t)fl->l_start);
	put_u64(out + 16, (uint64_t)(int64_t)fl->l_len);
}

int ferry_flock_decode(const void *in, size_t len, struct flock *fl)
{
	const uint8_t *p = in;

	if (!in || len < FERRY_WIRE_FLOCK_SIZE)
		return -EBADMSG;
	memset(fl, 0, sizeof(*fl));
	fl->l_type = s16(get_u16(p + 0));
	fl->l_whence = s16(get_u16(p + 2));
	fl->l_pid = s32(get_u32(p + 4));
	fl->l_start = s64(get_u64(p + 8));
	fl->l_len = s64(get_u64(p + 16));
	return 0;
}

/* ---- directory entries ---- */

/* struct linux_dirent64 as getdents64 fills it: u64 d_ino, i64 d_off,
 * u16 d_reclen, u8 d_type, char d_name[] (NUL-terminated, padded). */
enum {
	LD64_INO = 0,
	LD64_OFF = 8,
	LD64_RECLEN = 16,
	LD64_TYPE = 18,
	LD64_NAME = 19,
	WIRE_NAME_MAX = 255,
};

/* The kernel's record size: ALIGN(offsetof(d_name) + namelen + 1, 8). */
static size_t ld64_reclen(size_t namelen) { return (LD64_NAME + namelen + 1 + 7) & ~(size_t)7; }

static uint16_t get_host_u16(const uint8_t *p)
{
	uint16_t v;
	memcpy(&v, p, sizeof(v));
	return v;
}

static uint64_t get_host_u64(const uint8_t *p)
{
	uint64_t v;
	memcpy(&v, p, sizeof(v));
	return v;
}

static void put_host_u16(uint8_t *p, uint16_t v) { memcpy(p, &v, sizeof(v)); }
static void put_host_u64(uint8_t *p, uint64_t v) { memcpy(p, &v, sizeof(v)); }

size_t ferry_dirents_encode(const void *in, size_t in_len, void *out, size_t out_cap,
			    size_t *consumed)
{
	const uint8_t *src = in;
	uint8_t *dst = out;
	size_t in_pos = 0, out_pos = 0;

	while (in_len - in_pos > LD64_NAME) {
		const uint8_t *rec = src + in_pos;
		size_t reclen = get_host_u16(rec + LD64_RECLEN);
		size_t namelen;

		/* The kernel's buffer is trusted, but never read past it. */
		if (reclen <= LD64_NAME || reclen > in_len - in_pos)
			break;
		namelen = strnlen((const char *)rec + LD64_NAME, reclen - LD64_NAME);
		if (namelen == 0 || namelen > WIRE_NAME_MAX)
			break;
		if (out_cap - out_pos < FERRY_WIRE_DIRENT_FIXED + namelen)
			break;
		put_u64(dst + out_pos + 0, get_host_u64(rec + LD64_INO));
		put_u64(dst + out_pos + 8, get_host_u64(rec + LD64_OFF));
		put_u8(dst + out_pos + 16, rec[LD64_TYPE]);
		put_u8(dst + out_pos + 17, 0);
		put_u16(dst + out_pos + 18, (uint16_t)namelen);
		memcpy(dst + out_pos + FERRY_WIRE_DIRENT_FIXED, rec + LD64_NAME, namelen);
		out_pos += FERRY_WIRE_DIRENT_FIXED + namelen;
		in_pos += reclen;
	}
	if (consumed)
		*consumed = in_pos;
	return out_pos;
}

/* Check one wire record at in[pos]; returns its name length or -EBADMSG. */
static long wire_dirent_check(const uint8_t *in, size_t in_len, size_t pos)
{
	size_t namelen;
	const uint8_t *name;

	if (in_len - pos < FERRY_WIRE_DIRENT_FIXED)
		return -EBADMSG;
	namelen = get_u16(in + pos + 18);
	if (namelen < 1 || namelen > WIRE_NAME_MAX)
		return -EBADMSG;
	if (in_len - pos - FERRY_WIRE_DIRENT_FIXED < namelen)
		return -EBADMSG;
	name = in + pos + FERRY_WIRE_DIRENT_FIXED;
	if (memchr(name, '\0', namelen) || memchr(name, '/', namelen))
		return -EBADMSG;
	return (long)namelen;
}

long ferry_dirents_decode(const void *in, size_t in_len, void *out, size_t out_cap,
			  size_t *records_used)
{
	const uint8_t *src = in;
	uint8_t *dst = out;
	size_t pos, out_pos = 0, used = 0;
	long namelen;

	if (records_used)
		*records_used = 0;
	if (in_len && !in)
		return -EBADMSG;
	/* Validate everything first: a malformed reply changes nothing. */
	for (pos = 0; pos < in_len; pos += FERRY_WIRE_DIRENT_FIXED + (size_t)namelen) {
		namelen = wire_dirent_check(src, in_len, pos);
		if (namelen < 0)
			return namelen;
	}

	for (pos = 0; pos < in_len; pos += FERRY_WIRE_DIRENT_FIXED + (size_t)namelen) {
		size_t reclen;
		uint8_t *rec;

		namelen = get_u16(src + pos + 18);
		reclen = ld64_reclen((size_t)namelen);
		if (out_cap - out_pos < reclen) {
			if (used == 0)
				return -EINVAL;
			break;
		}
		rec = dst + out_pos;
		memset(rec, 0, reclen);
		put_host_u64(rec + LD64_INO, get_u64(src + pos + 0));
		put_host_u64(rec + LD64_OFF, get_u64(src + pos + 8));
		put_host_u16(rec + LD64_RECLEN, (uint16_t)reclen);
		rec[LD64_TYPE] = src[pos + 16];
		memcpy(rec + LD64_NAME, src + pos + FERRY_WIRE_DIRENT_FIXED, (size_t)namelen);
		out_pos += reclen;
		used++;
	}
	if (records_used)
		*records_used = used;
	return (long)out_pos;
}

size_t ferry_i64s_encode(const int64_t *v, size_t n, void *out, size_t out_cap)
{
	uint8_t *p = out;

	if (n > out_cap / FERRY_WIRE_I64_SIZE)
		return 0;
	for (size_t i = 0; i < n; i++)
		put_u64(p + i * FERRY_WIRE_I64_SIZE, (uint64_t)v[i]);
	return n * FERRY_WIRE_I64_SIZE;
}

long ferry_i64s_decode(const void *in, size_t len, int64_t *v, size_t cap)
{
	const uint8_t *p = in;
	size_t n = len / FERRY_WIRE_I64_SIZE;

	if (len % FERRY_WIRE_I64_SIZE)
		return -EBADMSG;
	if (n > cap)
		return -E2BIG;
	for (size_t i = 0; i < n; i++)
		v[i] = (int64_t)get_u64(p + i * FERRY_WIRE_I64_SIZE);
	return (long)n;
}

/* ---- socket events ---- */

static bool sockev_kind_valid(uint16_t kind)
{
	return kind >= FERRY_SOCKEV_DATA && kind <= FERRY_SOCKEV_ACCEPT;
}

int ferry_sockev_encode(const struct ferry_sockev *ev, void *out, size_t cap, size_t *off)
{
	uint8_t *p = out;
	size_t need;

	if (!sockev_kind_valid(ev->kind) || ev->addr_len > FERRY_SOCKADDR_MAX ||
	    (ev->addr_len && !ev->addr) || (ev->data_len && !ev->data))
		return -EINVAL;
	need = FERRY_WIRE_SOCKEV_FIXED + (size_t)ev->addr_len + ev->data_len;
	if (*off > cap || cap - *off < need)
		return -EMSGSIZE;
	p += *off;
	put_u64(p, (uint64_t)ev->handle);
	put_u16(p + 8, ev->kind);
	put_u16(p + 10, ev->addr_len);
	put_u32(p + 12, (uint32_t)ev->value);
	put_u64(p + 16, (uint64_t)ev->aux);
	put_u32(p + 24, ev->data_len);
	put_u32(p + 28, 0);
	if (ev->addr_len)
		memcpy(p + FERRY_WIRE_SOCKEV_FIXED, ev->addr, ev->addr_len);
	if (ev->data_len)
		memcpy(p + FERRY_WIRE_SOCKEV_FIXED + ev->addr_len, ev->data, ev->data_len);
	*off += need;
	return 0;
}

int ferry_sockev_decode(const void *in, size_t len, size_t *off, struct ferry_sockev *ev)
{
	const uint8_t *p = in;
	size_t left;

	if (*off == len)
		return 0;
	if (*off > len)
		return -EBADMSG;
	left = len - *off;
	if (left < FERRY_WIRE_SOCKEV_FIXED)
		return -EBADMSG;
	p += *off;
	ev->handle = (int64_t)get_u64(p);
	ev->kind = get_u16(p + 8);
	ev->addr_len = get_u16(p + 10);
	ev->value = (int32_t)get_u32(p + 12);
	ev->aux = (int64_t)get_u64(p + 16);
	ev->data_len = get_u32(p + 24);
	if (get_u32(p + 28) != 0 || !sockev_kind_valid(ev->kind) ||
	    ev->addr_len > FERRY_SOCKADDR_MAX)
		return -EBADMSG;
	left -= FERRY_WIRE_SOCKEV_FIXED;
	if (left < ev->addr_len || left - ev->addr_len < ev->data_len)
		return -EBADMSG;
	ev->addr = ev->addr_len ? p + FERRY_WIRE_SOCKEV_FIXED : NULL;
	ev->data = ev->data_len ? p + FERRY_WIRE_SOCKEV_FIXED + ev->addr_len : NULL;
	*off += FERRY_WIRE_SOCKEV_FIXED + (size_t)ev->addr_len + ev->data_len;
	return 1;
}
