/* A driver that breaks virtqueue rules, one way at a time, on the first disk (run with one read-write disk).
 * After each broken request it prints what the driver can see (the device status, the interrupt status, whether
 * the configuration generation moved, whether anything was returned), checks that the device serves nothing
 * until it is reset, resets it and reads a sector to show it works again.
 * Lines starting with "[strict]" are cases where QEMU 7.2 serves or tolerates what the virtio rules forbid
 * (buffers outside RAM, indirect descriptors that were not offered): Tests/IntegrationTests/VirtioTests.swift
 * compares every other line with QEMU and requires these to report DEVICE_NEEDS_RESET under emud.
 * SPDX-License-Identifier: GPL-2.0-or-later */
#include "driver.h"

static struct vrings rings __attribute__((aligned(4096)));
static struct vdesc indirect_table[2] __attribute__((aligned(16)));
static struct vqueue queue;
static uint8_t data[512] __attribute__((aligned(512)));
static volatile struct blk_header header;
static volatile uint8_t status_byte;
static uintptr_t base;

#define OUTSIDE_RAM 0x10000000000ULL /* 1 TiB: no RAM, no device on virt */
#define RAM_BASE 0x40000000ULL

static void start(void)
{
    uint64_t offered = virtio_device_features(base);
    uint32_t s = virtio_negotiate(base, offered & (F_VERSION_1 | BLK_F_FLUSH | BLK_F_BLK_SIZE | BLK_F_SEG_MAX));
    if (!(s & S_FEATURES_OK))
        fail("FEATURES_OK refused");
    virtio_start(&queue, base, &rings);
}

static void good_chain(uint64_t sector)
{
    header.type = BLK_T_IN;
    header.reserved = 0;
    header.sector = sector;
    status_byte = 0xee;
    virtio_desc(&queue, 0, (uintptr_t)&header, sizeof header, DESC_NEXT, 1);
    virtio_desc(&queue, 1, (uintptr_t)data, sizeof data, DESC_NEXT | DESC_WRITE, 2);
    virtio_desc(&queue, 2, (uintptr_t)&status_byte, 1, DESC_WRITE, 0);
}

/* After a broken request: what the driver sees, then a valid request that must not be served, then a reset and
 * a valid request that must be. */
static void report(const char *tag, const char *what, uint32_t generation_before, uint16_t used_before)
{
    uint32_t status = VREG(base, V_STATUS);
    uint32_t isr = VREG(base, V_INTERRUPT_STATUS);
    int moved = VREG(base, V_CONFIG_GENERATION) != generation_before;
    int returned = queue.r->used.idx != used_before;
    printf("%s%s: status %x needs-reset %s interrupt %x generation-moved %s returned %s\n", tag, what, status,
           status & S_NEEDS_RESET ? "yes" : "no", isr, moved ? "yes" : "no", returned ? "yes" : "no");
    VREG(base, V_INTERRUPT_ACK) = isr;
    if (status & S_NEEDS_RESET) {
        queue.seen_used = queue.r->used.idx;
        good_chain(0);
        virtio_submit(&queue, 0);
        printf("%s  valid request while broken: %s\n", tag, virtio_wait(&queue, 0, 200) < 0 ? "ignored" : "served");
    }
    VREG(base, V_STATUS) = 0;
    printf("%s  after reset: status %x\n", tag, VREG(base, V_STATUS));
    start();
    good_chain(1);
    virtio_submit(&queue, 0);
    int id = virtio_wait(&queue, 0, 5000);
    char label[16];
    unsigned i;
    for (i = 0; i < sizeof label - 1 && data[i] >= 0x20 && data[i] < 0x7f; i++)
        label[i] = (char)data[i];
    label[i] = 0;
    printf("%s  then a read: id %d status %d data \"%s\"\n", tag, id, id < 0 ? -1 : status_byte, label);
}

enum { LOOP, HEAD_RANGE, NEXT_RANGE, AVAIL_JUMP, ORDER, NO_HEADER, ZERO_LENGTH, OUTSIDE, HUGE, WRAP, TABLE_OUTSIDE,
       INDIRECT, CASES };
static const char *const names[CASES] = {
    "chain that loops", "head out of range", "next out of range", "avail index jump", "readable after writable",
    "request without header", "zero-length buffer", "buffer outside RAM", "buffer longer than RAM",
    "buffer wrapping the address space", "descriptor table outside RAM", "indirect descriptor not offered",
};

int main(void)
{
    rt_use_uart();
    int slot = virtio_find(BLK_ID, 0);
    if (slot < 0)
        fail("no disk: run with one read-write disk");
    base = virtio_slot(slot);
    start();
    for (int c = 0; c < CASES; c++) {
        const char *tag = c >= OUTSIDE ? "[strict] " : "";
        uint32_t generation = VREG(base, V_CONFIG_GENERATION);
        uint16_t used = queue.r->used.idx;
        uint16_t head = 0;
        good_chain(2);
        switch (c) {
        case LOOP:
            virtio_desc(&queue, 2, (uintptr_t)&status_byte, 1, DESC_WRITE | DESC_NEXT, 1);
            break;
        case HEAD_RANGE:
            head = 200;
            break;
        case NEXT_RANGE:
            virtio_desc(&queue, 1, (uintptr_t)data, sizeof data, DESC_NEXT | DESC_WRITE, 9);
            break;
        case AVAIL_JUMP:
            queue.next_avail += 100;
            break;
        case ORDER:
            virtio_desc(&queue, 1, (uintptr_t)&status_byte, 1, DESC_NEXT | DESC_WRITE, 2);
            virtio_desc(&queue, 2, (uintptr_t)data, sizeof data, 0, 0);
            break;
        case NO_HEADER:
            virtio_desc(&queue, 0, (uintptr_t)&status_byte, 1, DESC_WRITE, 0);
            break;
        case ZERO_LENGTH:
            virtio_desc(&queue, 1, (uintptr_t)data, 0, DESC_NEXT | DESC_WRITE, 2);
            break;
        case OUTSIDE:
            virtio_desc(&queue, 1, OUTSIDE_RAM, sizeof data, DESC_NEXT | DESC_WRITE, 2);
            break;
        case HUGE:
            virtio_desc(&queue, 1, RAM_BASE, 0xfffffe00u, DESC_NEXT | DESC_WRITE, 2);
            break;
        case WRAP:
            virtio_desc(&queue, 1, 0xfffffffffffffe00ULL, 0x400, DESC_NEXT | DESC_WRITE, 2);
            break;
        case TABLE_OUTSIDE:
            /* Ring addresses take effect when the queue is made ready. */
            VREG(base, V_QUEUE_READY) = 0;
            virtio_set_address(base, V_QUEUE_DESC_LOW, OUTSIDE_RAM);
            VREG(base, V_QUEUE_READY) = 1;
            break;
        case INDIRECT:
            indirect_table[0] = (struct vdesc){ (uintptr_t)data, sizeof data, DESC_NEXT | DESC_WRITE, 1 };
            indirect_table[1] = (struct vdesc){ (uintptr_t)&status_byte, 1, DESC_WRITE, 0 };
            virtio_desc(&queue, 1, (uintptr_t)indirect_table, sizeof indirect_table, DESC_INDIRECT, 0);
            virtio_desc(&queue, 0, (uintptr_t)&header, sizeof header, DESC_NEXT, 1);
            break;
        }
        virtio_submit(&queue, head);
        virtio_wait(&queue, 0, 200);
        report(tag, names[c], generation, used);
    }
    printf("done\n");
    return 0;
}
