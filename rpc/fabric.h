/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Internal to rpc/: the libfabric objects one endpoint needs, memory
 * registration that honours the provider's MR mode, completion waiting, and
 * the transport frame header that travels in front of every message.
 */
#ifndef FERRY_RPC_FABRIC_H
#define FERRY_RPC_FABRIC_H

#include <sched.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <rdma/fabric.h>
#include <rdma/fi_cm.h>
#include <rdma/fi_domain.h>
#include <rdma/fi_endpoint.h>
#include <rdma/fi_errno.h>
#include <rdma/fi_rma.h>

#define FAB_API_VERSION FI_VERSION(1, 17)

/* ---- frame header (little-endian on the wire, fixed layout) ---- */
#define FRAME_MAGIC 0x43505246u /* "FRPC" read as little-endian bytes */
#define FRAME_VERSION 1
#define FRAME_HDR_SIZE 56
/* Largest payload (a proto.h message) in one frame.  Requests carry up to two
 * paths and some inline data; bigger data goes by RMA. */
#define FRAME_PAYLOAD_MAX (64u * 1024u)
/* Registered buffers are page-aligned and page-rounded: with fork-safe
 * verbs the kernel drops registered pages from the child, and no unrelated
 * heap object may share them. */
void *fab_alloc_pages(size_t len);

/* Largest endpoint name a HELLO may carry. */
#define FRAME_ADDR_MAX 512u

enum frame_kind {
	FRAME_HELLO = 1,     /* client → server, payload: client's fi_getname */
	FRAME_HELLO_ACK = 2, /* server → client, token assigned */
	FRAME_REQUEST = 3,
	FRAME_REPLY = 4,
	FRAME_CANCEL = 5, /* client gave up on req_id: stop its bulk */
	FRAME_BYE = 6,    /* either side is closing: fail everything pending */
	FRAME_PING = 7,   /* server → idle client: a send that fails finds it dead */
};

struct frame_hdr {
	uint8_t kind;
	uint8_t bulk_dir; /* enum ferry_bulk_dir */
	uint32_t payload_len;
	int32_t status; /* HELLO_ACK: 0 or -errno */
	uint64_t req_id;
	uint64_t token;
	uint64_t bulk_addr; /* 0-based or virtual, as the MR mode says */
	uint64_t bulk_key;
	uint64_t bulk_len;
};

void frame_encode(const struct frame_hdr *h, void *buf);
/* Validates magic, version, kind, bulk fields and that payload_len matches
 * the received length.  -EBADMSG on anything wrong. */
int frame_decode(const void *buf, size_t len, struct frame_hdr *h);

/* ---- the library (loaded at first use, see fabric_load.c) ---- */
struct fab_api {
	int (*getinfo)(uint32_t version, const char *node, const char *service, uint64_t flags,
		       const struct fi_info *hints, struct fi_info **info);
	void (*freeinfo)(struct fi_info *info);
	struct fi_info *(*dupinfo)(const struct fi_info *info);
	int (*fabric)(struct fi_fabric_attr *attr, struct fid_fabric **fabric, void *context);
	const char *(*strerror)(int errnum);
};
extern struct fab_api fab_api;
/* Loads libfabric once, keeping the process's signal dispositions. */
int fab_load(void);
const char *fab_strerror(int fi_errno);
/* Around calls that may install signal handlers behind our back. */
struct fab_sigs;
struct fab_sigs *fab_sigs_save(void);
void fab_sigs_restore(struct fab_sigs *saved);

/* ---- fabric objects ---- */
struct fab {
	struct fi_info *info;
	struct fid_fabric *fabric;
	struct fid_domain *domain;
	struct fid_av *av;
	struct fid_cq *cq;
	struct fid_ep *ep;
	int cq_wait_fd;  /* -1: the provider has no wait fd (shm): poll */
	uint64_t mr_mode;
	size_t prefix;   /* FI_MSG_PREFIX bytes in front of each message buffer */
	size_t rma_chunk; /* largest single RMA operation we issue */
	size_t inline_default;
	char prov[32];
};

/* Opens fabric, domain, AV, CQ and an enabled endpoint.  server: bind to
 * node/service (FI_SOURCE); client: node/service is the destination, and
 * *dest_addr receives its fi_addr. */
int fab_open(struct fab *f, const char *prov, const char *node, const char *service, bool server,
	     fi_addr_t *dest_addr);
void fab_close(struct fab *f);
/* At process exit: close the endpoint only (a shm endpoint unlinks its
 * region's name); the rest goes with the process. */
void fab_close_endpoint(struct fab *f);
/* After fork in the child: forget the parent's objects without closing them
 * (closing could tear down the parent's connections or shm region). */
void fab_abandon(struct fab *f);

struct fab_mr {
	struct fid_mr *mr;
	void *desc;
	uint64_t key;
	uint64_t remote_addr; /* what the peer passes as addr for offset 0 */
};

/* Register buf for access; honours PROV_KEY, VIRT_ADDR, ENDPOINT.  A
 * provider that needs no registration for local-only access gets none
 * (mr==NULL, desc==NULL). */
int fab_mr_reg(struct fab *f, void *buf, size_t len, uint64_t access, struct fab_mr *m);
void fab_mr_close(struct fab_mr *m);
/* Whether local buffers of sends/RMA must be registered (FI_MR_LOCAL). */
static inline bool fab_needs_local_mr(const struct fab *f)
{
	return (f->mr_mode & FI_MR_LOCAL) != 0;
}

/* -FI_xxx → -errno. */
int fab_errno(ssize_t fi_ret);
/* Name of the CQ error for logs, with the provider's detail. */
int fab_cq_readerr(struct fab *f, struct fi_cq_err_entry *err);

/* Hands one completion to its owner: op_ctx is the operation's context,
 * err 0 or the negative errno of a completion error. */
typedef void (*fab_complete_fn)(void *owner, void *op_ctx, size_t len, int err);

/* Reads the CQ once and hands each completion (up to 16), or one error
 * entry, to complete.  Returns how many, or 0.  Inline, so that each side's
 * progress loop calls its complete directly. */
static inline int fab_cq_poll(struct fab *f, fab_complete_fn complete, void *owner)
{
	struct fi_cq_msg_entry ents[16];
	struct fi_cq_err_entry err;
	ssize_t n;
	ssize_t i;

	n = fi_cq_read(f->cq, ents, 16);
	if (n > 0) {
		for (i = 0; i < n; i++)
			complete(owner, ents[i].op_context, ents[i].len, 0);
		return (int)n;
	}
	if (n == -FI_EAVAIL && fab_cq_readerr(f, &err) == 1) {
		if (err.op_context)
			complete(owner, err.op_context, 0, fab_errno(-err.err));
		return 1;
	}
	return 0;
}

/* After spinning, waiters yield the CPU this long (µs) before they sleep:
 * on a busy node a sleep costs far more than a yield. */
#define FAB_YIELD_US 1000

/* How a waiter that found nothing to do goes on at time now: true while it
 * should poll again (spinning until spin_end, then yielding the CPU for
 * FAB_YIELD_US), false once it should block. */
static inline bool fab_spin_or_yield(uint64_t now, uint64_t spin_end)
{
	if (now < spin_end)
		return true;
	if (now < spin_end + FAB_YIELD_US) {
		sched_yield();
		return true;
	}
	return false;
}

/* Block until the CQ may have work, extra_fd (>= 0) is readable, or
 * timeout_us passes.  waited_us: how long the caller has waited for work so
 * far, which bounds the sleep slice on providers without a wait fd.
 * Returns 1 if extra_fd is readable, else 0. */
int fab_wait(struct fab *f, int extra_fd, int64_t timeout_us, uint64_t waited_us);
/* An eventfd passed to fab_wait as extra_fd wakes a sleeper: kick it from
 * any thread (errno kept; a saturated counter wakes it anyway), drain it
 * once awake. */
void fab_kick(int eventfd);
void fab_kick_drain(int eventfd);

uint64_t fab_now_us(void);
uint64_t fab_random64(void);

#endif
