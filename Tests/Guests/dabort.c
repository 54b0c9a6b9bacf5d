/* Aborts on addresses outside RAM and devices (0x50000000, above the 128 MiB of RAM):
 * loads and stores of several sizes (data abort, EC=0x25), an instruction fetch (EC=0x21),
 * and a branch to a misaligned PC (EC=0x22). The handler prints the syndrome fields QEMU
 * reports and resumes after the access (or at the caller for fetches).
 * SPDX-License-Identifier: GPL-2.0-or-later */
#include "rt.h"

#define HOLE 0x50000000UL

static unsigned aborts;
static uint64_t last_esr, last_far, last_elr;

int handle_sync(struct frame *f)
{
    unsigned ec = esr_ec(f->esr);
    if (ec != EC_DABORT_SAME && ec != EC_IABORT_SAME && ec != EC_PC_ALIGN)
        return 0;
    aborts++;
    last_esr = f->esr;
    last_far = f->far;
    last_elr = f->elr;
    if (ec == EC_DABORT_SAME)
        f->elr += 4;
    else
        f->elr = f->x[30]; /* a bad branch target: return to whoever called it */
    return 1;
}

/* Prints the fields QEMU fills in: EC, WnR and the fault status code (0x10: synchronous
 * external abort); ISV is left out (QEMU reports 0, which the architecture does not require). */
static void report(const char *what, uint64_t at, uint64_t expected_far)
{
    uint64_t esr = last_esr;
    printf("%-13s EC=0x%02x IL=%lu WnR=%lu FSC=0x%02lx FAR%s elr-at=%ld\n", what, esr_ec(esr),
           esr >> 25 & 1, esr >> 6 & 1, esr & 0x3f, last_far == expected_far ? "=address" : "=WRONG",
           (long)(last_elr - at));
}

#define ACCESS(what, insn, addr)                                                                 \
    do {                                                                                         \
        uint64_t at, value = 0x5a5a;                                                             \
        __asm__ volatile("adr %0, 1f\n1:\t" insn : "=&r"(at), "+r"(value) : "r"(addr) : "memory"); \
        report(what, at, addr);                                                                  \
    } while (0)

int main(void)
{
    ACCESS("ldr x", "ldr %1, [%2]", HOLE);
    ACCESS("ldr w", "ldr %w1, [%2]", HOLE + 0x10);
    ACCESS("ldrb", "ldrb %w1, [%2]", HOLE + 0x123);
    ACCESS("ldrsh", "ldrsh %1, [%2]", HOLE + 0x2000);
    ACCESS("str x", "str %1, [%2]", HOLE + 8);
    ACCESS("strb", "strb %w1, [%2]", HOLE + 0xfff);
    ACCESS("ldp", "ldp %1, xzr, [%2]", HOLE + 0x40);
    ACCESS("stp", "stp %1, %1, [%2]", HOLE + 0x80);
    ACCESS("ldr q", "ldr q16, [%2]", HOLE + 0x100);

    typedef void (*fn)(void);
    ((fn)OPAQUE(HOLE + 0x400))();
    report("fetch", HOLE + 0x400, HOLE + 0x400);
    ((fn)OPAQUE((uintptr_t)main + 2))();
    report("misaligned pc", (uintptr_t)main + 2, (uintptr_t)main + 2);
    printf("aborts=%u\n", aborts);
    return 0;
}
