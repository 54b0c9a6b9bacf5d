/* Exclusives and LSE atomics (built with -march=armv8.2-a, which includes LSE; cortex-a76 has
 * it): LDXR/STXR retry loops of every size, LDXP/STXP, CLREX making a store-exclusive fail,
 * and each LSE operation (LDADD, LDCLR, LDEOR, LDSET, LDSMAX, LDSMIN, LDUMAX, LDUMIN, SWP,
 * CAS, CASP) with its ordering variants, printing old and new memory values.
 * SPDX-License-Identifier: GPL-2.0-or-later */
#include "rt.h"

static uint64_t mem64[4] __attribute__((aligned(16)));
static uint32_t mem32;
static uint16_t mem16;
static uint8_t mem8;

static uint64_t xadd64(uint64_t *p, uint64_t v, unsigned *retries)
{
    uint64_t old, tmp;
    uint32_t status;
    unsigned tries = 0;
    do {
        tries++;
        __asm__ volatile("ldxr %0, [%3]\n\tadd %1, %0, %4\n\tstxr %w2, %1, [%3]"
                         : "=&r"(old), "=&r"(tmp), "=&r"(status) : "r"(p), "r"(v) : "memory");
    } while (status);
    *retries += tries - 1;
    return old;
}

static void exclusives(void)
{
    unsigned retries = 0;
    mem64[0] = 100;
    for (uint64_t i = 1; i <= 1000; i++)
        xadd64(&mem64[0], i, &retries);
    printf("ldxr/stxr x: %lu (retries %u)\n", mem64[0], retries);

    uint32_t old32, status;
    mem32 = 0xfffffff0;
    for (int i = 0; i < 40; i++)
        do {
            __asm__ volatile("ldaxr %w0, [%2]\n\tadd %w0, %w0, #1\n\tstlxr %w1, %w0, [%2]"
                             : "=&r"(old32), "=&r"(status) : "r"(&mem32) : "memory");
        } while (status);
    printf("ldaxr/stlxr w: %08x\n", mem32);

    uint32_t v16, v8;
    mem16 = 0xfff0;
    mem8 = 0xf0;
    for (int i = 0; i < 20; i++) {
        do {
            __asm__ volatile("ldxrh %w0, [%2]\n\tadd %w0, %w0, #3\n\tstxrh %w1, %w0, [%2]"
                             : "=&r"(v16), "=&r"(status) : "r"(&mem16) : "memory");
        } while (status);
        do {
            __asm__ volatile("ldxrb %w0, [%2]\n\teor %w0, %w0, #0x4\n\tadd %w0, %w0, #1\n\tstxrb %w1, %w0, [%2]"
                             : "=&r"(v8), "=&r"(status) : "r"(&mem8) : "memory");
        } while (status);
    }
    printf("ldxrh/ldxrb: %04x %02x\n", mem16, mem8);

    /* Pair: swap the two halves atomically. */
    uint64_t lo, hi;
    mem64[2] = 0x1111111111111111ULL;
    mem64[3] = 0x2222222222222222ULL;
    do {
        __asm__ volatile("ldxp %0, %1, [%3]\n\tstxp %w2, %1, %0, [%3]"
                         : "=&r"(lo), "=&r"(hi), "=&r"(status) : "r"(&mem64[2]) : "memory");
    } while (status);
    printf("ldxp/stxp: old %lx %lx new %lx %lx\n", lo, hi, mem64[2], mem64[3]);

    /* CLREX between load and store: the store must fail and leave memory alone. */
    mem64[1] = 5;
    uint64_t v;
    __asm__ volatile("ldxr %0, [%2]\n\tclrex\n\tstxr %w1, %0, [%2]"
                     : "=&r"(v), "=&r"(status) : "r"(&mem64[1]) : "memory");
    printf("after clrex: status=%u value=%lu\n", status, mem64[1]);
    /* A second store-exclusive after a successful one fails too: the monitor is spent. */
    uint32_t s1, s2;
    __asm__ volatile("ldxr %0, [%3]\n\tadd %0, %0, #1\n\tstxr %w1, %0, [%3]\n\tstxr %w2, %0, [%3]"
                     : "=&r"(v), "=&r"(s1), "=&r"(s2) : "r"(&mem64[1]) : "memory");
    printf("double stxr: first=%u second=%u value=%lu\n", s1, s2, mem64[1]);
}

#define LSE64(op)                                                                                \
    do {                                                                                         \
        uint64_t old;                                                                            \
        mem64[0] = start;                                                                        \
        __asm__ volatile(op " %1, %0, [%2]" : "=&r"(old) : "r"(operand), "r"(&mem64[0]) : "memory"); \
        printf("%-8s %016lx, %016lx: old=%016lx new=%016lx\n", op, start, operand, old, mem64[0]); \
    } while (0)

#define LSE32(op)                                                                                \
    do {                                                                                         \
        uint32_t old;                                                                            \
        mem32 = (uint32_t)start;                                                                 \
        __asm__ volatile(op " %w1, %w0, [%2]" : "=&r"(old) : "r"(operand), "r"(&mem32) : "memory"); \
        printf("%-8s w: old=%08x new=%08x\n", op, old, mem32);                                   \
    } while (0)

#define LSE8(op)                                                                                 \
    do {                                                                                         \
        uint32_t old;                                                                            \
        mem8 = (uint8_t)start;                                                                   \
        __asm__ volatile(op " %w1, %w0, [%2]" : "=&r"(old) : "r"(operand), "r"(&mem8) : "memory"); \
        printf("%-8s b: old=%02x new=%02x\n", op, old, mem8);                                    \
    } while (0)

static void lse(uint64_t start, uint64_t operand)
{
    LSE64("ldadd");
    LSE64("ldclr");
    LSE64("ldeor");
    LSE64("ldset");
    LSE64("ldsmax");
    LSE64("ldsmin");
    LSE64("ldumax");
    LSE64("ldumin");
    LSE64("swp");
    LSE64("ldaddal");
    LSE32("ldadda");
    LSE32("ldsmaxl");
    LSE32("lduminal");
    LSE32("swpa");
    LSE8("ldaddb");
    LSE8("ldsmaxb");
    LSE8("ldsminb");
    LSE8("swpalb");
    uint16_t h_old;
    mem16 = (uint16_t)start;
    __asm__ volatile("ldeorh %w1, %w0, [%2]" : "=&r"(h_old) : "r"(operand), "r"(&mem16) : "memory");
    printf("ldeorh   h: old=%04x new=%04x\n", h_old, mem16);
    /* STADD is LDADD with XZR as destination. */
    mem64[0] = start;
    __asm__ volatile("stadd %0, [%1]\n\tstsmax %0, [%1]" : : "r"(operand), "r"(&mem64[0]) : "memory");
    printf("stadd+stsmax: %016lx\n", mem64[0]);
}

static void cas(void)
{
    uint64_t expected, desired = 0xd00d;
    mem64[0] = 0x1234;
    expected = 0x1234;
    __asm__ volatile("cas %0, %1, [%2]" : "+r"(expected) : "r"(desired), "r"(&mem64[0]) : "memory");
    printf("cas hit:  returned %lx, memory %lx\n", expected, mem64[0]);
    expected = 0x9999;
    __asm__ volatile("casal %0, %1, [%2]" : "+r"(expected) : "r"(desired + 1), "r"(&mem64[0]) : "memory");
    printf("cas miss: returned %lx, memory %lx\n", expected, mem64[0]);
    uint32_t e32 = 0xd00d;
    mem32 = 0xd00d;
    __asm__ volatile("casa %w0, %w1, [%2]" : "+r"(e32) : "r"(0xfeedu), "r"(&mem32) : "memory");
    printf("casa w:   returned %x, memory %x\n", e32, mem32);
    uint32_t e8 = 0x7f;
    mem8 = 0x80;
    __asm__ volatile("caslb %w0, %w1, [%2]" : "+r"(e8) : "r"(0x11u), "r"(&mem8) : "memory");
    printf("caslb:    returned %x, memory %x\n", e8, mem8);
    uint32_t e16 = 0xabcd;
    mem16 = 0xabcd;
    __asm__ volatile("cash %w0, %w1, [%2]" : "+r"(e16) : "r"(0x4321u), "r"(&mem16) : "memory");
    printf("cash:     returned %x, memory %x\n", e16, mem16);

    /* CASP: 128-bit compare and swap on an even register pair. */
    mem64[2] = 0xaaaa;
    mem64[3] = 0xbbbb;
    for (int attempt = 0; attempt < 2; attempt++) {
        register uint64_t c0 __asm__("x4") = 0xaaaa;
        register uint64_t c1 __asm__("x5") = attempt ? 0xbbbb : 0xcccc;
        register uint64_t n0 __asm__("x6") = 0x1111;
        register uint64_t n1 __asm__("x7") = 0x2222;
        __asm__ volatile("caspal x4, x5, x6, x7, [%4]" : "+r"(c0), "+r"(c1) : "r"(n0), "r"(n1), "r"(&mem64[2]) : "memory");
        printf("caspal attempt %d: returned %lx %lx, memory %lx %lx\n", attempt, c0, c1, mem64[2], mem64[3]);
    }
}

static void builtins(void)
{
    static uint64_t counter;
    static uint32_t flags;
    uint64_t sum = 0;
    for (uint64_t i = 0; i < 100; i++)
        sum += __atomic_fetch_add(&counter, i, __ATOMIC_SEQ_CST);
    __atomic_fetch_or(&flags, 0x10, __ATOMIC_RELAXED);
    __atomic_fetch_and(&flags, ~0x1u, __ATOMIC_RELEASE);
    uint32_t prev = __atomic_exchange_n(&flags, 0x77, __ATOMIC_ACQ_REL);
    uint32_t expected = 0x77;
    int ok1 = __atomic_compare_exchange_n(&flags, &expected, 0x88, 0, __ATOMIC_SEQ_CST, __ATOMIC_SEQ_CST);
    expected = 0x77;
    int ok2 = __atomic_compare_exchange_n(&flags, &expected, 0x99, 0, __ATOMIC_SEQ_CST, __ATOMIC_SEQ_CST);
    printf("builtins: counter=%lu sum=%lu prev=%x cas1=%d cas2=%d expected=%x flags=%x\n", counter,
           sum, prev, ok1, ok2, expected, flags);
}

int main(void)
{
    exclusives();
    lse(0x00000000000000f0ULL, 0x8000000000000013ULL);
    lse(0xfffffffffffffff0ULL, 0x0000000000000013ULL);
    lse(0x7fffffffffffff80ULL, 0x8000000000000081ULL);
    cas();
    builtins();
    return 0;
}
