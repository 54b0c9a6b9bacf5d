/* A busy workload on every CPU that runs until the host says stop, then checks itself: for
 * emud's exclusive-section tests (translation-block flushes while all vCPUs run) and
 * `emud bench-exclusive`. Not compared with QEMU, which has no way to say stop.
 *
 * Each CPU runs rounds of private work spread over several functions (so there are many blocks
 * to translate again after a flush), done twice by two copies of the code and compared, and of
 * shared counting with LDXR/STXR and LDADD, until the host writes a nonzero value to `host_stop`
 * (found through the ELF symbol table). Then CPU 0 joins the others and checks the shared
 * counters against the rounds done; it prints the verdict, not the (timing-dependent) counts.
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
    volatile uint64_t rounds, mismatches;
    uint64_t buffer_a[BUFFER_WORDS], buffer_b[BUFFER_WORDS];
} CACHE_ALIGNED per_cpu[SMP_MAX_CPUS];

/* The private work, compiled twice under two names: the two copies are separate code, so separate
 * translation blocks, and every round runs both and compares. A block translated wrongly after a
 * flush makes the copies disagree, without a long recomputation at the end. */
#define DEFINE_PRIVATE_WORK(copy)                                                                 \
    static WORK_FUNCTION uint64_t mix_buffer_##copy(uint64_t *buffer, uint64_t seed)                   \
    {                                                                                             \
        uint64_t state = seed | 1;                                                                \
        for (unsigned i = 0; i < BUFFER_WORDS; i++)                                               \
            buffer[i] ^= prng_next(&state);                                                       \
        return state;                                                                             \
    }                                                                                             \
                                                                                                  \
    static WORK_FUNCTION uint64_t insertion_sort_sum_##copy(const uint64_t *buffer)                    \
    {                                                                                             \
        uint64_t keys[12];                                                                        \
        for (unsigned i = 0; i < ARRAY_SIZE(keys); i++)                                           \
            keys[i] = buffer[i * 5] >> 40;                                                        \
        for (unsigned i = 1; i < ARRAY_SIZE(keys); i++) {                                         \
            uint64_t k = keys[i];                                                                 \
            unsigned j = i;                                                                       \
            while (j > 0 && keys[j - 1] > k) {                                                    \
                keys[j] = keys[j - 1];                                                            \
                j--;                                                                              \
            }                                                                                     \
            keys[j] = k;                                                                          \
        }                                                                                         \
        uint64_t sum = 0;                                                                         \
        for (unsigned i = 0; i < ARRAY_SIZE(keys); i++)                                           \
            sum = sum * 31 + keys[i];                                                             \
        return sum;                                                                               \
    }                                                                                             \
                                                                                                  \
    static WORK_FUNCTION uint64_t crc_bits_##copy(uint64_t value)                                      \
    {                                                                                             \
        uint32_t crc = ~0u;                                                                       \
        for (int bit = 0; bit < 64; bit++) {                                                      \
            uint32_t b = (uint32_t)(value >> bit) & 1;                                            \
            crc = (crc >> 1) ^ (0xedb88320u & -((crc ^ b) & 1));                                  \
        }                                                                                         \
        return ~crc;                                                                              \
    }                                                                                             \
                                                                                                  \
    /* A few opcodes dispatched through a switch: indirect branches and many small blocks. */     \
    static WORK_FUNCTION uint64_t tiny_vm_##copy(uint64_t seed)                                        \
    {                                                                                             \
        static const uint8_t program[] = { 0, 1, 2, 3, 1, 0, 4, 2, 3, 4, 0, 1 };                  \
        uint64_t acc = seed;                                                                      \
        for (unsigned pc = 0; pc < ARRAY_SIZE(program); pc++) {                                   \
            switch (program[pc]) {                                                                \
            case 0: acc += 0x1234567; break;                                                      \
            case 1: acc ^= acc >> 13; break;                                                      \
            case 2: acc *= 0x5bd1e995; break;                                                     \
            case 3: acc = (acc << 9) | (acc >> 55); break;                                        \
            default: acc -= seed; break;                                                          \
            }                                                                                     \
        }                                                                                         \
        return acc;                                                                               \
    }                                                                                             \
                                                                                                  \
    /* One round: the same buffer, checksum, round and CPU always give the same result. */       \
    static WORK_FUNCTION uint64_t private_round_##copy(uint64_t *buffer, uint64_t checksum,            \
                                                  uint64_t round, unsigned cpu)                   \
    {                                                                                             \
        uint64_t r = mix_buffer_##copy(buffer, checksum ^ (round << 8) ^ cpu);                    \
        r ^= insertion_sort_sum_##copy(buffer);                                                   \
        r += crc_bits_##copy(r);                                                                  \
        r ^= tiny_vm_##copy(r);                                                                   \
        return (checksum ^ r) * 0x100000001b3ULL;                                                 \
    }

/* no_icf: gcc would otherwise fold the two identical copies into one. */
#define WORK_FUNCTION NOINLINE __attribute__((no_icf))

DEFINE_PRIVATE_WORK(a)
DEFINE_PRIVATE_WORK(b)

static void shared_round(void)
{
    for (unsigned i = 0; i < SHARED_ADDS; i++) {
        exclusive_increment(&exclusive_total);
        ldadd_increment(&ldadd_total);
    }
}

static void run(unsigned cpu, void *arg)
{
    (void)arg;
    uint64_t checksum_a = 0, checksum_b = 0, rounds = 0, mismatches = 0;
    while (!host_stop) {
        checksum_a = private_round_a(per_cpu[cpu].buffer_a, checksum_a, rounds, cpu);
        shared_round();
        checksum_b = private_round_b(per_cpu[cpu].buffer_b, checksum_b, rounds, cpu);
        if (checksum_a != checksum_b) {
            mismatches++;
            checksum_b = checksum_a; /* carry on from one state; the count tells */
            memcpy(per_cpu[cpu].buffer_b, per_cpu[cpu].buffer_a, sizeof per_cpu[cpu].buffer_b);
        }
        rounds++;
        __atomic_fetch_add(&stress_rounds, 1, __ATOMIC_RELAXED);
    }
    per_cpu[cpu].rounds = rounds;
    per_cpu[cpu].mismatches = mismatches;
}

int main(void)
{
    unsigned cpus = smp_start_all(run, 0);
    run(0, 0);
    smp_join_all(cpus);

    int ok = 1;
    uint64_t rounds = 0;
    for (unsigned cpu = 0; cpu < cpus; cpu++) {
        if (per_cpu[cpu].mismatches) {
            printf("cpu %u: the two copies of the work disagreed in %lu of %lu rounds\n", cpu,
                   per_cpu[cpu].mismatches, per_cpu[cpu].rounds);
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
