/* CRC-32 and CRC-32C, by table and by the ARMv8 CRC instructions.
 * SPDX-License-Identifier: GPL-2.0-or-later */
#include "crc32.h"
#include <arm_acle.h>

static uint32_t table_ieee[256], table_castagnoli[256];

static void fill(uint32_t table[256], uint32_t poly)
{
    for (uint32_t i = 0; i < 256; i++) {
        uint32_t c = i;
        for (int k = 0; k < 8; k++)
            c = (c & 1) ? (c >> 1) ^ poly : c >> 1;
        table[i] = c;
    }
}

static uint32_t by_table(uint32_t table[256], uint32_t poly, uint32_t crc, const uint8_t *p,
                         size_t n)
{
    if (table[1] == 0)
        fill(table, poly);
    while (n--)
        crc = table[(crc ^ *p++) & 0xff] ^ (crc >> 8);
    return crc;
}

uint32_t crc32_sw(uint32_t crc, const void *data, size_t n)
{
    return by_table(table_ieee, 0xEDB88320u, crc, data, n);
}

uint32_t crc32c_sw(uint32_t crc, const void *data, size_t n)
{
    return by_table(table_castagnoli, 0x82F63B78u, crc, data, n);
}

/* Loads go through memcpy so that any alignment of data is fine. */
#define CRC_HW(name, d, w, h, b)                                                               \
    __attribute__((target("+crc"))) uint32_t name(uint32_t crc, const void *data, size_t n)   \
    {                                                                                          \
        const uint8_t *p = data;                                                               \
        for (; n >= 8; n -= 8, p += 8) {                                                       \
            uint64_t v;                                                                        \
            __builtin_memcpy(&v, p, 8);                                                        \
            crc = d(crc, v);                                                                   \
        }                                                                                      \
        if (n >= 4) {                                                                          \
            uint32_t v;                                                                        \
            __builtin_memcpy(&v, p, 4);                                                        \
            crc = w(crc, v);                                                                   \
            p += 4, n -= 4;                                                                    \
        }                                                                                      \
        if (n >= 2) {                                                                          \
            uint16_t v;                                                                        \
            __builtin_memcpy(&v, p, 2);                                                        \
            crc = h(crc, v);                                                                   \
            p += 2, n -= 2;                                                                    \
        }                                                                                      \
        if (n)                                                                                 \
            crc = b(crc, *p);                                                                  \
        return crc;                                                                            \
    }

CRC_HW(crc32_hw, __crc32d, __crc32w, __crc32h, __crc32b)
CRC_HW(crc32c_hw, __crc32cd, __crc32cw, __crc32ch, __crc32cb)
