/* The MMU: stage-1 translation with 4 KiB granules at EL1 and EL0. The program builds its own tables
 * (identity map of RAM in 2 MiB blocks, one 2 MiB region in 4 KiB pages for the experiments, the
 * UART's region as Device memory), turns the MMU on and checks what the architecture says about
 * translation, access-flag, permission and address-size faults (ESR and FAR printed for each),
 * aliases, TLBI after a remap, AT/PAR, a TTBR1 high mapping, PAN, EL0 permissions and code written
 * through an alias. Every line is compared with QEMU's.
 * SPDX-License-Identifier: GPL-2.0-or-later */
#include "rt.h"

#pragma GCC target("general-regs-only")

#define PAGE 4096ULL
#define RAM_BASE 0x40000000ULL
/* The experiment region: VA = PA = 0x40000000 + 64 MiB, mapped by an L3 table. */
#define LAB (RAM_BASE + (64ULL << 20))
#define LAB_PAGE(i) (LAB + (uint64_t)(i) * PAGE)

/* Descriptor bits. */
#define D_VALID 1ULL
#define D_TABLE 3ULL
#define D_BLOCK 1ULL
#define D_PAGE 3ULL
#define D_ATTR(i) ((uint64_t)(i) << 2)
#define D_AP_EL0 (1ULL << 6)  /* AP[1]: EL0 may access */
#define D_AP_RO (1ULL << 7)   /* AP[2]: read-only */
#define D_SH_INNER (3ULL << 8)
#define D_AF (1ULL << 10)
#define D_NG (1ULL << 11)
#define D_PXN (1ULL << 53)
#define D_UXN (1ULL << 54)
#define NORMAL (D_ATTR(0) | D_SH_INNER | D_AF)
#define DEVICE (D_ATTR(1) | D_AF | D_PXN | D_UXN)

static uint64_t l1[512] __attribute__((aligned(4096)));
static uint64_t l2[512] __attribute__((aligned(4096)));
static uint64_t l3[512] __attribute__((aligned(4096)));
static uint64_t l1_high[512] __attribute__((aligned(4096)));
static uint64_t l2_high[512] __attribute__((aligned(4096)));
static uint8_t user_stack[8192] __attribute__((aligned(16)));

static volatile unsigned faults;
static volatile uint64_t last_esr, last_far;
static volatile int skip_mode; /* 0: skip a faulting load or store; 1: return to the caller (x30) */

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
    if (from_el0) {
        f->elr = (uint64_t)el0_return; /* an abort ends the user program */
        f->spsr = SPSR_EL1H_MASKED;
    } else if (ec == EC_IABORT_SAME || skip_mode)
        f->elr = f->x[30];
    else
        f->elr += 4;
    return 1;
}

static void tlb_flush_all(void)
{
    __asm__ volatile("dsb ishst\n\ttlbi vmalle1is\n\tdsb ish\n\tisb" ::: "memory");
}

static void tlb_flush_page(uint64_t va)
{
    __asm__ volatile("dsb ishst\n\ttlbi vae1is, %0\n\tdsb ish\n\tisb" : : "r"(va >> 12) : "memory");
}

static void report(const char *what, unsigned before)
{
    if (faults == before) {
        printf("%-28s no fault\n", what);
        return;
    }
    uint64_t esr = last_esr;
    printf("%-28s EC=0x%02x IL=%lu WnR=%lu S1PTW=%lu FSC=0x%02lx FAR=%lx\n", what, esr_ec(esr), (esr >> 25) & 1,
           (esr >> 6) & 1, (esr >> 7) & 1, esr & 0x3f, (unsigned long)last_far);
}

static NOINLINE uint64_t load64(uint64_t va) { return *(volatile uint64_t *)va; }
static NOINLINE void store64(uint64_t va, uint64_t v) { *(volatile uint64_t *)va = v; }

#define TRY_LOAD(what, va)                                                                          \
    do {                                                                                            \
        unsigned before_ = faults;                                                                  \
        uint64_t v_ = load64(va);                                                                   \
        report(what, before_);                                                                      \
        if (faults == before_)                                                                      \
            printf("%-28s value %lx\n", "", (unsigned long)v_);                                     \
    } while (0)

#define TRY_STORE(what, va, v)                                                                      \
    do {                                                                                            \
        unsigned before_ = faults;                                                                  \
        store64(va, v);                                                                             \
        report(what, before_);                                                                      \
    } while (0)

/* One load or store with SCTLR_EL1.A set (alignment checking), reported once it is clear again. */
static void with_alignment_check(const char *what, int store, uint64_t va)
{
    unsigned before = faults;
    uint64_t sctlr = SYSREG_READ(sctlr_el1);
    SYSREG_WRITE(sctlr_el1, sctlr | 2);
    __asm__ volatile("isb" ::: "memory");
    if (store)
        store64(va, 0x5a);
    else
        (void)load64(va);
    SYSREG_WRITE(sctlr_el1, sctlr);
    __asm__ volatile("isb" ::: "memory");
    report(what, before);
}

static void map_page(int i, uint64_t pa, uint64_t attrs)
{
    l3[(LAB_PAGE(i) >> 12) & 511] = pa | attrs;
}

/* User code, copied into the lab: loads the address stored 64 bytes into its own page, then the value
 * there, and returns it through SVC #0. */
static const uint32_t user_load[] = {
    0x10000200, /* adr x0, .+64 */
    0xf9400000, /* ldr x0, [x0] */
    0xf9400000, /* ldr x0, [x0] */
    0xd4000001, /* svc #0 */
};

/* Runs the user code at code_va (whose page is code_pa, written through the identity map). */
static void run_user(const char *what, uint64_t code_va, uint64_t code_pa, uint64_t arg)
{
    unsigned before = faults;
    *(volatile uint64_t *)(code_pa + 64) = arg;
    __asm__ volatile("dsb ish\n\tic iallu\n\tdsb ish\n\tisb" ::: "memory");
    uint64_t r = enter_el0((void (*)(void))code_va, user_stack + sizeof(user_stack));
    report(what, before);
    if (faults == before)
        printf("%-28s returned %lx\n", "", (unsigned long)r);
}

int main(void)
{
    /* Before the MMU is on: an address beyond the 40-bit physical address range. */
    TRY_LOAD("MMU off, PA 1<<40", 1ULL << 40);

    SYSREG_WRITE(mair_el1, 0xffULL | (0x00ULL << 8));
    /* L1: [0] 0..1 GiB Device block (UART), [1] 1..2 GiB RAM through l2. */
    l1[0] = 0x00000000ULL | D_BLOCK | DEVICE;
    l1[1] = (uint64_t)l2 | D_TABLE;
    for (int i = 0; i < 512; i++)
        l2[i] = (RAM_BASE + ((uint64_t)i << 21)) | D_BLOCK | NORMAL;
    l2[(LAB >> 21) & 511] = (uint64_t)l3 | D_TABLE;
    for (int i = 0; i < 512; i++)
        l3[i] = LAB_PAGE(i) | D_PAGE | NORMAL;
    /* Holes and special pages in the lab. */
    l3[1] = 0;                                   /* unmapped page */
    map_page(2, LAB_PAGE(2), D_PAGE | D_ATTR(0) | D_SH_INNER);          /* AF clear */
    map_page(3, LAB_PAGE(3), D_PAGE | NORMAL | D_AP_RO);                /* read-only */
    map_page(4, LAB_PAGE(4), D_PAGE | NORMAL | D_AP_EL0);               /* EL0 read/write */
    map_page(5, LAB_PAGE(5), D_PAGE | NORMAL | D_AP_EL0 | D_AP_RO);     /* EL0 read-only */
    map_page(6, LAB_PAGE(6), D_PAGE | NORMAL | D_PXN | D_UXN);          /* never executable */
    map_page(7, LAB_PAGE(20), D_PAGE | NORMAL);                         /* alias of page 20 */
    map_page(8, LAB_PAGE(9), D_PAGE | NORMAL | D_AP_EL0 | D_AP_RO | D_NG); /* EL0 code, read/exec */
    map_page(10, LAB_PAGE(11), D_PAGE | NORMAL | D_AP_EL0 | D_AP_RO | D_UXN); /* EL0 code, not executable */
    l2[((LAB >> 21) & 511) + 1] = 0;             /* an unmapped 2 MiB region: fault at level 2 */

    /* TTBR1: the top 512 GiB (T1SZ = 25) with RAM at 0xffffff8040000000. */
    l1_high[1] = (uint64_t)l2_high | D_TABLE;
    for (int i = 0; i < 512; i++)
        l2_high[i] = (RAM_BASE + ((uint64_t)i << 21)) | D_BLOCK | NORMAL | D_PXN;

    /* EL0 code pages (copied before the MMU is on: the lab is ordinary RAM). */
    memcpy((void *)LAB_PAGE(9), user_load, sizeof(user_load));
    memcpy((void *)LAB_PAGE(11), user_load, sizeof(user_load));
    *(volatile uint64_t *)LAB_PAGE(20) = 0x2020202020202020ULL;
    *(volatile uint64_t *)LAB_PAGE(21) = 0x2121212121212121ULL;

    uint64_t tcr = 25ULL                 /* T0SZ: 39-bit region, walks start at level 1 */
                   | (1ULL << 8) | (1ULL << 10) | (3ULL << 12) /* IRGN0/ORGN0 WB, SH0 inner */
                   | (25ULL << 16)       /* T1SZ */
                   | (1ULL << 24) | (1ULL << 26) | (3ULL << 28) | (2ULL << 30) /* TG1 = 4 KiB */
                   | (2ULL << 32);       /* IPS: 40 bits */
    SYSREG_WRITE(tcr_el1, tcr);
    SYSREG_WRITE(ttbr0_el1, (uint64_t)l1);
    SYSREG_WRITE(ttbr1_el1, (uint64_t)l1_high);
    __asm__ volatile("dsb ish\n\tisb" ::: "memory");
    tlb_flush_all();
    uint64_t sctlr = SYSREG_READ(sctlr_el1);
    SYSREG_WRITE(sctlr_el1, sctlr | 1 | (1 << 2) | (1 << 12));
    __asm__ volatile("isb" ::: "memory");
    printf("MMU on: SCTLR_EL1.M=%lu\n", (unsigned long)(SYSREG_READ(sctlr_el1) & 1));

    TRY_LOAD("identity page 0", LAB_PAGE(0));
    TRY_LOAD("alias of page 20", LAB_PAGE(7));
    store64(LAB_PAGE(7), 0x7777777777777777ULL);
    TRY_LOAD("page 20 after alias store", LAB_PAGE(20));

    TRY_LOAD("unmapped page (L3)", LAB_PAGE(1) + 0x18);
    TRY_STORE("store to unmapped page", LAB_PAGE(1) + 0x20, 1);
    TRY_LOAD("unmapped 2 MiB (L2)", LAB + (2ULL << 20) + 8);
    TRY_LOAD("unmapped 1 GiB (L1)", 0x80000000ULL + 16);
    TRY_LOAD("outside TTBR0 region (L0)", 1ULL << 40);
    TRY_LOAD("between the regions", 0x8000000000000000ULL);
    TRY_LOAD("access flag clear", LAB_PAGE(2) + 8);
    TRY_LOAD("read-only page, load", LAB_PAGE(3));
    TRY_STORE("read-only page, store", LAB_PAGE(3) + 8, 5);
    TRY_LOAD("straddling into unmapped", LAB_PAGE(1) - 4);
    /* Through pages already in the TLB: alignment checking, and a load across two mapped pages. */
    (void)load64(LAB_PAGE(0));
    with_alignment_check("A=1, misaligned load", 0, LAB_PAGE(0) + 4);
    with_alignment_check("A=1, misaligned store", 1, LAB_PAGE(0) + 12);
    with_alignment_check("A=1, aligned load", 0, LAB_PAGE(0) + 8);
    with_alignment_check("A=1, aligned store", 1, LAB_PAGE(0) + 16);
    TRY_LOAD("A=0, misaligned load", LAB_PAGE(0) + 12);
    (void)load64(LAB_PAGE(20) + 8);
    (void)load64(LAB_PAGE(21));
    TRY_LOAD("across pages 20 and 21", LAB_PAGE(21) - 4);
    /* Exclusives, atomics and DC ZVA on Device memory (the UART's read-only identification registers). */
    {
        unsigned before = faults;
        uint64_t v = 0, status = 7, addr = OPAQUE(0x09000fe0ULL);
        __asm__ volatile("ldxr %w0, [%1]\n\tclrex" : "=&r"(v) : "r"(addr) : "memory");
        report("device, LDXR", before);
        before = faults;
        __asm__ volatile("ldxr %w0, [%2]\n\tstxr %w1, %w0, [%2]" : "=&r"(v), "=&r"(status) : "r"(addr) : "memory");
        report("device, LDXR+STXR", before);
        before = faults;
        __asm__ volatile(".arch_extension lse\n\tldadd %w1, %w0, [%2]" : "=&r"(v) : "r"(0u), "r"(addr) : "memory");
        report("device, LDADD", before);
        before = faults;
        __asm__ volatile("dc zva, %0" : : "r"(OPAQUE(0x09000fc0ULL)) : "memory");
        report("device, DC ZVA", before);
    }
    /* Device memory (the UART's identification registers). The architecture makes the misaligned load an
     * alignment fault; QEMU 7.2 performs it. */
    {
        unsigned before = faults;
        uint32_t id = *(volatile uint32_t *)0x09000fe0ULL;
        report("device, aligned", before);
        printf("%-28s value %x\n", "", id);
        before = faults;
        id = *(volatile uint32_t *)OPAQUE(0x09000fe2ULL);
        report("device, misaligned", before);
    }

    /* An instruction fetch from a page that is never executable, and from an unmapped one. */
    {
        unsigned before = faults;
        *(volatile uint32_t *)LAB_PAGE(6) = 0xd65f03c0; /* ret */
        __asm__ volatile("dsb ish\n\tic iallu\n\tdsb ish\n\tisb" ::: "memory");
        ((void (*)(void))LAB_PAGE(6))();
        report("execute XN page", before);
        before = faults;
        ((void (*)(void))(LAB_PAGE(1) + 0x40))();
        report("execute unmapped page", before);
    }

    /* Remap page 7 from page 20 to page 21: after TLBI the old data is gone. */
    map_page(7, LAB_PAGE(21), D_PAGE | NORMAL);
    tlb_flush_page(LAB_PAGE(7));
    TRY_LOAD("page 7 remapped to 21", LAB_PAGE(7));
    /* Unmap it: the next access faults. */
    l3[7] = 0;
    tlb_flush_page(LAB_PAGE(7));
    TRY_LOAD("page 7 unmapped", LAB_PAGE(7));

    /* An output address at or above 2^TCR_EL1.IPS is an address-size fault at the descriptor's level: a page
     * at 1 TiB with the 40-bit IPS set above, then a page at 4 GiB with IPS 32 bits. */
    map_page(7, 1ULL << 40, D_PAGE | NORMAL);
    tlb_flush_page(LAB_PAGE(7));
    TRY_LOAD("page beyond IPS 40 bits", LAB_PAGE(7));
    TRY_STORE("store beyond IPS 40 bits", LAB_PAGE(7) + 8, 1);
    map_page(7, 1ULL << 32, D_PAGE | NORMAL);
    {
        uint64_t tcr_saved = SYSREG_READ(tcr_el1);
        SYSREG_WRITE(tcr_el1, tcr_saved & ~(7ULL << 32));
        tlb_flush_all();
        TRY_LOAD("page beyond IPS 32 bits", LAB_PAGE(7));
        SYSREG_WRITE(tcr_el1, tcr_saved);
        tlb_flush_all();
    }
    l3[7] = 0;
    tlb_flush_page(LAB_PAGE(7));

    /* Hardware access flag and dirty state (TCR_EL1.HA, HD): an AF-clear page is accessed without a fault
     * and its descriptor gains AF; a writable-clean page (DBM set, AP read-only) becomes dirty on a store. */
    {
        uint64_t tcr_saved = SYSREG_READ(tcr_el1);
        map_page(14, LAB_PAGE(14), D_PAGE | D_ATTR(0) | D_SH_INNER);
        map_page(15, LAB_PAGE(15), D_PAGE | NORMAL | D_AP_RO | (1ULL << 51));
        tlb_flush_all();
        SYSREG_WRITE(tcr_el1, tcr_saved | (1ULL << 39) | (1ULL << 40));
        __asm__ volatile("isb" ::: "memory");
        TRY_LOAD("HA: AF-clear page", LAB_PAGE(14));
        printf("%-28s AF now %lu\n", "", (unsigned long)((l3[14] >> 10) & 1));
        TRY_STORE("HD: clean page, store", LAB_PAGE(15), 15);
        printf("%-28s AP[2] now %lu\n", "", (unsigned long)((l3[15] >> 7) & 1));
        SYSREG_WRITE(tcr_el1, tcr_saved);
        __asm__ volatile("isb" ::: "memory");
        tlb_flush_all();
    }

    /* AT and PAR_EL1. */
    {
        uint64_t par;
        __asm__ volatile("at s1e1r, %1\n\tisb\n\tmrs %0, par_el1" : "=r"(par) : "r"(LAB_PAGE(0) + 0x123));
        printf("AT S1E1R page 0: F=%lu PA=%lx\n", (unsigned long)(par & 1), (unsigned long)(par & 0xfffffffff000ULL));
        __asm__ volatile("at s1e1r, %1\n\tisb\n\tmrs %0, par_el1" : "=r"(par) : "r"(LAB_PAGE(1)));
        printf("AT S1E1R unmapped: F=%lu FST=0x%02lx\n", (unsigned long)(par & 1), (unsigned long)((par >> 1) & 0x3f));
        __asm__ volatile("at s1e1w, %1\n\tisb\n\tmrs %0, par_el1" : "=r"(par) : "r"(LAB_PAGE(3)));
        printf("AT S1E1W read-only: F=%lu FST=0x%02lx\n", (unsigned long)(par & 1), (unsigned long)((par >> 1) & 0x3f));
        __asm__ volatile("at s1e0r, %1\n\tisb\n\tmrs %0, par_el1" : "=r"(par) : "r"(LAB_PAGE(0)));
        printf("AT S1E0R EL1-only: F=%lu FST=0x%02lx\n", (unsigned long)(par & 1), (unsigned long)((par >> 1) & 0x3f));
        __asm__ volatile("at s1e0r, %1\n\tisb\n\tmrs %0, par_el1" : "=r"(par) : "r"(LAB_PAGE(5)));
        printf("AT S1E0R EL0 page: F=%lu PA=%lx\n", (unsigned long)(par & 1), (unsigned long)(par & 0xfffffffff000ULL));
    }

    /* TTBR1: the same RAM at the top of the address space. */
    TRY_LOAD("TTBR1 alias of page 21", 0xffffff8000000000ULL + LAB_PAGE(21));
    /* Semihosting takes virtual addresses: a string passed through its TTBR1 alias. */
    rt_flush();
    {
        static const char message[] = "semihosting reads this through TTBR1\n";
        semihost(0x04, (const void *)(0xffffff8000000000ULL + (uint64_t)message));
    }

    /* PAN: EL1 loses access to pages EL0 can reach. */
    __asm__ volatile(".arch_extension pan\n\tmsr pan, #1\n\tisb" ::: "memory");
    TRY_LOAD("PAN=1, EL0 page", LAB_PAGE(4));
    TRY_LOAD("PAN=1, EL1 page", LAB_PAGE(0));
    __asm__ volatile(".arch_extension pan\n\tmsr pan, #0\n\tisb" ::: "memory");
    TRY_LOAD("PAN=0, EL0 page", LAB_PAGE(4));

    /* EL0: a load of its own page works, of an EL1 page faults; code in a UXN page does not run. */
    *(volatile uint64_t *)LAB_PAGE(4) = 0x4444;
    run_user("EL0 loads EL0 page", LAB_PAGE(8), LAB_PAGE(9), LAB_PAGE(4));
    run_user("EL0 loads EL0 read-only page", LAB_PAGE(8), LAB_PAGE(9), LAB_PAGE(5));
    run_user("EL0 loads EL1 page", LAB_PAGE(8), LAB_PAGE(9), LAB_PAGE(0));
    run_user("EL0 code in UXN page", LAB_PAGE(10), LAB_PAGE(11), LAB_PAGE(4));

    /* Code written through an alias: page 12 is mapped again at page 13 (both executable at EL1). */
    {
        map_page(13, LAB_PAGE(12), D_PAGE | NORMAL);
        tlb_flush_page(LAB_PAGE(13));
        volatile uint32_t *code = (volatile uint32_t *)LAB_PAGE(12);
        code[0] = 0x52800020; /* mov w0, #1 */
        code[1] = 0xd65f03c0; /* ret */
        __asm__ volatile("dsb ish\n\tic iallu\n\tdsb ish\n\tisb" ::: "memory");
        int (*fn)(void) = (int (*)(void))LAB_PAGE(13);
        printf("code through alias: %d\n", fn());
        code[0] = 0x52800040; /* mov w0, #2 */
        __asm__ volatile("dsb ish\n\tic iallu\n\tdsb ish\n\tisb" ::: "memory");
        printf("after rewriting it: %d\n", fn());

        /* The same virtual page remapped to other code: page 13 now maps page 14, which returns 3; then back
         * to page 12 (still 2), then unmapped (an instruction abort), then page 14 again. No write to either
         * code page happens in between: only the translation changes. */
        volatile uint32_t *other = (volatile uint32_t *)LAB_PAGE(14);
        other[0] = 0x52800060; /* mov w0, #3 */
        other[1] = 0xd65f03c0; /* ret */
        __asm__ volatile("dsb ish\n\tic iallu\n\tdsb ish\n\tisb" ::: "memory");
        for (int round = 0; round < 2; round++) {
            map_page(13, LAB_PAGE(14), D_PAGE | NORMAL);
            tlb_flush_page(LAB_PAGE(13));
            printf("page 13 remapped to 14: %d\n", fn());
            map_page(13, LAB_PAGE(12), D_PAGE | NORMAL);
            tlb_flush_page(LAB_PAGE(13));
            printf("page 13 back on 12: %d\n", fn());
        }
        l3[13] = 0;
        tlb_flush_page(LAB_PAGE(13));
        unsigned before = faults;
        skip_mode = 1;
        fn();
        skip_mode = 0;
        report("call into unmapped code page", before);
        map_page(13, LAB_PAGE(14), D_PAGE | NORMAL);
        tlb_flush_page(LAB_PAGE(13));
        printf("mapped again: %d\n", fn());
    }

    printf("MVFR0 %08lx MVFR1 %08lx MVFR2 %08lx\n", (unsigned long)SYSREG_READ(mvfr0_el1),
           (unsigned long)SYSREG_READ(mvfr1_el1), (unsigned long)SYSREG_READ(mvfr2_el1));
    printf("faults taken: %u\n", faults);
    exit(0);
}
