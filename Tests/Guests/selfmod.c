/* Self-modifying code: instructions written into a RAM buffer, made visible with
 * DC CVAU / DSB ISH / IC IVAU / DSB ISH / ISB, called, rewritten (a constant, an opcode, a
 * branch target, a whole function) after they have run many times, and called again.
 * SPDX-License-Identifier: GPL-2.0-or-later */
#include "rt.h"

static uint32_t code[256] __attribute__((aligned(64)));

typedef uint64_t (*fn2)(uint64_t, uint64_t);

static void sync_code(void *start, size_t bytes)
{
    uint64_t ctr = SYSREG_READ(ctr_el0);
    uintptr_t dline = 4u << (ctr >> 16 & 15), iline = 4u << (ctr & 15);
    uintptr_t begin = (uintptr_t)start, end = begin + bytes;
    for (uintptr_t p = begin & ~(dline - 1); p < end; p += dline)
        __asm__ volatile("dc cvau, %0" : : "r"(p) : "memory");
    __asm__ volatile("dsb ish" ::: "memory");
    for (uintptr_t p = begin & ~(iline - 1); p < end; p += iline)
        __asm__ volatile("ic ivau, %0" : : "r"(p) : "memory");
    __asm__ volatile("dsb ish\n\tisb" ::: "memory");
}

/* Encoders for the few instructions used. */
static uint32_t movz(unsigned rd, unsigned imm16, unsigned shift) { return 0xd2800000u | (shift / 16) << 21 | imm16 << 5 | rd; }
static uint32_t movk(unsigned rd, unsigned imm16, unsigned shift) { return 0xf2800000u | (shift / 16) << 21 | imm16 << 5 | rd; }
static uint32_t add_reg(unsigned rd, unsigned rn, unsigned rm) { return 0x8b000000u | rm << 16 | rn << 5 | rd; }
static uint32_t sub_reg(unsigned rd, unsigned rn, unsigned rm) { return 0xcb000000u | rm << 16 | rn << 5 | rd; }
static uint32_t mul_reg(unsigned rd, unsigned rn, unsigned rm) { return 0x9b007c00u | rm << 16 | rn << 5 | rd; }
static uint32_t eor_reg(unsigned rd, unsigned rn, unsigned rm) { return 0xca000000u | rm << 16 | rn << 5 | rd; }
static uint32_t branch(int words) { return 0x14000000u | ((uint32_t)words & 0x3ffffff); }
static uint32_t subs_imm(unsigned rd, unsigned rn, unsigned imm12) { return 0xf1000000u | imm12 << 10 | rn << 5 | rd; }
static uint32_t bne(int words) { return 0x54000001u | ((uint32_t)words & 0x7ffff) << 5; }
#define RET 0xd65f03c0u

int main(void)
{
    fn2 f = (fn2)(void *)code;

    /* f(a, b) = (a + b) * b + K */
    code[0] = add_reg(2, 0, 1);
    code[1] = mul_reg(2, 2, 1);
    code[2] = movz(3, 0x1234, 0);
    code[3] = add_reg(0, 2, 3);
    code[4] = RET;
    sync_code(code, 5 * 4);
    uint64_t sum = 0;
    for (uint64_t i = 0; i < 1000; i++)
        sum += f(i, 3);
    printf("v1: f(5,3)=%lx sum=%lu\n", f(5, 3), sum);

    code[2] = movz(3, 0xbeef, 16); /* new constant */
    sync_code(&code[2], 4);
    printf("v2: f(5,3)=%lx\n", f(5, 3));

    code[1] = eor_reg(2, 2, 1); /* mul -> eor */
    code[3] = sub_reg(0, 2, 3);  /* add -> sub */
    sync_code(code, 5 * 4);
    printf("v3: f(5,3)=%lx\n", f(5, 3));

    /* A loop: x0 = a; repeat b times: x0 = x0 * 3 + 1. Then patch the loop body. */
    uint32_t *g = &code[64];
    g[0] = movz(3, 3, 0);
    g[1] = mul_reg(0, 0, 3);     /* loop: */
    g[2] = movz(4, 1, 0);
    g[3] = add_reg(0, 0, 4);
    g[4] = subs_imm(1, 1, 1);
    g[5] = bne(-4);
    g[6] = RET;
    sync_code(g, 7 * 4);
    fn2 h = (fn2)(void *)g;
    uint64_t r1 = h(1, 30);
    for (int i = 0; i < 200; i++)
        h((uint64_t)i, 50);
    g[2] = movz(4, 7, 0);      /* +1 -> +7 */
    sync_code(&g[2], 4);
    uint64_t r2 = h(1, 30);
    g[5] = branch(1);          /* loop exit: run the body once */
    sync_code(&g[5], 4);
    uint64_t r3 = h(1, 30);
    printf("loop: %lx %lx %lx\n", r1, r2, r3);

    /* A branch that jumps over the constant load, then is turned into a NOP. */
    uint32_t *k = &code[128];
    k[0] = movz(0, 1, 0);
    k[1] = branch(2);
    k[2] = movk(0, 0xffff, 48);
    k[3] = RET;
    sync_code(k, 16);
    uint64_t before = ((uint64_t(*)(void))(void *)k)();
    k[1] = 0xd503201fu; /* nop */
    sync_code(&k[1], 4);
    uint64_t after = ((uint64_t(*)(void))(void *)k)();
    printf("branch patched to nop: %lx -> %lx\n", before, after);

    /* Many generations of one function, each returning its generation number. */
    uint64_t total = 0;
    for (unsigned gen = 0; gen < 64; gen++) {
        code[192] = movz(0, gen * 3 + 1, 0);
        code[193] = RET;
        sync_code(&code[192], 8);
        total += ((uint64_t(*)(void))(void *)&code[192])();
    }
    printf("64 generations: total %lu\n", total);
    return 0;
}
