/* Entering and leaving a generated block of the differential fuzz test (see harness.c).
 * SPDX-License-Identifier: GPL-2.0-or-later
 *
 * A block may change every general register except SP, so neither side can keep anything in
 * one: fuzz_enter starts the block with ERET (ELR = the code, SPSR = EL1h with the block's NZCV),
 * which needs no register, and fuzz_exit finds its way back through the stack, which the block
 * never moves.
 *
 * Built with FUZZ_SIMD defined when the emud under test has SIMD&FP loads and stores: then the
 * blocks also start from, and report, v0..v31. The rest of the guest is built with
 * -mgeneral-regs-only, so no caller keeps anything in v8..v15 across fuzz_enter.
 */

/* struct fuzz_state: x0..x30 at 0, nzcv at 248, v0..v31 (16 bytes each) at 256, fpcr at 768, fpsr at 776. */
#define STATE_NZCV 248
#define STATE_V 256
#define STATE_FPCR 768
#define STATE_FPSR 776
#define FRAME 96

    .text
    .global fuzz_enter
    .global fuzz_exit

/* void fuzz_enter(const struct fuzz_state *state, const uint32_t *code) */
fuzz_enter:
    stp     x29, x30, [sp, #-FRAME]!
    stp     x19, x20, [sp, #16]
    stp     x21, x22, [sp, #32]
    stp     x23, x24, [sp, #48]
    stp     x25, x26, [sp, #64]
    stp     x27, x28, [sp, #80]
    msr     elr_el1, x1
    ldr     x2, [x0, #STATE_NZCV]
    and     x2, x2, #0xf0000000
    mov     x3, #0x3c5              /* EL1h, D A I F masked */
    orr     x2, x2, x3
    msr     spsr_el1, x2
#ifdef FUZZ_SIMD
    add     x1, x0, #STATE_V
    ldp     q0, q1, [x1], #32
    ldp     q2, q3, [x1], #32
    ldp     q4, q5, [x1], #32
    ldp     q6, q7, [x1], #32
    ldp     q8, q9, [x1], #32
    ldp     q10, q11, [x1], #32
    ldp     q12, q13, [x1], #32
    ldp     q14, q15, [x1], #32
    ldp     q16, q17, [x1], #32
    ldp     q18, q19, [x1], #32
    ldp     q20, q21, [x1], #32
    ldp     q22, q23, [x1], #32
    ldp     q24, q25, [x1], #32
    ldp     q26, q27, [x1], #32
    ldp     q28, q29, [x1], #32
    ldp     q30, q31, [x1], #32
    ldr     x2, [x0, #STATE_FPCR]
    msr     fpcr, x2
    msr     fpsr, xzr
#endif
    ldp     x2, x3, [x0, #16]
    ldp     x4, x5, [x0, #32]
    ldp     x6, x7, [x0, #48]
    ldp     x8, x9, [x0, #64]
    ldp     x10, x11, [x0, #80]
    ldp     x12, x13, [x0, #96]
    ldp     x14, x15, [x0, #112]
    ldp     x16, x17, [x0, #128]
    ldp     x18, x19, [x0, #144]
    ldp     x20, x21, [x0, #160]
    ldp     x22, x23, [x0, #176]
    ldp     x24, x25, [x0, #192]
    ldp     x26, x27, [x0, #208]
    ldp     x28, x29, [x0, #224]
    ldr     x30, [x0, #240]
    ldp     x0, x1, [x0]
    eret

fuzz_exit:
    stp     x0, x1, [sp, #-16]!
    adrp    x0, fuzz_saved
    add     x0, x0, :lo12:fuzz_saved
    stp     x2, x3, [x0, #16]
    stp     x4, x5, [x0, #32]
    stp     x6, x7, [x0, #48]
    stp     x8, x9, [x0, #64]
    stp     x10, x11, [x0, #80]
    stp     x12, x13, [x0, #96]
    stp     x14, x15, [x0, #112]
    stp     x16, x17, [x0, #128]
    stp     x18, x19, [x0, #144]
    stp     x20, x21, [x0, #160]
    stp     x22, x23, [x0, #176]
    stp     x24, x25, [x0, #192]
    stp     x26, x27, [x0, #208]
    stp     x28, x29, [x0, #224]
    str     x30, [x0, #240]
    ldp     x2, x3, [sp], #16
    stp     x2, x3, [x0]
    mrs     x2, nzcv
    str     x2, [x0, #STATE_NZCV]
#ifdef FUZZ_SIMD
    add     x1, x0, #STATE_V
    stp     q0, q1, [x1], #32
    stp     q2, q3, [x1], #32
    stp     q4, q5, [x1], #32
    stp     q6, q7, [x1], #32
    stp     q8, q9, [x1], #32
    stp     q10, q11, [x1], #32
    stp     q12, q13, [x1], #32
    stp     q14, q15, [x1], #32
    stp     q16, q17, [x1], #32
    stp     q18, q19, [x1], #32
    stp     q20, q21, [x1], #32
    stp     q22, q23, [x1], #32
    stp     q24, q25, [x1], #32
    stp     q26, q27, [x1], #32
    stp     q28, q29, [x1], #32
    stp     q30, q31, [x1], #32
    mrs     x2, fpsr
    str     x2, [x0, #STATE_FPSR]
    msr     fpcr, xzr
#endif
    ldp     x19, x20, [sp, #16]
    ldp     x21, x22, [sp, #32]
    ldp     x23, x24, [sp, #48]
    ldp     x25, x26, [sp, #64]
    ldp     x27, x28, [sp, #80]
    ldp     x29, x30, [sp], #FRAME
    ret
