/* Message passing between CPUs, where only barriers order the data before the flag:
 * 1. Pairs of CPUs (odd producer -> even consumer) stream messages through a ring of slots. The
 *    producer writes a slot's words, then publishes the new head; the consumer waits for the
 *    head, reads the slot and checks every word, then frees the slot by publishing the tail.
 *    Pair 0 orders with DMB ISH around plain loads and stores; pair 1 with STLR/LDAR.
 * 2. CPU 0 broadcasts: it writes a block of data, DMB ISH, then a round number; every other CPU
 *    waits for the round, DMB ISH, checks the block and acknowledges with LDADD.
 * Every message is checked; the consumers print error counts and checksums after joining.
 * SPDX-License-Identifier: GPL-2.0-or-later */
#include "smp.h"

#define MESSAGES 100000u
#define RING_SLOTS 64u
#define ROUNDS 500u
#define BLOCK_WORDS 32u

enum ordering { ORDER_DMB, ORDER_ACQUIRE_RELEASE };

struct ring {
    volatile uint64_t head CACHE_ALIGNED; /* messages published by the producer */
    volatile uint64_t tail CACHE_ALIGNED; /* messages consumed */
    struct {
        volatile uint64_t seq, a, b, check;
    } slot[RING_SLOTS] CACHE_ALIGNED;
    enum ordering ordering;
    /* Results, written by the consumer. */
    uint64_t received, errors, checksum;
};

static struct ring rings[SMP_MAX_CPUS / 2];

static struct {
    volatile uint64_t words[BLOCK_WORDS];
    volatile uint32_t round CACHE_ALIGNED;
    volatile uint32_t acks CACHE_ALIGNED;
} broadcast;
static volatile uint64_t broadcast_errors[SMP_MAX_CPUS];

static struct smp_barrier barrier;

static uint64_t payload(uint64_t seq) { return seq * 0x9e3779b97f4a7c15ULL ^ (seq << 7); }

static void produce(struct ring *r)
{
    for (uint64_t seq = 1; seq <= MESSAGES; seq++) {
        uint64_t head = r->head; /* only the producer writes head */
        if (r->ordering == ORDER_DMB) {
            SMP_WAIT_UNTIL(head - r->tail < RING_SLOTS);
            DMB_ISH(); /* the consumer's reads of the slot come before our overwrite */
        } else {
            SMP_WAIT_UNTIL(head - load_acquire64(&r->tail) < RING_SLOTS);
        }
        unsigned i = head % RING_SLOTS;
        uint64_t a = payload(seq), b = ~payload(seq + 1);
        r->slot[i].seq = seq;
        r->slot[i].a = a;
        r->slot[i].b = b;
        r->slot[i].check = a ^ b ^ seq;
        if (r->ordering == ORDER_DMB) {
            DMB_ISH();
            r->head = head + 1;
        } else {
            store_release64(&r->head, head + 1);
        }
    }
}

static void consume(struct ring *r)
{
    uint64_t errors = 0, checksum = 0, received = 0;
    for (uint64_t seq = 1; seq <= MESSAGES; seq++) {
        uint64_t tail = r->tail; /* only the consumer writes tail */
        if (r->ordering == ORDER_DMB) {
            SMP_WAIT_UNTIL(r->head != tail);
            DMB_ISH();
        } else {
            SMP_WAIT_UNTIL(load_acquire64(&r->head) != tail);
        }
        unsigned i = tail % RING_SLOTS;
        uint64_t s = r->slot[i].seq, a = r->slot[i].a, b = r->slot[i].b, check = r->slot[i].check;
        if (s != seq || a != payload(seq) || b != ~payload(seq + 1) || check != (a ^ b ^ s))
            errors++;
        checksum = (checksum ^ a) * 0x100000001b3ULL + b;
        received++;
        if (r->ordering == ORDER_DMB) {
            DMB_ISH();
            r->tail = tail + 1;
        } else {
            store_release64(&r->tail, tail + 1);
        }
    }
    r->received = received;
    r->errors = errors;
    r->checksum = checksum;
}

static uint64_t block_word(uint32_t round, unsigned i) { return payload(round * 131u + i); }

static void receive_broadcasts(unsigned cpu)
{
    uint64_t errors = 0;
    for (uint32_t round = 1; round <= ROUNDS; round++) {
        SMP_WAIT_UNTIL(broadcast.round == round);
        DMB_ISH();
        for (unsigned i = 0; i < BLOCK_WORDS; i++)
            if (broadcast.words[i] != block_word(round, i))
                errors++;
        uint32_t one = 1, old;
        /* LDADDL: our reads of the block come before the acknowledgement. */
        __asm__ volatile("ldaddl %w1, %w0, [%2]" : "=&r"(old) : "r"(one), "r"(&broadcast.acks) : "memory");
    }
    broadcast_errors[cpu] = errors;
}

static void run(unsigned cpu, void *arg)
{
    unsigned cpus = (unsigned)(uintptr_t)arg;
    unsigned pairs = cpus / 2;
    smp_barrier_wait(&barrier);
    if (cpu / 2 < pairs) {
        if (cpu & 1)
            produce(&rings[cpu / 2]);
        else
            consume(&rings[cpu / 2]);
    }
    smp_barrier_wait(&barrier);
    if (cpu != 0)
        receive_broadcasts(cpu);
}

int main(void)
{
    unsigned cpus = smp_count_cpus();
    if (cpus < 2)
        fail("message passing needs at least 2 CPUs");
    smp_barrier_init(&barrier, cpus);
    for (unsigned p = 0; p < ARRAY_SIZE(rings); p++)
        rings[p].ordering = p % 2 ? ORDER_ACQUIRE_RELEASE : ORDER_DMB;
    if (smp_start_all(run, (void *)(uintptr_t)cpus) != cpus)
        fail("CPU_ON started a different number of CPUs than AFFINITY_INFO reported");

    /* CPU 0 consumes pair 0's ring, then broadcasts. */
    smp_barrier_wait(&barrier);
    consume(&rings[0]);
    smp_barrier_wait(&barrier);
    for (uint32_t round = 1; round <= ROUNDS; round++) {
        for (unsigned i = 0; i < BLOCK_WORDS; i++)
            broadcast.words[i] = block_word(round, i);
        DMB_ISH();
        broadcast.round = round;
        SMP_WAIT_UNTIL(load_acquire32(&broadcast.acks) == round * (cpus - 1));
    }
    smp_join_all(cpus);

    int ok = 1;
    printf("%u CPUs: %u ring pairs, %u messages each, %u slots\n", cpus, cpus / 2, MESSAGES, RING_SLOTS);
    for (unsigned p = 0; p < cpus / 2; p++) {
        struct ring *r = &rings[p];
        printf("cpu %u -> cpu %u (%s): received %lu, errors %lu, checksum %016lx\n", 2 * p + 1, 2 * p,
               r->ordering == ORDER_DMB ? "DMB ISH" : "STLR/LDAR", r->received, r->errors, r->checksum);
        ok &= r->received == MESSAGES && r->errors == 0;
    }
    uint64_t errors = 0;
    for (unsigned cpu = 1; cpu < cpus; cpu++)
        errors += broadcast_errors[cpu];
    printf("broadcast: %u rounds of %u words to %u CPUs, acknowledgements %u, errors %lu\n", ROUNDS,
           BLOCK_WORDS, cpus - 1, broadcast.acks, errors);
    ok &= errors == 0 && broadcast.acks == ROUNDS * (cpus - 1);
    printf("%s\n", ok ? "all messages arrived intact" : "FAIL");
    return ok ? 0 : 1;
}
