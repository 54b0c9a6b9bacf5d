/* Scalar floating point: IEEE edge cases of add/sub/mul/div/sqrt/fma in double and single
 * precision with the FPSR exception flags they raise, rounding modes (FPCR.RMode), flush-to-zero
 * (FPCR.FZ), default NaN (FPCR.DN), min/max/compare with NaNs, the float<->integer conversions
 * with saturation, half precision, and a few series computed in C.
 * Results are printed as bit patterns.
 * SPDX-License-Identifier: GPL-2.0-or-later */
#include "rt.h"

static uint64_t dbits(double d) { uint64_t u; __builtin_memcpy(&u, &d, 8); return u; }
static uint32_t fbits(float f) { uint32_t u; __builtin_memcpy(&u, &f, 4); return u; }
static double dfrom(uint64_t u) { double d; __builtin_memcpy(&d, &u, 8); return d; }
static float ffrom(uint32_t u) { float f; __builtin_memcpy(&f, &u, 4); return f; }

static void set_fpcr(uint64_t v) { __asm__ volatile("msr fpcr, %0" : : "r"(v)); }

/* FPSR cumulative flags as letters: Invalid, Divide-by-zero, Overflow, Underflow, ineXact,
 * input Denormal. */
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

#define D2(name, insn)                                                                          \
    static double name(double a, double b, uint64_t *fpsr)                                     \
    {                                                                                           \
        double r;                                                                               \
        __asm__ volatile("msr fpsr, xzr\n\t" insn " %d0, %d2, %d3\n\tmrs %1, fpsr"             \
                         : "=&w"(r), "=r"(*fpsr) : "w"(a), "w"(b));                            \
        return r;                                                                               \
    }
#define S2(name, insn)                                                                          \
    static float name(float a, float b, uint64_t *fpsr)                                        \
    {                                                                                           \
        float r;                                                                                \
        __asm__ volatile("msr fpsr, xzr\n\t" insn " %s0, %s2, %s3\n\tmrs %1, fpsr"             \
                         : "=&w"(r), "=r"(*fpsr) : "w"(a), "w"(b));                            \
        return r;                                                                               \
    }
#define D1(name, insn)                                                                          \
    static double name(double a, uint64_t *fpsr)                                               \
    {                                                                                           \
        double r;                                                                               \
        __asm__ volatile("msr fpsr, xzr\n\t" insn " %d0, %d2\n\tmrs %1, fpsr"                  \
                         : "=&w"(r), "=r"(*fpsr) : "w"(a));                                    \
        return r;                                                                               \
    }
#define TOINT(name, insn, reg)                                                                  \
    static uint64_t name(double a, uint64_t *fpsr)                                             \
    {                                                                                           \
        uint64_t r;                                                                             \
        __asm__ volatile("msr fpsr, xzr\n\t" insn " %" reg "0, %d2\n\tmrs %1, fpsr"            \
                         : "=&r"(r), "=r"(*fpsr) : "w"(a));                                    \
        return r;                                                                               \
    }

D2(fadd_d, "fadd") D2(fsub_d, "fsub") D2(fmul_d, "fmul") D2(fdiv_d, "fdiv")
D2(fmin_d, "fmin") D2(fmax_d, "fmax") D2(fminnm_d, "fminnm") D2(fmaxnm_d, "fmaxnm")
D2(fnmul_d, "fnmul") D2(fabd_d, "fabd")
S2(fadd_s, "fadd") S2(fmul_s, "fmul") S2(fdiv_s, "fdiv")
D1(fsqrt_d, "fsqrt") D1(frintn_d, "frintn") D1(frinta_d, "frinta") D1(frintm_d, "frintm")
D1(frintp_d, "frintp") D1(frintz_d, "frintz") D1(frintx_d, "frintx") D1(frinti_d, "frinti")
TOINT(fcvtzs_x, "fcvtzs", "x") TOINT(fcvtzu_x, "fcvtzu", "x") TOINT(fcvtzs_w, "fcvtzs", "w")
TOINT(fcvtzu_w, "fcvtzu", "w") TOINT(fcvtns_x, "fcvtns", "x") TOINT(fcvtas_x, "fcvtas", "x")
TOINT(fcvtms_x, "fcvtms", "x") TOINT(fcvtps_x, "fcvtps", "x")

static const uint64_t dvals[] = {
    0x0000000000000000ULL, /* +0 */
    0x8000000000000000ULL, /* -0 */
    0x3ff0000000000000ULL, /* 1 */
    0xbff8000000000000ULL, /* -1.5 */
    0x3fb999999999999aULL, /* 0.1 */
    0x7fefffffffffffffULL, /* DBL_MAX */
    0x0010000000000000ULL, /* DBL_MIN (smallest normal) */
    0x000fffffffffffffULL, /* largest subnormal */
    0x0000000000000001ULL, /* smallest subnormal */
    0x7ff0000000000000ULL, /* +inf */
    0xfff0000000000000ULL, /* -inf */
    0x7ff8000000000123ULL, /* quiet NaN with payload */
    0x7ff0000000000456ULL, /* signalling NaN with payload */
    0x4008000000000000ULL, /* 3 */
};

static void binary_ops(void)
{
    for (unsigned i = 0; i < ARRAY_SIZE(dvals); i++)
        for (unsigned j = 0; j < ARRAY_SIZE(dvals); j++) {
            double a = dfrom(dvals[i]), b = dfrom(dvals[j]);
            uint64_t f1, f2, f3, f4;
            uint64_t add = dbits(fadd_d(a, b, &f1)), sub = dbits(fsub_d(a, b, &f2));
            uint64_t mul = dbits(fmul_d(a, b, &f3)), div = dbits(fdiv_d(a, b, &f4));
            printf("%2u,%2u add=%016lx %s", i, j, add, flags(f1));
            printf(" sub=%016lx %s", sub, flags(f2));
            printf(" mul=%016lx %s", mul, flags(f3));
            printf(" div=%016lx %s\n", div, flags(f4));
        }
}

static void min_max_compare(void)
{
    for (unsigned i = 0; i < ARRAY_SIZE(dvals); i += 1)
        for (unsigned j = 0; j < ARRAY_SIZE(dvals); j += 3) {
            double a = dfrom(dvals[i]), b = dfrom(dvals[j]);
            uint64_t f1, f2, f3, f4, nzcv, nzcv_e, fpsr_e, f5, f6;
            uint64_t mn = dbits(fmin_d(a, b, &f1)), mx = dbits(fmax_d(a, b, &f2));
            uint64_t mnn = dbits(fminnm_d(a, b, &f3)), mxn = dbits(fmaxnm_d(a, b, &f4));
            uint64_t nm = dbits(fnmul_d(a, b, &f5)), ab = dbits(fabd_d(a, b, &f6));
            __asm__ volatile("fcmp %d1, %d2\n\tmrs %0, nzcv" : "=r"(nzcv) : "w"(a), "w"(b) : "cc");
            __asm__ volatile("msr fpsr, xzr\n\tfcmpe %d2, %d3\n\tmrs %0, nzcv\n\tmrs %1, fpsr"
                             : "=&r"(nzcv_e), "=r"(fpsr_e) : "w"(a), "w"(b) : "cc");
            printf("%2u,%2u min=%016lx %s", i, j, mn, flags(f1));
            printf(" max=%016lx %s", mx, flags(f2));
            printf(" minnm=%016lx %s", mnn, flags(f3));
            printf(" maxnm=%016lx %s", mxn, flags(f4));
            printf(" fnmul=%016lx fabd=%016lx", nm, ab);
            printf(" fcmp=%lx fcmpe=%lx %s\n", nzcv >> 28, nzcv_e >> 28, flags(fpsr_e));
        }
}

static void unary_ops(void)
{
    static const uint64_t extra[] = { 0x3fe0000000000000ULL, /* 0.5 */ 0x3ff8000000000000ULL, /* 1.5 */
                                      0x4004000000000000ULL, /* 2.5 */ 0xc004000000000000ULL, /* -2.5 */
                                      0x43e0000000000000ULL, /* 2^63 */ 0xc3e0000000000000ULL, /* -2^63 */
                                      0x41f0000000000000ULL, /* 2^32 */ 0x4330000000000001ULL, /* 2^52+1 */
                                      0x3fdfffffffffffffULL /* 0.49999... */ };
    for (unsigned k = 0; k < ARRAY_SIZE(dvals) + ARRAY_SIZE(extra); k++) {
        uint64_t v = k < ARRAY_SIZE(dvals) ? dvals[k] : extra[k - ARRAY_SIZE(dvals)];
        double a = dfrom(v);
        uint64_t f[8], g[8];
        printf("x=%016lx sqrt=%016lx %s", v, dbits(fsqrt_d(a, &f[0])), flags(f[0]));
        uint64_t rn = dbits(frintn_d(a, &f[1])), ra = dbits(frinta_d(a, &f[2]));
        uint64_t rm = dbits(frintm_d(a, &f[3])), rp = dbits(frintp_d(a, &f[4]));
        uint64_t rz = dbits(frintz_d(a, &f[5])), rx = dbits(frintx_d(a, &f[6]));
        uint64_t ri = dbits(frinti_d(a, &f[7]));
        printf(" rint n=%lx a=%lx m=%lx p=%lx z=%lx x=%lx %s i=%lx\n", rn, ra, rm, rp, rz, rx,
               flags(f[6]), ri);
        uint64_t zs = fcvtzs_x(a, &g[0]), zu = fcvtzu_x(a, &g[1]), zsw = fcvtzs_w(a, &g[2]);
        uint64_t zuw = fcvtzu_w(a, &g[3]), ns = fcvtns_x(a, &g[4]), as = fcvtas_x(a, &g[5]);
        uint64_t ms = fcvtms_x(a, &g[6]), ps = fcvtps_x(a, &g[7]);
        printf("  zs=%lx %s", zs, flags(g[0]));
        printf(" zu=%lx %s", zu, flags(g[1]));
        printf(" zsw=%lx %s", zsw, flags(g[2]));
        printf(" zuw=%lx %s", zuw, flags(g[3]));
        printf(" ns=%lx as=%lx ms=%lx ps=%lx\n", ns, as, ms, ps);
        float s;
        uint64_t fs;
        __asm__ volatile("msr fpsr, xzr\n\tfcvt %s0, %d2\n\tmrs %1, fpsr" : "=&w"(s), "=r"(fs) : "w"(a));
        double back;
        __asm__ volatile("fcvt %d0, %s1" : "=w"(back) : "w"(s));
        uint16_t h;
        __asm__ volatile("fcvt h0, %s1\n\tfmov %w0, s0" : "=r"(h) : "w"(s) : "v0");
        printf("  to single=%08x %s back=%016lx half=%04x\n", fbits(s), flags(fs), dbits(back), h);
    }
}

static void int_to_fp(void)
{
    static const uint64_t ints[] = { 0, 1, 0x7fffffffffffffffULL, 0x8000000000000000ULL,
                                     0xffffffffffffffffULL, 0x0020000000000001ULL, 0x0020000000000003ULL,
                                     0x00000000ffffffffULL, 0x0000000001000001ULL };
    for (unsigned i = 0; i < ARRAY_SIZE(ints); i++) {
        uint64_t v = ints[i];
        double sd, ud, fx;
        float sf, uf;
        __asm__ volatile("scvtf %d0, %1" : "=w"(sd) : "r"(v));
        __asm__ volatile("ucvtf %d0, %1" : "=w"(ud) : "r"(v));
        __asm__ volatile("scvtf %s0, %1" : "=w"(sf) : "r"(v));
        __asm__ volatile("ucvtf %s0, %w1" : "=w"(uf) : "r"(v));
        __asm__ volatile("scvtf %d0, %1, #16" : "=w"(fx) : "r"(v));
        uint64_t back;
        __asm__ volatile("fcvtzs %0, %d1, #16" : "=r"(back) : "w"(fx));
        printf("int %016lx: scvtf d=%016lx s=%08x ucvtf d=%016lx s(w)=%08x fixed16=%016lx back=%lx\n",
               v, dbits(sd), fbits(sf), dbits(ud), fbits(uf), dbits(fx), back);
    }
}

static void rounding_modes(void)
{
    static const char *const names[] = { "RN", "RP", "RM", "RZ" };
    double one = dfrom(0x3ff0000000000000ULL), three = dfrom(0x4008000000000000ULL);
    double tiny = dfrom(0x3c30000000000000ULL); /* 2^-60 */
    for (uint64_t mode = 0; mode < 4; mode++) {
        set_fpcr(mode << 22);
        uint64_t f;
        uint64_t third = dbits(fdiv_d(one, three, &f));
        uint64_t mthird = dbits(fdiv_d(-one, three, &f));
        uint64_t up = dbits(fadd_d(one, tiny, &f));
        uint64_t down = dbits(fsub_d(one, tiny, &f));
        uint64_t big = dbits(fmul_d(dfrom(0x7fefffffffffffffULL), three, &f));
        uint64_t nbig = dbits(fmul_d(dfrom(0xffefffffffffffffULL), three, &f));
        uint64_t sq = dbits(fsqrt_d(three, &f));
        uint64_t ri = dbits(frinti_d(dfrom(0x4004000000000000ULL), &f));
        float sthird = fdiv_s(ffrom(0x3f800000), ffrom(0x40400000), &f);
        printf("%s: 1/3=%016lx -1/3=%016lx 1+2^-60=%016lx 1-2^-60=%016lx max*3=%016lx -max*3=%016lx "
               "sqrt3=%016lx rinti(2.5)=%016lx 1/3f=%08x\n",
               names[mode], third, mthird, up, down, big, nbig, sq, ri, fbits(sthird));
    }
    set_fpcr(0);
}

static void flush_and_default_nan(void)
{
    double sub = dfrom(0x000fffffffffffffULL), norm = dfrom(0x0010000000000000ULL);
    double half = dfrom(0x3fe0000000000000ULL), snan = dfrom(0x7ff0000000000456ULL);
    double qnan = dfrom(0x7ff8000000000123ULL), two = dfrom(0x4000000000000000ULL);
    for (int fz = 0; fz < 2; fz++)
        for (int dn = 0; dn < 2; dn++) {
            set_fpcr((uint64_t)fz << 24 | (uint64_t)dn << 25);
            uint64_t f1, f2, f3, f4, f5, f6, f7;
            uint64_t a = dbits(fadd_d(sub, sub, &f1));       /* subnormal inputs */
            uint64_t b = dbits(fmul_d(norm, half, &f2));     /* subnormal result */
            uint64_t c = dbits(fadd_d(snan, two, &f3));      /* signalling NaN */
            uint64_t d = dbits(fmul_d(qnan, snan, &f4));     /* NaN priority */
            uint64_t e = dbits(fsub_d(dfrom(0x7ff0000000000000ULL), dfrom(0x7ff0000000000000ULL), &f5));
            float fs = fmul_s(ffrom(0x00800000), ffrom(0x3f000000), &f6);
            float fs2 = fadd_s(ffrom(0x00000003), ffrom(0x80000001), &f7);
            printf("FZ=%d DN=%d: sub+sub=%016lx %s", fz, dn, a, flags(f1));
            printf(" min*0.5=%016lx %s", b, flags(f2));
            printf(" snan+2=%016lx %s", c, flags(f3));
            printf(" qnan*snan=%016lx %s", d, flags(f4));
            printf(" inf-inf=%016lx %s", e, flags(f5));
            printf(" fminf*0.5=%08x %s", fbits(fs), flags(f6));
            printf(" fdenorm+fdenorm=%08x %s\n", fbits(fs2), flags(f7));
        }
    set_fpcr(0);
}

static void fused(void)
{
    static const uint64_t triples[][3] = {
        { 0x3ff0000000000001ULL, 0x3ff0000000000001ULL, 0xbff0000000000002ULL }, /* exact low bits */
        { 0x7fefffffffffffffULL, 0x4000000000000000ULL, 0xffefffffffffffffULL }, /* no overflow */
        { 0x0000000000000000ULL, 0x7ff0000000000000ULL, 0x7ff8000000000000ULL }, /* 0*inf + qnan */
        { 0x3fb999999999999aULL, 0x4024000000000000ULL, 0xbff0000000000000ULL }, /* 0.1*10 - 1 */
        { 0x8000000000000000ULL, 0x3ff0000000000000ULL, 0x0000000000000000ULL }, /* -0*1 + 0 */
    };
    for (unsigned i = 0; i < ARRAY_SIZE(triples); i++) {
        double a = dfrom(triples[i][0]), b = dfrom(triples[i][1]), c = dfrom(triples[i][2]);
        double r1, r2, r3, r4, sep;
        uint64_t f;
        __asm__ volatile("msr fpsr, xzr\n\tfmadd %d0, %d2, %d3, %d4\n\tmrs %1, fpsr"
                         : "=&w"(r1), "=r"(f) : "w"(a), "w"(b), "w"(c));
        __asm__ volatile("fmsub %d0, %d1, %d2, %d3" : "=w"(r2) : "w"(a), "w"(b), "w"(c));
        __asm__ volatile("fnmadd %d0, %d1, %d2, %d3" : "=w"(r3) : "w"(a), "w"(b), "w"(c));
        __asm__ volatile("fnmsub %d0, %d1, %d2, %d3" : "=w"(r4) : "w"(a), "w"(b), "w"(c));
        __asm__ volatile("fmul %d0, %d1, %d2\n\tfadd %d0, %d0, %d3" : "=&w"(sep) : "w"(a), "w"(b), "w"(c));
        printf("fma %u: fmadd=%016lx %s fmsub=%016lx fnmadd=%016lx fnmsub=%016lx separate=%016lx\n", i,
               dbits(r1), flags(f), dbits(r2), dbits(r3), dbits(r4), dbits(sep));
    }
}

/* Plain C floating point, as gcc compiles it. */
static void series(void)
{
    int terms = OPAQUE(2000);
    double pi4 = 0, e = 1, fact = 1, zeta2 = 0;
    for (int k = 0; k < terms; k++) {
        pi4 += (k & 1 ? -1.0 : 1.0) / (2 * k + 1);
        zeta2 += 1.0 / ((double)(k + 1) * (k + 1));
    }
    for (int k = 1; k < 20; k++) {
        fact *= k;
        e += 1 / fact;
    }
    double x = 2, root = 1;
    for (int i = 0; i < 8; i++)
        root = 0.5 * (root + x / root);
    float fsum = 0;
    for (int i = 1; i <= 1000; i++)
        fsum += 1.0f / (float)i;
    printf("pi~%016lx (%ld) e=%016lx (%ld) zeta2=%016lx sqrt2=%016lx harmonic1000f=%08x (%d)\n",
           dbits(4 * pi4), (int64_t)(4 * pi4 * 1e9), dbits(e), (int64_t)(e * 1e12), dbits(zeta2),
           dbits(root), fbits(fsum), (int)(fsum * 1000));
    volatile double vd = 1e10;
    volatile float vf = -3.75f;
    printf("conversions: %ld %d %u %ld %016lx %08x\n", (int64_t)vd, (int)vf, (unsigned)(vd / 10),
           (int64_t)(vf * 1e6f), dbits((double)vf), fbits((float)vd));
}

int main(void)
{
    binary_ops();
    min_max_compare();
    unary_ops();
    int_to_fp();
    rounding_modes();
    flush_and_default_nan();
    fused();
    series();
    return 0;
}
