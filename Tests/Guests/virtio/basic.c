/* virtio-blk and virtio-rng on QEMU's virt board, run with two disks and an entropy device in this order
 * (Tests/IntegrationTests/VirtioTests.swift makes the images):
 *   disk 0: read-write, serial "emud-disk-0"; disk 1: read-only; then virtio-rng.
 * Sector k of each image starts with "disk D sector K" and is filled with bytes (k * 7 + i + D) & 0xff; sector 7
 * of disk 1 holds code at offset 64.
 * Prints the 32 transports, the negotiated features, and the outcome of each request; sector 5 of disk 0 ends
 * up holding "written by the guest" (the test checks the host file), disk 1 is unchanged.
 * SPDX-License-Identifier: GPL-2.0-or-later */
#include "driver.h"

#define GICD 0x08000000UL
#define GICC 0x08010000UL
#define GREG(base, off) (*(volatile uint32_t *)((base) + (off)))

static struct vrings rings[3] __attribute__((aligned(4096)));
static struct vqueue queues[3];
static uint8_t sector[2][4096] __attribute__((aligned(512)));
static uint32_t code_page[128] __attribute__((aligned(512)));
static volatile struct blk_header header;
static volatile uint8_t status_byte;
static volatile unsigned irqs, irq_id, irq_status;

int handle_irq(struct frame *f)
{
    (void)f;
    uint32_t iar = GREG(GICC, 0x0c);
    uint32_t id = iar & 0x3ff;
    if (id >= VIRTIO_FIRST_INTID && id < VIRTIO_FIRST_INTID + VIRTIO_SLOTS) {
        uintptr_t base = virtio_slot((int)(id - VIRTIO_FIRST_INTID));
        irq_status = VREG(base, V_INTERRUPT_STATUS);
        VREG(base, V_INTERRUPT_ACK) = irq_status;
        irq_id = id;
        irqs++;
    }
    if (id != 1023)
        GREG(GICC, 0x10) = iar;
    return 1;
}

static uint32_t fnv(const volatile uint8_t *p, unsigned n)
{
    uint32_t h = 2166136261u;
    for (unsigned i = 0; i < n; i++)
        h = (h ^ p[i]) * 16777619u;
    return h;
}

/* One request: header, then `len` bytes of data at `data` (device-writable for reads), then the status. */
static int blk_request(struct vqueue *q, uint32_t type, uint64_t sector_number, void *data, uint32_t len, int data_writable,
                       uint32_t *used_len)
{
    header.type = type;
    header.reserved = 0;
    header.sector = sector_number;
    status_byte = 0xee;
    virtio_desc(q, 0, (uintptr_t)&header, sizeof header, DESC_NEXT, 1);
    if (len) {
        virtio_desc(q, 1, (uintptr_t)data, len, DESC_NEXT | (data_writable ? DESC_WRITE : 0), 2);
        virtio_desc(q, 2, (uintptr_t)&status_byte, 1, DESC_WRITE, 0);
    } else {
        virtio_desc(q, 1, (uintptr_t)&status_byte, 1, DESC_WRITE, 0);
    }
    virtio_submit(q, 0);
    int id = virtio_wait(q, used_len, 5000);
    if (id < 0)
        return -1;
    return status_byte;
}

static void describe_sector(const char *what, const uint8_t *p)
{
    char label[24];
    unsigned i;
    for (i = 0; i < sizeof label - 1 && p[i] >= 0x20 && p[i] < 0x7f; i++)
        label[i] = (char)p[i];
    label[i] = 0;
    printf("%s: \"%s\" fnv=%08x\n", what, label, fnv(p, 512));
}

static uint64_t config64(uintptr_t base, unsigned off)
{
    uint32_t generation, low, high;
    do {
        generation = VREG(base, V_CONFIG_GENERATION);
        low = VREG(base, V_CONFIG + off);
        high = VREG(base, V_CONFIG + off + 4);
    } while (generation != VREG(base, V_CONFIG_GENERATION));
    return (uint64_t)high << 32 | low;
}

static void setup_interrupt(int slot)
{
    unsigned id = VIRTIO_FIRST_INTID + (unsigned)slot;
    GREG(GICD, 0x000) = 0;
    GREG(GICD, 0x400 + (id & ~3u)) = 0x80808080;           /* priority */
    *(volatile uint8_t *)(GICD + 0x800 + id) = 1;           /* target CPU 0 */
    GREG(GICD, 0x100 + 4 * (id / 32)) = 1u << (id % 32);    /* enable */
    GREG(GICD, 0x000) = 1;
    GREG(GICC, 0x04) = 0xf0;
    GREG(GICC, 0x00) = 1;
}

static int start_blk(int index, int slot, struct vqueue *q, struct vrings *r)
{
    uintptr_t base = virtio_slot(slot);
    uint64_t offered = virtio_device_features(base);
    printf("disk %d: slot %d features VERSION_1=%d RO=%d BLK_SIZE=%d FLUSH=%d SEG_MAX=%d\n", index, slot,
           !!(offered & F_VERSION_1), !!(offered & BLK_F_RO), !!(offered & BLK_F_BLK_SIZE), !!(offered & BLK_F_FLUSH),
           !!(offered & BLK_F_SEG_MAX));
    uint64_t wanted = F_VERSION_1 | BLK_F_RO | BLK_F_BLK_SIZE | BLK_F_FLUSH | BLK_F_SEG_MAX;
    uint32_t status = virtio_negotiate(base, offered & wanted);
    VREG(base, V_QUEUE_SEL) = 1;
    uint32_t max1 = VREG(base, V_QUEUE_NUM_MAX);
    VREG(base, V_QUEUE_SEL) = 0;
    uint32_t max0 = VREG(base, V_QUEUE_NUM_MAX), ready = VREG(base, V_QUEUE_READY);
    printf("disk %d: status after FEATURES_OK %x, queue 0 max %u ready %u, queue 1 max %u\n", index, status, max0,
           ready, max1);
    if (!(status & S_FEATURES_OK))
        return -1;
    printf("disk %d: capacity %lu sectors, blk_size %u\n", index, config64(base, 0), VREG(base, V_CONFIG + 20));
    virtio_start(q, base, r);
    printf("disk %d: status %x queue ready %u\n", index, VREG(base, V_STATUS), VREG(base, V_QUEUE_READY));
    return 0;
}

int main(void)
{
    rt_use_uart();
    __asm__ volatile("msr daifset, #2");
    for (int i = 0; i < VIRTIO_SLOTS; i++) {
        uintptr_t base = virtio_slot(i);
        printf("slot %2d @%08lx: magic %08x version %u device %u vendor %08x\n", i, (unsigned long)base,
               VREG(base, V_MAGIC), VREG(base, V_VERSION), VREG(base, V_DEVICE_ID), VREG(base, V_VENDOR_ID));
    }
    int rw = virtio_find(BLK_ID, 0), ro = virtio_find(BLK_ID, 1), rng = virtio_find(4, 0);
    printf("read-write disk in slot %d, read-only disk in slot %d, rng in slot %d\n", rw, ro, rng);
    if (rw < 0 || ro < 0 || rng < 0)
        fail("devices missing: run with two disks and virtio-rng");

    struct vqueue *d0 = &queues[0], *d1 = &queues[1], *r = &queues[2];
    if (start_blk(0, rw, d0, &rings[0]) || start_blk(1, ro, d1, &rings[1]))
        fail("negotiation failed");
    uint64_t capacity = config64(virtio_slot(rw), 0);

    uint32_t used = 0;
    int s = blk_request(d0, BLK_T_IN, 0, sector[0], 512, 1, &used);
    printf("read sector 0: status %d used %u\n", s, used);
    describe_sector("  sector 0", sector[0]);
    s = blk_request(d0, BLK_T_IN, capacity - 1, sector[0], 512, 1, &used);
    printf("read last sector: status %d used %u\n", s, used);
    describe_sector("  last sector", sector[0]);
    s = blk_request(d0, BLK_T_IN, 2, sector[0], 2048, 1, &used);
    printf("read sectors 2-5: status %d used %u fnv=%08x\n", s, used, fnv(sector[0], 2048));

    memset(sector[1], 0, 512);
    memcpy(sector[1], "written by the guest", 20);
    for (int i = 20; i < 512; i++)
        sector[1][i] = (uint8_t)(i * 3);
    s = blk_request(d0, BLK_T_OUT, 5, sector[1], 512, 0, &used);
    printf("write sector 5: status %d used %u\n", s, used);
    s = blk_request(d0, BLK_T_FLUSH, 0, 0, 0, 0, &used);
    printf("flush: status %d used %u\n", s, used);
    memset(sector[0], 0, 512);
    s = blk_request(d0, BLK_T_IN, 5, sector[0], 512, 1, &used);
    printf("read back sector 5: status %d matches %s\n", s, memcmp(sector[0], sector[1], 512) == 0 ? "yes" : "no");

    memset(sector[0], 0x55, 32);
    s = blk_request(d0, BLK_T_GET_ID, 0, sector[0], 20, 1, &used);
    sector[0][20] = 0;
    printf("get id: status %d used %u id \"%s\"\n", s, used, (char *)sector[0]);

    s = blk_request(d0, BLK_T_IN, capacity, sector[0], 512, 1, &used);
    printf("read past the end: status %d\n", s);
    s = blk_request(d0, BLK_T_IN, capacity - 1, sector[0], 1024, 1, &used);
    printf("read across the end: status %d\n", s);
    s = blk_request(d0, BLK_T_OUT, capacity, sector[1], 512, 0, &used);
    printf("write past the end: status %d\n", s);
    s = blk_request(d0, BLK_T_IN, 1, sector[0], 100, 1, &used);
    printf("read of 100 bytes: status %d\n", s);
    s = blk_request(d0, 99, 0, sector[0], 512, 1, &used);
    printf("request type 99: status %d\n", s);

    s = blk_request(d1, BLK_T_IN, 1, sector[0], 512, 1, &used);
    printf("read-only disk, read sector 1: status %d\n", s);
    describe_sector("  sector 1", sector[0]);
    s = blk_request(d1, BLK_T_OUT, 1, sector[1], 512, 0, &used);
    printf("read-only disk, write sector 1: status %d\n", s);
    s = blk_request(d1, BLK_T_IN, 1, sector[0], 512, 1, &used);
    describe_sector("  sector 1 after", sector[0]);

    /* A sector read over code that has run replaces it: both emulators keep instruction fetch coherent with
     * device writes, so no cache maintenance follows the read and the device's own write is what is tested.
     * Sector 7 of disk 1 holds "mov w0, #42; ret" at offset 64. */
    code_page[16] = 0x52800020; /* mov w0, #1 */
    code_page[17] = 0xd65f03c0; /* ret */
    __asm__ volatile("dsb sy\n\tic iallu\n\tdsb sy\n\tisb" ::: "memory");
    int (*code)(void) = (int (*)(void))(uintptr_t)&code_page[16];
    int before = code();
    s = blk_request(d1, BLK_T_IN, 7, code_page, 512, 1, &used);
    __asm__ volatile("dsb sy\n\tisb" ::: "memory");
    int after = code();
    printf("code read from disk over code that ran: status %d, returned %d then %d\n", s, before, after);

    /* A completion raises the transport's SPI (16 + slot). */
    /* Earlier completions were polled, not acknowledged: clear them so that only this one interrupts. */
    VREG(virtio_slot(rw), V_INTERRUPT_ACK) = VREG(virtio_slot(rw), V_INTERRUPT_STATUS);
    setup_interrupt(rw);
    irqs = 0;
    header.type = BLK_T_IN;
    header.sector = 3;
    virtio_desc(d0, 0, (uintptr_t)&header, sizeof header, DESC_NEXT, 1);
    virtio_desc(d0, 1, (uintptr_t)sector[0], 512, DESC_NEXT | DESC_WRITE, 2);
    virtio_desc(d0, 2, (uintptr_t)&status_byte, 1, DESC_WRITE, 0);
    virtio_submit(d0, 0);
    uint64_t deadline = counter_ms() + 5000;
    while (irqs == 0 && counter_ms() < deadline) {
        __asm__ volatile("wfi");
        __asm__ volatile("msr daifclr, #2\n\tisb\n\tmsr daifset, #2" ::: "memory");
    }
    virtio_wait(d0, &used, 5000);
    printf("interrupt: %u taken, id %u (SPI %u), status %u; after ack %u\n", irqs, irq_id, irq_id - 32, irq_status,
           VREG(virtio_slot(rw), V_INTERRUPT_STATUS));
    describe_sector("  sector 3", sector[0]);

    /* The entropy device fills what it is given. */
    uintptr_t rbase = virtio_slot(rng);
    uint64_t offered = virtio_device_features(rbase);
    uint32_t status = virtio_negotiate(rbase, offered & F_VERSION_1);
    printf("rng: VERSION_1=%d status %x\n", !!(offered & F_VERSION_1), status);
    virtio_start(r, rbase, &rings[2]);
    memset(sector[0], 0, 16);
    virtio_desc(r, 0, (uintptr_t)sector[0], 16, DESC_WRITE, 0);
    virtio_submit(r, 0);
    int id = virtio_wait(r, &used, 5000);
    int nonzero = 0;
    for (int i = 0; i < 16; i++)
        nonzero |= sector[0][i];
    printf("rng: id %d, %u random bytes, %s\n", id, used, nonzero ? "not all zero" : "all zero");

    /* Reset: status 0 clears the queue. */
    VREG(virtio_slot(rw), V_STATUS) = 0;
    VREG(virtio_slot(rw), V_QUEUE_SEL) = 0;
    printf("after reset: status %x queue ready %u interrupt status %u\n", VREG(virtio_slot(rw), V_STATUS),
           VREG(virtio_slot(rw), V_QUEUE_READY), VREG(virtio_slot(rw), V_INTERRUPT_STATUS));
    return 0;
}
