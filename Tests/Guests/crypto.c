/* The cryptographic extension through the ACLE intrinsics: AES-128 (AESE/AESMC to encrypt,
 * AESD/AESIMC to decrypt), SHA-1 (SHA1C/P/M/H/SU0/SU1) and SHA-256 (SHA256H/H2/SU0/SU1), each checked
 * against the known answers of FIPS-197 (appendices B and C.1) and FIPS-180 (the "abc" and two-block
 * examples). The key schedule and padding are plain C. Exits with the number of failed checks.
 * SPDX-License-Identifier: GPL-2.0-or-later */
#include <arm_neon.h>
#include "rt.h"

static int failures;

static void check(const char *name, const uint8_t *got, const uint8_t *want, int n)
{
    printf("%-16s ", name);
    for (int i = 0; i < n; i++)
        printf("%02x", got[i]);
    int ok = memcmp(got, want, (size_t)n) == 0;
    printf(" %s\n", ok ? "ok" : "MISMATCH");
    failures += !ok;
}

/* ---- AES-128 ---- */

static uint8_t sbox[256];

static uint8_t gf_mul(uint8_t a, uint8_t b)
{
    uint8_t p = 0;
    for (int i = 0; i < 8; i++) {
        if (b & 1)
            p ^= a;
        a = (uint8_t)((a << 1) ^ ((a & 0x80) ? 0x1b : 0));
        b >>= 1;
    }
    return p;
}

static void make_sbox(void)
{
    for (int x = 0; x < 256; x++) {
        uint8_t inv = 0;
        for (int y = 1; y < 256 && x; y++)
            if (gf_mul((uint8_t)x, (uint8_t)y) == 1) { inv = (uint8_t)y; break; }
        uint8_t s = inv;
        for (int r = 1; r <= 4; r++)
            s ^= (uint8_t)((inv << r) | (inv >> (8 - r)));
        sbox[x] = s ^ 0x63;
    }
}

/* FIPS-197 5.2: eleven round keys of 16 bytes. */
static void expand_key(const uint8_t key[16], uint8_t rk[11][16])
{
    uint8_t rcon = 1;
    memcpy(rk[0], key, 16);
    for (int r = 1; r <= 10; r++) {
        const uint8_t *p = rk[r - 1];
        uint8_t t[4] = { sbox[p[13]], sbox[p[14]], sbox[p[15]], sbox[p[12]] };
        t[0] ^= rcon;
        rcon = gf_mul(rcon, 2);
        for (int i = 0; i < 16; i++) {
            rk[r][i] = p[i] ^ t[i & 3];
            t[i & 3] = rk[r][i];
        }
    }
}

static void aes128(const uint8_t key[16], const uint8_t in[16], const uint8_t want[16], const char *name)
{
    uint8_t rk[11][16];
    expand_key(key, rk);
    uint8x16_t k[11], dk[11];
    for (int i = 0; i < 11; i++)
        k[i] = vld1q_u8(rk[i]);
    uint8x16_t b = vld1q_u8(in);
    for (int r = 0; r < 9; r++)
        b = vaesmcq_u8(vaeseq_u8(b, k[r]));
    b = veorq_u8(vaeseq_u8(b, k[9]), k[10]);
    uint8_t out[16];
    vst1q_u8(out, b);
    check(name, out, want, 16);

    /* The equivalent inverse cipher (FIPS-197 5.3.5): round keys in reverse, InvMixColumns applied. */
    dk[0] = k[10];
    for (int i = 1; i < 10; i++)
        dk[i] = vaesimcq_u8(k[10 - i]);
    dk[10] = k[0];
    for (int r = 0; r < 9; r++)
        b = vaesimcq_u8(vaesdq_u8(b, dk[r]));
    b = veorq_u8(vaesdq_u8(b, dk[9]), dk[10]);
    vst1q_u8(out, b);
    check("  decrypted", out, in, 16);
}

/* ---- SHA padding ---- */

/* Pads msg (len < 120 bytes) into one or two 64-byte blocks; returns the number of blocks. */
static int pad(const char *msg, uint8_t buf[128])
{
    size_t len = strlen(msg);
    int blocks = len + 9 <= 64 ? 1 : 2;
    memset(buf, 0, 128);
    memcpy(buf, msg, len);
    buf[len] = 0x80;
    uint64_t bits = (uint64_t)len * 8;
    for (int i = 0; i < 8; i++)
        buf[64 * blocks - 1 - i] = (uint8_t)(bits >> (8 * i));
    return blocks;
}

static void words_to_bytes(const uint32_t *w, int n, uint8_t *out)
{
    for (int i = 0; i < n; i++)
        for (int j = 0; j < 4; j++)
            out[4 * i + j] = (uint8_t)(w[i] >> (24 - 8 * j));
}

/* ---- SHA-1 ---- */

static void sha1(const char *msg, const uint8_t want[20], const char *name)
{
    uint8_t buf[128];
    int blocks = pad(msg, buf);
    static const uint32_t h0[5] = { 0x67452301, 0xefcdab89, 0x98badcfe, 0x10325476, 0xc3d2e1f0 };
    static const uint32_t K[4] = { 0x5a827999, 0x6ed9eba1, 0x8f1bbcdc, 0xca62c1d6 };
    uint32x4_t abcd = vld1q_u32(h0);
    uint32_t e = h0[4];
    for (int blk = 0; blk < blocks; blk++) {
        uint32x4_t m[4];
        for (int i = 0; i < 4; i++)
            m[i] = vreinterpretq_u32_u8(vrev32q_u8(vld1q_u8(buf + 64 * blk + 16 * i)));
        uint32x4_t abcd_saved = abcd;
        uint32_t e_saved = e;
        for (int i = 0; i < 20; i++) {
            uint32x4_t wk = vaddq_u32(m[i & 3], vdupq_n_u32(K[i / 5]));
            uint32_t e_next = vsha1h_u32(vgetq_lane_u32(abcd, 0));
            if (i < 5)
                abcd = vsha1cq_u32(abcd, e, wk);
            else if (i < 10 || i >= 15)
                abcd = vsha1pq_u32(abcd, e, wk);
            else
                abcd = vsha1mq_u32(abcd, e, wk);
            e = e_next;
            if (i < 16)
                m[i & 3] = vsha1su1q_u32(vsha1su0q_u32(m[i & 3], m[(i + 1) & 3], m[(i + 2) & 3]), m[(i + 3) & 3]);
        }
        abcd = vaddq_u32(abcd, abcd_saved);
        e += e_saved;
    }
    uint32_t h[5];
    vst1q_u32(h, abcd);
    h[4] = e;
    uint8_t out[20];
    words_to_bytes(h, 5, out);
    check(name, out, want, 20);
}

/* ---- SHA-256 ---- */

static const uint32_t K256[64] = {
    0x428a2f98, 0x71374491, 0xb5c0fbcf, 0xe9b5dba5, 0x3956c25b, 0x59f111f1, 0x923f82a4, 0xab1c5ed5,
    0xd807aa98, 0x12835b01, 0x243185be, 0x550c7dc3, 0x72be5d74, 0x80deb1fe, 0x9bdc06a7, 0xc19bf174,
    0xe49b69c1, 0xefbe4786, 0x0fc19dc6, 0x240ca1cc, 0x2de92c6f, 0x4a7484aa, 0x5cb0a9dc, 0x76f988da,
    0x983e5152, 0xa831c66d, 0xb00327c8, 0xbf597fc7, 0xc6e00bf3, 0xd5a79147, 0x06ca6351, 0x14292967,
    0x27b70a85, 0x2e1b2138, 0x4d2c6dfc, 0x53380d13, 0x650a7354, 0x766a0abb, 0x81c2c92e, 0x92722c85,
    0xa2bfe8a1, 0xa81a664b, 0xc24b8b70, 0xc76c51a3, 0xd192e819, 0xd6990624, 0xf40e3585, 0x106aa070,
    0x19a4c116, 0x1e376c08, 0x2748774c, 0x34b0bcb5, 0x391c0cb3, 0x4ed8aa4a, 0x5b9cca4f, 0x682e6ff3,
    0x748f82ee, 0x78a5636f, 0x84c87814, 0x8cc70208, 0x90befffa, 0xa4506ceb, 0xbef9a3f7, 0xc67178f2,
};

static void sha256(const char *msg, const uint8_t want[32], const char *name)
{
    uint8_t buf[128];
    int blocks = pad(msg, buf);
    static const uint32_t h0[8] = { 0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a,
                                    0x510e527f, 0x9b05688c, 0x1f83d9ab, 0x5be0cd19 };
    uint32x4_t s0 = vld1q_u32(h0), s1 = vld1q_u32(h0 + 4);
    for (int blk = 0; blk < blocks; blk++) {
        uint32x4_t m[4];
        for (int i = 0; i < 4; i++)
            m[i] = vreinterpretq_u32_u8(vrev32q_u8(vld1q_u8(buf + 64 * blk + 16 * i)));
        uint32x4_t abcd = s0, efgh = s1;
        for (int i = 0; i < 16; i++) {
            uint32x4_t wk = vaddq_u32(m[i & 3], vld1q_u32(K256 + 4 * i));
            if (i < 12)
                m[i & 3] = vsha256su1q_u32(vsha256su0q_u32(m[i & 3], m[(i + 1) & 3]), m[(i + 2) & 3], m[(i + 3) & 3]);
            uint32x4_t abcd_before = abcd;
            abcd = vsha256hq_u32(abcd, efgh, wk);
            efgh = vsha256h2q_u32(efgh, abcd_before, wk);
        }
        s0 = vaddq_u32(s0, abcd);
        s1 = vaddq_u32(s1, efgh);
    }
    uint32_t h[8];
    vst1q_u32(h, s0);
    vst1q_u32(h + 4, s1);
    uint8_t out[32];
    words_to_bytes(h, 8, out);
    check(name, out, want, 32);
}

int main(void)
{
    make_sbox();
    static const uint8_t keyB[16] = { 0x2b, 0x7e, 0x15, 0x16, 0x28, 0xae, 0xd2, 0xa6,
                                      0xab, 0xf7, 0x15, 0x88, 0x09, 0xcf, 0x4f, 0x3c };
    static const uint8_t ptB[16] = { 0x32, 0x43, 0xf6, 0xa8, 0x88, 0x5a, 0x30, 0x8d,
                                     0x31, 0x31, 0x98, 0xa2, 0xe0, 0x37, 0x07, 0x34 };
    static const uint8_t ctB[16] = { 0x39, 0x25, 0x84, 0x1d, 0x02, 0xdc, 0x09, 0xfb,
                                     0xdc, 0x11, 0x85, 0x97, 0x19, 0x6a, 0x0b, 0x32 };
    static const uint8_t keyC[16] = { 0x00, 0x01, 0x02, 0x03, 0x04, 0x05, 0x06, 0x07,
                                      0x08, 0x09, 0x0a, 0x0b, 0x0c, 0x0d, 0x0e, 0x0f };
    static const uint8_t ptC[16] = { 0x00, 0x11, 0x22, 0x33, 0x44, 0x55, 0x66, 0x77,
                                     0x88, 0x99, 0xaa, 0xbb, 0xcc, 0xdd, 0xee, 0xff };
    static const uint8_t ctC[16] = { 0x69, 0xc4, 0xe0, 0xd8, 0x6a, 0x7b, 0x04, 0x30,
                                     0xd8, 0xcd, 0xb7, 0x80, 0x70, 0xb4, 0xc5, 0x5a };
    aes128(keyB, ptB, ctB, "aes128 fips197 B");
    aes128(keyC, ptC, ctC, "aes128 fips197 C1");

    static const char two_block[] = "abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq";
    static const uint8_t sha1_abc[20] = { 0xa9, 0x99, 0x3e, 0x36, 0x47, 0x06, 0x81, 0x6a, 0xba, 0x3e,
                                          0x25, 0x71, 0x78, 0x50, 0xc2, 0x6c, 0x9c, 0xd0, 0xd8, 0x9d };
    static const uint8_t sha1_two[20] = { 0x84, 0x98, 0x3e, 0x44, 0x1c, 0x3b, 0xd2, 0x6e, 0xba, 0xae,
                                          0x4a, 0xa1, 0xf9, 0x51, 0x29, 0xe5, 0xe5, 0x46, 0x70, 0xf1 };
    static const uint8_t sha256_abc[32] = {
        0xba, 0x78, 0x16, 0xbf, 0x8f, 0x01, 0xcf, 0xea, 0x41, 0x41, 0x40, 0xde, 0x5d, 0xae, 0x22, 0x23,
        0xb0, 0x03, 0x61, 0xa3, 0x96, 0x17, 0x7a, 0x9c, 0xb4, 0x10, 0xff, 0x61, 0xf2, 0x00, 0x15, 0xad };
    static const uint8_t sha256_two[32] = {
        0x24, 0x8d, 0x6a, 0x61, 0xd2, 0x06, 0x38, 0xb8, 0xe5, 0xc0, 0x26, 0x93, 0x0c, 0x3e, 0x60, 0x39,
        0xa3, 0x3c, 0xe4, 0x59, 0x64, 0xff, 0x21, 0x67, 0xf6, 0xec, 0xed, 0xd4, 0x19, 0xdb, 0x06, 0xc1 };
    sha1("abc", sha1_abc, "sha1 abc");
    sha1(two_block, sha1_two, "sha1 two blocks");
    sha256("abc", sha256_abc, "sha256 abc");
    sha256(two_block, sha256_two, "sha256 two blocks");
    printf("crypto: %d failures\n", failures);
    return failures;
}
