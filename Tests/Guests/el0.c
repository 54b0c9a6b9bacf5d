/* EL0: ERET into user code on its own stack (SP_EL0), system calls back to EL1 with SVC,
 * and the traps user code takes: EL1-only instructions and registers (EC=0x00), system
 * register accesses disabled by SCTLR_EL1/CNTKCTL_EL1 (EC=0x18, with the register encoded
 * in the ISS), FP with CPACR_EL1.FPEN=1 (EC=0x07), BRK (EC=0x3c) and a data abort from a lower
 * EL (EC=0x24). User code cannot print: it asks EL1 to, with SVC.
 * SPDX-License-Identifier: GPL-2.0-or-later */
#include "rt.h"

/* Keep user code away from FP/SIMD registers except where a test puts them on purpose. */
#pragma GCC target("general-regs-only")

enum { SYS_EXIT, SYS_PRINT_NUMBER, SYS_PRINT_STRING, SYS_FP_LAZY, SYS_GET_EL };

static uint8_t user_stack[8192] __attribute__((aligned(16)));
static unsigned traps;

static const char *ec_name(unsigned ec)
{
    switch (ec) {
    case EC_UNKNOWN: return "undefined";
    case EC_FP_ACCESS: return "fp-access";
    case EC_SYSREG: return "sysreg";
    case EC_DABORT_LOWER: return "data-abort";
    case EC_BRK64: return "brk";
    default: return "?";
    }
}

int handle_sync(struct frame *f)
{
    unsigned ec = esr_ec(f->esr);
    int from_el0 = (f->spsr & 0xf) == 0;
    if (!from_el0)
        return 0;
    if (ec == EC_SVC64) {
        switch (f->esr & 0xffff) {
        case SYS_EXIT:
            f->elr = (uint64_t)el0_return;
            f->spsr = SPSR_EL1H_MASKED;
            return 1; /* x0 is the value enter_el0 returns */
        case SYS_PRINT_NUMBER:
            printf("  user says %ld\n", (int64_t)f->x[0]);
            return 1;
        case SYS_PRINT_STRING:
            printf("  user says \"%s\"\n", (const char *)f->x[0]);
            return 1;
        case SYS_FP_LAZY:
            SYSREG_WRITE(cpacr_el1, 1 << 20); /* FP enabled at EL1, trapped at EL0 */
            __asm__ volatile("isb");
            return 1;
        case SYS_GET_EL:
            f->x[0] = SYSREG_READ(currentel) >> 2;
            f->x[1] = f->spsr;
            return 1;
        }
        return 0;
    }
    traps++;
    printf("  EL0 trap: %s EC=0x%02x", ec_name(ec), ec);
    if (ec == EC_SYSREG) {
        unsigned iss = esr_iss(f->esr);
        printf(" op0=%u op2=%u op1=%u CRn=%u Rt=%u CRm=%u read=%u", iss >> 20 & 3, iss >> 17 & 7,
               iss >> 14 & 7, iss >> 10 & 15, iss >> 5 & 31, iss >> 1 & 15, iss & 1);
    } else if (ec == EC_DABORT_LOWER) {
        printf(" WnR=%lu FSC=0x%02lx FAR=%lx", f->esr >> 6 & 1, f->esr & 0x3f, f->far);
    } else if (ec == EC_BRK64) {
        printf(" imm=%lx", f->esr & 0xffff);
    }
    printf("\n");
    if (ec == EC_FP_ACCESS) {
        SYSREG_WRITE(cpacr_el1, 3 << 20);
        __asm__ volatile("isb");
        return 1; /* retry the instruction */
    }
    f->elr += 4;
    return 1;
}

static uint64_t sys(unsigned nr, uint64_t arg)
{
    register uint64_t x0 __asm__("x0") = arg;
    switch (nr) {
    case SYS_PRINT_NUMBER: __asm__ volatile("svc #1" : "+r"(x0) : : "memory"); break;
    case SYS_PRINT_STRING: __asm__ volatile("svc #2" : "+r"(x0) : : "memory"); break;
    }
    return x0;
}

static NORETURN void sys_exit(uint64_t code)
{
    register uint64_t x0 __asm__("x0") = code;
    __asm__ volatile("svc #0" : : "r"(x0) : "memory");
    __builtin_unreachable();
}

static void user_main(void)
{
    sys(SYS_PRINT_STRING, (uint64_t) "hello from EL0");
    uint64_t el, spsr;
    {
        register uint64_t x0 __asm__("x0");
        register uint64_t x1 __asm__("x1");
        __asm__ volatile("svc #4" : "=r"(x0), "=r"(x1) : : "memory");
        el = x0;
        spsr = x1;
    }
    sys(SYS_PRINT_NUMBER, el);         /* the handler runs at EL1 */
    sys(SYS_PRINT_NUMBER, spsr & 0xf); /* and was entered from EL0t */

    uint64_t sp;
    __asm__ volatile("mov %0, sp" : "=r"(sp));
    sys(SYS_PRINT_STRING, sp > (uintptr_t)user_stack && sp <= (uintptr_t)user_stack + sizeof(user_stack)
                              ? (uint64_t) "running on the user stack" : (uint64_t) "WRONG STACK");

    uint64_t acc = 0;
    for (uint64_t i = 1; i <= 1000; i++)
        acc = acc * 31 + i * i;
    sys(SYS_PRINT_NUMBER, (int64_t)(acc & 0xffffffff));

    /* TPIDR_EL0 is read/write at EL0; TPIDRRO_EL0 is read-only there. */
    __asm__ volatile("msr tpidr_el0, %0" : : "r"(0x1234abcdULL));
    sys(SYS_PRINT_NUMBER, SYSREG_READ(tpidr_el0));
    sys(SYS_PRINT_NUMBER, SYSREG_READ(tpidrro_el0));

    sys(SYS_PRINT_STRING, (uint64_t) "now the traps");
    __asm__ volatile("msr tpidrro_el0, %0" : : "r"(1ULL));       /* undefined at EL0 */
    __asm__ volatile("mrs x9, currentel" ::: "x9");             /* undefined at EL0 */
    __asm__ volatile("mrs x9, sctlr_el1" ::: "x9");             /* undefined at EL0 */
    __asm__ volatile("eret");                                   /* undefined at EL0 */
    __asm__ volatile("hvc #0");                                 /* undefined at EL0 */
    /* MSR DAIFSet would trap too, but QEMU 7.2 swaps op1 and op2 in that syndrome. */
    __asm__ volatile("mrs x10, daif" ::: "x10");                /* SCTLR_EL1.UMA = 0 */
    __asm__ volatile("mrs x11, ctr_el0" ::: "x11");             /* SCTLR_EL1.UCT = 0 */
    __asm__ volatile("mrs x12, cntvct_el0" ::: "x12");          /* CNTKCTL_EL1.EL0VCTEN = 0 */
    __asm__ volatile("mov x14, %0\n\tdc zva, x14" : : "r"(user_stack) : "x14", "memory"); /* SCTLR_EL1.DZE = 0 */
    __asm__ volatile("brk #0x42");
    __asm__ volatile("ldr x13, [%0]" : : "r"(0x50000000UL) : "x13");
    __asm__ volatile("str x13, [%0]" : : "r"(0x50000010UL) : "x13");
    uint64_t fp_result;
    __asm__ volatile("svc #3\n\tfmov d0, %1\n\tadd d0, d0, d0\n\tfmov %0, d0"
                     : "=r"(fp_result) : "r"(0x3ff8000000000000ULL) : "x0", "v0", "memory");
    sys(SYS_PRINT_NUMBER, (int64_t)(fp_result >> 48));
    sys(SYS_PRINT_STRING, (uint64_t) "leaving EL0");
    sys_exit(acc % 1000);
}

static void user_second(void)
{
    int64_t sum = 0;
    for (int i = 1; i <= 5; i++) {
        sum += i * 100;
        sys(SYS_PRINT_NUMBER, (uint64_t)sum);
    }
    sys_exit(7);
}

int main(void)
{
    /* Make the traps above architecturally certain, whatever the reset values were. */
    uint64_t sctlr = SYSREG_READ(sctlr_el1);
    sctlr &= ~((1ULL << 9) | (1ULL << 14) | (1ULL << 15) | (1ULL << 26)); /* UMA DZE UCT UCI */
    SYSREG_WRITE(sctlr_el1, sctlr);
    SYSREG_WRITE(cntkctl_el1, 0);
    SYSREG_WRITE(tpidrro_el0, 0x5eed);
    __asm__ volatile("isb");

    printf("entering EL0\n");
    uint64_t r = enter_el0(user_main, user_stack + sizeof(user_stack));
    printf("back at EL%lu with %lu, %u traps, TPIDR_EL0=%lx\n", SYSREG_READ(currentel) >> 2, r, traps,
           SYSREG_READ(tpidr_el0));
    r = enter_el0(user_second, user_stack + sizeof(user_stack));
    printf("second visit returned %lu, SPSel=%lu\n", r, SYSREG_READ(spsel));
    return 0;
}
