/* Guest side of the differential fuzz test (Tests/IntegrationTests/DifferentialFuzzTests.swift).
 * SPDX-License-Identifier: GPL-2.0-or-later
 *
 * The test generates fuzz_blocks[]: per block, a seed, the register state to start from and a
 * run of random instructions that ends with `b fuzz_exit`. For each block this program fills the
 * scratch buffer from the seed, runs the block (enter.S), then prints every register and every
 * scratch word the block changed. Synchronous exceptions inside a block are printed and the
 * instruction skipped, so a faulting instruction is compared like any other.
 *
 * What the generated instructions may touch: memory only through x28, which starts in the middle
 * of the 1 MiB scratch buffer (the generator keeps writeback drift and offsets inside it); x27
 * holds a small index for register-offset forms; neither is ever a destination. SP is read,
 * never written.
 *
 * Built with -mgeneral-regs-only (like the runtime, whose printf the exception handler calls), so
 * that nothing but the blocks and enter.S touches v0..v31; FUZZ_SIMD selects whether they are
 * part of the state (see enter.S).
 */
#include "rt.h"

#define SCRATCH_SIZE (1u << 20)

/* Must match the layout the test writes (FuzzGuest.assembly() in the Swift test). */
struct fuzz_state {
    uint64_t x[31];
    uint64_t nzcv; /* as MRS NZCV reads it: N Z C V in bits 31:28 */
    uint64_t v[32][2]; /* low half, high half */
    uint64_t fpcr;     /* loaded before the block (FUZZ_SIMD) */
    uint64_t fpsr;     /* saved after it; starts at zero */
};

struct fuzz_block {
    uint64_t seed;
    uint64_t flags; /* FUZZ_ALIGNMENT_CHECKS, FUZZ_MMU */
    const struct fuzz_state *state;
    const uint32_t *code;
    const uint32_t *end; /* the `b fuzz_exit` that closes the block */
};

/* Run the block with SCTLR_EL1.A set, so that every misaligned access faults. */
#define FUZZ_ALIGNMENT_CHECKS 1
#define SCTLR_A (1u << 1)
/* Fill, run and print the block with the MMU on: RAM identity-mapped (2 MiB blocks, 4 KiB pages around
 * the middle of the scratch buffer, where x28 points), except that the scratch page at x28 is backed by
 * another physical page, so every access the block makes there goes through a real translation. */
#define FUZZ_MMU 2

extern const struct fuzz_block fuzz_blocks[];
extern const uint64_t fuzz_block_count;

/* enter.S: loads *state and runs code, which ends by branching to fuzz_exit; fuzz_exit stores
 * every register into fuzz_saved and returns from fuzz_enter. */
void fuzz_enter(const struct fuzz_state *state, const uint32_t *code);
struct fuzz_state fuzz_saved __attribute__((aligned(16))); /* STP Q with SCTLR_EL1.A set */

uint8_t fuzz_scratch[SCRATCH_SIZE] __attribute__((aligned(4096)));

static uint64_t mmu_l1[512] __attribute__((aligned(4096)));
static uint64_t mmu_l2[512] __attribute__((aligned(4096)));
static uint64_t mmu_l3[512] __attribute__((aligned(4096)));
static uint8_t mmu_shadow[4096] __attribute__((aligned(4096)));

/* The tables for FUZZ_MMU blocks (see above); built once. */
static void mmu_build(void)
{
    const uint64_t normal = (3ULL << 8) | (1ULL << 10);                 /* MAIR index 0, inner shareable, AF */
    const uint64_t device = (1ULL << 2) | (1ULL << 10) | (3ULL << 53);  /* MAIR index 1, AF, PXN, UXN */
    const uint64_t ram = 0x40000000ULL;
    mmu_l1[0] = 0 | device | 1;
    mmu_l1[1] = (uint64_t)mmu_l2 | 3;
    for (uint64_t i = 0; i < 512; i++)
        mmu_l2[i] = (ram + (i << 21)) | normal | 1;
    uint64_t middle = (uint64_t)fuzz_scratch + SCRATCH_SIZE / 2;
    uint64_t region = middle & ~((1ULL << 21) - 1);
    for (uint64_t i = 0; i < 512; i++)
        mmu_l3[i] = (region + (i << 12)) | normal | 3;
    mmu_l3[(middle >> 12) & 511] = (uint64_t)mmu_shadow | normal | 3;
    mmu_l2[(region >> 21) & 511] = (uint64_t)mmu_l3 | 3;
    SYSREG_WRITE(mair_el1, 0xffULL);
    SYSREG_WRITE(tcr_el1, 25ULL | (1ULL << 8) | (1ULL << 10) | (3ULL << 12) | (1ULL << 23) | (2ULL << 32));
    SYSREG_WRITE(ttbr0_el1, (uint64_t)mmu_l1);
    __asm__ volatile("dsb ish\n\ttlbi vmalle1\n\tdsb ish\n\tisb" ::: "memory");
}

static void mmu_switch(int on)
{
    uint64_t sctlr = SYSREG_READ(sctlr_el1);
    SYSREG_WRITE(sctlr_el1, on ? sctlr | 1 : sctlr & ~1ULL);
    __asm__ volatile("isb\n\ttlbi vmalle1\n\tdsb ish\n\tisb" ::: "memory");
}

/* The block running now, for the exception handler; null outside blocks. */
static const struct fuzz_block *volatile running;

/* The scratch buffer's initial contents: word i of a block with seed s (SplitMix64's output
 * function over a counter). */
static uint64_t fill_word(uint64_t seed, uint64_t i)
{
    uint64_t z = seed + (i + 1) * 0x9e3779b97f4a7c15ULL;
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}

int handle_sync(struct frame *f)
{
    const struct fuzz_block *block = running;
    if (!block || f->elr < (uintptr_t)block->code || f->elr >= (uintptr_t)block->end)
        return 0;
    unsigned ec = esr_ec(f->esr);
    printf("exception at insn %lu: esr %08lx", (unsigned long)((f->elr - (uintptr_t)block->code) / 4),
           (unsigned long)f->esr);
    /* FAR is defined only for aborts and alignment faults. */
    if (ec == EC_DABORT_SAME || ec == EC_IABORT_SAME || ec == EC_PC_ALIGN || ec == EC_SP_ALIGN)
        printf(" far %016lx", (unsigned long)f->far);
    printf("\n");
    f->elr += 4;
    return 1;
}

int main(void)
{
    uint64_t *words = (uint64_t *)fuzz_scratch;
    const uint64_t count = SCRATCH_SIZE / 8;
    mmu_build();
    for (uint64_t b = 0; b < fuzz_block_count; b++) {
        const struct fuzz_block *block = &fuzz_blocks[b];
        if (block->flags & FUZZ_MMU)
            mmu_switch(1);
        for (uint64_t i = 0; i < count; i++)
            words[i] = fill_word(block->seed, i);
        printf("block %lu seed %016lx%s%s\n", (unsigned long)b, (unsigned long)block->seed,
               block->flags & FUZZ_ALIGNMENT_CHECKS ? " alignment-checks" : "", block->flags & FUZZ_MMU ? " mmu" : "");
        uint64_t sctlr = SYSREG_READ(sctlr_el1);
        if (block->flags & FUZZ_ALIGNMENT_CHECKS) {
            SYSREG_WRITE(sctlr_el1, sctlr | SCTLR_A);
            __asm__ volatile("isb");
        }
        running = block;
        fuzz_enter(block->state, block->code);
        running = 0;
        SYSREG_WRITE(sctlr_el1, sctlr);
        __asm__ volatile("isb");
        for (int r = 0; r < 31; r++)
            printf("x%02d %016lx\n", r, (unsigned long)fuzz_saved.x[r]);
        printf("nzcv %lx\n", (unsigned long)(fuzz_saved.nzcv >> 28));
#ifdef FUZZ_SIMD
        for (int r = 0; r < 32; r++)
            printf("v%02d %016lx%016lx\n", r, (unsigned long)fuzz_saved.v[r][1],
                   (unsigned long)fuzz_saved.v[r][0]);
        printf("fpcr %08lx fpsr %08lx\n", (unsigned long)block->state->fpcr, (unsigned long)fuzz_saved.fpsr);
#endif
        /* Offsets from the start of the buffer, so the lines do not depend on where it is. */
        for (uint64_t i = 0; i < count; i++)
            if (words[i] != fill_word(block->seed, i))
                printf("mem +%05lx %016lx\n", (unsigned long)(i * 8), (unsigned long)words[i]);
        if (block->flags & FUZZ_MMU)
            mmu_switch(0);
    }
    printf("done %lu blocks\n", (unsigned long)fuzz_block_count);
    return 0;
}
