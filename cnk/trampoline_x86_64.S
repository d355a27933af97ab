/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The mechanism's machine code.
 *
 * .text.cnk_allowed holds the only instructions SUD always lets through
 * (the "allowed range"): signal return, the syscalls that must execute at
 * the application's call site (clone with a new stack, vfork), because their
 * child resumes there, and the fast path's native calls (rewrite.c).
 * Nothing else may live in that section.
 *
 * cnk_trampoline runs an intercepted call in normal context: the SIGSYS
 * handler has returned (so the application's signal mask is back) with %rsp
 * at a struct cnk_trap_frame and every other register as the application
 * left it.  It saves what the syscall ABI preserves, calls cnk_dispatch(),
 * restores, and returns to the instruction after the syscall.
 */
#define SYS_rt_sigreturn 15
#define SYS_write 1
#define SYS_prctl 157
#define SYS_exit_group 231
#define PR_SET_SYSCALL_USER_DISPATCH 59
#define PR_SYS_DISPATCH_ON 1
#define TB_ARMED 1
#define TB_SELECTOR 0
#define TB_VFORK_DEPTH 8
/* struct cnk_vfork_slot */
#define VS_RIP 0
#define VS_R9 8
#define VS_DEPTH 16
#define VS_ARM 24
#define VS_NR 32
/* struct cnk_clone_frame */
#define CF_NR 24
#define SELECTOR_ALLOW 0
#define SELECTOR_BLOCK 1
/* sizeof(struct cnk_trap_frame) and the red zone */
#define TRAP_FRAME_SIZE 80
#define RED_ZONE 128
/* struct cnk_trap_frame */
#define F_NR 0
#define F_A0 8
#define F_A1 16
#define F_A2 24
#define F_A3 32
#define F_A4 40
#define F_A5 48
#define F_RIP 56
#define F_RSP 64

/* Arm SUD for the calling thread: the allowed range is our stubs, the
 * selector is this thread's byte in the runtime's TLS block.  Clobbers
 * rax, rdi, rsi, rdx, r10, r8 (and rcx, r11 by the syscall); rax: result. */
.macro ARM_SUD_THIS_THREAD
	movl $SYS_prctl, %eax
	movl $PR_SET_SYSCALL_USER_DISPATCH, %edi
	movl $PR_SYS_DISPATCH_ON, %esi
	leaq cnk_allowed_start(%rip), %rdx
	leaq cnk_allowed_end(%rip), %r10
	subq %rdx, %r10
	movq cnk_tb@gottpoff(%rip), %r8
	addq %fs:0, %r8
	syscall
.endm

	.section .text.cnk_allowed, "ax", @progbits
	.balign 64
	.globl cnk_allowed_start
	.hidden cnk_allowed_start
cnk_allowed_start:

	.globl cnk_sigreturn_stub
	.hidden cnk_sigreturn_stub
	.type cnk_sigreturn_stub, @function
cnk_sigreturn_stub:
	movl $SYS_rt_sigreturn, %eax
	.globl cnk_sigreturn_replay
	.hidden cnk_sigreturn_replay
cnk_sigreturn_replay:
	syscall
	ud2
	.size cnk_sigreturn_stub, . - cnk_sigreturn_stub

/* clone/clone3 with a new stack.  The child finds [arm flag][saved reg]
 * [resume rip] just below its new stack pointer; the parent finds [saved
 * reg][resume rip][its own %rsp] in a frame the SIGSYS handler left below its
 * signal frame.  %rcx is the syscall's to clobber, so it carries the resume
 * address and no application memory above the red zone is written.  A new
 * thread arms SUD for itself (its own thread block, through its new TLS)
 * before it runs application code. */
.macro CLONE_STUB name, reg
	.globl \name
	.hidden \name
	.type \name, @function
\name:
	movq CF_NR(%rsp), %rax
	syscall
	testq %rax, %rax
	jnz 2f
	popq %rcx
	testq %rcx, %rcx
	jz 1f
	pushq %rdi
	pushq %rsi
	pushq %rdx
	pushq %r10
	pushq %r8
	ARM_SUD_THIS_THREAD
	/* Armed or not (a failure here has no one to report to), the thread
	 * starts as application code. */
	movq cnk_tb@gottpoff(%rip), %rcx
	movb $SELECTOR_BLOCK, %fs:TB_SELECTOR(%rcx)
	testq %rax, %rax
	jnz 3f
	movb $1, %fs:TB_ARMED(%rcx)
3:	popq %r8
	popq %r10
	popq %rdx
	popq %rsi
	popq %rdi
	xorl %eax, %eax
1:	popq \reg
	popq %rcx
	jmpq *%rcx
	/* The parent: a vfork child that shared this thread block may have
	 * exec'ed or exited from the runtime, selector ALLOW. */
2:	movq cnk_tb@gottpoff(%rip), %rcx
	movb $SELECTOR_BLOCK, %fs:TB_SELECTOR(%rcx)
	popq \reg
	popq %rcx
	movq (%rsp), %rsp
	jmpq *%rcx
	.size \name, . - \name
.endm

	CLONE_STUB cnk_clone_stub, %rsi
	CLONE_STUB cnk_clone3_stub, %rdi

/* vfork, and clone/clone3 with CLONE_VM and no stack: the child shares (and
 * scribbles on) the parent's stack and usually its thread block, so %r9
 * carries the address of this call's struct cnk_vfork_slot (see
 * thread_block.h); %rcx and %r11 are the syscall's to clobber.
 * The child (slot arm set: CLONE_VFORK, the parent is suspended until it
 * execs or exits) arms SUD for itself -- below the red zone of the stack it
 * borrows -- and takes the next depth, so that a vfork of its own uses the
 * next slot.  If it cannot be armed it must not run unintercepted: it dies.
 * The parent puts back its own depth and the selector BLOCK, which the child
 * may have left ALLOW when it exec'ed or exited from the runtime. */
	.globl cnk_vfork_stub
	.hidden cnk_vfork_stub
	.type cnk_vfork_stub, @function
cnk_vfork_stub:
	movq VS_NR(%r9), %rax
	syscall
	testq %rax, %rax
	jnz 2f
	cmpq $0, VS_ARM(%r9)
	je 3f
	leaq -128(%rsp), %rsp
	pushq %rdi
	pushq %rsi
	pushq %rdx
	pushq %r10
	pushq %r8
	pushq %r9
	ARM_SUD_THIS_THREAD
	testq %rax, %rax
	jnz 9f
	popq %r9
	popq %r8
	popq %r10
	popq %rdx
	popq %rsi
	popq %rdi
	leaq 128(%rsp), %rsp
	movq cnk_tb@gottpoff(%rip), %r11
	movb $1, %fs:TB_ARMED(%r11)
	movb $SELECTOR_BLOCK, %fs:TB_SELECTOR(%r11)
	movq VS_DEPTH(%r9), %rcx
	incq %rcx
	movq %rcx, %fs:TB_VFORK_DEPTH(%r11)
	xorl %eax, %eax
	jmp 3f
2:	movq cnk_tb@gottpoff(%rip), %r11
	movq VS_DEPTH(%r9), %rcx
	movq %rcx, %fs:TB_VFORK_DEPTH(%r11)
	movb $SELECTOR_BLOCK, %fs:TB_SELECTOR(%r11)
3:	movq VS_RIP(%r9), %rcx
	movq VS_R9(%r9), %r9
	jmpq *%rcx
9:	movl $SYS_write, %eax
	movl $2, %edi
	leaq cnk_vfork_arm_failed(%rip), %rsi
	movl $cnk_vfork_arm_failed_len, %edx
	syscall
	movl $SYS_exit_group, %eax
	movl $127, %edi
	syscall
	ud2
	.size cnk_vfork_stub, . - cnk_vfork_stub

/* A rewritten site of a call the dispatcher always runs natively (see
 * rewrite.h): %eax = nr, %rcx = the address after the site's syscall, the
 * arguments in place.  The syscall runs here, below the red zone; a signal
 * interrupting it restarts it here or returns EINTR, as the kernel decides.
 * Flags untouched (the syscall preserves them, and leaves them in %r11). */
	.globl cnk_fast_native
	.hidden cnk_fast_native
	.type cnk_fast_native, @function
cnk_fast_native:
	leaq -RED_ZONE(%rsp), %rsp
	pushq %rcx
	syscall
	popq %rcx
	leaq RED_ZONE(%rsp), %rsp
	jmpq *%rcx
	.size cnk_fast_native, . - cnk_fast_native

/* The trampoline's lean entry (cnk_fast_entry, below) decided that the
 * dispatcher would run this call natively: the same as cnk_fast_native, with
 * %rsp already below the red zone. */
	.globl cnk_fast_lean_native
	.hidden cnk_fast_lean_native
	.type cnk_fast_lean_native, @function
cnk_fast_lean_native:
	pushq %rcx
	syscall
	popq %rcx
	leaq RED_ZONE(%rsp), %rsp
	jmpq *%rcx
	.size cnk_fast_lean_native, . - cnk_fast_lean_native

/* long cnk_allowed_syscall6(nr, a0, a1, a2, a3, a4, a5): an ordinary C call
 * (interpose.c) whose syscall runs from the allowed range: no SIGSYS, the
 * kernel's own EINTR and SA_RESTART behaviour (a restart re-executes this
 * syscall with the same registers).  Returns the result or -errno. */
	.globl cnk_allowed_syscall6
	.hidden cnk_allowed_syscall6
	.type cnk_allowed_syscall6, @function
cnk_allowed_syscall6:
	.cfi_startproc
	movq %rdi, %rax
	movq %rsi, %rdi
	movq %rdx, %rsi
	movq %rcx, %rdx
	movq %r8, %r10
	movq %r9, %r8
	movq 8(%rsp), %r9
	syscall
	ret
	.cfi_endproc
	.size cnk_allowed_syscall6, . - cnk_allowed_syscall6

	.globl cnk_allowed_end
	.hidden cnk_allowed_end
cnk_allowed_end:

	.section .rodata
cnk_vfork_arm_failed:
	.ascii "ferry: cannot arm syscall interception in a vfork child\n"
	.set cnk_vfork_arm_failed_len, . - cnk_vfork_arm_failed

	.text
	.globl cnk_trampoline
	.hidden cnk_trampoline
	.type cnk_trampoline, @function
cnk_trampoline:
	.cfi_startproc
	.cfi_undefined rip
	pushfq
	pushq %rbp
	movq %rsp, %rbp
	pushq %rbx
	pushq %rdx
	pushq %rsi
	pushq %rdi
	pushq %r8
	pushq %r9
	pushq %r10
	pushq %r12
	pushq %r13
	pushq %r14
	pushq %r15
	cld
	/* Vector state: XSAVE area sized from CPUID 0xD, 64-byte aligned. */
	subq cnk_xsave_size(%rip), %rsp
	andq $-64, %rsp
	cmpq $0, cnk_use_xsave(%rip)
	je 1f
	/* XSAVE leaves header bits outside XCR0 as they were; XRSTOR faults
	 * on any of them, so the whole header starts at zero. */
	xorl %eax, %eax
	movq %rax, 512(%rsp)
	movq %rax, 520(%rsp)
	movq %rax, 528(%rsp)
	movq %rax, 536(%rsp)
	movq %rax, 544(%rsp)
	movq %rax, 552(%rsp)
	movq %rax, 560(%rsp)
	movq %rax, 568(%rsp)
	movl cnk_xsave_mask(%rip), %eax
	movl 4+cnk_xsave_mask(%rip), %edx
	cmpq $2, cnk_use_xsave(%rip)
	je 5f
	xsave (%rsp)
	jmp 2f
	/* Compacted, components in their initial state left out (XRSTOR
	 * reads the format from the header XSAVEC writes). */
5:	xsavec (%rsp)
	jmp 2f
1:	fxsave (%rsp)
2:
	/* cnk_dispatch(nr, a0, a1, a2, a3, a4, a5): the frame is at %rbp + 16. */
	movq 16+F_NR(%rbp), %rdi
	movq 16+F_A0(%rbp), %rsi
	movq 16+F_A1(%rbp), %rdx
	movq 16+F_A2(%rbp), %rcx
	movq 16+F_A3(%rbp), %r8
	movq 16+F_A4(%rbp), %r9
	subq $8, %rsp
	pushq 16+F_A5(%rbp)
	call cnk_dispatch@PLT
	addq $16, %rsp
	movq %rax, 16+F_NR(%rbp)
	cmpq $0, cnk_use_xsave(%rip)
	je 3f
	movl cnk_xsave_mask(%rip), %eax
	movl 4+cnk_xsave_mask(%rip), %edx
	xrstor (%rsp)
	jmp 4f
3:	fxrstor (%rsp)
4:
	leaq -88(%rbp), %rsp
	popq %r15
	popq %r14
	popq %r13
	popq %r12
	popq %r10
	popq %r9
	popq %r8
	popq %rdi
	popq %rsi
	popq %rdx
	popq %rbx
	popq %rbp
	/* Back to the application: selector BLOCK, result in %rax, %rcx and
	 * %r11 as the syscall instruction leaves them, and no application
	 * memory written. */
	movq (%rsp), %r11
	popfq
	movq cnk_tb@gottpoff(%rip), %rcx
	movb $SELECTOR_BLOCK, %fs:TB_SELECTOR(%rcx)
	movq F_NR(%rsp), %rax
	movq F_RIP(%rsp), %rcx
	movq F_RSP(%rsp), %rsp
	jmpq *%rcx
	.cfi_endproc
	.size cnk_trampoline, . - cnk_trampoline

/* The fast path (rewrite.c): a rewritten site's stub jumps here with %eax =
 * the syscall number, %rcx = the address after the site's syscall
 * instruction, %rsp the application's, every other register as the
 * application left it; %r11 is free (the syscall clobbers it).  Nothing
 * below the application's red zone is written.
 * - Selector BLOCK (application code): leave the trap frame the SIGSYS
 *   handler would have left, selector ALLOW, and go through the same
 *   cnk_trampoline.
 * - Otherwise the runtime itself (its libc calls, selector ALLOW) or a thread
 *   that was never armed made the call: run it natively, like the syscall
 *   instruction it replaces.
 * Flags are the application's throughout (lea, mov, xchg and jrcxz leave
 * them alone), as the trampoline saves and restores them.  ALLOW is 0. */
	.globl cnk_fast_entry
	.hidden cnk_fast_entry
	.type cnk_fast_entry, @function
	.balign 16
cnk_fast_entry:
	.cfi_startproc
	.cfi_undefined rip
	leaq -RED_ZONE(%rsp), %rsp
	/* %r11 = the selector, tested with jrcxz (no flags touched). */
	movq cnk_tb@gottpoff(%rip), %r11
	movzbl %fs:TB_SELECTOR(%r11), %r11d
	xchgq %r11, %rcx
	jrcxz 1f
	jmp 8f
	/* Selector ALLOW: the runtime's own call, natively. */
1:	movq %r11, %rcx
	pushq %rcx
	syscall
	popq %rcx
	leaq RED_ZONE(%rsp), %rsp
	jmpq *%rcx
8:	movq %r11, %rcx
	/* The lean entry: ask the dispatcher, without saving the vector state,
	 * whether it would run this call natively (a call on a descriptor that
	 * is not forwarded); if so, run it from the allowed range at once. */
	pushfq
	movq cnk_fast_lean_local@GOTPCREL(%rip), %r11
	testq %r11, %r11
	jz 7f
	cld
	pushq %rcx
	pushq %rax
	pushq %rdi
	pushq %rsi
	pushq %rdx
	pushq %r10
	pushq %r8
	pushq %r9
	pushq %rbx
	movq %rsp, %rbx
	andq $-16, %rsp
	/* What the C code may touch (the runtime is built for the x86-64
	 * baseline: legacy SSE, which leaves the upper halves alone; see
	 * cnk_fast_lean_local). */
	subq $256, %rsp
	movaps %xmm0, 0(%rsp)
	movaps %xmm1, 16(%rsp)
	movaps %xmm2, 32(%rsp)
	movaps %xmm3, 48(%rsp)
	movaps %xmm4, 64(%rsp)
	movaps %xmm5, 80(%rsp)
	movaps %xmm6, 96(%rsp)
	movaps %xmm7, 112(%rsp)
	movaps %xmm8, 128(%rsp)
	movaps %xmm9, 144(%rsp)
	movaps %xmm10, 160(%rsp)
	movaps %xmm11, 176(%rsp)
	movaps %xmm12, 192(%rsp)
	movaps %xmm13, 208(%rsp)
	movaps %xmm14, 224(%rsp)
	movaps %xmm15, 240(%rsp)
	/* cnk_fast_lean_local(nr, a0, a1, a2, a3, a4, a5) */
	subq $8, %rsp
	pushq %r9
	movq %r8, %r9
	movq %r10, %r8
	movq %rdx, %rcx
	movq %rsi, %rdx
	movq %rdi, %rsi
	movq %rax, %rdi
	call *%r11
	addq $16, %rsp
	movl %eax, %r11d
	movaps 0(%rsp), %xmm0
	movaps 16(%rsp), %xmm1
	movaps 32(%rsp), %xmm2
	movaps 48(%rsp), %xmm3
	movaps 64(%rsp), %xmm4
	movaps 80(%rsp), %xmm5
	movaps 96(%rsp), %xmm6
	movaps 112(%rsp), %xmm7
	movaps 128(%rsp), %xmm8
	movaps 144(%rsp), %xmm9
	movaps 160(%rsp), %xmm10
	movaps 176(%rsp), %xmm11
	movaps 192(%rsp), %xmm12
	movaps 208(%rsp), %xmm13
	movaps 224(%rsp), %xmm14
	movaps 240(%rsp), %xmm15
	movq %rbx, %rsp
	popq %rbx
	popq %r9
	popq %r8
	popq %r10
	popq %rdx
	popq %rsi
	popq %rdi
	popq %rax
	popq %rcx
	testl %r11d, %r11d
	jz 7f
	popfq
	jmp cnk_fast_lean_native
7:	popfq
	movq cnk_tb@gottpoff(%rip), %r11
	leaq -TRAP_FRAME_SIZE(%rsp), %rsp
	movq %rax, F_NR(%rsp)
	movq %rdi, F_A0(%rsp)
	movq %rsi, F_A1(%rsp)
	movq %rdx, F_A2(%rsp)
	movq %r10, F_A3(%rsp)
	movq %r8, F_A4(%rsp)
	movq %r9, F_A5(%rsp)
	movq %rcx, F_RIP(%rsp)
	leaq TRAP_FRAME_SIZE+RED_ZONE(%rsp), %rcx
	movq %rcx, F_RSP(%rsp)
	movb $SELECTOR_ALLOW, %fs:TB_SELECTOR(%r11)
	jmp cnk_trampoline
	.cfi_endproc
	.size cnk_fast_entry, . - cnk_fast_entry

	/* interpose.c, in libferry.so only: the mechanism's tests link
	 * without it, and then every call takes the full path. */
	.weak cnk_fast_lean_local
	.hidden cnk_fast_lean_local

	.section .note.GNU-stack, "", @progbits
