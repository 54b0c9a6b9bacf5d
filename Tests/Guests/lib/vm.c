/* A small stack bytecode interpreter and its sample programs.
 * SPDX-License-Identifier: GPL-2.0-or-later */
#include "vm.h"
#include "rt.h"

#define STACK_MAX 256
#define FRAMES_MAX 128
#define LOCALS 4

static int64_t memory[VM_MEMORY_CELLS];

void vm_begin(struct vm_program *p)
{
    p->len = 0;
    p->nfixups = 0;
    for (int i = 0; i < VM_LABELS; i++)
        p->label_at[i] = -1;
}

void vm_emit(struct vm_program *p, enum vm_op op, int32_t operand)
{
    if (p->len >= VM_CODE_MAX)
        fail("vm program too long");
    p->code[p->len++] = (uint32_t)op | (uint32_t)operand << 8;
}

void vm_label(struct vm_program *p, int label)
{
    p->label_at[label] = p->len;
}

void vm_jump(struct vm_program *p, enum vm_op op, int label)
{
    p->fixups[p->nfixups].at = p->len;
    p->fixups[p->nfixups].label = label;
    p->nfixups++;
    vm_emit(p, op, 0);
}

void vm_end(struct vm_program *p)
{
    for (int i = 0; i < p->nfixups; i++) {
        int target = p->label_at[p->fixups[i].label];
        if (target < 0)
            fail("vm label not defined");
        p->code[p->fixups[i].at] |= (uint32_t)target << 8;
    }
}

void vm_run(const struct vm_program *p, uint64_t max_steps, struct vm_result *r)
{
    int64_t stack[STACK_MAX];
    int64_t locals[FRAMES_MAX][LOCALS];
    int return_to[FRAMES_MAX];
    int sp = 0, frame = 0, pc = 0;
    uint64_t steps = 0;

    r->nout = 0;
    r->out_hash = 0;
    for (int i = 0; i < LOCALS; i++)
        locals[0][i] = 0;
    for (int i = 0; i < VM_MEMORY_CELLS; i++)
        memory[i] = 0;

#define NEED(k) do { if (sp < (k)) { r->status = VM_STACK; goto out; } } while (0)
#define ROOM() do { if (sp >= STACK_MAX) { r->status = VM_STACK; goto out; } } while (0)
#define BINARY(expr) do { NEED(2); uint64_t b = (uint64_t)stack[--sp], a = (uint64_t)stack[sp - 1]; \
                          stack[sp - 1] = (int64_t)(expr); } while (0)
    for (;;) {
        if (steps++ == max_steps) {
            r->status = VM_STEPS;
            goto out;
        }
        if (pc < 0 || pc >= p->len) {
            r->status = VM_BAD_OPCODE;
            goto out;
        }
        uint32_t insn = p->code[pc++];
        int32_t operand = (int32_t)insn >> 8;
        switch ((enum vm_op)(insn & 0xff)) {
        case VM_HALT:
            r->status = VM_OK;
            goto out;
        case VM_PUSH:
            ROOM();
            stack[sp++] = operand;
            break;
        case VM_DUP:
            NEED(1);
            ROOM();
            stack[sp] = stack[sp - 1];
            sp++;
            break;
        case VM_DROP:
            NEED(1);
            sp--;
            break;
        case VM_SWAP: {
            NEED(2);
            int64_t t = stack[sp - 1];
            stack[sp - 1] = stack[sp - 2];
            stack[sp - 2] = t;
            break;
        }
        case VM_OVER:
            NEED(2);
            ROOM();
            stack[sp] = stack[sp - 2];
            sp++;
            break;
        case VM_LOAD:
            ROOM();
            stack[sp++] = locals[frame][operand & (LOCALS - 1)];
            break;
        case VM_STORE:
            NEED(1);
            locals[frame][operand & (LOCALS - 1)] = stack[--sp];
            break;
        case VM_LOADM: {
            NEED(1);
            uint64_t addr = (uint64_t)stack[sp - 1];
            if (addr >= VM_MEMORY_CELLS) {
                r->status = VM_MEMORY;
                goto out;
            }
            stack[sp - 1] = memory[addr];
            break;
        }
        case VM_STOREM: {
            NEED(2);
            int64_t v = stack[--sp];
            uint64_t addr = (uint64_t)stack[--sp];
            if (addr >= VM_MEMORY_CELLS) {
                r->status = VM_MEMORY;
                goto out;
            }
            memory[addr] = v;
            break;
        }
        case VM_ADD: BINARY(a + b); break;
        case VM_SUB: BINARY(a - b); break;
        case VM_MUL: BINARY(a * b); break;
        case VM_DIV:
        case VM_MOD: {
            NEED(2);
            int64_t b = stack[--sp], a = stack[sp - 1];
            if (b == 0) {
                r->status = VM_DIV_ZERO;
                goto out;
            }
            if (b == -1) /* INT64_MIN / -1 wraps instead of trapping */
                stack[sp - 1] = (insn & 0xff) == VM_DIV ? (int64_t)(0 - (uint64_t)a) : 0;
            else
                stack[sp - 1] = (insn & 0xff) == VM_DIV ? a / b : a % b;
            break;
        }
        case VM_NEG:
            NEED(1);
            stack[sp - 1] = (int64_t)(0 - (uint64_t)stack[sp - 1]);
            break;
        case VM_AND: BINARY(a & b); break;
        case VM_OR: BINARY(a | b); break;
        case VM_XOR: BINARY(a ^ b); break;
        case VM_SHL: BINARY(a << (b & 63)); break;
        case VM_SHR: BINARY((int64_t)a >> (b & 63)); break;
        case VM_LT: BINARY((int64_t)a < (int64_t)b); break;
        case VM_LE: BINARY((int64_t)a <= (int64_t)b); break;
        case VM_EQ: BINARY(a == b); break;
        case VM_NOT:
            NEED(1);
            stack[sp - 1] = !stack[sp - 1];
            break;
        case VM_JMP:
            pc = operand;
            break;
        case VM_JZ:
            NEED(1);
            if (stack[--sp] == 0)
                pc = operand;
            break;
        case VM_JNZ:
            NEED(1);
            if (stack[--sp] != 0)
                pc = operand;
            break;
        case VM_CALL:
            if (frame + 1 >= FRAMES_MAX) {
                r->status = VM_STACK;
                goto out;
            }
            return_to[++frame] = pc;
            pc = operand;
            break;
        case VM_RET:
            if (frame == 0) {
                r->status = VM_STACK;
                goto out;
            }
            pc = return_to[frame--];
            break;
        case VM_OUT:
            NEED(1);
            sp--;
            if (r->nout < (int)ARRAY_SIZE(r->out))
                r->out[r->nout] = stack[sp];
            r->nout++;
            r->out_hash = (r->out_hash ^ (uint64_t)stack[sp]) * 0x100000001b3ULL;
            break;
        default:
            r->status = VM_BAD_OPCODE;
            goto out;
        }
    }
out:
    r->steps = steps;
#undef NEED
#undef ROOM
#undef BINARY
}

/* ---- sample programs ---- */

#define E(op, k) vm_emit(p, VM_##op, k)
#define J(op, l) vm_jump(p, VM_##op, l)
#define L(l) vm_label(p, l)

void vm_sum_squares(struct vm_program *p, int32_t n)
{
    enum { LOOP, END };
    vm_begin(p);
    E(PUSH, 0), E(STORE, 1), E(PUSH, 1), E(STORE, 0);
    L(LOOP);
    E(LOAD, 0), E(PUSH, n), E(LE, 0), J(JZ, END);
    E(LOAD, 0), E(DUP, 0), E(MUL, 0), E(LOAD, 1), E(ADD, 0), E(STORE, 1);
    E(LOAD, 0), E(PUSH, 1), E(ADD, 0), E(STORE, 0), J(JMP, LOOP);
    L(END);
    E(LOAD, 1), E(OUT, 0), E(HALT, 0);
    vm_end(p);
}

void vm_fib(struct vm_program *p, int32_t n)
{
    enum { FIB, RECURSE };
    vm_begin(p);
    E(PUSH, n), J(CALL, FIB), E(OUT, 0), E(HALT, 0);
    L(FIB);
    E(STORE, 0), E(LOAD, 0), E(PUSH, 2), E(LT, 0), J(JZ, RECURSE);
    E(LOAD, 0), E(RET, 0);
    L(RECURSE);
    E(LOAD, 0), E(PUSH, 1), E(SUB, 0), J(CALL, FIB);
    E(LOAD, 0), E(PUSH, 2), E(SUB, 0), J(CALL, FIB);
    E(ADD, 0), E(RET, 0);
    vm_end(p);
}

void vm_collatz(struct vm_program *p, int32_t n)
{
    enum { OUTER, INNER, EVEN, COUNT, NEXT, DONE };
    vm_begin(p);
    E(PUSH, 0), E(STORE, 2), E(PUSH, 1), E(STORE, 0);
    L(OUTER);
    E(LOAD, 0), E(PUSH, n), E(LE, 0), J(JZ, DONE);
    E(LOAD, 0), E(STORE, 1);
    L(INNER);
    E(LOAD, 1), E(PUSH, 1), E(EQ, 0), J(JNZ, NEXT);
    E(LOAD, 1), E(PUSH, 1), E(AND, 0), J(JZ, EVEN);
    E(LOAD, 1), E(PUSH, 3), E(MUL, 0), E(PUSH, 1), E(ADD, 0), E(STORE, 1), J(JMP, COUNT);
    L(EVEN);
    E(LOAD, 1), E(PUSH, 1), E(SHR, 0), E(STORE, 1);
    L(COUNT);
    E(LOAD, 2), E(PUSH, 1), E(ADD, 0), E(STORE, 2), J(JMP, INNER);
    L(NEXT);
    E(LOAD, 0), E(PUSH, 1), E(ADD, 0), E(STORE, 0), J(JMP, OUTER);
    L(DONE);
    E(LOAD, 2), E(OUT, 0), E(HALT, 0);
    vm_end(p);
}

void vm_sieve(struct vm_program *p, int32_t n)
{
    enum { OUTER, INNER, NEXT, DONE };
    vm_begin(p);
    E(PUSH, 0), E(STORE, 2), E(PUSH, 2), E(STORE, 0);
    L(OUTER);
    E(LOAD, 0), E(PUSH, n), E(LT, 0), J(JZ, DONE);
    E(LOAD, 0), E(LOADM, 0), J(JNZ, NEXT);
    E(LOAD, 2), E(PUSH, 1), E(ADD, 0), E(STORE, 2);
    E(LOAD, 0), E(DUP, 0), E(MUL, 0), E(STORE, 1);
    L(INNER);
    E(LOAD, 1), E(PUSH, n), E(LT, 0), J(JZ, NEXT);
    E(LOAD, 1), E(PUSH, 1), E(STOREM, 0);
    E(LOAD, 1), E(LOAD, 0), E(ADD, 0), E(STORE, 1), J(JMP, INNER);
    L(NEXT);
    E(LOAD, 0), E(PUSH, 1), E(ADD, 0), E(STORE, 0), J(JMP, OUTER);
    L(DONE);
    E(LOAD, 2), E(OUT, 0), E(HALT, 0);
    vm_end(p);
}

void vm_gcd_sum(struct vm_program *p, int32_t n)
{
    enum { LOOP_A, LOOP_B, NEXT_A, DONE, GCD, GCD_LOOP, GCD_DONE };
    vm_begin(p);
    E(PUSH, 0), E(STORE, 2), E(PUSH, 1), E(STORE, 0);
    L(LOOP_A);
    E(LOAD, 0), E(PUSH, n), E(LE, 0), J(JZ, DONE);
    E(PUSH, 1), E(STORE, 1);
    L(LOOP_B);
    E(LOAD, 1), E(PUSH, n), E(LE, 0), J(JZ, NEXT_A);
    E(LOAD, 0), E(LOAD, 1), J(CALL, GCD), E(LOAD, 2), E(ADD, 0), E(STORE, 2);
    E(LOAD, 1), E(PUSH, 1), E(ADD, 0), E(STORE, 1), J(JMP, LOOP_B);
    L(NEXT_A);
    E(LOAD, 0), E(PUSH, 1), E(ADD, 0), E(STORE, 0), J(JMP, LOOP_A);
    L(DONE);
    E(LOAD, 2), E(OUT, 0), E(HALT, 0);
    L(GCD); /* (a b -- gcd) */
    E(STORE, 1), E(STORE, 0);
    L(GCD_LOOP);
    E(LOAD, 1), J(JZ, GCD_DONE);
    E(LOAD, 0), E(LOAD, 1), E(MOD, 0), E(LOAD, 1), E(STORE, 0), E(STORE, 1), J(JMP, GCD_LOOP);
    L(GCD_DONE);
    E(LOAD, 0), E(RET, 0);
    vm_end(p);
}

void vm_mix(struct vm_program *p, int32_t n)
{
    enum { LOOP, SKIP, DONE };
    vm_begin(p);
    E(PUSH, 12345), E(STORE, 1), E(PUSH, -50), E(STORE, 0);
    L(LOOP);
    E(LOAD, 0), E(PUSH, n), E(LT, 0), J(JZ, DONE);
    /* h = ((h ^ i) * 31 + (i << 3)) / 3 - -(i % 7), with a rotate-like fold to keep bits moving */
    E(LOAD, 1), E(LOAD, 0), E(XOR, 0), E(PUSH, 31), E(MUL, 0);
    E(LOAD, 0), E(PUSH, 3), E(SHL, 0), E(ADD, 0), E(PUSH, 3), E(DIV, 0);
    E(LOAD, 0), E(PUSH, 7), E(MOD, 0), E(NEG, 0), E(SUB, 0);
    E(DUP, 0), E(PUSH, 40), E(SHR, 0), E(XOR, 0), E(STORE, 1);
    E(LOAD, 0), E(PUSH, 37), E(MOD, 0), J(JNZ, SKIP);
    E(LOAD, 1), E(OUT, 0);
    L(SKIP);
    E(LOAD, 0), E(PUSH, 1), E(ADD, 0), E(STORE, 0), J(JMP, LOOP);
    L(DONE);
    E(LOAD, 1), E(OUT, 0), E(HALT, 0);
    vm_end(p);
}
