/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The Ferry wire protocol, on one screen: opcodes, message layout, limits and
 * the version.  The compute node (cnk/) and the I/O node (ionode/) both encode
 * and decode with the one codec in rpc/proto.c; nothing else touches bytes.
 *
 * Every message, request or reply, is
 *
 *   header (40 bytes, little-endian, fixed width)
 *     u32 magic      FERRY_MAGIC
 *     u16 version    FERRY_PROTO_VERSION
 *     u16 opcode     enum ferry_op
 *     u32 flags      FERRY_MSG_REPLY for replies
 *     u32 body_len   bytes that follow the header (== total - 40)
 *     u64 session    0 only for FERRY_OP_SESSION_OPEN requests
 *     u64 seq        per-session sequence number, echoed in the reply
 *     i64 ret        replies: result (>= 0) ; requests: 0
 *   body
 *     i32 err        replies: positive errno of the I/O node's filesystem, or 0
 *     u8  nargs      <= FERRY_MAX_ARGS
 *     u8  npaths     <= FERRY_MAX_PATHS
 *     u16 reserved   must be 0
 *     u32 data_len   <= FERRY_DATA_MAX
 *     i64 args[nargs]
 *     paths[npaths]: u32 len (including the terminating NUL, 1..FERRY_PATH_MAX),
 *                    bytes; the last byte is NUL and no other byte is NUL
 *     data[data_len]
 *
 * The decoder checks every length and count against both the limits below and
 * the bytes actually received before it reads them; decoded paths and data
 * point into the caller's buffer (zero copy), so the buffer must outlive them.
 *
 * Bulk payloads larger than the transport's inline limit do not travel in
 * data[]: the rpc layer moves them by RMA (see rpc.h) and the request's args
 * give only their length.
 */
#ifndef FERRY_PROTO_H
#define FERRY_PROTO_H

#include <stddef.h>
#include <stdint.h>

#define FERRY_MAGIC 0x59524546u /* "FERY" read as little-endian bytes */
#define FERRY_PROTO_VERSION 1

#define FERRY_HEADER_SIZE 40
#define FERRY_BODY_FIXED 12 /* err, nargs, npaths, reserved, data_len */
#define FERRY_MAX_ARGS 8
#define FERRY_MAX_PATHS 2
#define FERRY_PATH_MAX 4096 /* including the NUL, as Linux PATH_MAX */
#define FERRY_DATA_MAX (1u << 20) /* inline data ceiling; transports use less */
#define FERRY_MSG_MAX                                                          \
	(FERRY_HEADER_SIZE + FERRY_BODY_FIXED + 8 * FERRY_MAX_ARGS +           \
	 FERRY_MAX_PATHS * (4 + FERRY_PATH_MAX) + FERRY_DATA_MAX)

/* header flags */
#define FERRY_MSG_REPLY 0x1u

/* "dirfd" argument value meaning "the path is an absolute compute-node path";
 * the I/O node maps it to an export by longest prefix.  Same value as
 * AT_FDCWD, on purpose, but the client never sends its cwd: it resolves cwd
 * and relative paths itself (see cnk/). */
#define FERRY_AT_ROOT (-100)

/* SESSION_OPEN's optional fifth arg: what the client wants in the reply.
 * The ports a job may bind: the runtime binds any other port on the
 * compute node only, without asking (MPI's TCP transports bind many). */
#define FERRY_SESSION_WANT_PORTS 1

/*
 * Opcodes.  X(name, number, summary of args / paths / data / reply).
 * "h" = a remote handle returned by OPENAT (the I/O node's descriptor for the
 * session); "dh" = a handle or FERRY_AT_ROOT.  Flags and modes carry the Linux
 * x86-64 values (the daemon and the compute node are both Linux); anything the
 * daemon does not understand fails with EINVAL, never silently.
 */
#define FERRY_OPS(X)                                                                                  \
	X(SESSION_OPEN, 1, "args: pid, uid, gid, jobid[, want]; data: credential; reply ret: session id; data (want & FERRY_SESSION_WANT_PORTS): i64 n, then n (lo, hi) port ranges a bind may use") \
	X(SESSION_CLOSE, 2, "no args; closes every handle of the session")                           \
	X(NULL_CALL, 3, "no args; reply ret 0 (latency probe)")                                        \
	X(SESSION_DETACH, 4, "no args; reply ret: held session id; data: u64 token, then (i64 handle, i64 held handle) pairs") \
	X(SESSION_ADOPT, 5, "args: held session id, token; data: i64 held handles to keep; reply ret: number kept") \
	X(INTERRUPT, 6, "args: seq of a call of this session to interrupt (a signal arrived while it blocks); sent one way") \
	X(OPENAT, 10, "args: dh, flags, mode, resolve; path; reply ret: h")                            \
	X(CLOSE, 11, "args: h")                                                                        \
	X(READ, 12, "args: h, count, offset (-1: file position), rwf flags; reply data or bulk")      \
	X(WRITE, 13, "args: h, count, offset (-1: file position), rwf flags; data or bulk")           \
	X(LSEEK, 14, "args: h, offset, whence")                                                        \
	X(STATX, 15, "args: dh, at-flags, mask; path (\"\" with AT_EMPTY_PATH); reply data: wire statx") \
	X(FACCESSAT, 16, "args: dh, mode, at-flags; path")                                             \
	X(MKDIRAT, 17, "args: dh, mode; path")                                                         \
	X(UNLINKAT, 18, "args: dh, at-flags; path")                                                    \
	X(RENAMEAT2, 19, "args: olddh, newdh, flags; paths: old, new")                                 \
	X(LINKAT, 20, "args: olddh, newdh, at-flags; paths: old, new")                                 \
	X(SYMLINKAT, 21, "args: newdh; paths: target (verbatim), linkpath")                          \
	X(READLINKAT, 22, "args: dh, bufsiz; path; reply data: target")                                \
	X(GETDENTS, 23, "args: h, count; reply data: wire dirents")                                    \
	X(TRUNCATE, 24, "args: dh, length; path")                                                      \
	X(FTRUNCATE, 25, "args: h, length")                                                            \
	X(FSYNC, 26, "args: h, datasync (0/1)")                                                        \
	X(FCNTL, 27, "args: h, cmd, arg; data: wire flock for lock cmds; reply data: wire flock (GETLK)") \
	X(FLOCK, 28, "args: h, operation")                                                             \
	X(FCHMODAT, 29, "args: dh, mode, at-flags; path (\"\" + AT_EMPTY_PATH for fchmod)")           \
	X(FCHOWNAT, 30, "args: dh, uid, gid, at-flags; path (\"\" + AT_EMPTY_PATH for fchown)")        \
	X(UTIMENSAT, 31, "args: dh, at-flags, has_times; path; data: 2 x (i64 sec, i64 nsec)")         \
	X(STATFS, 32, "args: dh; path (\"\": the handle itself); reply data: wire statfs")              \
	X(FALLOCATE, 33, "args: h, mode, offset, len")                                                 \
	X(FADVISE, 34, "args: h, offset, len, advice")                                                 \
	X(XATTR_GET, 35, "args: dh, size, nofollow; paths: path (\"\": handle), name; reply data")      \
	X(XATTR_SET, 36, "args: dh, flags, nofollow; paths: path, name; data: value")                  \
	X(XATTR_LIST, 37, "args: dh, size, nofollow; path; reply data: names")                          \
	X(XATTR_REMOVE, 38, "args: dh, nofollow; paths: path, name")                                   \
	X(COPY_RANGE, 39, "args: h_in, off_in (-1: position), h_out, off_out (-1), len; both handles forwarded") \
	X(MKNODAT, 40, "args: dh, mode, dev; path (regular files and FIFOs only)")              \
	X(SOCK_CONNECT, 50, "args: domain, type, protocol; data: sockaddr; reply ret: h, data: local sockaddr") \
	X(SOCK_BIND, 51, "args: domain, type, protocol; data: sockaddr; reply ret: h, data: bound sockaddr") \
	X(SOCK_LISTEN, 52, "args: h, backlog, accept credit")                                         \
	X(SOCK_POLL, 53, "args: timeout ms, max bytes; data: credit pairs; reply ret: events, data: events") \
	X(SOCK_CREDIT, 54, "data: credit pairs (i64 h, i64 bytes or connections)")                  \
	X(SOCK_SEND, 55, "args: h, msg flags, addr_len; data: sockaddr (addr_len), payload; reply ret: bytes") \
	X(SOCK_SHUTDOWN, 56, "args: h, how")                                                          \
	X(SOCK_SETOPT, 57, "args: h, level, name; data: value")                                       \
	X(SOCK_GETOPT, 58, "args: h, level, name, optlen; reply data: value")                         \
	X(SOCK_NAME, 59, "args: h, peer (0: getsockname, 1: getpeername); reply data: sockaddr")

enum ferry_op {
#define FERRY_OP_ENUM(name, num, doc) FERRY_OP_##name = num,
	FERRY_OPS(FERRY_OP_ENUM)
#undef FERRY_OP_ENUM
};

/* A decoded (or to-be-encoded) message.  Paths and data point into the
 * buffer they were decoded from (or, for encoding, into the caller's memory). */
struct ferry_msg {
	uint16_t version;
	uint16_t opcode;
	uint32_t flags;
	uint64_t session;
	uint64_t seq;
	int64_t ret;
	int32_t err;
	uint8_t nargs;
	uint8_t npaths;
	int64_t args[FERRY_MAX_ARGS];
	const char *paths[FERRY_MAX_PATHS]; /* NUL-terminated */
	uint32_t path_len[FERRY_MAX_PATHS]; /* strlen, without the NUL */
	const void *data;
	uint32_t data_len;
};

/* Name of an opcode for logs ("OPENAT"), or NULL when unknown. */
const char *ferry_op_name(uint16_t opcode);

/* Bytes ferry_msg_encode needs for m; 0 if m breaks a limit. */
size_t ferry_msg_encoded_size(const struct ferry_msg *m);

/* Encode m into buf.  Returns the length written, or -EMSGSIZE when cap is
 * too small, -EINVAL when a count, length or path breaks a limit.  Fills in
 * magic and version itself. */
long ferry_msg_encode(const struct ferry_msg *m, void *buf, size_t cap);

/* Decode len bytes at buf into m.  Returns 0, or:
 *   -EPROTO         bad magic
 *   -EPROTONOSUPPORT version mismatch (m->version, opcode, session, seq are
 *                   still filled in so a reply can be addressed)
 *   -EBADMSG        truncated message, body_len disagreeing with len,
 *                   a path without its NUL or with an inner NUL, reserved != 0
 *   -EMSGSIZE       a count or length above its limit
 * An unknown opcode is NOT a decode error: the server answers it ENOTSUP. */
int ferry_msg_decode(const void *buf, size_t len, struct ferry_msg *m);

/* Convenience for building messages. */
void ferry_msg_init(struct ferry_msg *m, uint16_t opcode, uint64_t session, uint64_t seq);
int ferry_msg_add_arg(struct ferry_msg *m, int64_t v);          /* -E2BIG when full */
int ferry_msg_add_path(struct ferry_msg *m, const char *path);  /* -ENAMETOOLONG, -E2BIG */

/* ---- portable encodings of kernel structures carried in data[] ---- */

struct statx;
struct statfs;
struct flock;

#define FERRY_WIRE_STATX_SIZE 160
#define FERRY_WIRE_STATFS_SIZE 88
#define FERRY_WIRE_FLOCK_SIZE 24

void ferry_statx_encode(const struct statx *st, uint8_t out[FERRY_WIRE_STATX_SIZE]);
int ferry_statx_decode(const void *in, size_t len, struct statx *st); /* -EBADMSG if short */
void ferry_statfs_encode(const struct statfs *st, uint8_t out[FERRY_WIRE_STATFS_SIZE]);
int ferry_statfs_decode(const void *in, size_t len, struct statfs *st);
void ferry_flock_encode(const struct flock *fl, uint8_t out[FERRY_WIRE_FLOCK_SIZE]);
int ferry_flock_decode(const void *in, size_t len, struct flock *fl);

/*
 * Directory entries: a sequence of records
 *   u64 ino, i64 off, u8 type, u8 pad, u16 namelen (1..255), name bytes (no NUL)
 * The I/O node converts its getdents64 buffer with ferry_dirents_encode; the
 * compute node rebuilds linux_dirent64 records in the caller's buffer with
 * ferry_dirents_decode, which validates every record first.
 */
#define FERRY_WIRE_DIRENT_FIXED 20

/* Convert up to in_len bytes of linux_dirent64 records into wire records.
 * Returns bytes written; stops early (never splitting a record) when out is
 * full, and reports in *consumed how many input bytes were converted. */
size_t ferry_dirents_encode(const void *in, size_t in_len, void *out, size_t out_cap,
			    size_t *consumed);
/* Rebuild linux_dirent64 records into out.  Returns bytes written, or
 * -EBADMSG on a malformed record, -EINVAL if out cannot hold even the first.
 * *records_used tells how many wire records fit (the caller rewinds the
 * directory offset to the next one's d_off predecessor when not all fit). */
long ferry_dirents_decode(const void *in, size_t in_len, void *out, size_t out_cap,
			  size_t *records_used);

/*
 * Arrays of i64 (SESSION_DETACH's reply, SESSION_ADOPT's request): n x i64,
 * nothing else.  encode returns the bytes written (n * 8), 0 if out is too
 * small; decode returns the count, -EBADMSG when len is not a multiple of 8,
 * -E2BIG when more than cap values are sent.
 */
#define FERRY_WIRE_I64_SIZE 8
size_t ferry_i64s_encode(const int64_t *v, size_t n, void *out, size_t out_cap);
long ferry_i64s_decode(const void *in, size_t len, int64_t *v, size_t cap);

/*
 * Sockets (SOCK_* opcodes).  The I/O node opens AF_INET/AF_INET6 sockets for
 * a session; their handles are session handles like files (CLOSE closes
 * them).  Addresses travel as the Linux x86-64 sockaddr bytes (sockaddr_in /
 * sockaddr_in6, network byte order inside), at most FERRY_SOCKADDR_MAX; the
 * daemon checks family and length before use.
 *
 * Data flows by credit.  Each connected socket starts with
 * FERRY_SOCK_WINDOW bytes of credit: the I/O node reads from the socket only
 * while the client has credit for it, and every DATA event spends credit.
 * The client returns credit (SOCK_CREDIT, or the pairs carried by SOCK_POLL)
 * as the program drains its end.  A listening socket's credit counts
 * connections instead: the I/O node hands a new connection only to a member
 * of the port's cluster that has accept credit.
 *
 * SOCK_POLL waits (up to timeout ms, and may be interrupted) until an event
 * is ready on any socket of the session and returns a batch of events, at
 * most max bytes of them, encoded as below.
 */
#define FERRY_SOCKADDR_MAX 128
#define FERRY_SOCK_WINDOW (256u << 10)

enum ferry_sockev_kind {
	FERRY_SOCKEV_DATA = 1,   /* data[] from the peer; addr: source (datagrams) */
	FERRY_SOCKEV_EOF = 2,    /* the peer shut down its sending side */
	FERRY_SOCKEV_ERROR = 3,  /* value: errno; the socket is dead */
	FERRY_SOCKEV_ACCEPT = 4, /* handle: listener; aux: new connection's handle;
				    addr: the remote peer */
};

/* One event: i64 handle, u16 kind, u16 addr_len, i32 value, i64 aux,
 * u32 data_len, u32 reserved (0), then addr[addr_len], data[data_len]. */
#define FERRY_WIRE_SOCKEV_FIXED 32
struct ferry_sockev {
	int64_t handle;
	uint16_t kind;
	uint16_t addr_len; /* <= FERRY_SOCKADDR_MAX */
	int32_t value;
	int64_t aux;
	uint32_t data_len;
	const void *addr; /* decode: points into the input buffer */
	const void *data;
};

/* Append ev to out at *off; returns 0, or -EMSGSIZE when it does not fit
 * (*off unchanged), -EINVAL for a bad kind or addr_len. */
int ferry_sockev_encode(const struct ferry_sockev *ev, void *out, size_t cap, size_t *off);
/* Decode the event at *off and advance *off.  Returns 1 with ev filled, 0 at
 * the end of the buffer, -EBADMSG for a truncated or malformed event (an
 * unknown kind, addr_len above the limit, reserved != 0). */
int ferry_sockev_decode(const void *in, size_t len, size_t *off, struct ferry_sockev *ev);

#endif
