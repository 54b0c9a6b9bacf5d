/* Loads and stores in every addressing form: unsigned offset, unscaled (LDUR), pre/post-index
 * writeback, register offset with LSL/UXTW/SXTW/SXTX, sign-extending loads to W and X, pairs
 * (LDP/STP/LDPSW, pre/post-index), PC-relative literals, ADR/ADRP, acquire/release forms,
 * and structure copies as gcc emits them.
 * SPDX-License-Identifier: GPL-2.0-or-later */
#include "rt.h"

static uint8_t buf[256] __attribute__((aligned(16)));

static void fill(void)
{
    for (int i = 0; i < 256; i++)
        buf[i] = (uint8_t)(0xc0 + i * 7);
}

static uint64_t checksum(void)
{
    uint64_t h = 0;
    for (int i = 0; i < 256; i++)
        h = h * 257 + buf[i];
    return h;
}

struct big_struct {
    uint64_t a[5];
    uint32_t b;
    uint8_t c[13];
};

static NOINLINE struct big_struct make_struct(int seed)
{
    struct big_struct s;
    for (int i = 0; i < 5; i++)
        s.a[i] = (uint64_t)seed * 0x1111111111111111ULL + (uint64_t)i;
    s.b = (uint32_t)seed * 77;
    for (int i = 0; i < 13; i++)
        s.c[i] = (uint8_t)(seed + i);
    return s;
}

int main(void)
{
    fill();
    uint8_t *base = buf + 64;
    uint64_t x0, x1, x2, x3, x4, x5, x6, x7;

    /* Sign and zero extension from each size. */
    __asm__ volatile("ldrb %w0, [%8]\n\tldrsb %w1, [%8]\n\tldrsb %2, [%8]\n\tldrh %w3, [%8, #2]\n\t"
                     "ldrsh %w4, [%8, #2]\n\tldrsh %5, [%8, #2]\n\tldrsw %6, [%8, #4]\n\tldr %w7, [%8, #4]"
                     : "=&r"(x0), "=&r"(x1), "=&r"(x2), "=&r"(x3), "=&r"(x4), "=&r"(x5), "=&r"(x6), "=&r"(x7)
                     : "r"(base));
    printf("extend: ldrb=%lx ldrsb.w=%lx ldrsb.x=%lx ldrh=%lx ldrsh.w=%lx ldrsh.x=%lx ldrsw=%lx ldr.w=%lx\n",
           x0, x1, x2, x3, x4, x5, x6, x7);

    /* Unscaled negative offsets and the largest scaled offsets. */
    __asm__ volatile("ldur %0, [%4, #-9]\n\tldurh %w1, [%4, #-63]\n\tldr %2, [%5, #32760]\n\tldurb %w3, [%4, #191]"
                     : "=&r"(x0), "=&r"(x1), "=&r"(x2), "=&r"(x3) : "r"(base), "r"(OPAQUE((uintptr_t)base) - 32752));
    printf("unscaled: %lx %lx %lx %lx\n", x0, x1, x2, x3);

    /* Pre- and post-index writeback. */
    uint8_t *p = base;
    __asm__ volatile("ldr %0, [%2, #8]!\n\tldr %1, [%2], #-24" : "=&r"(x0), "=&r"(x1), "+r"(p));
    printf("writeback: %lx %lx p-base=%ld\n", x0, x1, (long)(p - base));
    p = base;
    __asm__ volatile("str %2, [%0, #-16]!\n\tstrh %w2, [%0], #5\n\tstrb %w2, [%0, #1]!\n\tldrb %w1, [%0], #-1"
                     : "+r"(p), "=&r"(x1) : "r"(0x1122334455667788ULL) : "memory");
    printf("store writeback: p-base=%ld loaded=%lx sum=%016lx\n", (long)(p - base), x1, checksum());
    fill();

    /* Register offsets with extends. */
    uint64_t idx = 3;
    int64_t neg = -5;
    uint32_t widx = 0xfffffffe; /* -2 as SXTW, 4294967294 as UXTW */
    __asm__ volatile("ldr %0, [%4, %5, lsl #3]\n\tldr %w1, [%4, %w6, sxtw #2]\n\tldrh %w2, [%4, %7, sxtx #1]\n\t"
                     "ldrb %w3, [%4, %5]"
                     : "=&r"(x0), "=&r"(x1), "=&r"(x2), "=&r"(x3)
                     : "r"(base), "r"(idx), "r"(widx), "r"(neg));
    printf("register offset: %lx %lx %lx %lx\n", x0, x1, x2, x3);
    uint8_t *low = buf;
    uint32_t small = 9;
    __asm__ volatile("ldr %0, [%1, %w2, uxtw #3]" : "=r"(x0) : "r"(low), "r"(small));
    printf("uxtw: %lx\n", x0);

    /* Pairs. */
    __asm__ volatile("ldp %0, %1, [%4, #-16]\n\tldp %w2, %w3, [%4, #8]" : "=&r"(x0), "=&r"(x1), "=&r"(x2), "=&r"(x3)
                     : "r"(base));
    printf("ldp: %lx %lx %lx %lx\n", x0, x1, x2, x3);
    __asm__ volatile("ldpsw %0, %1, [%2]" : "=&r"(x0), "=&r"(x1) : "r"(base + 4));
    printf("ldpsw: %lx %lx\n", x0, x1);
    p = base;
    __asm__ volatile("stp %1, %2, [%0, #-32]!\n\tstp %w2, %w1, [%0], #48\n\tldp %1, %2, [%0, #-48]"
                     : "+r"(p), "+r"(x0), "+r"(x1) : : "memory");
    printf("stp/ldp writeback: p-base=%ld %lx %lx sum=%016lx\n", (long)(p - base), x0, x1, checksum());
    fill();
    __uint128_t q;
    __asm__ volatile("ldr %q0, [%1, #16]" : "=w"(q) : "r"(base));
    printf("ldr q: %016lx%016lx\n", (uint64_t)(q >> 64), (uint64_t)q);
    double d0, d1;
    __asm__ volatile("ldp %d0, %d1, [%2, #-8]" : "=&w"(d0), "=&w"(d1) : "r"(base));
    uint64_t b0, b1;
    __builtin_memcpy(&b0, &d0, 8);
    __builtin_memcpy(&b1, &d1, 8);
    printf("ldp d: %lx %lx\n", b0, b1);
    __asm__ volatile("stp %q1, %q1, [%0, #32]" : : "r"(base), "w"(q) : "memory");
    printf("stp q: sum=%016lx\n", checksum());
    fill();

    /* Literals and PC-relative addresses. */
    uint64_t lit, adr_diff;
    uint32_t litw;
    int64_t litsw;
    __asm__ volatile("ldr %0, 1f\n\tldr %w1, 2f\n\tldrsw %2, 2f\n\tb 3f\n\t.balign 8\n1:\t.quad 0xfedcba9876543210\n"
                     "2:\t.word 0x89abcdef\n3:"
                     : "=r"(lit), "=r"(litw), "=r"(litsw));
    uint64_t adr_addr, adrp_addr;
    __asm__ volatile("adr %0, buf\n\tadrp %1, buf\n\tadd %1, %1, :lo12:buf" : "=r"(adr_addr), "=r"(adrp_addr));
    adr_diff = adr_addr - adrp_addr;
    printf("literal: %lx %x %lx adr==adrp+lo12: %s\n", lit, litw, litsw, adr_diff == 0 ? "yes" : "NO");

    /* Acquire/release and non-temporal forms behave like plain accesses here. */
    uint64_t v = 0xabcdef;
    __asm__ volatile("stlr %1, [%2]\n\tldar %0, [%2]" : "=r"(x0) : "r"(v), "r"(base) : "memory");
    __asm__ volatile("stlrb %w1, [%2]\n\tldarb %w0, [%2]" : "=r"(x1) : "r"(0x1ff), "r"(base + 8) : "memory");
    __asm__ volatile(".arch_extension rcpc\n\tldapr %0, [%1]" : "=r"(x2) : "r"(base));
    x4 = 0x1234;
    __asm__ volatile("stnp %2, %1, [%3]\n\tldnp %0, %1, [%3]" : "=&r"(x3), "+r"(x4) : "r"(v), "r"(base + 16) : "memory");
    printf("acquire/release: %lx %lx %lx ldnp=%lx,%lx\n", x0, x1, x2, x3, x4);
    fill();

    /* Unprivileged loads from EL1 (LDTR) act as EL0 accesses; with the MMU off they succeed. */
    __asm__ volatile("ldtr %0, [%1, #8]" : "=r"(x0) : "r"(base));
    printf("ldtr: %lx\n", x0);

    /* Structure copies and returns: gcc uses LDP/STP of X or Q registers. */
    struct big_struct s1 = make_struct(OPAQUE(3)), s2;
    s2 = s1;
    s2.c[12] ^= 0xff;
    struct big_struct s3 = make_struct(OPAQUE(4));
    printf("struct: %lx %x %x %x | %lx %x\n", s2.a[4], s2.b, s2.c[0], s2.c[12], s3.a[0], s3.c[7]);

    /* Byte-wise stores that a compiler may merge, reloaded at every width. */
    for (int i = 0; i < 16; i++)
        buf[i] = (uint8_t)(i * 0x11);
    volatile uint64_t *w64 = (volatile uint64_t *)buf;
    volatile uint32_t *w32 = (volatile uint32_t *)buf;
    volatile uint16_t *w16 = (volatile uint16_t *)buf;
    printf("widths: %016lx %016lx %08x %08x %04x %04x\n", w64[0], w64[1], w32[1], w32[2], w16[3], w16[7]);
    return 0;
}
