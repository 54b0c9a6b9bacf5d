/* `make run`: a banner, a Mandelbrot set drawn in text, then rounds of a SHA-256 hash chain and
 * a prime count with progress lines. Everything goes to the PL011 UART. A few seconds of work.
 * SPDX-License-Identifier: GPL-2.0-or-later */
#include "rt.h"
#include "sha256.h"

static void mandelbrot(void)
{
    static const char shades[] = " .:-=+*#%@";
    /* Fixed point with 24 fractional bits. */
    const int64_t one = 1 << 24;
    for (int row = 0; row < 24; row++) {
        int64_t ci = -one * 6 / 5 + row * (one * 12 / 5) / 23;
        for (int col = 0; col < 72; col++) {
            int64_t cr = -one * 21 / 10 + col * (one * 27 / 10) / 71;
            int64_t zr = 0, zi = 0;
            int n = 0;
            while (n < 2000 && zr * zr + zi * zi <= 4 * one * one) {
                int64_t t = (zr * zr - zi * zi) / one + cr;
                zi = 2 * zr * zi / one + ci;
                zr = t;
                n++;
            }
            console_putc(n == 2000 ? '@' : shades[n % 9]);
        }
        console_putc('\n');
    }
}

static uint8_t sieve[16000000];

int main(void)
{
    rt_use_uart();
    printf("\n");
    printf("  +----------------------------------------------------------+\n");
    printf("  |  emud demo: a bare-metal AArch64 program on a virt board |\n");
    printf("  |  console: PL011 UART at 0x09000000                       |\n");
    printf("  +----------------------------------------------------------+\n\n");

    mandelbrot();

    printf("\nSHA-256 hash chain (each digest hashed again):\n");
    uint8_t digest[32] = { 0 };
    char hex[65];
    for (int round = 1; round <= 8; round++) {
        for (int i = 0; i < 150000; i++)
            sha256(digest, sizeof(digest), digest);
        sha256_hex(digest, hex);
        printf("  after %7d rounds: %s\n", round * 150000, hex);
    }

    printf("\nCounting primes with a sieve:\n");
    for (uint32_t limit = 250000; limit <= sizeof(sieve); limit *= 2) {
        for (uint32_t i = 0; i < limit; i++)
            sieve[i] = 0;
        uint32_t count = 0;
        for (uint32_t i = 2; i < limit; i++) {
            if (sieve[i])
                continue;
            count++;
            for (uint64_t j = (uint64_t)i * i; j < limit; j += i)
                sieve[j] = 1;
        }
        printf("  primes below %8u: %7u\n", limit, count);
    }
#ifdef DEMO_FOREVER
    /* Idle with a heartbeat: WFI wakes when the virtual timer's interrupt is pending at the GIC (it stays
     * masked in DAIF, so no handler is needed); then the timer is re-armed. */
    volatile uint32_t *gicd = (volatile uint32_t *)0x08000000, *gicc = (volatile uint32_t *)0x08010000;
    gicd[0] = 1;                       /* GICD_CTLR: enable */
    gicd[0x100 / 4] = 1u << 27;        /* GICD_ISENABLER0: virtual timer PPI */
    gicc[1] = 0xff;                    /* GICC_PMR */
    gicc[0] = 1;                       /* GICC_CTLR */
    uint64_t frequency;
    __asm__ volatile("mrs %0, cntfrq_el0" : "=r"(frequency));
    printf("\ndemo finished its work; heartbeat every 2 s (attach gdb, load plugins, or stop emud)\n");
    for (unsigned beat = 1;; beat++) {
        __asm__ volatile("msr cntv_tval_el0, %0; mov x0, #1; msr cntv_ctl_el0, x0; isb" :: "r"(2 * frequency) : "x0");
        __asm__ volatile("wfi");
        __asm__ volatile("msr cntv_ctl_el0, xzr; isb");
        printf("  heartbeat %u\n", beat);
    }
#endif
    printf("\ndemo finished, exiting with status 0\n");
    return 0;
}
