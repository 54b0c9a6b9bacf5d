/* Entry point of secondary CPUs started with PSCI CPU_ON. PSCI enters here at EL1 with the MMU
 * off and x0 = the context argument, which smp_start makes a struct smp_boot pointer.
 * SPDX-License-Identifier: GPL-2.0-or-later */

    .text
    .balign 4
    .global smp_secondary_entry
smp_secondary_entry:
    /* struct smp_boot: stack_top is the first field. */
    ldr     x1, [x0]
    mov     sp, x1
    /* Same set-up as CPU 0's _start (rt/start.S): FP/SIMD on, the runtime's vector table. */
    mov     x1, #(3 << 20)
    msr     cpacr_el1, x1
    isb
    adr     x1, vectors
    msr     vbar_el1, x1
    isb
    bl      smp_secondary_main
    /* smp_secondary_main powers the CPU off and does not return. */
1:  wfi
    b       1b
