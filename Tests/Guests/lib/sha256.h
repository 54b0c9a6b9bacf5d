/* SHA-256 (FIPS 180-4). SPDX-License-Identifier: GPL-2.0-or-later */
#ifndef GUEST_SHA256_H
#define GUEST_SHA256_H
#include <stddef.h>
#include <stdint.h>

struct sha256 {
    uint32_t h[8];
    uint64_t length;     /* bytes hashed so far */
    uint8_t block[64];
    size_t used;         /* bytes waiting in block */
};

void sha256_init(struct sha256 *s);
void sha256_update(struct sha256 *s, const void *data, size_t n);
void sha256_final(struct sha256 *s, uint8_t digest[32]);
void sha256(const void *data, size_t n, uint8_t digest[32]);
/* Writes 64 hex digits and a NUL to out. */
void sha256_hex(const uint8_t digest[32], char out[65]);

#endif
