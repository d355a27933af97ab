/* SPDX-License-Identifier: Apache-2.0 */
/*
 * long cnk_call_on_stack(long (*fn)(void *), void *arg, void *stack_top)
 *
 * Run fn(arg) on another stack and come back.  Forwarded calls need tens of
 * KiB of stack (the rpc client and the fabric provider below it); the
 * calling thread may have far less (glibc's AIO helpers get ~20 KiB).
 * stack_top must be 16-byte aligned.
 */
	.text
	.globl	cnk_call_on_stack
	.hidden	cnk_call_on_stack
	.type	cnk_call_on_stack, @function
cnk_call_on_stack:
	.cfi_startproc
	pushq	%rbp
	.cfi_def_cfa_offset 16
	.cfi_offset %rbp, -16
	movq	%rsp, %rbp
	.cfi_def_cfa_register %rbp
	movq	%rdx, %rsp
	subq	$16, %rsp		/* keep the call 16-byte aligned */
	movq	%rdi, %rax
	movq	%rsi, %rdi
	call	*%rax
	movq	%rbp, %rsp
	popq	%rbp
	.cfi_def_cfa %rsp, 8
	ret
	.cfi_endproc
	.size	cnk_call_on_stack, .-cnk_call_on_stack

	.section .note.GNU-stack,"",@progbits
