/* The MMU with each translation granule (4, 16 and 64 KiB) and each kind of mapping it allows, ASIDs
 * (two EL0 "processes" at the same virtual addresses, switched by TTBR0_EL1 with non-global pages),
 * hardware-less access-flag handling (the fault handler sets AF), LDTR/STTR (unprivileged accesses from
 * EL1, PAN-aware), and faults at the levels each granule's walk has. Compared line by line with QEMU.
 * SPDX-License-Identifier: GPL-2.0-or-later */
#include "rt.h"

#pragma GCC target("general-regs-only")

#define RAM_BASE 0x40000000ULL
#define LAB (RAM_BASE + (64ULL << 20))

#define D_TABLE 3ULL
#define D_BLOCK 1ULL
#define D_PAGE 3ULL
#define D_AP_EL0 (1ULL << 6)
#define D_AP_RO (1ULL << 7)
#define D_AF (1ULL << 10)
#define D_NG (1ULL << 11)
#define D_PXN (1ULL << 53)
#define D_UXN (1ULL << 54)
#define NORMAL ((0ULL << 2) | (3ULL << 8) | D_AF)

/* Room for the tables of one experiment: 16 tables of up to 64 KiB. */
static uint8_t tables[16][65536] __attribute__((aligned(65536)));
static unsigned next_table;
static uint8_t user_stack[8192] __attribute__((aligned(16)));

static volatile unsigned faults;
static volatile uint64_t last_esr, last_far;
static volatile uint64_t *af_fixup; /* when set, an access-flag fault sets AF in this descriptor and retries */

int handle_sync(struct frame *f)
{
    unsigned ec = esr_ec(f->esr);
    int from_el0 = (f->spsr & 0xf) == 0;
    if (ec == EC_SVC64 && from_el0) {
        f->elr = (uint64_t)el0_return;
        f->spsr = SPSR_EL1H_MASKED;
        return 1;
    }
    if (ec != EC_DABORT_SAME && ec != EC_DABORT_LOWER && ec != EC_IABORT_SAME && ec != EC_IABORT_LOWER)
        return 0;
    faults++;
    last_esr = f->esr;
    last_far = f->far;
    if ((f->esr & 0x3c) == 0x08 && af_fixup) {
        *af_fixup |= D_AF;
        __asm__ volatile("dsb ish\n\ttlbi vmalle1\n\tdsb ish\n\tisb" ::: "memory");
        af_fixup = 0;
        return 1; /* retry the access */
    }
    if (from_el0) {
        f->elr = (uint64_t)el0_return;
        f->spsr = SPSR_EL1H_MASKED;
    } else {
        f->elr += 4;
    }
    return 1;
}

static void report(const char *what, unsigned before, uint64_t value)
{
    if (faults == before) {
        printf("%-34s ok %lx\n", what, (unsigned long)value);
        return;
    }
    printf("%-34s EC=0x%02x WnR=%lu FSC=0x%02lx FAR=%lx\n", what, esr_ec(last_esr), (unsigned long)((last_esr >> 6) & 1),
           (unsigned long)(last_esr & 0x3f), (unsigned long)last_far);
}

static NOINLINE uint64_t load64(uint64_t va) { return *(volatile uint64_t *)va; }
static NOINLINE void store64(uint64_t va, uint64_t v) { *(volatile uint64_t *)va = v; }

#define TRY(what, va)                                                                               \
    do {                                                                                            \
        unsigned before_ = faults;                                                                  \
        uint64_t v_ = load64(va);                                                                   \
        report(what, before_, faults == before_ ? v_ : 0);                                          \
    } while (0)

static uint64_t *new_table(void)
{
    uint64_t *t = (uint64_t *)tables[next_table++ & 15];
    memset(t, 0, sizeof(tables[0]));
    return t;
}

static void mmu_off(void)
{
    SYSREG_WRITE(sctlr_el1, SYSREG_READ(sctlr_el1) & ~1ULL);
    __asm__ volatile("isb\n\ttlbi vmalle1\n\tdsb ish\n\tisb" ::: "memory");
}

static void mmu_on(uint64_t tcr, uint64_t ttbr0)
{
    SYSREG_WRITE(mair_el1, 0xffULL);
    SYSREG_WRITE(tcr_el1, tcr);
    SYSREG_WRITE(ttbr0_el1, ttbr0);
    __asm__ volatile("dsb ish\n\ttlbi vmalle1\n\tdsb ish\n\tisb" ::: "memory");
    SYSREG_WRITE(sctlr_el1, SYSREG_READ(sctlr_el1) | 1);
    __asm__ volatile("isb" ::: "memory");
}

/* One granule: `bits` = 12, 14 or 16. T0SZ = 64 - va_bits. The identity map covers RAM with blocks at
 * the level that maps `block_bits`, the lab with pages; a hole and an AF-clear page sit in the lab. */
static void granule(unsigned bits, unsigned va_bits, unsigned block_bits)
{
    next_table = 0;
    unsigned stride = bits - 3;
    unsigned levels = (va_bits - bits + stride - 1) / stride;
    unsigned start = 4 - levels;
    uint64_t tg0 = bits == 12 ? 0 : bits == 14 ? 2 : 1;
    uint64_t tcr = (64 - va_bits) | (1ULL << 8) | (1ULL << 10) | (3ULL << 12) | (tg0 << 14) | (1ULL << 23) | (2ULL << 32);
    printf("-- granule %u KiB, %u-bit VA, walk starts at level %u, blocks of %u MiB\n", 1u << (bits - 10), va_bits,
           start, 1u << (block_bits - 20));
    /* Tables along RAM's path down to the block level; RAM (128 MiB) identity-mapped by blocks there. The
     * console is semihosting, so no device needs a mapping. */
    uint64_t *root = new_table();
    uint64_t *block_table = root;
    for (unsigned level = start; bits + (3 - level) * stride != block_bits; level++) {
        unsigned shift = bits + (3 - level) * stride;
        uint64_t *next = new_table();
        block_table[(RAM_BASE >> shift) & ((1ULL << stride) - 1)] = (uint64_t)next | D_TABLE;
        block_table = next;
    }
    for (uint64_t va = RAM_BASE; va < RAM_BASE + (128ULL << 20); va += 1ULL << block_bits)
        block_table[(va >> block_bits) & ((1ULL << stride) - 1)] = (va & ~((1ULL << block_bits) - 1)) | D_BLOCK | NORMAL;
    /* The lab: the block holding it replaced by a table of pages (the same identity map), with a hole and
     * an AF-clear page; the block before it unmapped (the stack and the program lie elsewhere). */
    uint64_t *pages = new_table();
    uint64_t page = 1ULL << bits;
    uint64_t block_base = LAB & ~((1ULL << block_bits) - 1);
    uint64_t lab = (LAB - block_base) / page;
    for (uint64_t i = 0; i < (1ULL << stride); i++)
        pages[i] = (block_base + i * page) | D_PAGE | NORMAL;
    pages[lab + 1] = 0;
    pages[lab + 2] &= ~D_AF;
    block_table[(LAB >> block_bits) & ((1ULL << stride) - 1)] = (uint64_t)pages | D_TABLE;
    uint64_t hole = block_base - (1ULL << block_bits);
    block_table[(hole >> block_bits) & ((1ULL << stride) - 1)] = 0;
    *(volatile uint64_t *)(LAB + 3 * page + 8) = 0x3333 + bits;

    mmu_on(tcr, (uint64_t)root);
    TRY("page 3", LAB + 3 * page + 8);
    TRY("block holding this code", (uint64_t)&granule);
    TRY("unmapped page", LAB + page + 16);
    TRY("unmapped block", hole + 32);
    TRY("beyond the VA range", 1ULL << va_bits);
    af_fixup = &pages[lab + 2];
    TRY("AF clear, handler sets it", LAB + 2 * page);
    printf("%-34s AF now %lu\n", "", (unsigned long)((pages[lab + 2] >> 10) & 1));

    /* Faults at the block level: the hole becomes an AF-clear block, a read-only block (a store faults), a
     * block beyond the 40-bit output size; then a table descriptor beyond it (one level above the blocks). */
    uint64_t *hole_entry = &block_table[(hole >> block_bits) & ((1ULL << stride) - 1)];
    *hole_entry = hole | D_BLOCK | (NORMAL & ~D_AF);
    __asm__ volatile("dsb ish\n\ttlbi vmalle1\n\tdsb ish\n\tisb" ::: "memory");
    TRY("AF-clear block", hole + 64);
    /* (Read-only, and backed by RAM: the lab's own block. The hole's own addresses lie in QEMU's PCIe
     * window with the 64 KiB granule, which emud does not model.) */
    *hole_entry = block_base | D_BLOCK | NORMAL | D_AP_RO;
    __asm__ volatile("dsb ish\n\ttlbi vmalle1\n\tdsb ish\n\tisb" ::: "memory");
    TRY("read-only block, load", hole + 72);
    {
        unsigned before = faults;
        store64(hole + 80, 1);
        report("read-only block, store", before, 0);
    }
    *hole_entry = (1ULL << 40) | D_BLOCK | NORMAL;
    __asm__ volatile("dsb ish\n\ttlbi vmalle1\n\tdsb ish\n\tisb" ::: "memory");
    TRY("block beyond the output size", hole + 88);
    *hole_entry = 0;
    if (block_table != root) {
        /* In the table above the block table, the entry after the one that leads to RAM becomes a table
         * descriptor beyond the output size; a load from the region it covers faults. */
        unsigned level = start;
        uint64_t *t = root;
        while (1) {
            unsigned shift = bits + (3 - level) * stride;
            uint64_t index = (RAM_BASE >> shift) & ((1ULL << stride) - 1);
            uint64_t *next = (uint64_t *)(t[index] & 0x0000fffffffff000ULL);
            if (next == block_table) {
                uint64_t va = (RAM_BASE >> shift << shift) + (1ULL << shift);
                if (va >> va_bits == 0) {
                    t[index + 1] = (1ULL << 40) | D_TABLE;
                    __asm__ volatile("dsb ish\n\ttlbi vmalle1\n\tdsb ish\n\tisb" ::: "memory");
                    TRY("table beyond the output size", va + 0x100);
                    t[index + 1] = 0;
                    __asm__ volatile("dsb ish\n\ttlbi vmalle1\n\tdsb ish\n\tisb" ::: "memory");
                }
                break;
            }
            t = next;
            level++;
        }
    }
    mmu_off();
}

/* EL0 code: loads from the address in its own page at +64 and returns the value with SVC. */
static const uint32_t user_load[] = { 0x10000200, 0xf9400000, 0xf9400000, 0xd4000001 };

static void asids(void)
{
    printf("-- ASIDs: two EL0 processes at the same addresses\n");
    next_table = 0;
    /* 4 KiB granule, 39-bit VA, 16-bit ASIDs (TCR_EL1.AS) from TTBR0 (A1 = 0). */
    uint64_t tcr = 25 | (1ULL << 8) | (1ULL << 10) | (3ULL << 12) | (1ULL << 23) | (2ULL << 32) | (1ULL << 36);
    uint64_t *roots[2], *l3s[2];
    for (int p = 0; p < 2; p++) {
        uint64_t *l1 = new_table(), *l2 = new_table(), *l3 = new_table();
        l1[1] = (uint64_t)l2 | D_TABLE;
        for (int i = 0; i < 512; i++)
            l2[i] = (RAM_BASE + ((uint64_t)i << 21)) | D_BLOCK | NORMAL;
        /* The user window at 0x7f000000 (L2 entry 504): code page and data page, private per process. */
        l2[504] = (uint64_t)l3 | D_TABLE;
        uint64_t code = LAB + (uint64_t)p * 0x10000, data = code + 0x1000;
        l3[0] = code | D_PAGE | NORMAL | D_AP_EL0 | D_AP_RO | D_NG;
        l3[1] = data | D_PAGE | NORMAL | D_AP_EL0 | D_NG | D_UXN;
        memcpy((void *)code, user_load, sizeof(user_load));
        *(volatile uint64_t *)(code + 64) = 0x7f001000;     /* the user's data page, same VA for both */
        *(volatile uint64_t *)data = 0xaaaa0000 + (uint64_t)p;
        roots[p] = l1;
        l3s[p] = l3;
    }
    (void)l3s;
    __asm__ volatile("dsb ish\n\tic iallu\n\tdsb ish\n\tisb" ::: "memory");
    mmu_on(tcr, (uint64_t)roots[0] | (1ULL << 48));
    for (int round = 0; round < 3; round++) {
        for (int p = 0; p < 2; p++) {
            SYSREG_WRITE(ttbr0_el1, (uint64_t)roots[p] | ((uint64_t)(p + 1) << 48));
            __asm__ volatile("isb" ::: "memory");
            unsigned before = faults;
            uint64_t r = enter_el0((void (*)(void))0x7f000000ULL, user_stack + sizeof(user_stack));
            report(p ? "process B (ASID 2) reads" : "process A (ASID 1) reads", before, r);
        }
    }
    /* LDTR/STTR from EL1: unprivileged accesses see EL0's permissions. */
    {
        uint64_t v = 0, kernel_page = LAB + 0x80000;
        unsigned before = faults;
        __asm__ volatile("ldtr %0, [%1]" : "=r"(v) : "r"(0x7f001000ULL) : "memory");
        report("LDTR of an EL0 page", before, v);
        before = faults;
        __asm__ volatile("ldtr %0, [%1]" : "=r"(v) : "r"(kernel_page) : "memory");
        report("LDTR of an EL1 page", before, v);
        before = faults;
        __asm__ volatile("sttr %0, [%1]" : : "r"(0x5555ULL), "r"(0x7f000000ULL) : "memory");
        report("STTR to an EL0 read-only page", before, 0);
        __asm__ volatile(".arch_extension pan\n\tmsr pan, #1\n\tisb" ::: "memory");
        before = faults;
        __asm__ volatile("ldtr %0, [%1]" : "=r"(v) : "r"(0x7f001000ULL) : "memory");
        report("LDTR of an EL0 page, PAN=1", before, v);
        before = faults;
        v = load64(0x7f001000ULL);
        report("LDR of an EL0 page, PAN=1", before, v);
        __asm__ volatile(".arch_extension pan\n\tmsr pan, #0\n\tisb" ::: "memory");
    }
    mmu_off();
}

int main(void)
{
    granule(12, 39, 21);   /* 4 KiB: levels 1-3, 2 MiB blocks */
    granule(12, 48, 21);   /* 4 KiB: levels 0-3 */
    granule(14, 36, 25);   /* 16 KiB: levels 2-3 (36-bit VA), 32 MiB blocks */
    granule(14, 47, 25);   /* 16 KiB: levels 1-3 */
    granule(16, 42, 29);   /* 64 KiB: levels 2-3, 512 MiB blocks */
    granule(16, 48, 29);   /* 64 KiB: levels 1-3 */
    asids();
    printf("faults taken: %u\n", faults);
    exit(0);
}
