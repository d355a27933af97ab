/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The test dispatcher's query interface, used by the probe program: a
 * syscall number no kernel has, answered by the dispatcher itself.  Without
 * interception the kernel answers -ENOSYS, which the tests treat as failure.
 */
#ifndef FERRY_SUD_TEST_DISPATCH_H
#define FERRY_SUD_TEST_DISPATCH_H

/* query(SUD_QUERY_COUNT, nr): how many times syscall nr was dispatched, in
 * this process and its fork children together. */
#define SUD_QUERY_NR 0x5d00
#define SUD_QUERY_COUNT 1
/* query(SUD_QUERY_HOOKS): atfork prepare + 100 * child + 10000 * parent. */
#define SUD_QUERY_HOOKS 2

/* query(SUD_QUERY_VFORK_PREPARES): CNK_NR_VFORK_PREPARE calls seen. */
#define SUD_QUERY_VFORK_PREPARES 3

/* query(SUD_QUERY_FASTPATH, what): the mechanism's fast-path counters:
 * what 0: SIGSYS traps, 1: sites rewritten, 2: sites refused, 3: is the
 * syscall ending at address a2 a rewritten site (0/1), 4: fast path on,
 * 5: libc's getppid() called from inside the dispatcher, 6: sites rewritten
 * straight to the kernel (this dispatcher declares getuid and pause always
 * native). */
#define SUD_QUERY_FASTPATH 4

/* Syscalls counted: the table is indexed by number. */
#define SUD_COUNT_MAX 512

#endif
