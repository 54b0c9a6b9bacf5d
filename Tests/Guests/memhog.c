/* Touches 384 MiB of its RAM, one write per 4 KiB page, reporting every 32 MiB: each touched page costs the host
 * a page, so a worker whose cgroup allows less is killed by the kernel's OOM killer before the end (WorkerTests).
 * Run it with --memory 512M or more. Not compared with QEMU: it only ends if the host lets it.
 * SPDX-License-Identifier: GPL-2.0-or-later */
#include "rt.h"

#define RAM_BASE 0x40000000ULL
#define FIRST (RAM_BASE + (16ULL << 20))
#define SPAN (384ULL << 20)

int main(void)
{
    for (uint64_t offset = 0; offset < SPAN; offset += 4096) {
        *(volatile uint64_t *)(FIRST + offset) = offset;
        if ((offset + 4096) % (32ULL << 20) == 0)
            printf("memhog: %lu MiB touched\n", (unsigned long)((offset + 4096) >> 20));
    }
    printf("memhog: all %lu MiB touched\n", (unsigned long)(SPAN >> 20));
    return 0;
}
