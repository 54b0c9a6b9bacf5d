/* A busy workload on every CPU that runs until the host says stop, then checks itself: for
 * emud's exclusive-section tests (translation-block flushes while all vCPUs run) and
 * `emud bench-exclusive`. Not compared with QEMU, which has no way to say stop.
 *
 * Each CPU runs rounds of private work spread over several functions (so there are many blocks
 * to translate again after a flush) and of shared counting with LDXR/STXR and LDADD, until the
 * host writes a nonzero value to `host_stop` (found through the ELF symbol table). Then CPU 0
 * joins the others and checks the shared counters against the rounds done and each CPU's
 * checksum against a recomputation; it prints the verdict, not the (timing-dependent) counts.
 * `stress_rounds` counts finished rounds of all CPUs, for the host to watch progress.
 * SPDX-License-Identifier: GPL-2.0-or-later */
#include "smp.h"

#define SHARED_ADDS 16u
#define BUFFER_WORDS 64u

/* Written by the host while the program runs; in .data so that start-up does not clear it. */
volatile uint64_t host_stop __attribute__((section(".data"))) = 0;
volatile uint64_t stress_rounds CACHE_ALIGNED;

static volatile uint64_t exclusive_total CACHE_ALIGNED;
static volatile uint64_t ldadd_total CACHE_ALIGNED;
static struct {
    volatile uint64_t rounds, checksum;
    uint64_t buffer[BUFFER_WORDS];
} CACHE_ALIGNED per_cpu[SMP_MAX_CPUS];

static NOINLINE uint64_t mix_buffer(uint64_t *buffer, uint64_t seed)
{
    uint64_t state = seed | 1;
    for (unsigned i = 0; i < BUFFER_WORDS; i++)
        buffer[i] ^= prng_next(&state);
    return state;
}

static NOINLINE uint64_t insertion_sort_sum(uint64_t *buffer)
{
    uint64_t keys[12];
    for (unsigned i = 0; i < ARRAY_SIZE(keys); i++)
        keys[i] = buffer[i * 5] >> 40;
    for (unsigned i = 1; i < ARRAY_SIZE(keys); i++) {
        uint64_t k = keys[i];
        unsigned j = i;
        while (j > 0 && keys[j - 1] > k) {
            keys[j] = keys[j - 1];
            j--;
        }
        keys[j] = k;
    }
    uint64_t sum = 0;
    for (unsigned i = 0; i < ARRAY_SIZE(keys); i++)
        sum = sum * 31 + keys[i];
    return sum;
}

static NOINLINE uint64_t crc_bits(uint64_t value)
{
    uint32_t crc = ~0u;
    for (int bit = 0; bit < 64; bit++) {
        uint32_t b = (uint32_t)(value >> bit) & 1;
        crc = (crc >> 1) ^ (0xedb88320u & -((crc ^ b) & 1));
    }
    return ~crc;
}

static NOINLINE uint64_t tiny_vm(uint64_t seed)
{
    /* A few opcodes dispatched through a switch: indirect branches and many small blocks. */
    static const uint8_t program[] = { 0, 1, 2, 3, 1, 0, 4, 2, 3, 4, 0, 1 };
    uint64_t acc = seed;
    for (unsigned pc = 0; pc < ARRAY_SIZE(program); pc++) {
        switch (program[pc]) {
        case 0: acc += 0x1234567; break;
        case 1: acc ^= acc >> 13; break;
        case 2: acc *= 0x5bd1e995; break;
        case 3: acc = (acc << 9) | (acc >> 55); break;
        default: acc -= seed; break;
        }
    }
    return acc;
}

/* One round of private work; the same (cpu, round) always gives the same result. */
static uint64_t private_round(uint64_t *buffer, uint64_t checksum, uint64_t round, unsigned cpu)
{
    uint64_t seed = checksum ^ (round << 8) ^ cpu;
    uint64_t r = mix_buffer(buffer, seed);
    r ^= insertion_sort_sum(buffer);
    r += crc_bits(r);
    r ^= tiny_vm(r);
    return (checksum ^ r) * 0x100000001b3ULL;
}

static void shared_round(void)
{
    for (unsigned i = 0; i < SHARED_ADDS; i++) {
        uint64_t v;
        uint32_t status;
        __asm__ volatile("1: ldxr %0, [%2]\n\t"
                         "add %0, %0, #1\n\t"
                         "stxr %w1, %0, [%2]\n\t"
                         "cbnz %w1, 1b"
                         : "=&r"(v), "=&r"(status) : "r"(&exclusive_total) : "memory");
        uint64_t one = 1, old;
        __asm__ volatile("ldadd %1, %0, [%2]" : "=&r"(old) : "r"(one), "r"(&ldadd_total) : "memory");
    }
}

static void run(unsigned cpu, void *arg)
{
    (void)arg;
    uint64_t checksum = 0, rounds = 0;
    while (!host_stop) {
        checksum = private_round(per_cpu[cpu].buffer, checksum, rounds, cpu);
        shared_round();
        rounds++;
        __atomic_fetch_add(&stress_rounds, 1, __ATOMIC_RELAXED);
    }
    per_cpu[cpu].rounds = rounds;
    per_cpu[cpu].checksum = checksum;
}

int main(void)
{
    unsigned cpus = smp_start_all(run, 0);
    run(0, 0);
    smp_join_all(cpus);

    /* Recompute every CPU's private work from scratch and compare. */
    int ok = 1;
    uint64_t rounds = 0;
    static uint64_t buffer[BUFFER_WORDS];
    for (unsigned cpu = 0; cpu < cpus; cpu++) {
        for (unsigned i = 0; i < BUFFER_WORDS; i++)
            buffer[i] = 0;
        uint64_t checksum = 0;
        for (uint64_t r = 0; r < per_cpu[cpu].rounds; r++)
            checksum = private_round(buffer, checksum, r, cpu);
        if (checksum != per_cpu[cpu].checksum) {
            printf("cpu %u: checksum after %lu rounds is %016lx, recomputed %016lx\n", cpu,
                   per_cpu[cpu].rounds, per_cpu[cpu].checksum, checksum);
            ok = 0;
        }
        rounds += per_cpu[cpu].rounds;
    }
    if (exclusive_total != rounds * SHARED_ADDS || ldadd_total != rounds * SHARED_ADDS
        || stress_rounds != rounds) {
        printf("shared counters: LDXR/STXR %lu, LDADD %lu, rounds %lu; expected %lu, %lu, %lu\n",
               exclusive_total, ldadd_total, stress_rounds, rounds * SHARED_ADDS,
               rounds * SHARED_ADDS, rounds);
        ok = 0;
    }
    printf("smp-stress: %u CPUs, %s\n", cpus, ok ? "results correct" : "FAIL");
    return ok ? 0 : 1;
}
