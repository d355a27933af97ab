/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Ferry's RPC transport: request/reply over libfabric FI_EP_RDM endpoints,
 * with RMA for bulk payloads.  This is the only interface to the network the
 * rest of Ferry sees; no libfabric type crosses it.
 *
 * Addresses are URIs:
 *   tcp://HOST:PORT    provider "tcp;ofi_rxm"
 *   verbs://HOST:PORT  provider "verbs;ofi_rxm"  (HOST: an IPoIB address)
 *   shm://NAME         provider "shm" (same machine; NAME is the endpoint name)
 *
 * All functions return 0 (or a length) on success and a negative errno on
 * failure.  Clients are thread-safe: any number of threads may have calls in
 * flight on one client; whichever thread waits drives progress.
 */
#ifndef FERRY_RPC_H
#define FERRY_RPC_H

#include <stddef.h>
#include <stdint.h>

struct ferry_rpc_client;
struct ferry_rpc_server;
struct ferry_rpc_request;

enum ferry_bulk_dir {
	FERRY_BULK_NONE = 0,
	FERRY_BULK_TO_SERVER = 1,   /* server pulls from the client's buffer (write) */
	FERRY_BULK_FROM_SERVER = 2, /* server pushes into the client's buffer (read) */
};

/* A client memory region the server may read or write during one call. */
struct ferry_rpc_bulk {
	void *buf;
	size_t len;
	enum ferry_bulk_dir dir;
};

struct ferry_rpc_opts {
	int spin_us;      /* busy-poll this long before blocking (default 50;
			     FERRY_RPC_SPIN_US overrides) */
	size_t inline_max; /* payloads above this go by RMA (0: provider default;
			      FERRY_INLINE_MAX overrides) */
	int timeout_ms;    /* default per-call timeout (0: 60000) */
};

/* Parse a URI; fills provider name ("tcp;ofi_rxm"), node and service.  Used by
 * both sides and by tools that print addresses.  -EINVAL names nothing; the
 * caller reports the URI. */
int ferry_rpc_parse_uri(const char *uri, char *prov, size_t prov_len, char *node,
			size_t node_len, char *service, size_t service_len);

/* ---------------- client ---------------- */

/* Open an endpoint and connect to the server at uri (the connection is made
 * now, not at the first call: tcp;ofi_rxm connects on demand and the first
 * send would otherwise stall).  opts may be NULL. */
int ferry_rpc_client_open(const char *uri, const struct ferry_rpc_opts *opts,
			  struct ferry_rpc_client **out);
void ferry_rpc_client_close(struct ferry_rpc_client *c);
/* From the process's exit (exit_group): say goodbye and close the endpoint,
 * nothing else.  libfabric's own destructor has run by then (exit() runs
 * destructors before the final exit_group); closing its address vector
 * after that reads freed memory (libfabric 1.17's shm provider). */
void ferry_rpc_client_close_at_exit(struct ferry_rpc_client *c);

/* Largest request or reply message (header and body, excluding bulk). */
size_t ferry_rpc_client_msg_max(const struct ferry_rpc_client *c);
/* Payloads above this size should be sent as bulk rather than inline. */
size_t ferry_rpc_client_inline_max(const struct ferry_rpc_client *c);
/* Provider in use, e.g. "tcp;ofi_rxm". */
const char *ferry_rpc_client_provider(const struct ferry_rpc_client *c);

/* One call: send req, optionally expose bulk to the server for the duration
 * of the call, wait for the reply and copy it into reply.  timeout_ms <= 0
 * uses the client's default.  Returns 0 with *reply_len set, or
 * -ETIMEDOUT (the call is cancelled cleanly: a late reply is dropped),
 * -EMSGSIZE (req too large, or reply larger than reply_cap),
 * -ECONNRESET / -EIO (the server is gone or the fabric failed). */
int ferry_rpc_call(struct ferry_rpc_client *c, const void *req, size_t req_len,
		   const struct ferry_rpc_bulk *bulk, void *reply, size_t reply_cap,
		   size_t *reply_len, int timeout_ms);

/* Something to do while a call waits (the runtime's check for a signal that
 * must interrupt a blocked lock request).  poll is called about every
 * period_ms from the waiting thread, with no lock held; it returns a request
 * to send one way (its reply is dropped) or NULL.  It must not make calls
 * on the client itself. */
struct ferry_rpc_wait_hook {
	const void *(*poll)(void *arg, size_t *len);
	void *arg;
	int period_ms;
};

/* ferry_rpc_call with a wait hook (NULL: the same as ferry_rpc_call). */
int ferry_rpc_call_hooked(struct ferry_rpc_client *c, const void *req, size_t req_len,
			  const struct ferry_rpc_bulk *bulk, void *reply, size_t reply_cap,
			  size_t *reply_len, int timeout_ms, const struct ferry_rpc_wait_hook *hook);

/* Re-create the endpoint after fork() in the child (the parent's endpoint
 * belongs to the parent).  Calls in flight are failed. */
int ferry_rpc_client_reopen(struct ferry_rpc_client *c);

/* ---------------- server ---------------- */

/* Called on the progress thread for each new request.  The handler (or a
 * worker it hands the request to) must eventually call ferry_rpc_reply or
 * ferry_rpc_drop exactly once. */
typedef void (*ferry_rpc_handler_fn)(struct ferry_rpc_request *req, void *arg);

int ferry_rpc_server_open(const char *uri, const struct ferry_rpc_opts *opts,
			  ferry_rpc_handler_fn handler, void *arg,
			  struct ferry_rpc_server **out);
/* Drive completions for up to timeout_ms (0: poll once).  Call from one
 * thread in a loop.  Returns the number of events handled or -errno. */
int ferry_rpc_server_progress(struct ferry_rpc_server *s, int timeout_ms);
/* Wake a progress call that is blocked (for shutdown).  Async-signal-safe. */
void ferry_rpc_server_wake(struct ferry_rpc_server *s);
const char *ferry_rpc_server_provider(const struct ferry_rpc_server *s);
size_t ferry_rpc_server_inline_max(const struct ferry_rpc_server *s);
void ferry_rpc_server_close(struct ferry_rpc_server *s);
/* The address clients should use, with the port the system chose when the
 * URI asked for port 0 (tcp://127.0.0.1:0). */
int ferry_rpc_server_uri(const struct ferry_rpc_server *s, char *buf, size_t len);
/* Received messages dropped as malformed or from unknown peers (stats). */
uint64_t ferry_rpc_server_dropped(const struct ferry_rpc_server *s);

/* Request accessors.  The message stays valid until reply/drop. */
const void *ferry_rpc_request_msg(const struct ferry_rpc_request *r, size_t *len);
/* Opaque identity of the sending endpoint, stable for the life of its
 * connection: the daemon binds sessions to it, so a session id guessed by
 * another client is useless. */
uint64_t ferry_rpc_request_peer(const struct ferry_rpc_request *r);
/* Microseconds since the progress thread received the request: lets the
 * daemon tell time spent queued for a worker from time spent running. */
uint64_t ferry_rpc_request_age_us(const struct ferry_rpc_request *r);
size_t ferry_rpc_request_bulk_len(const struct ferry_rpc_request *r);
enum ferry_bulk_dir ferry_rpc_request_bulk_dir(const struct ferry_rpc_request *r);

/* Move bulk data (blocking; safe from any thread).  off+len must lie inside
 * the client's region.  -ECONNRESET/-EIO when the client died mid-transfer. */
int ferry_rpc_bulk_pull(struct ferry_rpc_request *r, size_t off, void *dst, size_t len);
int ferry_rpc_bulk_push(struct ferry_rpc_request *r, size_t off, const void *src, size_t len);

/* Send the reply and release the request (any thread). */
int ferry_rpc_reply(struct ferry_rpc_request *r, const void *msg, size_t len);
/* Release the request without replying (malformed input). */
void ferry_rpc_drop(struct ferry_rpc_request *r);

/* Set a callback for peers the transport has found dead (send or RMA error,
 * connection reset).  Called on the progress thread. */
typedef void (*ferry_rpc_peer_down_fn)(uint64_t peer, void *arg);
void ferry_rpc_server_on_peer_down(struct ferry_rpc_server *s, ferry_rpc_peer_down_fn fn,
				   void *arg);
/* Probe peer now (any thread): a network provider reports a dead client
 * only when something is sent to it, so the daemon pings a client it has
 * reason to doubt, and the peer-down callback follows if it is gone.
 * -ENOENT when the peer is already unknown. */
int ferry_rpc_server_ping_peer(struct ferry_rpc_server *s, uint64_t peer);

#endif
