/* The global exclusive monitor: CPU 0 takes a reservation with LDXR (or LDXP), CPU 1 then does one
 * kind of access, and CPU 0's STXR (STXP) reports whether the reservation survived. A store by
 * another CPU anywhere in the reservation granule (64 bytes: CTR_EL0.ERG = 4) must clear it, even
 * one that writes back the value LDXR saw (the ABA case a value-comparing monitor misses); loads
 * and stores elsewhere must not. Not compared with QEMU, whose STXR compares values and so lets
 * the ABA and same-value cases succeed; ExclusiveMonitorTests.swift holds the expected lines,
 * which follow from the architecture.
 * SPDX-License-Identifier: GPL-2.0-or-later */
#include "smp.h"

#define START 0x1234u

/* granule[0] is the reserved word; granule[2] shares its 64-byte granule; next[0] does not. */
static volatile uint64_t granule[8] CACHE_ALIGNED;
static volatile uint64_t next[8] CACHE_ALIGNED;
static volatile uint64_t command_seq CACHE_ALIGNED;
static volatile uint64_t command CACHE_ALIGNED;
static volatile uint64_t done_seq CACHE_ALIGNED;

enum action {
    NOTHING,           /* only the handshake */
    LOAD,              /* a load of the reserved word */
    STORE_OTHER,       /* a store to the next granule */
    STORE_VALUE,       /* a store of a different value */
    STORE_SAME,        /* a store of the value LDXR saw */
    STORE_ABA,         /* a different value, then the original back */
    STORE_NEIGHBOUR,   /* a store to another word of the granule */
    STORE_BYTE,        /* a one-byte store into the reserved word's last byte, restored */
    STORE_PAIR,        /* STP over the granule's words 2 and 3 */
    STORE_SIMD,        /* a 128-bit SIMD store to words 4 and 5 */
    LDADD_ZERO,        /* LDADD of 0 (value unchanged) */
    CAS_SAME,          /* CAS that succeeds, writing the same value */
    DC_ZVA,            /* DC ZVA of the granule, then the original value back */
    EXCLUSIVE_PAIR,    /* CPU 1's own LDXR/STXR of the reserved word, writing it unchanged */
    ACTIONS
};

static const char *const names[ACTIONS] = {
    "nothing", "load", "store to the next granule", "store of another value", "store of the same value",
    "store A-B-A", "store to a neighbouring word", "byte store", "STP in the granule", "SIMD store in the granule",
    "LDADD of zero", "CAS of the same value", "DC ZVA and restore", "LDXR/STXR of the same value",
};

static volatile uint64_t sink;
static volatile uint32_t cpu1_stxr_failed;

static void act(enum action a)
{
    volatile uint64_t *w = &granule[0];
    uint64_t v, zero = 0, old;
    uint32_t status;
    switch (a) {
    case NOTHING: break;
    case LOAD: sink = *w; break;
    case STORE_OTHER: next[0] = next[0] + 1; break;
    case STORE_VALUE: *w = START + 7; break;
    case STORE_SAME: *w = START; break;
    case STORE_ABA: *w = START + 7; DMB_ISH(); *w = START; break;
    case STORE_NEIGHBOUR: granule[2] = granule[2] + 1; break;
    case STORE_BYTE: ((volatile uint8_t *)w)[7] = 0x55; DMB_ISH(); ((volatile uint8_t *)w)[7] = 0; break;
    case STORE_PAIR:
        __asm__ volatile("stp %0, %0, [%1]" : : "r"(zero), "r"(&granule[2]) : "memory");
        break;
    case STORE_SIMD:
        __asm__ volatile("movi v0.2d, #0\n\tstr q0, [%0]" : : "r"(&granule[4]) : "v0", "memory");
        break;
    case LDADD_ZERO:
        __asm__ volatile("ldadd %1, %0, [%2]" : "=&r"(old) : "r"(zero), "r"(w) : "memory");
        sink = old;
        break;
    case CAS_SAME:
        old = START;
        __asm__ volatile("casal %0, %2, [%1]" : "+r"(old) : "r"(w), "r"((uint64_t)START) : "memory");
        sink = old;
        break;
    case DC_ZVA:
        __asm__ volatile("dc zva, %0" : : "r"(w) : "memory");
        DMB_ISH();
        *w = START;
        break;
    case EXCLUSIVE_PAIR:
        __asm__ volatile("ldxr %0, [%2]\n\tstxr %w1, %0, [%2]" : "=&r"(v), "=&r"(status) : "r"(w) : "memory");
        if (status != 0)
            cpu1_stxr_failed++;
        break;
    default: break;
    }
}

static void disturber(unsigned cpu, void *arg)
{
    (void)cpu;
    (void)arg;
    uint64_t seen = 0;
    for (;;) {
        SMP_WAIT_UNTIL(load_acquire64(&command_seq) != seen);
        seen = load_acquire64(&command_seq);
        uint64_t c = command;
        if (c == ACTIONS)
            return;
        act((enum action)c);
        DMB_ISH();
        store_release64(&done_seq, seen);
    }
}

static uint64_t seq;

/* Has CPU 1 do `a` and waits until it is done. */
static void ask(enum action a)
{
    command = a;
    store_release64(&command_seq, ++seq);
    SMP_WAIT_UNTIL(load_acquire64(&done_seq) == seq);
}

static void reset_granule(void)
{
    for (int i = 0; i < 8; i++)
        granule[i] = 0;
    granule[0] = START;
    DMB_ISH();
}

/* LDXR, CPU 1 acts, STXR of the value + 1: returns the STXR status. */
static uint32_t single(enum action a)
{
    uint64_t v;
    uint32_t status;
    reset_granule();
    __asm__ volatile("ldxr %0, [%1]" : "=r"(v) : "r"(&granule[0]) : "memory");
    ask(a);
    __asm__ volatile("stxr %w0, %1, [%2]" : "=&r"(status) : "r"(v + 1), "r"(&granule[0]) : "memory");
    return status;
}

/* The same with LDXP/STXP of words 0 and 1. */
static uint32_t pair(enum action a)
{
    uint64_t v1, v2;
    uint32_t status;
    reset_granule();
    __asm__ volatile("ldxp %0, %1, [%2]" : "=&r"(v1), "=&r"(v2) : "r"(&granule[0]) : "memory");
    ask(a);
    __asm__ volatile("stxp %w0, %1, %2, [%3]" : "=&r"(status) : "r"(v1 + 1), "r"(v2 + 1), "r"(&granule[0]) : "memory");
    return status;
}

int main(void)
{
    if (psci_affinity_info(1, 0) == PSCI_INVALID_PARAMETERS) {
        printf("smp-monitor needs 2 CPUs\n");
        return 1;
    }
    static uint32_t single_status[ACTIONS], pair_status[ACTIONS];
    static uint64_t word_after[ACTIONS];
    smp_start(1, disturber, 0);
    for (int a = 0; a < ACTIONS; a++) {
        single_status[a] = single((enum action)a);
        word_after[a] = granule[0];
        pair_status[a] = pair((enum action)a);
    }
    command = ACTIONS;
    store_release64(&command_seq, ++seq);
    smp_join(1);
    for (int a = 0; a < ACTIONS; a++)
        printf("%-28s STXR %s (word 0x%llx), STXP %s\n", names[a], single_status[a] ? "fails" : "succeeds",
               (unsigned long long)word_after[a], pair_status[a] ? "fails" : "succeeds");
    printf("CPU 1's own LDXR/STXR failed %u times\n", cpu1_stxr_failed);
    /* Local monitor: CLREX and an exception between LDXR and STXR end the reservation. */
    uint64_t v;
    uint32_t status;
    reset_granule();
    __asm__ volatile("ldxr %0, [%2]\n\tclrex\n\tstxr %w1, %0, [%2]" : "=&r"(v), "=&r"(status) : "r"(&granule[0]) : "memory");
    printf("LDXR, CLREX, STXR: %s\n", status ? "fails" : "succeeds");
    __asm__ volatile("ldxr %0, [%2]\n\tstxr %w1, %0, [%2]" : "=&r"(v), "=&r"(status) : "r"(&granule[0]) : "memory");
    printf("LDXR, STXR: %s\n", status ? "fails" : "succeeds");
    return 0;
}
