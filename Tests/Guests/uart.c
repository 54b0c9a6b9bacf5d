/* Console output through the PL011 UART at 0x09000000 (QEMU's stdout) instead of semihosting:
 * formatted text, every printable ASCII character, and raw writes to the data register.
 * SPDX-License-Identifier: GPL-2.0-or-later */
#include "rt.h"

#define UART_DR (*(volatile uint32_t *)0x09000000UL)
#define UART_FR (*(volatile uint32_t *)0x09000018UL)

int main(void)
{
    rt_use_uart();
    printf("hello from the PL011\n");
    for (int row = 0; row < 3; row++) {
        for (int c = 32 + row * 32; c < 64 + row * 32 && c < 127; c++)
            console_putc(c);
        console_putc('\n');
    }
    for (int i = 1; i <= 10; i++)
        printf("%2d squared is %3d, cubed is %4d\n", i, i * i, i * i * i);
    /* Straight to the data register, waiting for room in the FIFO the way a driver does. */
    static const char raw[] = "raw DR writes\ttab\n";
    for (const char *p = raw; *p; p++) {
        while (UART_FR & (1u << 5))
            ;
        UART_DR = (uint8_t)*p;
    }
    /* Only the low 8 bits of a DR write are data. */
    UART_DR = 0x100 | 'Z';
    UART_DR = '\n';
    printf("done\n");
    return 0;
}
