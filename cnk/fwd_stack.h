/* SPDX-License-Identifier: Apache-2.0 */
/*
 * A stack of the runtime's own for forwarded calls, one per thread, made at
 * the thread's first forwarded call and released when the thread exits.
 * The rpc client and the fabric provider below it need tens of KiB; an
 * application thread may have much less (glibc's POSIX AIO threads).
 */
#ifndef FERRY_CNK_FWD_STACK_H
#define FERRY_CNK_FWD_STACK_H

/* fn(arg) on this thread's forwarding stack (on the current one when it
 * cannot be made, or under AddressSanitizer, which tracks stacks itself). */
long cnk_fwd_stack_call(long (*fn)(void *), void *arg);
/* The thread is exiting: unmap its stack (never while on it). */
void cnk_fwd_stack_release(void);

#endif
