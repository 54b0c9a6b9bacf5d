/* SHA-256 of the FIPS 180-4 test vectors and a few more, one-shot and fed in odd-sized pieces.
 * SPDX-License-Identifier: GPL-2.0-or-later */
#include "rt.h"
#include "sha256.h"

static const struct {
    const char *message;
    const char *digest;
} vectors[] = {
    { "", "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855" },
    { "abc", "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad" },
    { "abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq",
      "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1" },
    { "abcdefghbcdefghicdefghijdefghijkefghijklfghijklmghijklmnhijklmnoijklmnopjklmnopqklmnopqrlmnopqrs"
      "mnopqrstnopqrstu",
      "cf5b16a778af8380036ce59e7b0492370b249b11e8f07a51afac45037afee9d1" },
    { "The quick brown fox jumps over the lazy dog",
      "d7a8fbb307d7809469ca9abcb0082e4f8d5651e46d3cdb762d02d0bf37c9e592" },
};

static int failures;

static void report(const char *label, const uint8_t digest[32], const char *expected)
{
    char hex[65];
    sha256_hex(digest, hex);
    int ok = expected == 0 || strcmp(hex, expected) == 0;
    failures += !ok;
    printf("%-10s %s %s\n", label, hex, ok ? "ok" : "MISMATCH");
}

int main(void)
{
    uint8_t digest[32];
    char label[16];

    for (unsigned i = 0; i < ARRAY_SIZE(vectors); i++) {
        const char *m = vectors[i].message;
        size_t n = strlen(m);
        sha256(m, n, digest);
        snprintf(label, sizeof(label), "v%u/%u", i, (unsigned)n);
        report(label, digest, vectors[i].digest);

        /* The same message fed 1, 2, 3, ... bytes at a time. */
        struct sha256 s;
        sha256_init(&s);
        for (size_t at = 0, step = 1; at < n; at += step, step++)
            sha256_update(&s, m + at, n - at < step ? n - at : step);
        sha256_final(&s, digest);
        snprintf(label, sizeof(label), "v%u/pieces", i);
        report(label, digest, vectors[i].digest);
    }

    /* One million 'a' in chunks of 1000. */
    static char chunk[1000];
    memset(chunk, 'a', sizeof(chunk));
    struct sha256 s;
    sha256_init(&s);
    for (int i = 0; i < 1000; i++)
        sha256_update(&s, chunk, sizeof(chunk));
    sha256_final(&s, digest);
    report("a*10^6", digest, "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0");

    /* Every length 0..200 of a byte pattern, chained: each digest is hashed into the next. */
    static uint8_t buf[200];
    for (unsigned i = 0; i < sizeof(buf); i++)
        buf[i] = (uint8_t)(i * 7 + 3);
    uint8_t chain[32] = { 0 };
    for (unsigned n = 0; n <= sizeof(buf); n++) {
        sha256_init(&s);
        sha256_update(&s, chain, 32);
        sha256_update(&s, buf, n);
        sha256_final(&s, chain);
    }
    report("chain", chain, "ada0b418ea7fd7d69851d0710ede7f43b3fd9c2217852e3b9907b056ddb85703");

    printf("%s\n", failures ? "SOME DIGESTS WRONG" : "all digests match");
    return failures ? 1 : 0;
}
