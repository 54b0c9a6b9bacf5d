/* AdvSIMD through the ACLE intrinsics: integer lanes of every size, saturating and halving
 * arithmetic, widening/narrowing, shifts by register (negative = right), table lookups,
 * permutes, reductions, compares and selects, interleaved loads/stores, float vectors.
 * Every result is printed as its 128 bits.
 * SPDX-License-Identifier: GPL-2.0-or-later */
#include <arm_neon.h>
#include "rt.h"

static void show(const char *name, uint8x16_t v)
{
    uint64_t lo = vgetq_lane_u64(vreinterpretq_u64_u8(v), 0);
    uint64_t hi = vgetq_lane_u64(vreinterpretq_u64_u8(v), 1);
    printf("%-10s %016lx%016lx\n", name, hi, lo);
}
#define SHOW(name, v) show(name, vreinterpretq_u8_##v)

static uint8_t bytes[64];

int main(void)
{
    for (int i = 0; i < 64; i++)
        bytes[i] = (uint8_t)(i * 37 + 11);
    uint8x16_t a = vld1q_u8(bytes), b = vld1q_u8(bytes + 16);
    int8x16_t sa = vreinterpretq_s8_u8(a), sb = vreinterpretq_s8_u8(b);
    int16x8_t ha = vreinterpretq_s16_u8(a), hb = vreinterpretq_s16_u8(b);
    int32x4_t wa = vreinterpretq_s32_u8(a), wb = vreinterpretq_s32_u8(b);
    uint64x2_t da = vreinterpretq_u64_u8(a), db = vreinterpretq_u64_u8(b);

    show("a", a);
    show("b", b);
    show("add8", vaddq_u8(a, b));
    SHOW("sub16", u16(vsubq_u16(vreinterpretq_u16_u8(a), vreinterpretq_u16_u8(b))));
    SHOW("mul32", s32(vmulq_s32(wa, wb)));
    SHOW("add64", u64(vaddq_u64(da, db)));
    SHOW("qadd_s8", s8(vqaddq_s8(sa, sb)));
    show("qadd_u8", vqaddq_u8(a, b));
    SHOW("qsub_s16", s16(vqsubq_s16(ha, hb)));
    show("qsub_u8", vqsubq_u8(a, b));
    SHOW("qdmulh16", s16(vqdmulhq_s16(ha, hb)));
    SHOW("qrdmulh32", s32(vqrdmulhq_s32(wa, wb)));
    show("hadd_u8", vhaddq_u8(a, b));
    show("rhadd_u8", vrhaddq_u8(a, b));
    SHOW("hsub_s8", s8(vhsubq_s8(sa, sb)));
    show("abd_u8", vabdq_u8(a, b));
    SHOW("aba_s16", s16(vabaq_s16(ha, ha, hb)));
    show("max_u8", vmaxq_u8(a, b));
    SHOW("min_s8", s8(vminq_s8(sa, sb)));
    SHOW("mla16", s16(vmlaq_s16(ha, ha, hb)));
    SHOW("mls32", s32(vmlsq_s32(wa, wa, wb)));
    SHOW("mull_u8", u16(vmull_u8(vget_low_u8(a), vget_low_u8(b))));
    SHOW("mull_hi_s16", s32(vmull_high_s16(ha, hb)));
    SHOW("qdmull_s32", s64(vqdmull_s32(vget_low_s32(wa), vget_high_s32(wb))));
    SHOW("pmul", p8(vmulq_p8(vreinterpretq_p8_u8(a), vreinterpretq_p8_u8(b))));

    /* Shifts. */
    int8x16_t amounts = { -9, -8, -7, -1, 0, 1, 2, 7, 8, 9, -3, 3, -128, 127, 5, -5 };
    SHOW("sshl8", s8(vshlq_s8(sa, amounts)));
    show("ushl8", vshlq_u8(a, amounts));
    SHOW("srshl8", s8(vrshlq_s8(sa, amounts)));
    SHOW("sqshl8", s8(vqshlq_s8(sa, amounts)));
    show("uqrshl8", vqrshlq_u8(a, amounts));
    SHOW("shr_s16", s16(vshrq_n_s16(ha, 3)));
    SHOW("rshr_u32", u32(vrshrq_n_u32(vreinterpretq_u32_u8(a), 7)));
    SHOW("sra_s64", s64(vsraq_n_s64(vreinterpretq_s64_u8(a), vreinterpretq_s64_u8(b), 60)));
    SHOW("shl_n64", u64(vshlq_n_u64(da, 63)));
    SHOW("sli32", u32(vsliq_n_u32(vreinterpretq_u32_u8(a), vreinterpretq_u32_u8(b), 9)));
    SHOW("sri16", u16(vsriq_n_u16(vreinterpretq_u16_u8(a), vreinterpretq_u16_u8(b), 5)));
    show("shrn", (vcombine_u8(vshrn_n_u16(vreinterpretq_u16_u8(a), 4),
                                vqshrn_n_u16(vreinterpretq_u16_u8(b), 2))));
    SHOW("qmovn", s8(vcombine_s8(vqmovn_s16(ha), vqmovn_s16(hb))));
    SHOW("qmovun", u16(vcombine_u16(vqmovun_s32(wa), vqmovun_s32(wb))));
    SHOW("shll", u16(vshll_n_u8(vget_low_u8(a), 8)));
    SHOW("movl", s32(vmovl_s16(vget_high_s16(hb))));

    /* Permutes and lookups. */
    uint8x16_t idx = { 0, 17, 31, 32, 5, 255, 16, 1, 15, 14, 40, 2, 30, 3, 18, 64 };
    uint8x16x2_t pair = { { a, b } };
    show("tbl1", vqtbl1q_u8(a, idx));
    show("tbl2", vqtbl2q_u8(pair, idx));
    show("tbx1", vqtbx1q_u8(b, a, idx));
    show("zip1", vzip1q_u8(a, b));
    show("zip2", vzip2q_u8(a, b));
    show("uzp1", vuzp1q_u8(a, b));
    SHOW("uzp2_16", u16(vuzp2q_u16(vreinterpretq_u16_u8(a), vreinterpretq_u16_u8(b))));
    SHOW("trn1_32", u32(vtrn1q_u32(vreinterpretq_u32_u8(a), vreinterpretq_u32_u8(b))));
    show("trn2_8", vtrn2q_u8(a, b));
    show("ext5", vextq_u8(a, b, 5));
    show("rev64", vrev64q_u8(a));
    SHOW("rev32_16", u16(vrev32q_u16(vreinterpretq_u16_u8(a))));
    show("dup_lane", vdupq_laneq_u8(a, 9));
    show("ins", vsetq_lane_u8(0xee, vcopyq_laneq_u8(a, 3, b, 12), 15));

    /* Bitwise, counts, compares. */
    show("cnt", vcntq_u8(a));
    show("clz", vclzq_u8(a));
    SHOW("cls16", s16(vclsq_s16(ha)));
    show("rbit", vrbitq_u8(a));
    show("bsl", vbslq_u8(vcgtq_u8(a, b), a, vmvnq_u8(b)));
    show("bic_orn", vornq_u8(vbicq_u8(a, b), vandq_u8(a, b)));
    show("eor3ish", veorq_u8(veorq_u8(a, b), vdupq_n_u8(0x5a)));
    SHOW("cmge_s16", u16(vcgeq_s16(ha, hb)));
    show("cmeq0", vceqzq_s8(vsubq_s8(sa, sa)));
    SHOW("cmlt0_32", u32(vcltzq_s32(wa)));
    show("tst", vtstq_u8(a, b));
    SHOW("abs_s8", s8(vabsq_s8(sa)));
    SHOW("qabs_qneg", s8(vqnegq_s8(vqabsq_s8(sa))));
    SHOW("neg64", s64(vnegq_s64(vreinterpretq_s64_u8(a))));

    /* Reductions and pairwise. */
    printf("addv=%u maxv=%u minv=%u saddlv=%d uaddlv=%u addv32=%d maxv_s16=%d\n", vaddvq_u8(a),
           vmaxvq_u8(a), vminvq_u8(b), vaddlvq_s8(sa), vaddlvq_u8(b), vaddvq_s32(wa),
           vmaxvq_s16(hb));
    show("addp", vpaddq_u8(a, b));
    SHOW("paddl", u16(vpaddlq_u8(a)));
    SHOW("padal", s32(vpadalq_s16(wa, hb)));
    show("pmax", vpmaxq_u8(a, b));

    /* Interleaved loads and stores. */
    uint8x16x3_t tri = vld3q_u8(bytes);
    show("ld3.0", tri.val[0]);
    show("ld3.2", tri.val[2]);
    uint16x8x2_t two = vld2q_u16((const uint16_t *)bytes);
    SHOW("ld2.1", u16(two.val[1]));
    uint32x4x4_t four = vld4q_u32((const uint32_t *)bytes);
    SHOW("ld4.3", u32(four.val[3]));
    static uint8_t out[64];
    vst3q_u8(out, tri);
    printf("st3 round trip %s\n", memcmp(out, bytes, 48) == 0 ? "ok" : "BROKEN");
    uint8x16_t lanes = vld1q_lane_u8(bytes + 50, a, 7);
    show("ld1_lane", lanes);
    uint8x16_t rep = vld1q_dup_u8(bytes + 33);
    show("ld1r", rep);
    vst1q_lane_u32((uint32_t *)out, vreinterpretq_u32_u8(b), 2);
    printf("st1 lane %08x\n", *(uint32_t *)out);

#ifdef EMUD_FP_ARITHMETIC
    /* Floating-point vectors (the Makefile builds simd with -DEMUD_FP_ARITHMETIC). */
    float32x4_t fa = { 1.5f, -2.25f, 1e30f, 3.0f }, fb = { 0.5f, 4.0f, 1e10f, -0.0f };
    SHOW("fadd", f32(vaddq_f32(fa, fb)));
    SHOW("fmul", f32(vmulq_f32(fa, fb)));
    SHOW("fdiv", f32(vdivq_f32(fa, fb)));
    SHOW("fma", f32(vfmaq_f32(fa, fa, fb)));
    SHOW("fmaxnm", f32(vmaxnmq_f32(fa, fb)));
    SHOW("fabs_neg", f32(vnegq_f32(vabsq_f32(fb))));
    SHOW("fsqrt", f32(vsqrtq_f32(vabsq_f32(fa))));
    SHOW("cvt_s32", s32(vcvtq_s32_f32(fa)));
    SHOW("cvtn_s32", s32(vcvtnq_s32_f32(fa)));
    SHOW("cvt_f32", f32(vcvtq_f32_s32(wa)));
    SHOW("fcmgt", u32(vcgtq_f32(fa, fb)));
    SHOW("faddp", f32(vpaddq_f32(fa, fb)));
    printf("fmaxv=%08x fminnmv=%08x\n", (unsigned)vgetq_lane_u32(vreinterpretq_u32_f32(vdupq_n_f32(vmaxvq_f32(fa))), 0),
           (unsigned)vgetq_lane_u32(vreinterpretq_u32_f32(vdupq_n_f32(vminnmvq_f32(fb))), 0));
    float64x2_t dx = { 2.0, -1e-300 }, dy = { 3.0, 1e-300 };
    SHOW("fmul64", f64(vmulq_f64(dx, dy)));
    SHOW("fcvtn", f32(vcvt_high_f32_f64(vcvt_f32_f64(dx), dy)));
    SHOW("fcvtl", f64(vcvt_f64_f32(vget_low_f32(fa))));
    SHOW("frinta", f32(vrndaq_f32(fa)));
#endif
    /* URECPE: an integer instruction despite its FP-style estimate. */
    SHOW("urecpe", u32(vrecpeq_u32(vreinterpretq_u32_u8(a))));
    return 0;
}
