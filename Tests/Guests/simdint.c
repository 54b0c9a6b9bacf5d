/* Integer AdvSIMD at the edges: saturating, rounding and narrowing forms (vector, by element and
 * scalar) with FPSR.QC after each, SQRDMLAH/SQRDMLSH (FEAT_RDM), SDOT/UDOT (FEAT_DotProd), PMULL/PMULL2
 * of 64-bit lanes (checked in-guest against a bit-by-bit carry-less product) and URECPE/URSQRTE.
 * No floating point. Exits with the number of failed in-guest checks.
 * SPDX-License-Identifier: GPL-2.0-or-later */
#include <arm_neon.h>
#include "rt.h"

static int failures;

static void clear_qc(void) { __asm__ volatile("msr fpsr, xzr"); }

static unsigned qc(void)
{
    uint64_t v;
    __asm__ volatile("mrs %0, fpsr" : "=r"(v));
    return (unsigned)(v >> 27) & 1;
}

/* Prints a result of n bytes (a vector or a scalar) as one hex number, and QC. */
static void show(const char *name, const void *p, size_t n)
{
    uint64_t w[2] = { 0, 0 };
    memcpy(w, p, n);
    if (n > 8)
        printf("%-14s %016lx%016lx qc=%u\n", name, w[1], w[0], qc());
    else
        printf("%-14s %0*lx qc=%u\n", name, (int)(2 * n), w[0], qc());
}

/* The operands, passed through empty asm statements after QC is cleared, so that the compiler can neither
 * compute a result before the FPSR write nor fold it at compile time (it does not know about QC). */
static int16x8_t ha, hb;
static int32x4_t wa, wb;
static int8x16_t ba, bb;
static uint8x16_t ua, ub;
static int64_t k0, k1, k2;
#define LAUNDER() __asm__ volatile("" : "+w"(ha), "+w"(hb), "+w"(wa), "+w"(wb), "+w"(ba), "+w"(bb), "+w"(ua), \
                                   "+w"(ub), "+r"(k0), "+r"(k1), "+r"(k2))
/* Runs one operation with QC cleared first and prints its result and QC. */
#define RUN(name, type, expr) do { \
        clear_qc(); LAUNDER(); type r_ = (expr); __asm__ volatile("" : "+w"(r_)); show(name, &r_, sizeof r_); \
    } while (0)

static void clmul_soft(uint64_t a, uint64_t b, uint64_t *hi, uint64_t *lo)
{
    uint64_t h = 0, l = 0;
    for (int i = 0; i < 64; i++)
        if ((b >> i) & 1) {
            l ^= a << i;
            if (i)
                h ^= a >> (64 - i);
        }
    *hi = h;
    *lo = l;
}

/* Multiplication in GF(2^128) modulo GCM's polynomial x^128 + x^7 + x^2 + x + 1 (in plain bit order,
 * not GHASH's reflected one): shift-and-add here, PMULL/PMULL2 with a two-step fold below. */
static void gf128_soft(uint64_t ah, uint64_t al, uint64_t bh, uint64_t bl, uint64_t *rh, uint64_t *rl)
{
    uint64_t ph = 0, pl = 0, vh = ah, vl = al;
    for (int i = 0; i < 128; i++) {
        uint64_t bit = i < 64 ? (bl >> i) & 1 : (bh >> (i - 64)) & 1;
        if (bit) { ph ^= vh; pl ^= vl; }
        uint64_t carry = vh >> 63;
        vh = vh << 1 | vl >> 63;
        vl <<= 1;
        if (carry) vl ^= 0x87;
    }
    *rh = ph;
    *rl = pl;
}

static void gf128_pmull(uint64_t ah, uint64_t al, uint64_t bh, uint64_t bl, uint64_t *rh, uint64_t *rl)
{
    poly64x2_t a = vcombine_p64(vcreate_p64(al), vcreate_p64(ah));
    poly64x2_t b = vcombine_p64(vcreate_p64(bl), vcreate_p64(bh));
    uint64x2_t lo = vreinterpretq_u64_p128(vmull_p64(vgetq_lane_p64(a, 0), vgetq_lane_p64(b, 0)));
    uint64x2_t hi = vreinterpretq_u64_p128(vmull_high_p64(a, b));
    uint64x2_t m1 = vreinterpretq_u64_p128(vmull_p64(vgetq_lane_p64(a, 0), vgetq_lane_p64(b, 1)));
    uint64x2_t m2 = vreinterpretq_u64_p128(vmull_p64(vgetq_lane_p64(a, 1), vgetq_lane_p64(b, 0)));
    uint64x2_t mid = veorq_u64(m1, m2);
    /* 256-bit product p3:p2:p1:p0 */
    uint64_t p0 = vgetq_lane_u64(lo, 0), p1 = vgetq_lane_u64(lo, 1) ^ vgetq_lane_u64(mid, 0);
    uint64_t p2 = vgetq_lane_u64(hi, 0) ^ vgetq_lane_u64(mid, 1), p3 = vgetq_lane_u64(hi, 1);
    /* Fold the top 128 bits down twice with PMULL by 0x87. */
    poly64_t r = (poly64_t)0x87;
    uint64x2_t f3 = vreinterpretq_u64_p128(vmull_p64((poly64_t)p3, r));
    p1 ^= vgetq_lane_u64(f3, 0);
    p2 ^= vgetq_lane_u64(f3, 1);
    uint64x2_t f2 = vreinterpretq_u64_p128(vmull_p64((poly64_t)p2, r));
    p0 ^= vgetq_lane_u64(f2, 0);
    p1 ^= vgetq_lane_u64(f2, 1);
    *rh = p1;
    *rl = p0;
}

/* Operand lanes for the random part: mostly the edges of each lane size, sometimes random bits. */
static uint64_t rng_state = 0x9e3779b97f4a7c15;

static uint64_t next_random(void)
{
    rng_state ^= rng_state << 13;
    rng_state ^= rng_state >> 7;
    rng_state ^= rng_state << 17;
    return rng_state;
}

static uint8x16_t edge_vector(void)
{
    static const uint8_t edges[8][2] = { { 0x00, 0x00 }, { 0xff, 0xff }, { 0x00, 0x80 }, { 0xff, 0x7f },
                                         { 0x01, 0x00 }, { 0x00, 0x40 }, { 0x01, 0x80 }, { 0xfe, 0x7f } };
    uint8_t b[16];
    uint64_t r = next_random(), bits = next_random();
    for (int i = 0; i < 16; i += 2) {
        if ((r >> i) & 1) {
            const uint8_t *e = edges[(r >> (16 + 2 * i)) & 7];
            b[i] = e[0];
            b[i + 1] = e[1];
        } else {
            b[i] = (uint8_t)(bits >> (4 * i));
            b[i + 1] = (uint8_t)(bits >> (4 * i + 8));
        }
    }
    return vld1q_u8(b);
}

/* Folds a result and QC into a running checksum. */
static uint64_t fold(uint64_t sum, const void *v)
{
    uint64_t w[2];
    memcpy(w, v, 16);
    sum = (sum ^ w[0]) * 0x100000001b3;
    sum = (sum ^ w[1]) * 0x100000001b3;
    return (sum ^ qc()) * 0x100000001b3;
}
#define FOLD(i, expr) do { \
        clear_qc(); LAUNDER(); __typeof__(expr) r_ = (expr); \
        __asm__ volatile("" : "+w"(r_)); sums[i] = fold(sums[i], &r_); saturations[i] += qc(); \
    } while (0)

/* Saturating and rounding operations on 2,000 edge-heavy random operands: a checksum of results and QC, and
 * how often QC was set, per operation. */
static void random_operands(void)
{
    enum { OPS = 24 };
    static const char *const names[OPS] = {
        "sqrdmlah16", "sqrdmlsh32", "sqrdmlah_l32", "sqrdmulh16", "sqdmulh32", "sqdmlal16", "sqdmlsl32",
        "sqdmull_l16", "sqadd8", "uqadd16", "sqsub32", "uqsub64", "sqshl16", "uqrshl32", "sqrshl64",
        "sqshlu_n8", "sqrshrn_n16", "uqshrn_n32", "sqrshrun_n64", "sqxtn16", "sqxtun32", "suqadd8",
        "usqadd32", "sqneg16",
    };
    uint64_t sums[OPS] = { 0 };
    unsigned saturations[OPS] = { 0 };
    for (int i = 0; i < 2000; i++) {
        ha = vreinterpretq_s16_u8(edge_vector()); hb = vreinterpretq_s16_u8(edge_vector());
        wa = vreinterpretq_s32_u8(edge_vector()); wb = vreinterpretq_s32_u8(edge_vector());
        ba = vreinterpretq_s8_u8(edge_vector()); bb = vreinterpretq_s8_u8(edge_vector());
        ua = vreinterpretq_u8_s8(ba); ub = vreinterpretq_u8_s8(bb);
        FOLD(0, vqrdmlahq_s16(ha, hb, vreinterpretq_s16_s8(ba)));
        FOLD(1, vqrdmlshq_s32(wa, wb, vreinterpretq_s32_s8(ba)));
        FOLD(2, vqrdmlahq_laneq_s32(wa, wb, vreinterpretq_s32_s8(bb), 3));
        FOLD(3, vqrdmulhq_s16(ha, hb));
        FOLD(4, vqdmulhq_s32(wa, wb));
        FOLD(5, vqdmlal_s16(wa, vget_low_s16(ha), vget_high_s16(hb)));
        FOLD(6, vqdmlsl_high_s32(vreinterpretq_s64_s16(ha), wa, wb));
        FOLD(7, vqdmull_laneq_s16(vget_high_s16(ha), hb, 5));
        FOLD(8, vqaddq_s8(ba, bb));
        FOLD(9, vqaddq_u16(vreinterpretq_u16_s16(ha), vreinterpretq_u16_s16(hb)));
        FOLD(10, vqsubq_s32(wa, wb));
        FOLD(11, vqsubq_u64(vreinterpretq_u64_s32(wa), vreinterpretq_u64_s32(wb)));
        FOLD(12, vqshlq_s16(ha, vreinterpretq_s16_s8(vshrq_n_s8(bb, 3))));
        FOLD(13, vqrshlq_u32(vreinterpretq_u32_s32(wa), vreinterpretq_s32_s8(vshrq_n_s8(bb, 2))));
        FOLD(14, vqrshlq_s64(vreinterpretq_s64_s16(ha), vreinterpretq_s64_s8(vshrq_n_s8(bb, 1))));
        FOLD(15, vqshluq_n_s8(ba, 3));
        FOLD(16, vcombine_s8(vqrshrn_n_s16(ha, 3), vqrshrn_n_s16(hb, 8)));
        FOLD(17, vcombine_u16(vqshrn_n_u32(vreinterpretq_u32_s32(wa), 7), vqshrn_n_u32(vreinterpretq_u32_s32(wb), 16)));
        FOLD(18, vqrshrun_high_n_s64(vqrshrun_n_s64(vreinterpretq_s64_s32(wa), 31), vreinterpretq_s64_s32(wb), 1));
        FOLD(19, vqmovn_high_s16(vqmovn_s16(ha), hb));
        FOLD(20, vqmovun_high_s32(vqmovun_s32(wa), wb));
        FOLD(21, vuqaddq_s8(ba, ub));
        FOLD(22, vsqaddq_u32(vreinterpretq_u32_s32(wa), wb));
        FOLD(23, vqnegq_s16(ha));
    }
    for (int i = 0; i < OPS; i++)
        printf("random %-14s %016lx qc set %u times\n", names[i], sums[i], saturations[i]);
}

int main(void)
{
    static const int16_t h1[8] = { INT16_MIN, INT16_MAX, -1, 1, 0x4000, -0x4000, 0x1234, 0 };
    static const int16_t h2[8] = { INT16_MIN, INT16_MAX, INT16_MIN, 0x7ffe, 0x4000, 0x4000, -0x5678, 77 };
    static const int32_t w1[4] = { INT32_MIN, INT32_MAX, 0x40000000, -3 };
    static const int32_t w2[4] = { INT32_MIN, INT32_MIN, 0x40000000, 0x7fffffff };
    static const int8_t b1[16] = { -128, 127, -1, 1, 100, -100, 55, -55, 0, 3, -128, -128, 127, 127, 9, -9 };
    static const int8_t b2[16] = { -128, -128, 127, 127, 2, 3, -4, 5, 99, -99, -128, 127, -128, 127, 0, 1 };
    ha = vld1q_s16(h1); hb = vld1q_s16(h2);
    wa = vld1q_s32(w1); wb = vld1q_s32(w2);
    ba = vld1q_s8(b1); bb = vld1q_s8(b2);
    ua = vreinterpretq_u8_s8(ba); ub = vreinterpretq_u8_s8(bb);
    k0 = 0; k1 = 1; k2 = -1;

    /* RDM: accumulate into each of a, b; by element; scalar. */
    RUN("sqrdmlah16", int16x8_t, vqrdmlahq_s16(ha, ha, hb));
    RUN("sqrdmlsh16", int16x8_t, vqrdmlshq_s16(ha, ha, hb));
    RUN("sqrdmlah32", int32x4_t, vqrdmlahq_s32(wb, wa, wb));
    RUN("sqrdmlsh32", int32x4_t, vqrdmlshq_s32(wa, wa, wb));
    RUN("sqrdmlah_l16", int16x8_t, vqrdmlahq_laneq_s16(hb, ha, hb, 1));
    RUN("sqrdmlsh_l32", int32x4_t, vqrdmlshq_laneq_s32(wa, wb, wa, 0));
    RUN("sqrdmlah_low", int16x4_t, vqrdmlah_s16(vget_low_s16(ha), vget_low_s16(hb), vget_high_s16(hb)));
    RUN("sqrdmlah h", int16_t, vqrdmlahh_s16(INT16_MAX + k0, INT16_MAX + k0, INT16_MAX + k0));
    RUN("sqrdmlsh s", int32_t, vqrdmlshs_s32(INT32_MIN + k0, INT32_MAX + k0, INT32_MAX + k0));
    RUN("sqrdmlah s[2]", int32_t, vqrdmlahs_laneq_s32(5 + k0, 0x40000000 + k0, wa, 2));
    RUN("sqrdmlsh h[7]", int16_t, vqrdmlshh_laneq_s16(-3 + k0, INT16_MIN + k0, hb, 1));

    /* DotProd. */
    RUN("sdot", int32x4_t, vdotq_s32(wa, ba, bb));
    RUN("udot", uint32x4_t, vdotq_u32(vreinterpretq_u32_s32(wb), ua, ub));
    RUN("sdot_lane", int32x4_t, vdotq_laneq_s32(wb, ba, bb, 3));
    RUN("udot_lane64", uint32x2_t, vdot_laneq_u32(vget_low_u32(vreinterpretq_u32_s32(wa)), vget_low_u8(ua), ub, 1));
    RUN("sdot64", int32x2_t, vdot_s32(vget_high_s32(wa), vget_high_s8(ba), vget_low_s8(bb)));

    /* Saturating, rounding and narrowing, vector and scalar, at the edges. */
    RUN("sqadd16", int16x8_t, vqaddq_s16(ha, hb));
    RUN("uqsub8", uint8x16_t, vqsubq_u8(ua, ub));
    RUN("sqdmulh16", int16x8_t, vqdmulhq_s16(ha, hb));
    RUN("sqrdmulh32", int32x4_t, vqrdmulhq_s32(wa, wb));
    RUN("sqrdmulh_l16", int16x8_t, vqrdmulhq_laneq_s16(ha, hb, 0));
    RUN("sqdmull32", int64x2_t, vqdmull_s32(vget_low_s32(wa), vget_low_s32(wb)));
    RUN("sqdmlal2_16", int32x4_t, vqdmlal_high_s16(wa, ha, hb));
    RUN("sqdmlsl_l32", int64x2_t, vqdmlsl_laneq_s32(vreinterpretq_s64_s32(wb), vget_low_s32(wa), wb, 0));
    RUN("sqshl_n8", int8x16_t, vqshlq_n_s8(ba, 3));
    RUN("sqshlu_n16", uint16x8_t, vqshluq_n_s16(ha, 1));
    RUN("uqshl_n32", uint32x4_t, vqshlq_n_u32(vreinterpretq_u32_s32(wa), 1));
    RUN("sqrshl16", int16x8_t, vqrshlq_s16(ha, hb));
    RUN("uqrshl8", uint8x16_t, vqrshlq_u8(ua, bb));
    RUN("srshr_n32", int32x4_t, vrshrq_n_s32(wa, 31));
    RUN("ursra_n8", uint8x16_t, vrsraq_n_u8(ua, ub, 8));
    RUN("sqrshrn_n32", int16x4_t, vqrshrn_n_s32(wa, 16));
    RUN("sqrshrun2_n16", uint8x16_t, vqrshrun_high_n_s16(vget_low_u8(ua), ha, 3));
    RUN("uqshrn_n16", uint8x8_t, vqshrn_n_u16(vreinterpretq_u16_s16(hb), 1));
    RUN("rshrn2_n32", int16x8_t, vrshrn_high_n_s32(vget_low_s16(ha), wb, 13));
    RUN("raddhn16", int8x8_t, vraddhn_s16(ha, hb));
    RUN("rsubhn2_32", int16x8_t, vrsubhn_high_s32(vget_low_s16(hb), wa, wb));
    RUN("sqxtn2_32", int16x8_t, vqmovn_high_s32(vget_low_s16(ha), wa));
    RUN("uqxtn16", uint8x8_t, vqmovn_u16(vreinterpretq_u16_s16(ha)));
    RUN("sqxtun32", uint16x4_t, vqmovun_s32(wa));
    RUN("sqabs8", int8x16_t, vqabsq_s8(ba));
    RUN("sqneg32", int32x4_t, vqnegq_s32(wa));
    RUN("suqadd8", int8x16_t, vuqaddq_s8(ba, ub));
    RUN("usqadd16", uint16x8_t, vsqaddq_u16(vreinterpretq_u16_s16(ha), hb));
    RUN("sqadd b", int8_t, vqaddb_s8(-128 + k0, k2));
    RUN("uqshl h", uint16_t, vqshlh_n_u16(0x8001 + k0, 1));
    RUN("sqdmulh s", int32_t, vqdmulhs_s32(INT32_MIN + k0, INT32_MIN + k0));
    RUN("sqrdmulh h", int16_t, vqrdmulhh_s16(INT16_MIN + k0, -0x4001 + k0));
    RUN("sqdmull d", int64_t, vqdmulls_s32(INT32_MIN + k0, INT32_MIN + k0));
    RUN("sqdmlal s", int32_t, vqdmlalh_s16(INT32_MAX + k0, 1 + k0, 1 + k0));
    RUN("sqxtn h", int16_t, vqmovns_s32(-70000 + k0));
    RUN("sqxtun b", uint8_t, vqmovunh_s16(-1 + k0));
    RUN("sqrshrn b", int8_t, vqrshrnh_n_s16(0x3fc0 + k0, 6));
    RUN("uqrshrn h", uint16_t, vqrshrns_n_u32(0xffffffffu + k0, 16));
    RUN("sqsub d", int64_t, vqsubd_s64(INT64_MIN + k0, k1));
    RUN("uqadd d", uint64_t, vqaddd_u64(~0ull + k0, k1));
    RUN("sqshl d", int64_t, vqshld_s64(INT64_MAX + k0, k1));
    RUN("sqabs d", int64_t, vqabsd_s64(INT64_MIN + k0));
    RUN("sqneg s", int32_t, vqnegs_s32(INT32_MIN + k0));
    RUN("suqadd h", int16_t, vuqaddh_s16(0x7000 + k0, 0x2000 + k0));

    /* Estimates. */
    static const uint32_t est[8] = { 0x80000000, 0x7fffffff, 0xffffffff, 0x40000000,
                                     0xc0000000, 0x3fffffff, 0x9a3b2c1d, 0x12345678 };
    for (int i = 0; i < 8; i += 4) {
        uint32x4_t x = vld1q_u32(est + i);
        RUN("urecpe", uint32x4_t, vrecpeq_u32(x));
        RUN("ursqrte", uint32x4_t, vrsqrteq_u32(x));
        RUN("ursqrte 2s", uint32x2_t, vrsqrte_u32(vget_high_u32(x)));
    }

    /* PMULL .1Q against a bit-by-bit reference, and GHASH's field multiply. */
    static const uint64_t polys[6] = { 0, 1, 0x8000000000000000, 0xffffffffffffffff, 0x0123456789abcdef,
                                       0xc200000000000000 };
    for (int i = 0; i < 6; i++)
        for (int j = i; j < 6; j++) {
            uint64_t hi, lo;
            clmul_soft(polys[i], polys[j], &hi, &lo);
            uint64x2_t p = vreinterpretq_u64_p128(vmull_p64((poly64_t)polys[i], (poly64_t)polys[j]));
            int ok = vgetq_lane_u64(p, 0) == lo && vgetq_lane_u64(p, 1) == hi;
            failures += !ok;
            printf("pmull %d,%d %016lx%016lx %s\n", i, j, vgetq_lane_u64(p, 1), vgetq_lane_u64(p, 0),
                   ok ? "ok" : "MISMATCH");
        }
    uint64_t rh, rl, sh2, sl2;
    gf128_pmull(0x66e94bd4ef8a2c3b, 0x884cfa59ca342b2e, 0x0388dace60b6a392, 0xf328c2b971b2fe78, &rh, &rl);
    gf128_soft(0x66e94bd4ef8a2c3b, 0x884cfa59ca342b2e, 0x0388dace60b6a392, 0xf328c2b971b2fe78, &sh2, &sl2);
    failures += rh != sh2 || rl != sl2;
    printf("gf128 %016lx%016lx %s\n", rh, rl, rh == sh2 && rl == sl2 ? "ok" : "MISMATCH");

    random_operands();
    printf("simdint: %d failures\n", failures);
    return failures;
}
