/* Bit manipulation: clz/ctz/popcount/parity/rbit/bswap builtins and instructions, bitfield
 * structs (BFI/UBFX/SBFX), EXTR, and hand-written bit tricks.
 * SPDX-License-Identifier: GPL-2.0-or-later */
#include "rt.h"

static volatile uint64_t inputs[] = {
    1, 0x8000000000000000ULL, 0xffffffffffffffffULL, 0x00000000ffff0000ULL, 0x123456789abcdef0ULL,
    0x0f0f0f0f0f0f0f0fULL, 0x8000000100000001ULL, 0x00000000000ff000ULL, 0xdeadbeefcafebabeULL,
};

struct packed {
    unsigned a : 3;
    signed b : 5;
    unsigned c : 12;
    signed d : 13;
    unsigned e : 1;
    uint64_t f : 30;
};

static uint64_t rbit64(uint64_t x)
{
    uint64_t r;
    __asm__("rbit %0, %1" : "=r"(r) : "r"(x));
    return r;
}

static uint64_t rbit64_soft(uint64_t x)
{
    uint64_t r = 0;
    for (int i = 0; i < 64; i++)
        r |= ((x >> i) & 1) << (63 - i);
    return r;
}

int main(void)
{
    for (unsigned i = 0; i < ARRAY_SIZE(inputs); i++) {
        uint64_t x = inputs[i];
        uint32_t w = (uint32_t)(x >> 16);
        printf("x=%016lx clz=%d ctz=%d pop=%d par=%d clrsb=%d | w=%08x clz=%d ctz=%d pop=%d clrsb=%d\n",
               x, __builtin_clzll(x), __builtin_ctzll(x), __builtin_popcountll(x),
               __builtin_parityll(x), __builtin_clrsbll((long long)x), w, w ? __builtin_clz(w) : 32,
               w ? __builtin_ctz(w) : 32, __builtin_popcount(w), __builtin_clrsb((int)w));
        uint64_t r16, r32w, rev;
        uint32_t rbw, revw, rev16w;
        __asm__("rev16 %0, %1" : "=r"(r16) : "r"(x));
        __asm__("rev32 %0, %1" : "=r"(r32w) : "r"(x));
        __asm__("rev %0, %1" : "=r"(rev) : "r"(x));
        __asm__("rbit %w0, %w1" : "=r"(rbw) : "r"(w));
        __asm__("rev %w0, %w1" : "=r"(revw) : "r"(w));
        __asm__("rev16 %w0, %w1" : "=r"(rev16w) : "r"(w));
        printf("  bswap64=%016lx bswap32=%08x bswap16=%04x rev16=%016lx rev32=%016lx rev=%016lx\n",
               __builtin_bswap64(x), __builtin_bswap32(w), __builtin_bswap16((uint16_t)w), r16,
               r32w, rev);
        printf("  rbit=%016lx soft=%016lx rbitw=%08x revw=%08x rev16w=%08x\n", rbit64(x),
               rbit64_soft(x), rbw, revw, rev16w);
        uint64_t cls, clz0;
        uint64_t zero = OPAQUE((uint64_t)0);
        __asm__("cls %0, %1" : "=r"(cls) : "r"(x));
        __asm__("clz %0, %1" : "=r"(clz0) : "r"(zero));
        uint64_t e1, e2, e3;
        __asm__("extr %0, %1, %2, #13" : "=r"(e1) : "r"(x), "r"(inputs[4]));
        __asm__("extr %w0, %w1, %w2, #7" : "=r"(e2) : "r"(x), "r"(inputs[4]));
        __asm__("ror %0, %1, #41" : "=r"(e3) : "r"(x));
        printf("  cls=%lu clz(0)=%lu extr=%016lx extrw=%08lx ror41=%016lx\n", cls, clz0, e1, e2, e3);
        /* bitfield instructions with immediates */
        uint64_t ub, sb, bfi = inputs[8], bfxil = inputs[5], sbfiz, ubfiz;
        __asm__("ubfx %0, %1, #13, #17" : "=r"(ub) : "r"(x));
        __asm__("sbfx %0, %1, #20, #24" : "=r"(sb) : "r"(x));
        __asm__("bfi %0, %1, #8, #20" : "+r"(bfi) : "r"(x));
        __asm__("bfxil %0, %1, #40, #12" : "+r"(bfxil) : "r"(x));
        __asm__("sbfiz %0, %1, #5, #9" : "=r"(sbfiz) : "r"(x));
        __asm__("ubfiz %w0, %w1, #30, #2" : "=r"(ubfiz) : "r"(x));
        printf("  ubfx=%lx sbfx=%lx bfi=%016lx bfxil=%016lx sbfiz=%lx ubfiz=%lx\n", ub, sb, bfi,
               bfxil, sbfiz, ubfiz);
        /* logical immediates */
        uint64_t l1 = x & 0x00ff00ff00ff00ffULL, l2 = x | 0x5555555555555555ULL,
                 l3 = x ^ 0xfffffffffffff000ULL;
        uint64_t l4;
        __asm__("eon %0, %1, %2" : "=r"(l4) : "r"(x), "r"(inputs[5]));
        printf("  and=%016lx orr=%016lx eor=%016lx eon=%016lx\n", OPAQUE(l1), OPAQUE(l2),
               OPAQUE(l3), l4);
    }

    struct packed p = { 0 };
    uint64_t acc = 0;
    for (unsigned i = 0; i < 40; i++) {
        uint64_t v = inputs[i % ARRAY_SIZE(inputs)] * (i + 1);
        p.a = (unsigned)v;
        p.b = (int)(v >> 3);
        p.c += (unsigned)(v >> 8);
        p.d -= (int)(v >> 20);
        p.e ^= (unsigned)(v >> 33);
        p.f = p.f * 3 + (v >> 34);
        acc = acc * 31 + (uint64_t)(int64_t)p.a + (uint64_t)(int64_t)p.b + p.c +
              (uint64_t)(int64_t)p.d + p.e + p.f;
        if (i % 8 == 7)
            printf("bitfields %u: a=%u b=%d c=%u d=%d e=%u f=%lx acc=%016lx\n", i, p.a, p.b, p.c,
                   p.d, p.e, (uint64_t)p.f, acc);
    }

    /* Bit tricks: next power of two, gray code round trip, bit interleave. */
    uint64_t tricks = 0;
    for (uint64_t v = OPAQUE((uint64_t)1); v < 5000; v = v * 3 + 1) {
        uint64_t np = v - 1;
        np |= np >> 1, np |= np >> 2, np |= np >> 4, np |= np >> 8, np |= np >> 16, np |= np >> 32;
        np++;
        uint64_t gray = v ^ (v >> 1), back = gray;
        for (int s = 1; s < 64; s <<= 1)
            back ^= back >> s;
        uint64_t inter = 0;
        for (int b = 0; b < 16; b++)
            inter |= ((v >> b) & 1) << (2 * b) | ((gray >> b) & 1) << (2 * b + 1);
        printf("v=%lu nextpow2=%lu gray=%lx back=%lu interleave=%lx\n", v, np, gray, back, inter);
        tricks += np ^ inter;
    }
    printf("tricks=%lx\n", tricks);
    return 0;
}
