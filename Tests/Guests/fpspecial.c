/* Special values through every kind of FP instruction, under each FPCR rounding mode with FZ and DN off and
 * on: +-0, +-Inf, quiet and signalling NaNs with payloads, denormals, the largest and smallest normals and
 * halfway cases, in half, single and double precision, scalar and vector. Prints every result and the FPSR
 * flags it raised. There is no expected output here: the test compares it with QEMU's, live (QEMU is the
 * reference; see Tests/IntegrationTests/GuestProgramTests.swift).
 * SPDX-License-Identifier: GPL-2.0-or-later */
#include "rt.h"

static void set_fpcr(uint64_t v) { __asm__ volatile("msr fpcr, %0" : : "r"(v)); }

static const char *flags(uint64_t fpsr)
{
    static char s[8];
    s[0] = fpsr & 1 ? 'I' : '-';
    s[1] = fpsr & 2 ? 'Z' : '-';
    s[2] = fpsr & 4 ? 'O' : '-';
    s[3] = fpsr & 8 ? 'U' : '-';
    s[4] = fpsr & 16 ? 'X' : '-';
    s[5] = fpsr & 128 ? 'D' : '-';
    s[6] = 0;
    return s;
}

/* One instruction with its operands in V registers 1..3 (as 64-bit patterns), the result from V0. */
#define RUN3(insn, a, b, c, fpsr)                                                                      \
    ({                                                                                                 \
        uint64_t r_;                                                                                   \
        __asm__ volatile("fmov d1, %2\n\tfmov d2, %3\n\tfmov d3, %4\n\tmsr fpsr, xzr\n\t" insn         \
                         "\n\tfmov %0, d0\n\tmrs %1, fpsr"                                             \
                         : "=&r"(r_), "=&r"(fpsr) : "r"(a), "r"(b), "r"(c) : "v0", "v1", "v2", "v3", "x9", "cc");  \
        r_;                                                                                            \
    })
/* An instruction whose result is a general register (x0). */
#define RUNX(insn, a, fpsr)                                                                            \
    ({                                                                                                 \
        uint64_t r_;                                                                                   \
        __asm__ volatile("fmov d1, %2\n\tmsr fpsr, xzr\n\t" insn "\n\tmov %0, x0\n\tmrs %1, fpsr"      \
                         : "=&r"(r_), "=&r"(fpsr) : "r"(a) : "x0", "v1");                              \
        r_;                                                                                            \
    })
/* A 128-bit vector operation: V1 and V2 hold {a, b} in both halves; prints both halves of V0. */
#define RUNV(insn, a, b, lo, hi, fpsr)                                                                 \
    __asm__ volatile("fmov d1, %3\n\tmov v1.d[1], %4\n\tfmov d2, %4\n\tmov v2.d[1], %3\n\t"            \
                     "mov v0.16b, v2.16b\n\tmsr fpsr, xzr\n\t" insn                                    \
                     "\n\tfmov %0, d0\n\tmov %1, v0.d[1]\n\tmrs %2, fpsr"                              \
                     : "=&r"(lo), "=&r"(hi), "=&r"(fpsr) : "r"(a), "r"(b) : "v0", "v1", "v2")

static const uint32_t svals[] = {
    0x00000000, 0x80000000, 0x7f800000, 0xff800000, 0x7fc01234, 0xffc00001, 0x7f800567, 0xff812345,
    0x00000001, 0x807fffff, 0x00800000, 0x7f7fffff, 0x3f800000, 0x3f800001, 0x33800000, 0xbfc00000,
    0x4b000001, 0x40490fdb,
};
static const uint64_t dvals[] = {
    0x0000000000000000ULL, 0x8000000000000000ULL, 0x7ff0000000000000ULL, 0xfff0000000000000ULL,
    0x7ff8000000000123ULL, 0x7ff0000000000456ULL, 0x0000000000000001ULL, 0x800fffffffffffffULL,
    0x0010000000000000ULL, 0x7fefffffffffffffULL, 0x3ff0000000000000ULL, 0x3ff0000000000001ULL,
    0x3ca0000000000000ULL, 0xc3e0000000000000ULL, 0x41dfffffffc00000ULL, 0x3fe0000000000000ULL,
};
static const uint16_t hvals[] = {
    0x0000, 0x8000, 0x7c00, 0xfc00, 0x7e12, 0x7c05, 0x0001, 0x83ff, 0x0400, 0x7bff, 0x3c00, 0x3c01,
    0x1400, 0xbe00,
};

static void single_binary(void)
{
    unsigned n = ARRAY_SIZE(svals);
    for (unsigned i = 0; i < n; i++)
        for (unsigned j = 0; j < n; j++) {
            uint64_t a = svals[i], b = svals[j], c = svals[(i + 2 * j) % n], f[10];
            uint64_t r[10];
            r[0] = RUN3("fadd s0, s1, s2", a, b, c, f[0]);
            r[1] = RUN3("fsub s0, s1, s2", a, b, c, f[1]);
            r[2] = RUN3("fmul s0, s1, s2", a, b, c, f[2]);
            r[3] = RUN3("fdiv s0, s1, s2", a, b, c, f[3]);
            r[4] = RUN3("fmax s0, s1, s2", a, b, c, f[4]);
            r[5] = RUN3("fminnm s0, s1, s2", a, b, c, f[5]);
            r[6] = RUN3("fmulx s0, s1, s2", a, b, c, f[6]);
            r[7] = RUN3("frecps s0, s1, s2", a, b, c, f[7]);
            r[8] = RUN3("fmadd s0, s1, s2, s3", a, b, c, f[8]);
            r[9] = RUN3("fnmsub s0, s1, s2, s3", a, b, c, f[9]);
            printf("s %2u %2u", i, j);
            for (int k = 0; k < 10; k++) printf(" %08lx%s", r[k], flags(f[k]));
            uint64_t fc, fce;
            uint64_t nz = RUN3("fcmp s1, s2\n\tmrs x9, nzcv\n\tfmov d0, x9", a, b, c, fc);
            uint64_t nze = RUN3("fccmpe s1, s2, #5, ne\n\tmrs x9, nzcv\n\tfmov d0, x9", a, b, c, fce);
            uint64_t rs = RUN3("frsqrts s0, s1, s2", a, b, c, f[0]);
            printf(" %lx%s %lx%s %08lx%s\n", nz >> 28, flags(fc), nze >> 28, flags(fce), rs, flags(f[0]));
        }
}

static void single_unary(void)
{
    for (unsigned i = 0; i < ARRAY_SIZE(svals); i++) {
        uint64_t a = svals[i], f[16], r[16];
        r[0] = RUN3("fsqrt s0, s1", a, 0, 0, f[0]);
        r[1] = RUN3("frintx s0, s1", a, 0, 0, f[1]);
        r[2] = RUN3("frinti s0, s1", a, 0, 0, f[2]);
        r[3] = RUN3("frinta s0, s1", a, 0, 0, f[3]);
        r[4] = RUN3("fcvt d0, s1", a, 0, 0, f[4]);
        r[5] = RUN3("fcvt h0, s1", a, 0, 0, f[5]);
        r[6] = RUN3("frecpe s0, s1", a, 0, 0, f[6]);
        r[7] = RUN3("frsqrte s0, s1", a, 0, 0, f[7]);
        r[8] = RUN3("frecpx s0, s1", a, 0, 0, f[8]);
        r[9] = RUNX("fcvtzs w0, s1", a, f[9]);
        r[10] = RUNX("fcvtnu x0, s1", a, f[10]);
        r[11] = RUNX("fcvtas w0, s1", a, f[11]);
        r[12] = RUNX("fcvtms x0, s1", a, f[12]);
        r[13] = RUNX("fcvtzu w0, s1, #8", a, f[13]);
        r[14] = RUN3("fcvtps s0, s1", a, 0, 0, f[14]);
        r[15] = RUN3("fcmle s0, s1, #0.0", a, 0, 0, f[15]);
        printf("s1 %2u", i);
        for (int k = 0; k < 16; k++) printf(" %lx%s", r[k], flags(f[k]));
        printf("\n");
    }
}

static void double_ops(void)
{
    unsigned n = ARRAY_SIZE(dvals);
    for (unsigned i = 0; i < n; i++)
        for (unsigned j = 0; j < n; j++) {
            uint64_t a = dvals[i], b = dvals[j], c = dvals[(3 * i + j) % n], f[7], r[7];
            r[0] = RUN3("fadd d0, d1, d2", a, b, c, f[0]);
            r[1] = RUN3("fmul d0, d1, d2", a, b, c, f[1]);
            r[2] = RUN3("fdiv d0, d1, d2", a, b, c, f[2]);
            r[3] = RUN3("fmsub d0, d1, d2, d3", a, b, c, f[3]);
            r[4] = RUN3("fnmadd d0, d1, d2, d3", a, b, c, f[4]);
            r[5] = RUN3("fminnm d0, d1, d2", a, b, c, f[5]);
            r[6] = RUN3("fabd d0, d1, d2", a, b, c, f[6]);
            printf("d %2u %2u", i, j);
            for (int k = 0; k < 7; k++) printf(" %016lx%s", r[k], flags(f[k]));
            printf("\n");
        }
    for (unsigned i = 0; i < n; i++) {
        uint64_t a = dvals[i], f[9], r[9];
        r[0] = RUN3("fsqrt d0, d1", a, 0, 0, f[0]);
        r[1] = RUN3("frintn d0, d1", a, 0, 0, f[1]);
        r[2] = RUN3("fcvt s0, d1", a, 0, 0, f[2]);
        r[3] = RUN3("fcvt h0, d1", a, 0, 0, f[3]);
        r[4] = RUN3("fcvtxn s0, d1", a, 0, 0, f[4]);
        r[5] = RUNX("fcvtzs x0, d1", a, f[5]);
        r[6] = RUNX("fcvtzu w0, d1", a, f[6]);
        r[7] = RUN3("frecpe d0, d1", a, 0, 0, f[7]);
        r[8] = RUN3("frsqrte d0, d1", a, 0, 0, f[8]);
        printf("d1 %2u", i);
        for (int k = 0; k < 9; k++) printf(" %lx%s", r[k], flags(f[k]));
        printf("\n");
    }
}

static void half_ops(void)
{
    unsigned n = ARRAY_SIZE(hvals);
    for (unsigned i = 0; i < n; i++)
        for (unsigned j = 0; j < n; j += 2) {
            uint64_t a = hvals[i], b = hvals[j], c = hvals[(i + j) % n], f[6], r[6];
            r[0] = RUN3("fadd h0, h1, h2", a, b, c, f[0]);
            r[1] = RUN3("fmul h0, h1, h2", a, b, c, f[1]);
            r[2] = RUN3("fdiv h0, h1, h2", a, b, c, f[2]);
            r[3] = RUN3("fmadd h0, h1, h2, h3", a, b, c, f[3]);
            r[4] = RUN3("fmaxnm h0, h1, h2", a, b, c, f[4]);
            r[5] = RUN3("fcvt s0, h1", a, b, c, f[5]);
            printf("h %2u %2u", i, j);
            for (int k = 0; k < 6; k++) printf(" %04lx%s", r[k], flags(f[k]));
            printf("\n");
        }
}

static void vector_ops(void)
{
    unsigned n = ARRAY_SIZE(svals);
    for (unsigned i = 0; i < n; i += 1) {
        uint64_t a = (uint64_t)svals[i] << 32 | svals[(i + 5) % n];
        uint64_t b = (uint64_t)svals[(i + 3) % n] << 32 | svals[(i + 7) % n];
        uint64_t lo, hi, f;
        RUNV("fadd v0.4s, v1.4s, v2.4s", a, b, lo, hi, f);
        printf("v %2u fadd %016lx:%016lx%s", i, hi, lo, flags(f));
        RUNV("fmla v0.4s, v1.4s, v2.s[3]", a, b, lo, hi, f);
        printf(" fmla %016lx:%016lx%s", hi, lo, flags(f));
        RUNV("faddp v0.4s, v1.4s, v2.4s", a, b, lo, hi, f);
        printf(" faddp %016lx:%016lx%s", hi, lo, flags(f));
        RUNV("fmaxnmv s0, v1.4s", a, b, lo, hi, f);
        printf(" fmaxnmv %016lx%s", lo, flags(f));
        RUNV("fminv s0, v1.4s", a, b, lo, hi, f);
        printf(" fminv %016lx%s\n", lo, flags(f));
        RUNV("fcmgt v0.4s, v1.4s, v2.4s", a, b, lo, hi, f);
        printf("  fcmgt %016lx:%016lx%s", hi, lo, flags(f));
        RUNV("fcvtl2 v0.2d, v1.4s", a, b, lo, hi, f);
        printf(" fcvtl2 %016lx:%016lx%s", hi, lo, flags(f));
        RUNV("fcvtn2 v0.4s, v1.2d", a, b, lo, hi, f);
        printf(" fcvtn2 %016lx:%016lx%s", hi, lo, flags(f));
        RUNV("fcvtzs v0.4s, v1.4s, #4", a, b, lo, hi, f);
        printf(" fcvtzs %016lx:%016lx%s", hi, lo, flags(f));
        RUNV("ucvtf v0.4s, v1.4s", a, b, lo, hi, f);
        printf(" ucvtf %016lx:%016lx%s", hi, lo, flags(f));
        RUNV("fabd v0.8h, v1.8h, v2.8h", a, b, lo, hi, f);
        printf(" fabd.8h %016lx:%016lx%s\n", hi, lo, flags(f));
    }
}

int main(void)
{
    static const char *const modes[] = { "RN", "RP", "RM", "RZ" };
    for (unsigned config = 0; config < 16; config++) {
        uint64_t mode = config & 3, fz = (config >> 2) & 1, dn = (config >> 3) & 1;
        /* FZ16 follows FZ, and AHP is on with DN so that FCVT to half sees both formats. */
        uint64_t fpcr = mode << 22 | fz << 24 | fz << 19 | dn << 25 | dn << 26;
        printf("== %s FZ=%lu DN=%lu AHP=%lu\n", modes[mode], fz, dn, dn);
        set_fpcr(fpcr);
        single_binary();
        single_unary();
        double_ops();
        half_ops();
        vector_ops();
        set_fpcr(0);
    }
    return 0;
}
