/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Request handling: the rpc progress thread hands each request to the
 * worker pool (iond_on_request); a worker decodes it, checks the session,
 * runs the opcode's handler and replies (iond_worker_ops).
 */
#ifndef IOND_HANDLERS_H
#define IOND_HANDLERS_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <ferry/rpc.h>

#include "auth.h"
#include "workers.h"

struct fsp_exports;
struct iond_sessions;
struct iond_stats;

#define IOND_BULK_CHUNK (4u << 20) /* pread/pwrite and RMA in pieces this big */
#define IOND_REPLY_DATA_CAP (60u << 10) /* reply data[] ceiling (transport frames: 64 KiB) */

struct iond_ctx {
	struct fsp_exports *exports;
	struct iond_sessions *sessions;
	struct iond_stats *stats;
	struct iond_workers *workers;
	/* Socket calls, which wait on the network (a SOCK_POLL as long as its
	 * client asks): their own pool, so they never hold up file calls.
	 * NULL: they share the main pool. */
	struct iond_workers *sock_workers;
	struct ferry_rpc_server *server;
	enum iond_auth_mode auth;
	size_t reply_data_max; /* data[] ceiling in a reply (and for inline reads) */
	atomic_bool draining;  /* shutdown began: refuse new requests */
};

/* Work out reply_data_max from the transport once the server is open. */
void iond_ctx_set_limits(struct iond_ctx *ctx);

/* rpc callbacks (progress thread). */
void iond_on_request(struct ferry_rpc_request *req, void *ctx);
void iond_on_peer_down(uint64_t peer, void *ctx);
/* fsproxy's escape hook: logs the path with the session that tried. */
void iond_on_escape(const char *path, void *ctx);

extern const struct iond_worker_ops iond_handler_ops;

#endif
