/* A minimal virtio 1.x driver for the virtio-mmio transports of QEMU's virt board (version 2 register
 * layout), shared by the virtio guest programs: transport scan, feature negotiation, one split virtqueue,
 * requests polled to completion with a time limit.
 * SPDX-License-Identifier: GPL-2.0-or-later */
#ifndef GUEST_VIRTIO_DRIVER_H
#define GUEST_VIRTIO_DRIVER_H
#include "rt.h"

#define VIRTIO_BASE 0x0a000000UL
#define VIRTIO_SLOT_SIZE 0x200UL
#define VIRTIO_SLOTS 32
#define VIRTIO_FIRST_INTID 48 /* SPI 16 */

#define VREG(base, off) (*(volatile uint32_t *)((base) + (off)))
enum {
    V_MAGIC = 0x000, V_VERSION = 0x004, V_DEVICE_ID = 0x008, V_VENDOR_ID = 0x00c,
    V_DEVICE_FEATURES = 0x010, V_DEVICE_FEATURES_SEL = 0x014, V_DRIVER_FEATURES = 0x020,
    V_DRIVER_FEATURES_SEL = 0x024, V_QUEUE_SEL = 0x030, V_QUEUE_NUM_MAX = 0x034, V_QUEUE_NUM = 0x038,
    V_QUEUE_READY = 0x044, V_QUEUE_NOTIFY = 0x050, V_INTERRUPT_STATUS = 0x060, V_INTERRUPT_ACK = 0x064,
    V_STATUS = 0x070, V_QUEUE_DESC_LOW = 0x080, V_QUEUE_DESC_HIGH = 0x084, V_QUEUE_DRIVER_LOW = 0x090,
    V_QUEUE_DRIVER_HIGH = 0x094, V_QUEUE_DEVICE_LOW = 0x0a0, V_QUEUE_DEVICE_HIGH = 0x0a4,
    V_CONFIG_GENERATION = 0x0fc, V_CONFIG = 0x100,
};

#define S_ACKNOWLEDGE 1u
#define S_DRIVER 2u
#define S_DRIVER_OK 4u
#define S_FEATURES_OK 8u
#define S_NEEDS_RESET 0x40u

#define F_VERSION_1 (1ULL << 32)

#define DESC_NEXT 1
#define DESC_WRITE 2
#define DESC_INDIRECT 4

#define QUEUE_SIZE 8

struct vdesc {
    uint64_t addr;
    uint32_t len;
    uint16_t flags;
    uint16_t next;
};

/* One queue's rings, in guest RAM. */
struct vrings {
    struct vdesc desc[QUEUE_SIZE] __attribute__((aligned(16)));
    struct {
        uint16_t flags, idx, ring[QUEUE_SIZE], used_event;
    } avail __attribute__((aligned(4)));
    struct {
        uint16_t flags, idx;
        struct { uint32_t id, len; } ring[QUEUE_SIZE];
        uint16_t avail_event;
    } used __attribute__((aligned(4)));
};

struct vqueue {
    uintptr_t base;
    volatile struct vrings *r;
    uint16_t next_avail; /* the driver's avail index */
    uint16_t seen_used;  /* used entries consumed */
};

static inline void vbarrier(void) { __asm__ volatile("dsb sy" ::: "memory"); }
static inline uintptr_t virtio_slot(int i) { return VIRTIO_BASE + (uintptr_t)i * VIRTIO_SLOT_SIZE; }

/* The slot of the n-th (0 = first) device with this ID, scanning from the highest slot down (the order
 * QEMU's -device options take them); -1 if none. */
static inline int virtio_find(uint32_t device_id, int n)
{
    for (int i = VIRTIO_SLOTS - 1; i >= 0; i--)
        if (VREG(virtio_slot(i), V_MAGIC) == 0x74726976 && VREG(virtio_slot(i), V_DEVICE_ID) == device_id && n-- == 0)
            return i;
    return -1;
}

static inline uint64_t virtio_device_features(uintptr_t base)
{
    VREG(base, V_DEVICE_FEATURES_SEL) = 1;
    uint64_t high = VREG(base, V_DEVICE_FEATURES);
    VREG(base, V_DEVICE_FEATURES_SEL) = 0;
    return high << 32 | VREG(base, V_DEVICE_FEATURES);
}

/* Reset, ACKNOWLEDGE, DRIVER, the driver's features, FEATURES_OK; returns the status read back. */
static inline uint32_t virtio_negotiate(uintptr_t base, uint64_t features)
{
    VREG(base, V_STATUS) = 0;
    VREG(base, V_STATUS) = S_ACKNOWLEDGE;
    VREG(base, V_STATUS) = S_ACKNOWLEDGE | S_DRIVER;
    VREG(base, V_DRIVER_FEATURES_SEL) = 1;
    VREG(base, V_DRIVER_FEATURES) = (uint32_t)(features >> 32);
    VREG(base, V_DRIVER_FEATURES_SEL) = 0;
    VREG(base, V_DRIVER_FEATURES) = (uint32_t)features;
    VREG(base, V_STATUS) = S_ACKNOWLEDGE | S_DRIVER | S_FEATURES_OK;
    return VREG(base, V_STATUS);
}

static inline void virtio_set_address(uintptr_t base, unsigned low, uint64_t address)
{
    VREG(base, low) = (uint32_t)address;
    VREG(base, low + 4) = (uint32_t)(address >> 32);
}

/* Queue 0 with QUEUE_SIZE entries in `rings`, then DRIVER_OK. */
static inline void virtio_start(struct vqueue *q, uintptr_t base, struct vrings *rings)
{
    memset(rings, 0, sizeof *rings);
    q->base = base;
    q->r = rings;
    q->next_avail = 0;
    q->seen_used = 0;
    VREG(base, V_QUEUE_SEL) = 0;
    VREG(base, V_QUEUE_NUM) = QUEUE_SIZE;
    virtio_set_address(base, V_QUEUE_DESC_LOW, (uintptr_t)rings->desc);
    virtio_set_address(base, V_QUEUE_DRIVER_LOW, (uintptr_t)&rings->avail);
    virtio_set_address(base, V_QUEUE_DEVICE_LOW, (uintptr_t)&rings->used);
    VREG(base, V_QUEUE_READY) = 1;
    VREG(base, V_STATUS) = VREG(base, V_STATUS) | S_DRIVER_OK;
}

/* Publishes the chain at `head` and notifies queue 0. */
static inline void virtio_submit(struct vqueue *q, uint16_t head)
{
    q->r->avail.ring[q->next_avail % QUEUE_SIZE] = head;
    vbarrier();
    q->next_avail++;
    q->r->avail.idx = q->next_avail;
    vbarrier();
    VREG(q->base, V_QUEUE_NOTIFY) = 0;
}

static inline uint64_t counter_ms(void)
{
    return SYSREG_READ(cntvct_el0) / (SYSREG_READ(cntfrq_el0) / 1000);
}

/* Waits up to `ms` for the next used entry: its id (and *len), or -1. The device may complete requests
 * on another thread (QEMU's block layer does). */
static inline int virtio_wait(struct vqueue *q, uint32_t *len, unsigned ms)
{
    uint64_t deadline = counter_ms() + ms;
    while (q->r->used.idx == q->seen_used) {
        if (counter_ms() > deadline)
            return -1;
    }
    vbarrier();
    unsigned slot = q->seen_used % QUEUE_SIZE;
    q->seen_used++;
    if (len)
        *len = q->r->used.ring[slot].len;
    return (int)q->r->used.ring[slot].id;
}

static inline void virtio_desc(struct vqueue *q, unsigned i, uint64_t addr, uint32_t len, uint16_t flags, uint16_t next)
{
    q->r->desc[i].addr = addr;
    q->r->desc[i].len = len;
    q->r->desc[i].flags = flags;
    q->r->desc[i].next = next;
}

/* virtio-blk */
#define BLK_ID 2
#define BLK_F_SEG_MAX (1ULL << 2)
#define BLK_F_RO (1ULL << 5)
#define BLK_F_BLK_SIZE (1ULL << 6)
#define BLK_F_FLUSH (1ULL << 9)
#define BLK_T_IN 0
#define BLK_T_OUT 1
#define BLK_T_FLUSH 4
#define BLK_T_GET_ID 8

struct blk_header {
    uint32_t type, reserved;
    uint64_t sector;
};

#endif
