/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The runtime's per-thread block: its own initial-exec TLS, never libc TLS or
 * errno, so the mechanism can reach it from assembly and from signal context.
 * Field offsets are used by trampoline_x86_64.S: keep them in sync.
 */
#ifndef FERRY_CNK_THREAD_BLOCK_H
#define FERRY_CNK_THREAD_BLOCK_H

#include <stdint.h>

/* Values of the Syscall User Dispatch selector byte (linux/prctl.h). */
#define CNK_SELECTOR_ALLOW 0
#define CNK_SELECTOR_BLOCK 1

/* One vfork-like clone in flight.  The child shares (and scribbles on) the
 * parent's stack and, without CLONE_SETTLS, this very block: the resume
 * address cannot live on the stack, and a single field would be overwritten
 * by a vfork the child (or a signal handler) makes meanwhile.  The stub finds
 * its slot through %r9, which clone and vfork do not use and the syscall
 * preserves, so each side reads back its own slot and depth. */
struct cnk_vfork_slot {
	uintptr_t resume_rip;
	uintptr_t saved_r9; /* the application's %r9 */
	uintptr_t depth;    /* vfork_depth of the thread that made the call */
	uintptr_t arm;      /* arm SUD in the child (CLONE_VFORK: the parent waits) */
	uintptr_t nr;       /* the syscall (the prepare call may have used %rax) */
};

/* Nested vforks (a vfork child that vforks) deeper than this fail: EAGAIN. */
#define CNK_VFORK_MAX 8

struct cnk_thread_block {
	/* offset 0: the SUD selector the kernel reads on every syscall. */
	volatile uint8_t selector;
	/* 1 once SUD is armed for this thread. */
	uint8_t armed;
	uint8_t pad[6];
	/* offset 8: slots in use (the next vfork-like call takes this one). */
	uintptr_t vfork_depth;
	/* offset 16 */
	struct cnk_vfork_slot vfork[CNK_VFORK_MAX];
};

#define CNK_TB_SELECTOR_OFFSET 0
#define CNK_TB_ARMED_OFFSET 1
#define CNK_TB_VFORK_DEPTH_OFFSET 8
#define CNK_VFORK_SLOT_RIP 0
#define CNK_VFORK_SLOT_R9 8
#define CNK_VFORK_SLOT_DEPTH 16
#define CNK_VFORK_SLOT_ARM 24
#define CNK_VFORK_SLOT_NR 32

_Static_assert(__builtin_offsetof(struct cnk_thread_block, selector) == CNK_TB_SELECTOR_OFFSET,
	       "trampoline_x86_64.S uses this offset");
_Static_assert(__builtin_offsetof(struct cnk_thread_block, armed) == CNK_TB_ARMED_OFFSET,
	       "trampoline_x86_64.S uses this offset");
_Static_assert(__builtin_offsetof(struct cnk_thread_block, vfork_depth) ==
		       CNK_TB_VFORK_DEPTH_OFFSET,
	       "trampoline_x86_64.S uses this offset");
_Static_assert(__builtin_offsetof(struct cnk_vfork_slot, resume_rip) == CNK_VFORK_SLOT_RIP &&
		       __builtin_offsetof(struct cnk_vfork_slot, saved_r9) == CNK_VFORK_SLOT_R9 &&
		       __builtin_offsetof(struct cnk_vfork_slot, depth) == CNK_VFORK_SLOT_DEPTH &&
		       __builtin_offsetof(struct cnk_vfork_slot, arm) == CNK_VFORK_SLOT_ARM &&
		       __builtin_offsetof(struct cnk_vfork_slot, nr) == CNK_VFORK_SLOT_NR,
	       "trampoline_x86_64.S uses these offsets");

extern __thread struct cnk_thread_block cnk_tb __attribute__((tls_model("initial-exec")));

static inline uint8_t cnk_selector_get(void)
{
	return __atomic_load_n(&cnk_tb.selector, __ATOMIC_RELAXED);
}

/* A compiler barrier on both sides: no syscall may move across it. */
static inline void cnk_selector_set(uint8_t value)
{
	__atomic_signal_fence(__ATOMIC_SEQ_CST);
	__atomic_store_n(&cnk_tb.selector, value, __ATOMIC_RELAXED);
	__atomic_signal_fence(__ATOMIC_SEQ_CST);
}

#endif
