/* A ticket spin-lock (LDADDA takes a ticket, LDAR waits for it, STLR hands the lock on) protecting
 * an update that is not atomic: several plain loads and stores of a shared record whose fields
 * must stay consistent. Inside the lock each CPU also checks that nobody else is inside.
 * Between acquisitions each CPU does some private work; waiters nap (see SMP_WAIT_UNTIL in smp.h).
 * SPDX-License-Identifier: GPL-2.0-or-later */
#include "smp.h"

#define ROUNDS 5000u
#define PRIVATE_WORK 400u

struct ticket_lock {
    volatile uint32_t next CACHE_ALIGNED;
    volatile uint32_t serving CACHE_ALIGNED;
};

static struct ticket_lock lock;

/* Guarded by lock. Every update keeps sum == the sum of 1..count and hash a function of the
 * sequence of updates, so a lost or torn update shows. */
static struct {
    volatile uint64_t count;
    volatile uint64_t sum;
    volatile uint64_t hash;
    volatile uint32_t inside;
    volatile uint32_t owner;
} CACHE_ALIGNED shared;

static struct {
    volatile uint64_t acquired;
    volatile uint64_t overlaps;
    volatile uint64_t mix; /* keeps the private work from being optimised away */
} CACHE_ALIGNED per_cpu[SMP_MAX_CPUS];

static struct smp_barrier barrier;

static void ticket_lock(struct ticket_lock *l)
{
    uint32_t ticket, one = 1;
    __asm__ volatile("ldadda %w1, %w0, [%2]" : "=&r"(ticket) : "r"(one), "r"(&l->next) : "memory");
    SMP_WAIT_UNTIL(load_acquire32(&l->serving) == ticket);
}

static void ticket_unlock(struct ticket_lock *l)
{
    /* Only the holder writes serving, so a plain read of it is current. */
    store_release32(&l->serving, l->serving + 1);
}

static NOINLINE void update(unsigned cpu)
{
    ticket_lock(&lock);
    if (shared.inside)
        per_cpu[cpu].overlaps++;
    shared.inside = 1;
    shared.owner = cpu;
    /* Read-modify-write of three words, with loads and stores spread apart. */
    uint64_t count = shared.count + 1;
    shared.count = count;
    uint64_t sum = shared.sum;
    uint64_t hash = shared.hash;
    shared.sum = sum + count;
    shared.hash = (hash ^ count) * 0x100000001b3ULL;
    if (shared.owner != cpu)
        per_cpu[cpu].overlaps++;
    shared.inside = 0;
    ticket_unlock(&lock);
    per_cpu[cpu].acquired++;
}

static void work(unsigned cpu, void *arg)
{
    (void)arg;
    uint64_t state = 0x9e3779b97f4a7c15ULL * (cpu + 1), mix = 0;
    smp_barrier_wait(&barrier);
    for (uint32_t i = 0; i < OPAQUE(ROUNDS); i++) {
        for (uint32_t j = 0; j < OPAQUE(PRIVATE_WORK); j++)
            mix += prng_next(&state);
        update(cpu);
    }
    per_cpu[cpu].mix = mix;
}

int main(void)
{
    unsigned cpus = smp_count_cpus();
    smp_barrier_init(&barrier, cpus);
    shared.hash = 0xcbf29ce484222325ULL;
    if (smp_start_all(work, 0) != cpus)
        fail("CPU_ON started a different number of CPUs than AFFINITY_INFO reported");
    work(0, 0);
    smp_join_all(cpus);

    uint64_t n = (uint64_t)cpus * ROUNDS, hash = 0xcbf29ce484222325ULL;
    for (uint64_t i = 1; i <= n; i++)
        hash = (hash ^ i) * 0x100000001b3ULL;
    printf("%u CPUs, %u lock rounds each\n", cpus, ROUNDS);
    printf("count %lu (%s)\n", shared.count, shared.count == n ? "exact" : "WRONG");
    printf("sum %lu (%s)\n", shared.sum, shared.sum == n * (n + 1) / 2 ? "exact" : "WRONG");
    printf("hash %016lx (%s)\n", shared.hash, shared.hash == hash ? "exact" : "WRONG");
    printf("tickets handed out %u, served %u\n", lock.next, lock.serving);
    int ok = shared.count == n && shared.sum == n * (n + 1) / 2 && shared.hash == hash;
    for (unsigned cpu = 0; cpu < cpus; cpu++) {
        if (per_cpu[cpu].acquired != ROUNDS || per_cpu[cpu].overlaps != 0) {
            printf("cpu %u: acquired %lu times, saw %lu overlaps\n", cpu, per_cpu[cpu].acquired,
                   per_cpu[cpu].overlaps);
            ok = 0;
        }
    }
    printf("%s\n", ok ? "mutual exclusion held" : "FAIL");
    return ok ? 0 : 1;
}
