/* CRC-32 (IEEE, reflected 0xEDB88320) and CRC-32C (Castagnoli, reflected 0x82F63B78).
 * SPDX-License-Identifier: GPL-2.0-or-later
 * All functions take and return the raw register value: start with ~0u, finish with ~crc. */
#ifndef GUEST_CRC32_H
#define GUEST_CRC32_H
#include <stddef.h>
#include <stdint.h>

/* Table-driven (byte at a time), in software. */
uint32_t crc32_sw(uint32_t crc, const void *data, size_t n);
uint32_t crc32c_sw(uint32_t crc, const void *data, size_t n);
/* With the ARMv8 CRC32/CRC32C instructions (8 bytes at a time, then 4, 2, 1). */
uint32_t crc32_hw(uint32_t crc, const void *data, size_t n);
uint32_t crc32c_hw(uint32_t crc, const void *data, size_t n);

#endif
