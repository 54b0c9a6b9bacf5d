/* A small stack bytecode interpreter with 64-bit values, and the programs the tests run on it.
 * SPDX-License-Identifier: GPL-2.0-or-later
 *
 * An instruction is one 32-bit word: opcode in bits 7:0, signed operand in bits 31:8.
 * Jump and call operands are absolute instruction indexes. */
#ifndef GUEST_VM_H
#define GUEST_VM_H
#include <stdint.h>

enum vm_op {
    VM_HALT, VM_PUSH, VM_DUP, VM_DROP, VM_SWAP, VM_OVER, VM_LOAD, VM_STORE, VM_LOADM, VM_STOREM,
    VM_ADD, VM_SUB, VM_MUL, VM_DIV, VM_MOD, VM_NEG, VM_AND, VM_OR, VM_XOR, VM_SHL, VM_SHR,
    VM_LT, VM_LE, VM_EQ, VM_NOT, VM_JMP, VM_JZ, VM_JNZ, VM_CALL, VM_RET, VM_OUT, VM_OP_COUNT
};

enum vm_status { VM_OK, VM_BAD_OPCODE, VM_STACK, VM_DIV_ZERO, VM_MEMORY, VM_STEPS };

#define VM_CODE_MAX 256
#define VM_LABELS 16
#define VM_MEMORY_CELLS (1 << 16)

struct vm_program {
    uint32_t code[VM_CODE_MAX];
    int len;
    int label_at[VM_LABELS];
    struct { int at, label; } fixups[64];
    int nfixups;
};

struct vm_result {
    enum vm_status status;
    uint64_t steps;
    int nout;            /* values written by VM_OUT */
    int64_t out[16];     /* the first 16 of them */
    uint64_t out_hash;   /* all of them */
};

/* Assembler. */
void vm_begin(struct vm_program *p);
void vm_emit(struct vm_program *p, enum vm_op op, int32_t operand);
void vm_label(struct vm_program *p, int label);
void vm_jump(struct vm_program *p, enum vm_op op, int label); /* VM_JMP, VM_JZ, VM_JNZ, VM_CALL */
void vm_end(struct vm_program *p);

/* Runs p from instruction 0, for at most max_steps instructions. */
void vm_run(const struct vm_program *p, uint64_t max_steps, struct vm_result *r);

/* The sample programs; n scales the work. */
void vm_sum_squares(struct vm_program *p, int32_t n);  /* OUT sum of i*i, 1 <= i <= n */
void vm_fib(struct vm_program *p, int32_t n);          /* OUT fib(n), recursive calls */
void vm_collatz(struct vm_program *p, int32_t n);      /* OUT total Collatz steps of 1..n */
void vm_sieve(struct vm_program *p, int32_t n);        /* OUT number of primes below n */
void vm_gcd_sum(struct vm_program *p, int32_t n);      /* OUT sum of gcd(a,b), 1 <= a,b <= n */
void vm_mix(struct vm_program *p, int32_t n);          /* signed div/mod/shift/xor mix */

#endif
