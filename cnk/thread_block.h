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

struct cnk_thread_block {
	/* offset 0: the SUD selector the kernel reads on every syscall. */
	volatile uint8_t selector;
	/* 1 once SUD is armed for this thread. */
	uint8_t armed;
	uint8_t pad[6];
	/* offset 8: where a vfork parent (and child) resumes; kept off the
	 * stack because the child runs on the parent's stack (pitfall 5). */
	uintptr_t vfork_resume;
};

#define CNK_TB_SELECTOR_OFFSET 0
#define CNK_TB_ARMED_OFFSET 1
#define CNK_TB_VFORK_RESUME_OFFSET 8

_Static_assert(__builtin_offsetof(struct cnk_thread_block, selector) == CNK_TB_SELECTOR_OFFSET,
	       "trampoline_x86_64.S uses this offset");
_Static_assert(__builtin_offsetof(struct cnk_thread_block, armed) == CNK_TB_ARMED_OFFSET,
	       "trampoline_x86_64.S uses this offset");
_Static_assert(__builtin_offsetof(struct cnk_thread_block, vfork_resume) ==
		       CNK_TB_VFORK_RESUME_OFFSET,
	       "trampoline_x86_64.S uses this offset");

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
