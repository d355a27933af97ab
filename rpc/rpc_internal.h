/* SPDX-License-Identifier: Apache-2.0 */
/* Internal to rpc/ and its tests: hooks that forge traffic. */
#ifndef FERRY_RPC_INTERNAL_H
#define FERRY_RPC_INTERNAL_H

#include <stddef.h>
#include <stdint.h>

#include "ferry/rpc.h"

/* Send arbitrary bytes to the client's server, as one message. */
int ferry_rpc_client_send_raw(struct ferry_rpc_client *c, const void *frame, size_t len);
/* The token the server assigned at HELLO. */
uint64_t ferry_rpc_client_token(const struct ferry_rpc_client *c);

#endif
