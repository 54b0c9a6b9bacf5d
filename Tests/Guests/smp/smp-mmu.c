/* The MMU on every CPU, with broadcast TLB maintenance: all CPUs share one set of tables. Each round,
 * CPU 0 remaps one virtual page to the other of two physical pages (each holding its own pattern),
 * invalidates with an inner-shareable TLBI (by VA, or all, in turn), DSB ISH, then publishes the round;
 * every other CPU, which read the page (and so cached its translation) the round before, must now see
 * the new page's pattern. Errors are counted per CPU and printed by CPU 0 after joining.
 * Then the DSB's half of the contract: while the other CPUs read the page in long straight-line bursts
 * (one translated block each), CPU 0 moves the page away, TLBI VAE1IS, DSB ISH, and overwrites the old
 * physical page with a poison value. Once that DSB has completed no CPU may use the old translation, so
 * no burst may ever see the poison.
 * SPDX-License-Identifier: GPL-2.0-or-later */
#include "smp.h"

#define ROUNDS 2000u
#define RAM_BASE 0x40000000ULL
#define LAB (RAM_BASE + (64ULL << 20))
#define WINDOW (LAB + 0x10000)             /* the virtual page that moves */
#define PAGE_A (LAB + 0x20000)
#define PAGE_B (LAB + 0x21000)
#define NORMAL ((0ULL << 2) | (3ULL << 8) | (1ULL << 10))
#define DEVICE ((1ULL << 2) | (1ULL << 10) | (1ULL << 53) | (1ULL << 54))

static uint64_t l1[512] __attribute__((aligned(4096)));
static uint64_t l2[512] __attribute__((aligned(4096)));
static uint64_t l3[512] __attribute__((aligned(4096)));

static volatile uint32_t round_published CACHE_ALIGNED;
static volatile uint32_t acks CACHE_ALIGNED;
static volatile uint64_t errors[SMP_MAX_CPUS] CACHE_ALIGNED;
static volatile uint64_t seen[SMP_MAX_CPUS];
static struct smp_barrier barrier;

#define BURST_ROUNDS 300u
#define POISON 0xdeaddeaddeaddeadULL
static volatile uint32_t burst_round CACHE_ALIGNED;   /* readers may start round N's bursts */
static volatile uint32_t burst_started CACHE_ALIGNED; /* readers that are bursting (total over rounds) */
static volatile uint32_t burst_stop CACHE_ALIGNED;    /* round N's bursts end */
static volatile uint32_t burst_acks CACHE_ALIGNED;
static volatile uint64_t poisoned[SMP_MAX_CPUS];
static volatile uint64_t bursts[SMP_MAX_CPUS];

static uint64_t pattern(uint64_t page) { return page == PAGE_A ? 0xaaaaaaaa00000001ULL : 0xbbbbbbbb00000002ULL; }
static uint64_t page_for(uint32_t round) { return round % 2 ? PAGE_B : PAGE_A; }

static void mmu_enable(void)
{
    SYSREG_WRITE(mair_el1, 0xffULL);
    SYSREG_WRITE(tcr_el1, 25ULL | (1ULL << 8) | (1ULL << 10) | (3ULL << 12) | (1ULL << 23) | (2ULL << 32));
    SYSREG_WRITE(ttbr0_el1, (uint64_t)l1);
    __asm__ volatile("dsb ish\n\ttlbi vmalle1\n\tdsb ish\n\tisb" ::: "memory");
    SYSREG_WRITE(sctlr_el1, SYSREG_READ(sctlr_el1) | 1 | (1 << 2) | (1 << 12));
    __asm__ volatile("isb" ::: "memory");
}

/* Sixteen loads of the window with no branch between them (one block), counting those that saw POISON. */
static uint64_t burst(void)
{
    uint64_t hits = 0, v;
    __asm__ volatile(".rept 16\n\t"
                     "ldr %1, [%2]\n\t"
                     "cmp %1, %3\n\t"
                     "cinc %0, %0, eq\n\t"
                     ".endr"
                     : "+r"(hits), "=&r"(v)
                     : "r"(WINDOW), "r"(POISON)
                     : "cc", "memory");
    return hits;
}

static void add_release(volatile uint32_t *p)
{
    __asm__ volatile(".arch_extension lse\n\tstaddl %w0, [%1]" : : "r"(1u), "r"(p) : "memory");
}

static void reader(unsigned cpu, void *arg)
{
    (void)arg;
    mmu_enable();
    smp_barrier_wait(&barrier);
    for (uint32_t round = 1; round <= ROUNDS; round++) {
        SMP_WAIT_UNTIL(load_acquire32(&round_published) >= round);
        uint64_t v = *(volatile uint64_t *)WINDOW;
        if (v != pattern(page_for(round)))
            errors[cpu]++;
        seen[cpu] += v & 3;
        add_release(&acks);
    }
    for (uint32_t round = 1; round <= BURST_ROUNDS; round++) {
        SMP_WAIT_UNTIL(load_acquire32(&burst_round) >= round);
        poisoned[cpu] += burst();
        add_release(&burst_started);
        while (load_acquire32(&burst_stop) < round) {
            poisoned[cpu] += burst();
            bursts[cpu]++;
        }
        poisoned[cpu] += burst();
        add_release(&burst_acks);
    }
}

static void move_window(uint64_t page)
{
    l3[(WINDOW >> 12) & 511] = page | NORMAL | 3;
    __asm__ volatile("dsb ishst\n\ttlbi vae1is, %0\n\tdsb ish\n\tisb" : : "r"(WINDOW >> 12) : "memory");
}

int main(void)
{
    l1[0] = 0 | DEVICE | 1;                 /* GIC, UART, PSCI's world: Device */
    l1[1] = (uint64_t)l2 | 3;
    for (int i = 0; i < 512; i++)
        l2[i] = (RAM_BASE + ((uint64_t)i << 21)) | NORMAL | 1;
    l2[(LAB >> 21) & 511] = (uint64_t)l3 | 3;
    for (int i = 0; i < 512; i++)
        l3[i] = (LAB + ((uint64_t)i << 12)) | NORMAL | 3;
    *(volatile uint64_t *)PAGE_A = pattern(PAGE_A);
    *(volatile uint64_t *)PAGE_B = pattern(PAGE_B);
    l3[(WINDOW >> 12) & 511] = page_for(0) | NORMAL | 3;
    mmu_enable();

    unsigned cpus = smp_count_cpus();
    if (cpus < 2)
        fail("broadcast TLB maintenance needs at least 2 CPUs");
    smp_barrier_init(&barrier, cpus);
    if (smp_start_all(reader, 0) != cpus)
        fail("CPU_ON started a different number of CPUs than AFFINITY_INFO reported");
    smp_barrier_wait(&barrier);
    for (uint32_t round = 1; round <= ROUNDS; round++) {
        /* Everyone has read the previous round's page (and holds its translation). */
        SMP_WAIT_UNTIL(load_acquire32(&acks) == (round - 1) * (cpus - 1));
        l3[(WINDOW >> 12) & 511] = page_for(round) | NORMAL | 3;
        if (round % 2)
            __asm__ volatile("dsb ishst\n\ttlbi vae1is, %0\n\tdsb ish\n\tisb" : : "r"(WINDOW >> 12) : "memory");
        else
            __asm__ volatile("dsb ishst\n\ttlbi vmalle1is\n\tdsb ish\n\tisb" ::: "memory");
        store_release32(&round_published, round);
    }
    SMP_WAIT_UNTIL(load_acquire32(&acks) == ROUNDS * (cpus - 1));
    for (uint32_t round = 1; round <= BURST_ROUNDS; round++) {
        *(volatile uint64_t *)PAGE_A = pattern(PAGE_A);
        move_window(PAGE_A);
        store_release32(&burst_round, round);
        /* Every reader is inside its bursts, holding the translation to page A. */
        SMP_WAIT_UNTIL(load_acquire32(&burst_started) == round * (cpus - 1));
        move_window(PAGE_B);
        *(volatile uint64_t *)PAGE_A = POISON;
        store_release32(&burst_stop, round);
        SMP_WAIT_UNTIL(load_acquire32(&burst_acks) == round * (cpus - 1));
    }
    smp_join_all(cpus);

    int ok = 1;
    printf("%u CPUs, %u remaps of one page with broadcast TLBI\n", cpus, ROUNDS);
    for (unsigned c = 1; c < cpus; c++) {
        printf("cpu %u: stale reads %lu, pages seen %lu\n", c, (unsigned long)errors[c], (unsigned long)seen[c]);
        ok &= errors[c] == 0;
    }
    printf("%u rounds of moving a page away under other CPUs' bursts of loads\n", BURST_ROUNDS);
    for (unsigned c = 1; c < cpus; c++) {
        printf("cpu %u: loads that saw the old page after the DSB %lu\n", c, (unsigned long)poisoned[c]);
        ok &= poisoned[c] == 0;
    }
    printf("%s\n", ok ? "PASS" : "FAIL");
    exit(ok ? 0 : 1);
}
