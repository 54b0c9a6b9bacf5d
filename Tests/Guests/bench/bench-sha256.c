/* Benchmark: SHA-256 over a 4 MiB buffer, 16 times (64 MiB hashed).
 * SPDX-License-Identifier: GPL-2.0-or-later */
#include "rt.h"
#include "sha256.h"

#define SIZE (4u << 20)
#define PASSES 16

static uint8_t buffer[SIZE];

int main(void)
{
    uint64_t state = 1;
    for (unsigned i = 0; i < SIZE; i += 8) {
        uint64_t v = prng_next(&state);
        memcpy(buffer + i, &v, 8);
    }
    uint8_t digest[32];
    char hex[65];
    for (int pass = 0; pass < PASSES; pass++) {
        buffer[pass] ^= 0x5a; /* a different message each pass */
        sha256(buffer, SIZE, digest);
    }
    sha256_hex(digest, hex);
    printf("bench-sha256: %u MiB hashed, last digest %s\n", PASSES * (SIZE >> 20), hex);
    return 0;
}
