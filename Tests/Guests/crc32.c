/* CRC-32 and CRC-32C: table-driven, with the ACLE __crc32* intrinsics (built with
 * -march=armv8-a+crc) and through lib/crc32.c's 8-byte loops, over check strings and odd lengths.
 * SPDX-License-Identifier: GPL-2.0-or-later */
#include <arm_acle.h>
#include "crc32.h"
#include "rt.h"

static uint8_t data[4099];

int main(void)
{
    static const char check[] = "123456789";
    uint32_t sw = ~crc32_sw(~0u, check, 9), hw = ~crc32_hw(~0u, check, 9);
    uint32_t swc = ~crc32c_sw(~0u, check, 9), hwc = ~crc32c_hw(~0u, check, 9);
    printf("crc32(\"123456789\")  sw=%08x hw=%08x expect cbf43926 %s\n", sw, hw,
           sw == 0xcbf43926 && hw == sw ? "ok" : "MISMATCH");
    printf("crc32c(\"123456789\") sw=%08x hw=%08x expect e3069283 %s\n", swc, hwc,
           swc == 0xe3069283 && hwc == swc ? "ok" : "MISMATCH");

    /* Each intrinsic width on its own, from a few starting values. */
    static volatile uint64_t words[] = { 0, 1, 0xffffffffffffffffULL, 0x0123456789abcdefULL,
                                         0x8000000000000000ULL };
    for (unsigned i = 0; i < ARRAY_SIZE(words); i++) {
        uint64_t w = words[i];
        uint32_t seed = (uint32_t)(w >> 7) ^ 0x5a5a5a5a;
        printf("w=%016lx b=%08x h=%08x w=%08x d=%08x cb=%08x ch=%08x cw=%08x cd=%08x\n", w,
               __crc32b(seed, (uint8_t)w), __crc32h(seed, (uint16_t)w), __crc32w(seed, (uint32_t)w),
               __crc32d(seed, w), __crc32cb(seed, (uint8_t)w), __crc32ch(seed, (uint16_t)w),
               __crc32cw(seed, (uint32_t)w), __crc32cd(seed, w));
    }

    uint64_t state = 0x1234;
    for (unsigned i = 0; i < sizeof(data); i++)
        data[i] = (uint8_t)prng_next(&state);
    int bad = 0;
    static const unsigned lengths[] = { 0, 1, 2, 3, 4, 5, 7, 8, 9, 15, 16, 17, 63, 64, 100, 1000, 4096, 4099 };
    for (unsigned i = 0; i < ARRAY_SIZE(lengths); i++) {
        unsigned n = lengths[i];
        for (unsigned offset = 0; offset < 3 && offset + n <= sizeof(data); offset++) {
            uint32_t a = ~crc32_sw(~0u, data + offset, n), b = ~crc32_hw(~0u, data + offset, n);
            uint32_t c = ~crc32c_sw(~0u, data + offset, n), d = ~crc32c_hw(~0u, data + offset, n);
            bad += a != b || c != d;
            printf("len=%4u off=%u crc32=%08x crc32c=%08x%s\n", n, offset, a, c,
                   a != b || c != d ? " MISMATCH" : "");
        }
    }
    /* CRC is linear: crc(A ^ B) ^ crc(0) = crc(A) ^ crc(B) for equal lengths. */
    static uint8_t x[256], y[256], z[256], zero[256];
    for (int i = 0; i < 256; i++) {
        x[i] = data[i];
        y[i] = data[i + 300];
        z[i] = x[i] ^ y[i];
    }
    uint32_t lin = crc32_hw(0, x, 256) ^ crc32_hw(0, y, 256) ^ crc32_hw(0, z, 256) ^ crc32_hw(0, zero, 256);
    printf("linearity %s\n", lin == 0 ? "ok" : "BROKEN");
    return bad || lin;
}
