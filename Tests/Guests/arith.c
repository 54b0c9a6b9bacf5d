/* Integer arithmetic at the edges: flags from ADDS/SUBS/ADCS/SBCS/NEGS at the boundaries, division
 * by zero and INT_MIN / -1, variable shifts by >= the register width, high multiplies,
 * multiply-accumulate, extends, conditional selects and the overflow builtins.
 * Inputs come from volatile memory so gcc cannot fold them.
 * SPDX-License-Identifier: GPL-2.0-or-later */
#include "rt.h"

static volatile uint64_t v64[] = {
    0, 1, 2, 0x7fffffffffffffffULL, 0x8000000000000000ULL, 0xffffffffffffffffULL,
    0xfffffffffffffffeULL, 0x00000000ffffffffULL, 0x0000000080000000ULL, 0x123456789abcdef0ULL,
};
static volatile uint32_t v32[] = { 0, 1, 2, 0x7fffffff, 0x80000000, 0xffffffff, 0xfffffffe, 0x12345678 };

static void flags_name(uint64_t nzcv, char out[5])
{
    out[0] = (nzcv >> 31) & 1 ? 'N' : '-';
    out[1] = (nzcv >> 30) & 1 ? 'Z' : '-';
    out[2] = (nzcv >> 29) & 1 ? 'C' : '-';
    out[3] = (nzcv >> 28) & 1 ? 'V' : '-';
    out[4] = 0;
}

#define FLAG_OP64(name, insn)                                                                   \
    static uint64_t name(uint64_t a, uint64_t b, uint64_t *nzcv)                              \
    {                                                                                          \
        uint64_t r;                                                                            \
        __asm__ volatile(insn " %0, %2, %3\n\tmrs %1, nzcv" : "=&r"(r), "=r"(*nzcv)            \
                         : "r"(a), "r"(b) : "cc");                                            \
        return r;                                                                              \
    }
#define FLAG_OP32(name, insn)                                                                   \
    static uint32_t name(uint32_t a, uint32_t b, uint64_t *nzcv)                              \
    {                                                                                          \
        uint32_t r;                                                                            \
        __asm__ volatile(insn " %w0, %w2, %w3\n\tmrs %1, nzcv" : "=&r"(r), "=r"(*nzcv)         \
                         : "r"(a), "r"(b) : "cc");                                            \
        return r;                                                                              \
    }
FLAG_OP64(adds64, "adds")
FLAG_OP64(subs64, "subs")
FLAG_OP64(ands64, "ands")
FLAG_OP64(bics64, "bics")
FLAG_OP32(adds32, "adds")
FLAG_OP32(subs32, "subs")

/* ADCS/SBCS with the carry flag preset to carry_in. */
static uint64_t with_carry64(int sbc, uint64_t a, uint64_t b, int carry_in, uint64_t *nzcv)
{
    uint64_t r, flags = (uint64_t)carry_in << 29;
    if (sbc)
        __asm__ volatile("msr nzcv, %2\n\tsbcs %0, %3, %4\n\tmrs %1, nzcv"
                         : "=&r"(r), "=&r"(*nzcv) : "r"(flags), "r"(a), "r"(b) : "cc");
    else
        __asm__ volatile("msr nzcv, %2\n\tadcs %0, %3, %4\n\tmrs %1, nzcv"
                         : "=&r"(r), "=&r"(*nzcv) : "r"(flags), "r"(a), "r"(b) : "cc");
    return r;
}

static uint32_t with_carry32(int sbc, uint32_t a, uint32_t b, int carry_in, uint64_t *nzcv)
{
    uint32_t r;
    uint64_t flags = (uint64_t)carry_in << 29;
    if (sbc)
        __asm__ volatile("msr nzcv, %2\n\tsbcs %w0, %w3, %w4\n\tmrs %1, nzcv"
                         : "=&r"(r), "=&r"(*nzcv) : "r"(flags), "r"(a), "r"(b) : "cc");
    else
        __asm__ volatile("msr nzcv, %2\n\tadcs %w0, %w3, %w4\n\tmrs %1, nzcv"
                         : "=&r"(r), "=&r"(*nzcv) : "r"(flags), "r"(a), "r"(b) : "cc");
    return r;
}

static void flag_tests(void)
{
    char f[5];
    uint64_t nzcv;
    static const int pairs[][2] = { { 0, 0 }, { 1, 2 }, { 3, 1 }, { 5, 1 }, { 4, 4 }, { 4, 5 },
                                    { 6, 6 }, { 9, 9 }, { 2, 1 }, { 0, 5 }, { 7, 8 }, { 8, 1 } };
    for (unsigned i = 0; i < ARRAY_SIZE(pairs); i++) {
        uint64_t a = v64[pairs[i][0]], b = v64[pairs[i][1]];
        uint64_t r = adds64(a, b, &nzcv);
        flags_name(nzcv, f);
        printf("adds64 %016lx + %016lx = %016lx %s\n", a, b, r, f);
        r = subs64(a, b, &nzcv);
        flags_name(nzcv, f);
        printf("subs64 %016lx - %016lx = %016lx %s\n", a, b, r, f);
        r = ands64(a, b, &nzcv);
        flags_name(nzcv, f);
        printf("ands64 %016lx & %016lx = %016lx %s\n", a, b, r, f);
        r = bics64(a, b, &nzcv);
        flags_name(nzcv, f);
        printf("bics64 %016lx &~ %016lx = %016lx %s\n", a, b, r, f);
        for (int c = 0; c < 2; c++) {
            r = with_carry64(0, a, b, c, &nzcv);
            flags_name(nzcv, f);
            printf("adcs64 c=%d -> %016lx %s\n", c, r, f);
            r = with_carry64(1, a, b, c, &nzcv);
            flags_name(nzcv, f);
            printf("sbcs64 c=%d -> %016lx %s\n", c, r, f);
        }
    }
    for (unsigned i = 0; i < ARRAY_SIZE(v32); i++)
        for (unsigned j = 0; j < ARRAY_SIZE(v32); j += 3) {
            uint32_t a = v32[i], b = v32[j];
            uint32_t r = adds32(a, b, &nzcv);
            flags_name(nzcv, f);
            printf("adds32 %08x + %08x = %08x %s", a, b, r, f);
            r = subs32(a, b, &nzcv);
            flags_name(nzcv, f);
            printf(" | - = %08x %s", r, f);
            r = with_carry32(0, a, b, 1, &nzcv);
            flags_name(nzcv, f);
            printf(" | adcs c=1 %08x %s", r, f);
            r = with_carry32(1, a, b, 0, &nzcv);
            flags_name(nzcv, f);
            printf(" | sbcs c=0 %08x %s\n", r, f);
        }
    for (unsigned i = 0; i < ARRAY_SIZE(v64); i++) {
        uint64_t r, a = v64[i];
        __asm__ volatile("negs %0, %2\n\tmrs %1, nzcv" : "=&r"(r), "=r"(nzcv) : "r"(a) : "cc");
        flags_name(nzcv, f);
        printf("negs %016lx = %016lx %s\n", a, r, f);
    }
}

static void division_tests(void)
{
    int64_t s[] = { (int64_t)v64[4], -1, 0, 7, -7, 2, -2, 1, (int64_t)v64[3] };
    for (unsigned i = 0; i < ARRAY_SIZE(s); i++)
        for (unsigned j = 0; j < ARRAY_SIZE(s); j++) {
            int64_t a = s[i], b = s[j], q, m;
            uint64_t uq;
            /* Through asm: INT64_MIN / -1 and x / 0 are undefined in C but defined on AArch64. */
            __asm__ volatile("sdiv %0, %1, %2" : "=r"(q) : "r"(a), "r"(b));
            __asm__ volatile("udiv %0, %1, %2" : "=r"(uq) : "r"(a), "r"(b));
            __asm__ volatile("msub %0, %1, %2, %3" : "=r"(m) : "r"(q), "r"(b), "r"(a));
            printf("div %ld, %ld: sdiv=%ld rem=%ld udiv=%lu\n", a, b, q, m, uq);
        }
    int32_t t[] = { (int32_t)v32[4], -1, 0, 13, -13, 4 };
    for (unsigned i = 0; i < ARRAY_SIZE(t); i++)
        for (unsigned j = 0; j < ARRAY_SIZE(t); j++) {
            int32_t a = t[i], b = t[j], q;
            uint32_t uq;
            __asm__ volatile("sdiv %w0, %w1, %w2" : "=r"(q) : "r"(a), "r"(b));
            __asm__ volatile("udiv %w0, %w1, %w2" : "=r"(uq) : "r"(a), "r"(b));
            printf("div32 %d, %d: sdiv=%d udiv=%u\n", a, b, q, uq);
        }
    /* Plain C division where it is defined, so gcc picks its own sequences (e.g. by constants). */
    int64_t x = (int64_t)v64[9];
    printf("c: %ld %ld %ld %ld %ld %ld\n", x / 3, x % 3, -x / 7, -x % 7, x / -1000, x % 1000);
    uint64_t ux = v64[5];
    printf("c: %lu %lu %lu %lu\n", ux / 3, ux % 10, ux / (uint64_t)0x100000001ULL, ux % 12345);
    int32_t y = (int32_t)v32[7];
    printf("c32: %d %d %d %d\n", y / 10, y % 10, -y / 10, -y % 10);
}

static void shift_tests(void)
{
    static const uint64_t amounts[] = { 0, 1, 31, 32, 33, 63, 64, 65, 127, 128, 200, 0xffffffffffffffc1ULL };
    uint64_t a = v64[9], n = v64[4] | 0x55;
    for (unsigned i = 0; i < ARRAY_SIZE(amounts); i++) {
        uint64_t s = OPAQUE(amounts[i]), l, r, ar, ro;
        __asm__ volatile("lslv %0, %1, %2" : "=r"(l) : "r"(a), "r"(s));
        __asm__ volatile("lsrv %0, %1, %2" : "=r"(r) : "r"(n), "r"(s));
        __asm__ volatile("asrv %0, %1, %2" : "=r"(ar) : "r"(n), "r"(s));
        __asm__ volatile("rorv %0, %1, %2" : "=r"(ro) : "r"(a), "r"(s));
        uint32_t l32, r32, ar32, ro32, a32 = (uint32_t)a, n32 = 0x80000055;
        __asm__ volatile("lslv %w0, %w1, %w2" : "=r"(l32) : "r"(a32), "r"(s));
        __asm__ volatile("lsrv %w0, %w1, %w2" : "=r"(r32) : "r"(n32), "r"(s));
        __asm__ volatile("asrv %w0, %w1, %w2" : "=r"(ar32) : "r"(n32), "r"(s));
        __asm__ volatile("rorv %w0, %w1, %w2" : "=r"(ro32) : "r"(a32), "r"(s));
        printf("shift %3lu: %016lx %016lx %016lx %016lx | %08x %08x %08x %08x\n", s & 0xff, l,
               r, ar, ro, l32, r32, ar32, ro32);
    }
    /* C shifts by in-range variable amounts. */
    uint64_t acc = 0;
    for (unsigned s = 0; s < 64; s++) {
        uint64_t k = OPAQUE((uint64_t)s);
        acc += (a << k) ^ (a >> k) ^ (uint64_t)((int64_t)n >> k);
    }
    printf("c shifts: %016lx\n", acc);
}

static void multiply_tests(void)
{
    for (unsigned i = 3; i < ARRAY_SIZE(v64); i++)
        for (unsigned j = 3; j < ARRAY_SIZE(v64); j += 2) {
            uint64_t a = v64[i], b = v64[j], hi, shi, lo, madd, msub, mneg;
            __asm__ volatile("umulh %0, %1, %2" : "=r"(hi) : "r"(a), "r"(b));
            __asm__ volatile("smulh %0, %1, %2" : "=r"(shi) : "r"(a), "r"(b));
            __asm__ volatile("mul %0, %1, %2" : "=r"(lo) : "r"(a), "r"(b));
            __asm__ volatile("madd %0, %1, %2, %3" : "=r"(madd) : "r"(a), "r"(b), "r"(v64[9]));
            __asm__ volatile("msub %0, %1, %2, %3" : "=r"(msub) : "r"(a), "r"(b), "r"(v64[9]));
            __asm__ volatile("mneg %0, %1, %2" : "=r"(mneg) : "r"(a), "r"(b));
            printf("mul %016lx %016lx: hi=%016lx shi=%016lx lo=%016lx madd=%016lx msub=%016lx mneg=%016lx\n",
                   a, b, hi, shi, lo, madd, msub, mneg);
        }
    for (unsigned i = 0; i < ARRAY_SIZE(v32); i += 2) {
        uint32_t a = v32[i], b = v32[(i + 3) % ARRAY_SIZE(v32)];
        uint64_t um, sm, uma, sma, smn, m32;
        __asm__ volatile("umull %0, %w1, %w2" : "=r"(um) : "r"(a), "r"(b));
        __asm__ volatile("smull %0, %w1, %w2" : "=r"(sm) : "r"(a), "r"(b));
        __asm__ volatile("umaddl %0, %w1, %w2, %3" : "=r"(uma) : "r"(a), "r"(b), "r"(v64[9]));
        __asm__ volatile("smsubl %0, %w1, %w2, %3" : "=r"(sma) : "r"(a), "r"(b), "r"(v64[9]));
        __asm__ volatile("smnegl %0, %w1, %w2" : "=r"(smn) : "r"(a), "r"(b));
        __asm__ volatile("madd %w0, %w1, %w2, %w3" : "=r"(m32) : "r"(a), "r"(b), "r"(v32[7]));
        printf("mul32 %08x %08x: umull=%016lx smull=%016lx umaddl=%016lx smsubl=%016lx smnegl=%016lx madd32=%016lx\n",
               a, b, um, sm, uma, sma, smn, m32);
    }
}

static void extend_tests(void)
{
    uint64_t x = v64[9] | 0x8080808080808080ULL;
    printf("casts: %ld %ld %ld %lu %lu %lu\n", (int64_t)(int8_t)x, (int64_t)(int16_t)x,
           (int64_t)(int32_t)x, (uint64_t)(uint8_t)x, (uint64_t)(uint16_t)x, (uint64_t)(uint32_t)x);
    uint64_t base = v64[9], r1, r2, r3, r4;
    uint32_t w = v32[4] | 3;
    __asm__ volatile("add %0, %1, %w2, sxtw #2" : "=r"(r1) : "r"(base), "r"(w));
    __asm__ volatile("add %0, %1, %w2, uxtw #3" : "=r"(r2) : "r"(base), "r"(w));
    __asm__ volatile("sub %0, %1, %w2, sxtb #1" : "=r"(r3) : "r"(base), "r"(w));
    __asm__ volatile("adds %0, %1, %w2, uxth #4" : "=r"(r4) : "r"(base), "r"(w) : "cc");
    printf("extended-register: %016lx %016lx %016lx %016lx\n", r1, r2, r3, r4);
    uint64_t s1, s2, s3;
    __asm__ volatile("add %0, %1, %2, lsl #7" : "=r"(s1) : "r"(base), "r"(x));
    __asm__ volatile("sub %0, %1, %2, asr #13" : "=r"(s2) : "r"(base), "r"(x));
    __asm__ volatile("eor %0, %1, %2, ror #29" : "=r"(s3) : "r"(base), "r"(x));
    printf("shifted-register: %016lx %016lx %016lx\n", s1, s2, s3);
}

static void select_tests(void)
{
    static const char *const conds[] = { "eq", "ne", "cs", "cc", "mi", "pl", "vs", "vc",
                                         "hi", "ls", "ge", "lt", "gt", "le", "al", "nv" };
    for (uint64_t flags = 0; flags < 16; flags++) {
        uint64_t nzcv = OPAQUE(flags << 28), taken = 0, r;
#define COND(i, c)                                                                              \
        __asm__ volatile("msr nzcv, %1\n\tcset %0, " c : "=r"(r) : "r"(nzcv) : "cc");           \
        taken |= r << i;
        COND(0, "eq") COND(1, "ne") COND(2, "cs") COND(3, "cc") COND(4, "mi") COND(5, "pl")
        COND(6, "vs") COND(7, "vc") COND(8, "hi") COND(9, "ls") COND(10, "ge") COND(11, "lt")
        COND(12, "gt") COND(13, "le")
#undef COND
        uint64_t csinc, csinv, csneg, ccmp_flags;
        __asm__ volatile("msr nzcv, %1\n\tcsinc %0, %2, %3, ge" : "=r"(csinc) : "r"(nzcv), "r"(v64[9]), "r"(v64[3]) : "cc");
        __asm__ volatile("msr nzcv, %1\n\tcsinv %0, %2, %3, hi" : "=r"(csinv) : "r"(nzcv), "r"(v64[9]), "r"(v64[3]) : "cc");
        __asm__ volatile("msr nzcv, %1\n\tcsneg %0, %2, %3, vs" : "=r"(csneg) : "r"(nzcv), "r"(v64[9]), "r"(v64[3]) : "cc");
        __asm__ volatile("msr nzcv, %1\n\tccmp %2, %3, #0xa, mi\n\tmrs %0, nzcv"
                         : "=r"(ccmp_flags) : "r"(nzcv), "r"(v64[1]), "r"(v64[2]) : "cc");
        printf("nzcv=%x conds:", (unsigned)flags);
        for (int i = 0; i < 14; i++)
            if (taken >> i & 1)
                printf(" %s", conds[i]);
        printf(" | csinc=%lx csinv=%lx csneg=%lx ccmp->%lx\n", csinc, csinv, csneg, ccmp_flags >> 28);
    }
}

static void overflow_builtins(void)
{
    int64_t s[] = { (int64_t)v64[3], (int64_t)v64[4], -1, 1, 2, (int64_t)v64[9] };
    for (unsigned i = 0; i < ARRAY_SIZE(s); i++)
        for (unsigned j = 0; j < ARRAY_SIZE(s); j++) {
            int64_t r1, r2, r3;
            int o1 = __builtin_add_overflow(s[i], s[j], &r1);
            int o2 = __builtin_sub_overflow(s[i], s[j], &r2);
            int o3 = __builtin_mul_overflow(s[i], s[j], &r3);
            uint64_t u1, u2;
            int o4 = __builtin_add_overflow((uint64_t)s[i], (uint64_t)s[j], &u1);
            int o5 = __builtin_mul_overflow((uint64_t)s[i], (uint64_t)s[j], &u2);
            int32_t r32;
            int o6 = __builtin_mul_overflow((int32_t)s[i], (int32_t)s[j], &r32);
            printf("ovf %d,%d: add %d %lx sub %d %lx mul %d %lx uadd %d umul %d %lx mul32 %d %x\n", i,
                   j, o1, r1, o2, r2, o3, r3, o4, o5, u2, o6, r32);
        }
}

int main(void)
{
    flag_tests();
    division_tests();
    shift_tests();
    multiply_tests();
    extend_tests();
    select_tests();
    overflow_builtins();
    printf("arith done\n");
    return 0;
}
