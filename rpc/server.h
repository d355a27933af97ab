/* SPDX-License-Identifier: Apache-2.0 */
/* Internal to rpc/: the server's state, shared by server.c (connections,
 * messages, progress) and server_bulk.c (RMA on behalf of workers). */
#ifndef FERRY_RPC_SERVER_H
#define FERRY_RPC_SERVER_H

#include <pthread.h>
#include <stdatomic.h>
#include <sys/types.h>

#include "fabric.h"
#include "ferry/rpc.h"

#define SRV_PEER_BUCKETS 1024
#define SRV_ACTIVE_BUCKETS 256

enum srv_op_kind { SRV_OP_RECV = 1, SRV_OP_SEND, SRV_OP_RMA };

struct srv_peer {
	struct srv_peer *next;      /* hash chain */
	struct srv_peer *down_next; /* queue of peer-down notifications */
	struct srv_peer *all_prev, *all_next; /* every live peer, freed at close */
	uint64_t token;
	fi_addr_t addr;
	pid_t pid; /* shm: the client's process, to notice it die */
	char shm_region[64]; /* shm: its region "ferry-PID-RANDOM", removed when it dies */
	int refs; /* table, requests, operations in flight, down queue */
	bool down;
};

/* Completion counter that a worker sleeps on while its RMA runs. */
#define BULK_WINDOW 4 /* RMA chunks in flight per transfer */

struct bulk_wait {
	pthread_cond_t cv;
	int outstanding;
	int status;
	struct srv_op *ops[BULK_WINDOW]; /* in flight, to abandon */
};

/* Every operation handed to libfabric begins with its context. */
struct srv_op {
	struct fi_context2 ctx;
	enum srv_op_kind kind;
	struct srv_op *next; /* free list */
	struct srv_op *all;  /* every op, freed at close */
	struct srv_peer *peer;
	struct bulk_wait *wait;
	struct fab_mr mr;
	size_t cap;
	uint8_t *buf;
};

struct ferry_rpc_request {
	struct ferry_rpc_server *s;
	struct srv_peer *peer;
	struct ferry_rpc_request *next_deferred;
	struct ferry_rpc_request *next_active; /* requests with bulk, for CANCEL */
	atomic_bool cancelled;
	uint64_t req_id;
	uint64_t bulk_addr;
	uint64_t bulk_key;
	uint64_t bulk_len;
	enum ferry_bulk_dir bulk_dir;
	size_t len;
	uint64_t arrived_us; /* fab_now_us() when read off the CQ */
	uint8_t msg[];
};

struct ferry_rpc_server {
	char uri[256];
	char prov[32], node[256], service[16];
	struct fab fab;
	ferry_rpc_handler_fn handler;
	void *handler_arg;
	ferry_rpc_peer_down_fn down_fn;
	void *down_arg;
	int wake_fd;
	int spin_us;
	size_t inline_max;

	pthread_mutex_t mu;
	struct srv_peer *peers[SRV_PEER_BUCKETS];
	struct srv_peer *down_queue;
	struct srv_peer *all_peers;
	struct ferry_rpc_request *active[SRV_ACTIVE_BUCKETS];
	struct srv_op *free_sends;
	struct srv_op *free_rma;
	struct srv_op *all_ops;
	int sends_outstanding;
	struct ferry_rpc_request *deferred_head, *deferred_tail;

	pthread_t progress_thread;
	atomic_bool progress_known;
	int nesting; /* progress thread polling from inside a handler */
	atomic_bool sleeping;
	atomic_uint_fast64_t dropped;
	uint64_t next_liveness_us;
	uint64_t last_event_us; /* progress thread only: bounds its idle sleep */
	uint64_t next_ping_us;
	uint64_t ping_us;
	size_t ping_cursor;
};

bool srv_on_progress_thread(struct ferry_rpc_server *s);
/* Reads and handles completions once (on the progress thread). */
int srv_poll_cq(struct ferry_rpc_server *s);
/* While a non-progress thread waits for the provider: let it progress. */
void srv_kick(struct ferry_rpc_server *s);
/* A post found the provider's queue full (-FI_EAGAIN): before retrying,
 * drain completions (on the progress thread) or kick the progress thread
 * and yield (on any other). */
void srv_make_room(struct ferry_rpc_server *s, bool on_progress);
/* With mu held. */
void srv_peer_unref(struct ferry_rpc_server *s, struct srv_peer *p);
void srv_peer_mark_down(struct ferry_rpc_server *s, struct srv_peer *p);
/* Forget op in w's list of operations in flight.  With mu held. */
void bulk_untrack(struct bulk_wait *w, struct srv_op *op);
struct srv_op *srv_op_get(struct ferry_rpc_server *s, enum srv_op_kind kind);
void srv_op_put(struct ferry_rpc_server *s, struct srv_op *op);
static inline bool srv_err_is_peer_down(int err)
{
	/* tcp;ofi_rxm reports a connection lost under an RMA as EIO. */
	return err == -ECONNRESET || err == -ECONNREFUSED || err == -EHOSTUNREACH ||
	       err == -ENOTCONN || err == -EPIPE || err == -ECONNABORTED || err == -EIO;
}

#endif
