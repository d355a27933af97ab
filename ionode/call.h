/* SPDX-License-Identifier: Apache-2.0 */
/*
 * One request on its way through a worker: what the opcode handlers in
 * ops_*.c see.  A handler returns the reply's ret (>= 0) or a negative
 * errno (the reply's err), and may point out_data at reply data.
 */
#ifndef IOND_CALL_H
#define IOND_CALL_H

#include <stdbool.h>
#include <stdint.h>

#include <ferry/proto.h>
#include <ferry/rpc.h>

#include "handlers.h"

/* Per-worker buffers, allocated once per thread. */
struct iond_scratch {
	void *reply;       /* encoded reply */
	size_t reply_cap;
	void *data;        /* reply data */
	void *aux;         /* a second buffer of reply_data_max (getdents) */
	void *bulk;        /* IOND_BULK_CHUNK, allocated on first bulk call */
	struct iond_inflight *inflight; /* this worker's slot */
};

#define IOND_CALL_MAX_BORROWED 2

struct iond_call {
	struct iond_ctx *ctx;
	struct iond_scratch *scratch;
	struct ferry_rpc_request *req;
	struct ferry_msg msg;
	struct iond_session *sess; /* NULL only for SESSION_OPEN, NULL_CALL */
	uint64_t peer;
	uint64_t jobid;
	const void *out_data;
	uint32_t out_len;
	int client_gone;         /* the bulk transfer's error when the client died */
	int borrowed[IOND_CALL_MAX_BORROWED];
	int nborrowed;
	bool nowait;   /* run on the progress thread: must not block (handlers.c) */
	bool deferred; /* nowait, and the call would have blocked: a worker reruns it */
};

typedef long (*iond_op_fn)(struct iond_call *c);

/* The descriptor behind a handle argument (borrowed until the call ends):
 * -EBADF when the session does not own it. */
int call_fd(struct iond_call *c, int64_t handle, int *fd);
/* A "dh" argument: FERRY_AT_ROOT, or a handle as call_fd. */
int call_dirfd(struct iond_call *c, int64_t dh, int *fd);
/* Does a transport error from a reply or bulk transfer mean the client died
 * mid-call (so its session must be closed)? */
bool iond_client_gone(int rc);
/* An argument that must fit in an int (flags, modes, commands). */
int call_int_arg(const struct iond_call *c, int i, int *out);

/* For opcode handlers: call_fd, call_dirfd or call_int_arg on args[i],
 * returning its error from the handler. */
#define GET_FD(c, i, fd)                                                       \
	do {                                                                   \
		int rc_ = call_fd((c), (c)->msg.args[(i)], &(fd));              \
		if (rc_)                                                       \
			return rc_;                                            \
	} while (0)
#define GET_DIRFD(c, i, fd)                                                    \
	do {                                                                   \
		int rc_ = call_dirfd((c), (c)->msg.args[(i)], &(fd));           \
		if (rc_)                                                       \
			return rc_;                                            \
	} while (0)
#define GET_INT(c, i, v)                                                       \
	do {                                                                   \
		int rc_ = call_int_arg((c), (i), &(v));                         \
		if (rc_)                                                       \
			return rc_;                                            \
	} while (0)

/* Opcode handlers, by file. */
long op_openat(struct iond_call *c);
long op_statx(struct iond_call *c);
long op_faccessat(struct iond_call *c);
long op_mkdirat(struct iond_call *c);
long op_mknodat(struct iond_call *c);
long op_unlinkat(struct iond_call *c);
long op_renameat2(struct iond_call *c);
long op_linkat(struct iond_call *c);
long op_symlinkat(struct iond_call *c);
long op_readlinkat(struct iond_call *c);
long op_truncate(struct iond_call *c);
long op_fchmodat(struct iond_call *c);
long op_fchownat(struct iond_call *c);
long op_utimensat(struct iond_call *c);
long op_statfs(struct iond_call *c);
long op_xattr_get(struct iond_call *c);
long op_xattr_set(struct iond_call *c);
long op_xattr_list(struct iond_call *c);
long op_xattr_remove(struct iond_call *c); /* ops_path.c */

long op_close(struct iond_call *c);
long op_lseek(struct iond_call *c);
long op_getdents(struct iond_call *c);
long op_ftruncate(struct iond_call *c);
long op_fsync(struct iond_call *c);
long op_fcntl(struct iond_call *c);
long op_flock(struct iond_call *c);
long op_fallocate(struct iond_call *c);
long op_fadvise(struct iond_call *c);
long op_copy_range(struct iond_call *c); /* ops_fd.c */

long op_read(struct iond_call *c);
long op_write(struct iond_call *c); /* ops_rw.c */

long op_sock_connect(struct iond_call *c);
long op_sock_bind(struct iond_call *c);
long op_sock_listen(struct iond_call *c);
long op_sock_poll(struct iond_call *c);
long op_sock_credit(struct iond_call *c);
long op_sock_send(struct iond_call *c);
long op_sock_shutdown(struct iond_call *c);
long op_sock_setopt(struct iond_call *c);
long op_sock_getopt(struct iond_call *c);
long op_sock_name(struct iond_call *c); /* ops_sock.c */

#endif
