/* Supervisor calls at EL1: the handler reads the SVC immediate from ESR_EL1, dispatches on it,
 * returns values in x0/x1, and every other register survives the round trip.
 * SPDX-License-Identifier: GPL-2.0-or-later */
#include "rt.h"

static unsigned calls;
static uint64_t last_esr;

int handle_sync(struct frame *f)
{
    if (esr_ec(f->esr) != EC_SVC64)
        return 0;
    calls++;
    last_esr = f->esr;
    unsigned imm = f->esr & 0xffff;
    switch (imm) {
    case 0: /* add */
        f->x[0] = f->x[0] + f->x[1];
        break;
    case 1: { /* multiply, high half in x1 */
        uint64_t lo_factor = f->x[1];
        f->x[1] = (uint64_t)(((unsigned __int128)f->x[0] * f->x[1]) >> 64);
        f->x[0] = f->x[0] * lo_factor;
        break;
    }
    case 2: /* how many calls so far */
        f->x[0] = calls;
        break;
    case 0x1234: /* sum of x0..x7 */
        f->x[0] = f->x[0] + f->x[1] + f->x[2] + f->x[3] + f->x[4] + f->x[5] + f->x[6] + f->x[7];
        break;
    default:
        f->x[0] = 0xbad0000 | imm;
        break;
    }
    /* ELR_EL1 already points after the SVC. */
    return 1;
}

#define SVC2(imm, a, b, out0, out1)                                                              \
    do {                                                                                          \
        register uint64_t svc_x0_ __asm__("x0") = (a);                                            \
        register uint64_t svc_x1_ __asm__("x1") = (b);                                            \
        __asm__ volatile("svc #" #imm : "+r"(svc_x0_), "+r"(svc_x1_) : : "memory");                \
        out0 = svc_x0_;                                                                           \
        out1 = svc_x1_;                                                                           \
    } while (0)

int main(void)
{
    uint64_t r0, r1;
    SVC2(0, 40, 2, r0, r1);
    printf("svc #0 (add 40, 2) -> %lu, esr=%08lx\n", r0, last_esr);
    SVC2(1, 0xffffffffffffffffULL, 0x10, r0, r1);
    printf("svc #1 (mul) -> lo=%016lx (hi reported %lx)\n", r0, r1);
    SVC2(2, 0, 0, r0, r1);
    printf("svc #2 (count) -> %lu\n", r0);
    SVC2(0xffff, 0, 0, r0, r1);
    printf("svc #0xffff -> %lx, esr=%08lx\n", r0, last_esr);
    SVC2(0x8000, 0, 0, r0, r1);
    printf("svc #0x8000 -> %lx\n", r0);

    /* Eight arguments in, and x9..x26 must come back unchanged. */
    uint64_t regs[18], after[18], sum;
    for (int i = 0; i < 18; i++)
        regs[i] = 0x1111111111111111ULL * (uint64_t)(i % 15 + 1) + (uint64_t)i;
    __asm__ volatile(
        "ldp x9, x10, [%[in], #0]\n\tldp x11, x12, [%[in], #16]\n\tldp x13, x14, [%[in], #32]\n\t"
        "ldp x15, x16, [%[in], #48]\n\tldp x17, x18, [%[in], #64]\n\tldp x19, x20, [%[in], #80]\n\t"
        "ldp x21, x22, [%[in], #96]\n\tldp x23, x24, [%[in], #112]\n\tldp x25, x26, [%[in], #128]\n\t"
        "mov x0, #1\n\tmov x1, #2\n\tmov x2, #3\n\tmov x3, #4\n\tmov x4, #5\n\tmov x5, #6\n\tmov x6, #7\n\tmov x7, #8\n\t"
        "svc #0x1234\n\t"
        "mov %[sum], x0\n\t"
        "stp x9, x10, [%[out], #0]\n\tstp x11, x12, [%[out], #16]\n\tstp x13, x14, [%[out], #32]\n\t"
        "stp x15, x16, [%[out], #48]\n\tstp x17, x18, [%[out], #64]\n\tstp x19, x20, [%[out], #80]\n\t"
        "stp x21, x22, [%[out], #96]\n\tstp x23, x24, [%[out], #112]\n\tstp x25, x26, [%[out], #128]"
        : [sum] "=&r"(sum)
        : [in] "r"(regs), [out] "r"(after)
        : "x0", "x1", "x2", "x3", "x4", "x5", "x6", "x7", "x9", "x10", "x11", "x12", "x13", "x14",
          "x15", "x16", "x17", "x18", "x19", "x20", "x21", "x22", "x23", "x24", "x25", "x26",
          "memory");
    printf("svc #0x1234 (sum 1..8) -> %lu, x9..x26 preserved: %s\n", sum,
           memcmp(regs, after, sizeof(regs)) == 0 ? "yes" : "NO");

    /* Many calls in a loop, with the flags set around them. */
    uint64_t total = 0;
    for (uint64_t i = 0; i < 1000; i++) {
        SVC2(0, total, i, r0, r1);
        total = r0;
    }
    printf("1000 calls: total %lu, calls %u\n", total, calls);
    return 0;
}
