/* Multi-core support for emud's SMP guest programs: PSCI calls, starting secondary CPUs with a
 * stack each, a barrier, and joining them again. Builds on the single-core runtime in ../rt.
 * SPDX-License-Identifier: GPL-2.0-or-later
 *
 * Rules for an SMP program (in addition to those in ../README.md):
 * - Only CPU 0 prints, and only after joining (the runtime's console buffer is not shared safely).
 * - A secondary reports problems through memory that CPU 0 checks and prints after joining.
 * - Print only results that do not depend on timing: totals, checksums, PSCI return codes.
 * - Wait with SMP_WAIT_UNTIL, never with a bare spin loop. The tests run 4 vCPUs on hosts with
 *   fewer cores (and other work), in QEMU and in emud alike: a CPU spinning on a flag keeps the
 *   host thread that would set it off the core, and a FIFO lock whose next owner is descheduled
 *   stalls everyone. SMP_WAIT_UNTIL spins briefly, then naps with WFI on the virtual timer,
 *   which gives the host core away.
 */
#ifndef GUEST_SMP_H
#define GUEST_SMP_H

#include "rt.h"

/* QEMU's virt board has at most 8 CPUs in one cluster with GICv2; so does emud. */
#define SMP_MAX_CPUS 8
#define SMP_STACK_SIZE (32 * 1024)
#define CACHE_LINE 64
#define CACHE_ALIGNED __attribute__((aligned(CACHE_LINE)))

/* PSCI function ids (SMC32 and SMC64 calling conventions) and return codes. */
#define PSCI_VERSION 0x84000000u
#define PSCI_CPU_OFF 0x84000002u
#define PSCI_CPU_ON_64 0xC4000003u
#define PSCI_AFFINITY_INFO_64 0xC4000004u
#define PSCI_SUCCESS 0
#define PSCI_INVALID_PARAMETERS (-2)
#define PSCI_ALREADY_ON (-4)
#define PSCI_AFFINITY_ON 0
#define PSCI_AFFINITY_OFF 1

int64_t psci_call(uint64_t function, uint64_t a1, uint64_t a2, uint64_t a3);
static inline int64_t psci_cpu_on(uint64_t mpidr, uint64_t entry, uint64_t context)
{
    return psci_call(PSCI_CPU_ON_64, mpidr, entry, context);
}
static inline int64_t psci_affinity_info(uint64_t mpidr, uint64_t level)
{
    return psci_call(PSCI_AFFINITY_INFO_64, mpidr, level, 0);
}

/* This CPU's MPIDR_EL1.Aff0, which is its index on the virt board. */
static inline unsigned smp_cpu_id(void)
{
    return (unsigned)(SYSREG_READ(mpidr_el1) & 0xff);
}

/* What a secondary runs: fn(cpu, arg). */
typedef void (*smp_entry_fn)(unsigned cpu, void *arg);

/* The raw entry point for PSCI CPU_ON (secondary.S): x0 = context = a struct smp_boot pointer.
 * It sets up the stack, FP access and the vector table, then calls smp_secondary_main. */
extern char smp_secondary_entry[];

struct smp_boot {
    uint64_t stack_top;  /* read by secondary.S: keep first */
    smp_entry_fn fn;
    void *arg;
    unsigned cpu;        /* the Aff0 CPU 0 asked PSCI to start */
    volatile uint32_t finished; /* set by the secondary (release) after fn */
    volatile uint32_t context_ok; /* x0 on entry was this record */
    volatile uint32_t mpidr_aff0; /* what the secondary read from MPIDR_EL1 */
} CACHE_ALIGNED;

extern struct smp_boot smp_boot_records[SMP_MAX_CPUS];

/* Starts secondary `cpu` running fn(cpu, arg) on its own stack; returns the PSCI result. When fn
 * returns, the secondary marks itself finished and powers off with CPU_OFF. */
int64_t smp_start(unsigned cpu, smp_entry_fn fn, void *arg);

/* The number of CPUs PSCI offers (AFFINITY_INFO answers INVALID_PARAMETERS past the last). */
unsigned smp_count_cpus(void);

/* Starts fn on every CPU 1..SMP_MAX_CPUS-1 that exists (until CPU_ON says INVALID_PARAMETERS);
 * returns the number of CPUs including CPU 0. Does not wait for them to check in. */
unsigned smp_start_all(smp_entry_fn fn, void *arg);

/* Counts the CPUs, sets up `b` for all of them (before anyone can wait on it), then starts fn on
 * every secondary; stops the program if CPU_ON starts a different number. Returns the count. */
struct smp_barrier;
unsigned smp_start_all_with_barrier(struct smp_barrier *b, smp_entry_fn fn, void *arg);

/* Waits until secondary `cpu` has returned from fn and PSCI reports it OFF. */
void smp_join(unsigned cpu);

/* Joins CPUs 1..cpus-1. */
void smp_join_all(unsigned cpus);

/* A sense-reversing barrier for `count` CPUs. */
struct smp_barrier {
    volatile uint32_t arrived CACHE_ALIGNED;
    volatile uint32_t sense CACHE_ALIGNED;
    uint32_t count;
};
void smp_barrier_init(struct smp_barrier *b, uint32_t count);
void smp_barrier_wait(struct smp_barrier *b);

/* Sets up this CPU's GIC interface and virtual-timer interrupt (PPI 27) so that smp_nap can
 * sleep in WFI. smp_start does it for CPU 0 and for each secondary. Interrupts stay masked in
 * PSTATE: the timer only wakes WFI, no handler runs. */
void smp_cpu_init(void);

/* Sleeps in WFI until the virtual timer fires about `us` microseconds from now (or something
 * else wakes the CPU). */
void smp_nap(unsigned us);

/* One step of a wait loop: a YIELD hint for the first spins, then a short nap. */
static inline void smp_relax(unsigned *spins)
{
    if (++*spins < 2048) {
        __asm__ volatile("yield" : : : "memory");
        return;
    }
    *spins = 0;
    smp_nap(20);
}

#define SMP_WAIT_UNTIL(cond)                                                                       \
    do {                                                                                           \
        unsigned spins_ = 0;                                                                       \
        while (!(cond))                                                                            \
            smp_relax(&spins_);                                                                    \
    } while (0)

/* Load-acquire and store-release of 32- and 64-bit words. */
static inline uint32_t load_acquire32(const volatile uint32_t *p)
{
    uint32_t v;
    __asm__ volatile("ldar %w0, [%1]" : "=r"(v) : "r"(p) : "memory");
    return v;
}
static inline void store_release32(volatile uint32_t *p, uint32_t v)
{
    __asm__ volatile("stlr %w0, [%1]" : : "r"(v), "r"(p) : "memory");
}
static inline uint64_t load_acquire64(const volatile uint64_t *p)
{
    uint64_t v;
    __asm__ volatile("ldar %0, [%1]" : "=r"(v) : "r"(p) : "memory");
    return v;
}
static inline void store_release64(volatile uint64_t *p, uint64_t v)
{
    __asm__ volatile("stlr %0, [%1]" : : "r"(v), "r"(p) : "memory");
}

#define DMB_ISH() __asm__ volatile("dmb ish" : : : "memory")

/* Adds 1 to *p with an LDXR/STXR retry loop. */
static inline void exclusive_increment(volatile uint64_t *p)
{
    uint64_t v;
    uint32_t status;
    __asm__ volatile("1: ldxr %0, [%2]\n\t"
                     "add %0, %0, #1\n\t"
                     "stxr %w1, %0, [%2]\n\t"
                     "cbnz %w1, 1b"
                     : "=&r"(v), "=&r"(status) : "r"(p) : "memory");
}

/* Adds 1 to *p with LDADD. */
static inline void ldadd_increment(volatile uint64_t *p)
{
    uint64_t one = 1, old;
    __asm__ volatile("ldadd %1, %0, [%2]" : "=&r"(old) : "r"(one), "r"(p) : "memory");
}

#endif
