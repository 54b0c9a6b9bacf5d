/* Entry point and exception vectors for emud's guest programs.
 * SPDX-License-Identifier: GPL-2.0-or-later
 *
 * QEMU's virt board with an ELF -kernel enters here at EL1 with the MMU off, no boot stub.
 */

    .section .text.start, "ax"
    .global _start
_start:
    ldr     x0, =__stack_top
    mov     sp, x0
    /* CPACR_EL1.FPEN = 3: gcc and libgcc use FP/SIMD registers freely. */
    mov     x0, #(3 << 20)
    msr     cpacr_el1, x0
    isb
    adr     x0, vectors
    msr     vbar_el1, x0
    isb
    ldr     x0, =__bss_start
    ldr     x1, =__bss_end
1:  cmp     x0, x1
    b.hs    2f
    stp     xzr, xzr, [x0], #16
    b       1b
2:  bl      main
    bl      exit
    b       .

/* struct frame in rt.h: x0..x30, sp, elr, spsr, esr, far. */
#define FRAME_SIZE 288
#define FRAME_SP 248
#define FRAME_ELR 256
#define FRAME_SPSR 264
#define FRAME_ESR 272
#define FRAME_FAR 280

    .macro vector slot
    .balign 0x80
    sub     sp, sp, #FRAME_SIZE
    stp     x0, x1, [sp, #0]
    mov     x0, #\slot
    b       exception_entry
    .endm

    .text
    .balign 0x800
    .global vectors
vectors:
    .irp slot, 0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15
    vector \slot
    .endr

/* x0 = slot; x0/x1 of the interrupted context are already saved. */
exception_entry:
    stp     x2, x3, [sp, #16]
    stp     x4, x5, [sp, #32]
    stp     x6, x7, [sp, #48]
    stp     x8, x9, [sp, #64]
    stp     x10, x11, [sp, #80]
    stp     x12, x13, [sp, #96]
    stp     x14, x15, [sp, #112]
    stp     x16, x17, [sp, #128]
    stp     x18, x19, [sp, #144]
    stp     x20, x21, [sp, #160]
    stp     x22, x23, [sp, #176]
    stp     x24, x25, [sp, #192]
    stp     x26, x27, [sp, #208]
    stp     x28, x29, [sp, #224]
    str     x30, [sp, #240]
    /* Slots 8..15 come from EL0, whose stack pointer is SP_EL0. */
    cmp     x0, #8
    b.hs    1f
    add     x1, sp, #FRAME_SIZE
    b       2f
1:  mrs     x1, sp_el0
2:  str     x1, [sp, #FRAME_SP]
    mrs     x1, elr_el1
    mrs     x2, spsr_el1
    stp     x1, x2, [sp, #FRAME_ELR]
    mrs     x1, esr_el1
    mrs     x2, far_el1
    stp     x1, x2, [sp, #FRAME_ESR]
    mov     x19, x0
    mov     x1, sp
    bl      rt_exception
    cmp     x19, #8
    b.lo    3f
    ldr     x1, [sp, #FRAME_SP]
    msr     sp_el0, x1
3:  ldp     x1, x2, [sp, #FRAME_ELR]
    msr     elr_el1, x1
    msr     spsr_el1, x2
    ldp     x2, x3, [sp, #16]
    ldp     x4, x5, [sp, #32]
    ldp     x6, x7, [sp, #48]
    ldp     x8, x9, [sp, #64]
    ldp     x10, x11, [sp, #80]
    ldp     x12, x13, [sp, #96]
    ldp     x14, x15, [sp, #112]
    ldp     x16, x17, [sp, #128]
    ldp     x18, x19, [sp, #144]
    ldp     x20, x21, [sp, #160]
    ldp     x22, x23, [sp, #176]
    ldp     x24, x25, [sp, #192]
    ldp     x26, x27, [sp, #208]
    ldp     x28, x29, [sp, #224]
    ldr     x30, [sp, #240]
    ldp     x0, x1, [sp, #0]
    add     sp, sp, #FRAME_SIZE
    eret

/* void enter_el0(void (*fn)(void), void *sp_el0): runs fn at EL0t with interrupts masked.
 * Returns when a handler sets the frame's elr to el0_return and its spsr to EL1h (see el0.c);
 * the handler's x0 becomes the return value. */
    .global enter_el0
    .global el0_return
enter_el0:
    stp     x29, x30, [sp, #-96]!
    stp     x19, x20, [sp, #16]
    stp     x21, x22, [sp, #32]
    stp     x23, x24, [sp, #48]
    stp     x25, x26, [sp, #64]
    stp     x27, x28, [sp, #80]
    msr     sp_el0, x1
    msr     elr_el1, x0
    mov     x2, #0x3c0          /* EL0t, D A I F masked */
    msr     spsr_el1, x2
    eret
el0_return:
    ldp     x19, x20, [sp, #16]
    ldp     x21, x22, [sp, #32]
    ldp     x23, x24, [sp, #48]
    ldp     x25, x26, [sp, #64]
    ldp     x27, x28, [sp, #80]
    ldp     x29, x30, [sp], #96
    ret
