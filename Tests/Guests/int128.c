/* 128-bit integers: multiply, divide and modulo (libgcc's __udivti3, __divti3, __umodti3,
 * __modti3), shifts and comparisons, printed in hex and decimal.
 * SPDX-License-Identifier: GPL-2.0-or-later */
#include "rt.h"

typedef unsigned __int128 u128;
typedef __int128 s128;

static volatile uint64_t seeds[] = { 0x0123456789abcdefULL, 0xfedcba9876543210ULL, 1, 0,
                                     0xffffffffffffffffULL, 0x8000000000000000ULL, 10, 3 };

static u128 make(uint64_t hi, uint64_t lo) { return (u128)hi << 64 | lo; }

static void print_hex(const char *label, u128 v)
{
    printf("%s%016lx%016lx", label, (uint64_t)(v >> 64), (uint64_t)v);
}

static void print_udec(const char *label, u128 m)
{
    char buf[48];
    int n = 0;
    do {
        buf[n++] = (char)('0' + (int)(m % 10));
        m /= 10;
    } while (m);
    printf("%s", label);
    while (n)
        console_putc(buf[--n]);
}

static void print_dec(const char *label, s128 v)
{
    printf("%s", label);
    if (v < 0)
        console_putc('-');
    print_udec("", v < 0 ? -(u128)v : (u128)v);
}

int main(void)
{
    u128 vals[] = {
        make(seeds[0], seeds[1]), make(seeds[3], seeds[4]), make(seeds[4], seeds[4]),
        make(seeds[5], seeds[3]), make(seeds[3], seeds[6]), make(seeds[2], seeds[3]),
        make(seeds[3], seeds[7]), make(seeds[1], seeds[0]), make(0x7fffffffffffffffULL, seeds[4]),
    };
    unsigned n = ARRAY_SIZE(vals);
    for (unsigned i = 0; i < n; i++) {
        print_hex("v=", vals[i]);
        print_udec(" u=", vals[i]);
        print_dec(" s=", (s128)vals[i]);
        printf("\n");
    }
    for (unsigned i = 0; i < n; i++)
        for (unsigned j = 0; j < n; j++) {
            u128 a = vals[i], b = vals[j];
            printf("%u,%u", i, j);
            print_hex(" mul=", a * b);
            if (b) {
                print_hex(" udiv=", a / b);
                print_hex(" umod=", a % b);
            }
            s128 sa = (s128)a, sb = (s128)b;
            /* INT128_MIN / -1 overflows; skip it like C requires. */
            if (sb != 0 && !(sb == -1 && sa == (s128)((u128)1 << 127))) {
                print_hex(" sdiv=", (u128)(sa / sb));
                print_hex(" smod=", (u128)(sa % sb));
            }
            printf(" cmp=%d%d\n", a < b, sa < sb);
        }
    for (unsigned s = 0; s < 128; s += 9) {
        unsigned k = OPAQUE(s);
        u128 v = vals[0];
        print_hex("shl=", v << k);
        print_hex(" shr=", v >> k);
        print_hex(" sar=", (u128)((s128)vals[7] >> k));
        printf(" k=%u\n", k);
    }
    /* A Mersenne prime and a power of three, in decimal. */
    u128 m127 = ((u128)1 << 127) - 1, p = 1;
    print_udec("2^127-1=", m127);
    printf("\n");
    for (int i = 0; i < 40; i++)
        p *= 3;
    print_udec("3^40=", p);
    print_udec(" 3^40 mod 1000000007=", p % 1000000007u);
    printf("\n");
    /* 64x64->128 products as gcc emits them (mul + umulh/smulh). */
    uint64_t a = seeds[1], b = seeds[0];
    print_hex("umul64=", (u128)a * b);
    print_hex(" smul64=", (u128)((s128)(int64_t)a * (int64_t)b));
    printf("\n");
    /* Factorials until they overflow 128 bits. */
    u128 f = 1;
    for (unsigned k = 1; k <= 40; k++) {
        u128 next;
        if (__builtin_mul_overflow(f, (u128)k, &next)) {
            printf("%u! overflows 128 bits\n", k);
            break;
        }
        f = next;
        if (k % 5 == 0 || k > 30) {
            printf("%u! = ", k);
            print_udec("", f);
            printf("\n");
        }
    }
    return 0;
}
