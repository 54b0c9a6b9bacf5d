/* FP/SIMD access traps: with CPACR_EL1.FPEN = 0 (and = 1, which traps only EL0), an FP move,
 * an FP add, a SIMD add, an FP load and an FPCR read each trap with EC=0x07; the handler
 * re-enables FP and returns to the same instruction, which then completes.
 * Everything here but the probes in assembly is built without FP/SIMD registers.
 * SPDX-License-Identifier: GPL-2.0-or-later */
#include "rt.h"

#pragma GCC target("general-regs-only")

static unsigned traps;
static uint64_t last_esr, last_elr;

int handle_sync(struct frame *f)
{
    if (esr_ec(f->esr) != EC_FP_ACCESS)
        return 0;
    traps++;
    last_esr = f->esr;
    last_elr = f->elr;
    SYSREG_WRITE(cpacr_el1, 3 << 20);
    __asm__ volatile("isb");
    return 1; /* ELR points at the trapped instruction: it runs again */
}

/* uint64_t probe(uint64_t a, uint64_t b, uint64_t *where): each does one kind of FP/SIMD
 * work and stores the address of its first FP instruction in *where. */
__asm__(".text\n"
        "probe_fmov:\n\tadr x3, 1f\n\tstr x3, [x2]\n1:\tfmov d0, x0\n\tfmov x0, d0\n\tret\n"
        "probe_fadd:\n\tadr x3, 1f\n\tstr x3, [x2]\n1:\tfmov d1, x1\n\tfmov d0, x0\n\tadd d0, d0, d1\n\tfmov x0, d0\n\tret\n"
        "probe_simd:\n\tadr x3, 1f\n\tstr x3, [x2]\n1:\tdup v0.4s, w0\n\tdup v1.4s, w1\n\tadd v0.4s, v0.4s, v1.4s\n"
        "\tmul v0.4s, v0.4s, v1.4s\n\taddv s0, v0.4s\n\tfmov w0, s0\n\tret\n"
        "probe_ldr_q:\n\tadr x3, 1f\n\tstr x3, [x2]\n\tstp x0, x1, [sp, #-16]!\n1:\tldr q0, [sp], #16\n"
        "\text v0.16b, v0.16b, v0.16b, #8\n\tfmov x0, d0\n\tret\n"
        "probe_fpcr:\n\tadr x3, 1f\n\tstr x3, [x2]\n1:\tmrs x0, fpcr\n\tret\n");

uint64_t probe_fmov(uint64_t a, uint64_t b, uint64_t *where);
uint64_t probe_fadd(uint64_t a, uint64_t b, uint64_t *where);
uint64_t probe_simd(uint64_t a, uint64_t b, uint64_t *where);
uint64_t probe_ldr_q(uint64_t a, uint64_t b, uint64_t *where);
uint64_t probe_fpcr(uint64_t a, uint64_t b, uint64_t *where);

static void run(const char *name, uint64_t (*probe)(uint64_t, uint64_t, uint64_t *), unsigned fpen)
{
    uint64_t where = 0;
    unsigned before = traps;
    last_esr = last_elr = 0;
    SYSREG_WRITE(cpacr_el1, (uint64_t)fpen << 20);
    __asm__ volatile("isb");
    uint64_t r = probe(0x4000000000000005ULL, 0x4008000000000007ULL, &where);
    uint64_t cpacr = SYSREG_READ(cpacr_el1);
    printf("%-6s FPEN=%u: result=%016lx traps=%u ESR=%08lx elr-at=%ld FPEN now %lu\n", name, fpen, r,
           traps - before, last_esr, traps > before ? (long)(last_elr - where) : 0L,
           cpacr >> 20 & 3);
}

int main(void)
{
    static const struct {
        const char *name;
        uint64_t (*probe)(uint64_t, uint64_t, uint64_t *);
    } probes[] = { { "fmov", probe_fmov }, { "add-d", probe_fadd }, { "simd", probe_simd },
                   { "ldr q", probe_ldr_q }, { "fpcr", probe_fpcr } };
    for (unsigned i = 0; i < ARRAY_SIZE(probes); i++) {
        run(probes[i].name, probes[i].probe, 0);
        run(probes[i].name, probes[i].probe, 1); /* traps EL0 only */
        run(probes[i].name, probes[i].probe, 2); /* FPEN=2 traps like 0 */
        run(probes[i].name, probes[i].probe, 3);
    }
    /* Lazy FP enabling as a kernel does it: disable, then let the first use turn it back on. */
    uint64_t where, acc = 0;
    for (int i = 0; i < 20; i++) {
        SYSREG_WRITE(cpacr_el1, 0);
        __asm__ volatile("isb");
        acc += probe_simd((uint64_t)i, 3, &where);
    }
    printf("lazy: acc=%lu traps=%u\n", acc, traps);
    return 0;
}
