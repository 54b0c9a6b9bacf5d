/* PSCI through HVC #0, as QEMU's virt board provides it when booted at EL1: PSCI_VERSION,
 * an unknown function (NOT_SUPPORTED), then SYSTEM_OFF, which powers the machine off with exit
 * status 0 and never returns.
 * SPDX-License-Identifier: GPL-2.0-or-later */
#include "rt.h"

#define PSCI_VERSION 0x84000000u
#define PSCI_SYSTEM_OFF 0x84000008u

static uint64_t psci(uint64_t function, uint64_t a1, uint64_t a2, uint64_t a3)
{
    register uint64_t x0 __asm__("x0") = function;
    register uint64_t x1 __asm__("x1") = a1;
    register uint64_t x2 __asm__("x2") = a2;
    register uint64_t x3 __asm__("x3") = a3;
    __asm__ volatile("hvc #0" : "+r"(x0), "+r"(x1), "+r"(x2), "+r"(x3) : : "memory");
    return x0;
}

int main(void)
{
    uint64_t v = psci(PSCI_VERSION, 0, 0, 0);
    printf("PSCI_VERSION -> %lx (major %lu, minor %lu)\n", v, v >> 16, v & 0xffff);
    int64_t r = (int64_t)psci(0x8400001f, 0, 0, 0);
    printf("unknown function 0x8400001f -> %ld\n", r);
    printf("SYSTEM_OFF\n");
    psci(PSCI_SYSTEM_OFF, 0, 0, 0);
    printf("SYSTEM_OFF returned\n");
    return 1;
}
