/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The runtime's own descriptors (the transport's sockets and eventfds, the
 * log file).  They live in the application's descriptor table, where a
 * program that closes everything (closefrom, close_range(3, ~0)) or dup2s
 * onto a number would break its own session.  They are opened above the low
 * numbers applications use, recorded with their identity (device, inode),
 * and protected: closing one succeeds without closing it, dup2 onto one
 * fails with EBUSY (as the kernel may answer).
 */
#ifndef FERRY_CNK_RUNTIME_FDS_H
#define FERRY_CNK_RUNTIME_FDS_H

#include <stdbool.h>
#include <stdint.h>

#define CNK_RUNTIME_FD_LOW 64    /* the runtime's descriptors start here */
#define CNK_RUNTIME_FD_SCAN 1024 /* and are tracked below this */

/* Bracket code that opens runtime descriptors: begin holds every free
 * number below CNK_RUNTIME_FD_LOW and notes which numbers are open; end
 * releases the held numbers and records the descriptors that appeared. */
struct cnk_fd_window {
	uint64_t held;
	uint64_t open_before[CNK_RUNTIME_FD_SCAN / 64];
};
void cnk_runtime_fds_begin(struct cnk_fd_window *w);
void cnk_runtime_fds_end(struct cnk_fd_window *w);
/* Forget them all (the transport closed its endpoint). */
void cnk_runtime_fds_forget(void);

/* Lock-free: might fd be the runtime's?  (Cheap test for the dispatcher.) */
bool cnk_runtime_fd_maybe(int fd);
/* Is fd still the runtime's descriptor (same identity as recorded)? */
bool cnk_runtime_fd_is(int fd);
/* Does this process (a vfork child of owner) still hold every runtime
 * descriptor of owner, as the same open file at the same number (kcmp)? */
bool cnk_runtime_fds_shared_with(long owner);

#endif
