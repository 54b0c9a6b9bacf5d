/* BRK: the handler reads the 16-bit immediate from ESR_EL1 (EC=0x3c), sees ELR pointing at
 * the BRK itself, and resumes after it.
 * SPDX-License-Identifier: GPL-2.0-or-later */
#include "rt.h"

static unsigned hits;
static uint64_t last_esr, last_elr;

int handle_sync(struct frame *f)
{
    if (esr_ec(f->esr) != EC_BRK64)
        return 0;
    hits++;
    last_esr = f->esr;
    last_elr = f->elr;
    /* brk #0x77 asks the handler to put a value in x0 */
    if ((f->esr & 0xffff) == 0x77)
        f->x[0] = 0x7700 + hits;
    f->elr += 4;
    return 1;
}

#define BRK(imm)                                                                                 \
    do {                                                                                         \
        uint64_t at;                                                                             \
        __asm__ volatile("adr %0, 1f\n1:\tbrk #" #imm : "=r"(at) : : "x0", "memory");            \
        printf("brk #%-6s esr=%08lx imm=%04lx elr-at=%ld\n", #imm, last_esr, last_esr & 0xffff, \
               (long)(last_elr - at));                                                           \
    } while (0)

int main(void)
{
    BRK(0);
    BRK(1);
    BRK(0x77);
    BRK(0x1234);
    BRK(0xffff);
    register uint64_t x0 __asm__("x0") = 0;
    __asm__ volatile("brk #0x77" : "+r"(x0) : : "memory");
    printf("value from handler: %lx\n", x0);
    BRK(0x3e8); /* what gcc emits for __builtin_trap() */
    for (int i = 0; i < 50; i++)
        __asm__ volatile("brk #0x10" ::: "memory");
    printf("hits=%u\n", hits);
    return 0;
}
