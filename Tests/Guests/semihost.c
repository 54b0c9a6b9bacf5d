/* Semihosting calls with hostile arguments: handles at and beyond 2^63, a zero command-line buffer, seek
 * offsets that do not fit a host offset, lengths past RAM. Each must return an error to the guest (QEMU returns
 * -1, or "nothing transferred" for reads and writes), never end the emulator.
 * SPDX-License-Identifier: GPL-2.0-or-later */
#include "rt.h"

#define SYS_OPEN 0x01
#define SYS_CLOSE 0x02
#define SYS_WRITE 0x05
#define SYS_READ 0x06
#define SYS_SEEK 0x0a
#define SYS_FLEN 0x0c
#define SYS_GET_CMDLINE 0x15

static const uint64_t handles[] = {
    0x8000000000000000ull, 0xffffffffffffffffull, 0x8000000000000003ull, 0x7fffffffffffffffull, 12345,
};

static void show(const char *what, uint64_t handle, uint64_t r)
{
    printf("%s(%llx) = %lld\n", what, (unsigned long long)handle, (long long)r);
}

int main(void)
{
    static char buffer[64];
    for (unsigned i = 0; i < sizeof handles / sizeof handles[0]; i++) {
        uint64_t h = handles[i];
        uint64_t close_block[1] = { h };
        show("close", h, semihost(SYS_CLOSE, close_block));
        uint64_t rw_block[3] = { h, (uint64_t)(uintptr_t)buffer, 4 };
        show("write", h, semihost(SYS_WRITE, rw_block));
        show("read", h, semihost(SYS_READ, rw_block));
        uint64_t flen_block[1] = { h };
        show("flen", h, semihost(SYS_FLEN, flen_block));
        uint64_t seek_block[2] = { h, 0x8000000000000000ull };
        show("seek", h, semihost(SYS_SEEK, seek_block));
    }
    /* A console handle with a length far beyond RAM. */
    uint64_t huge[3] = { 1, (uint64_t)(uintptr_t)buffer, 0x8000000000000000ull };
    show("write-huge", 1, semihost(SYS_WRITE, huge));
    /* A buffer of size 0 cannot hold even the terminating NUL. */
    uint64_t cmdline_block[2] = { (uint64_t)(uintptr_t)buffer, 0 };
    show("get_cmdline-0", 0, semihost(SYS_GET_CMDLINE, cmdline_block));
    /* Host files are refused without a semihosting root (QEMU allows them; emud never does by default), so only
     * the error is printed, not the handle. */
    static const char name[] = "semihost-no-such-file";
    uint64_t open_block[3] = { (uint64_t)(uintptr_t)name, 0, sizeof name - 1 };
    int64_t opened = (int64_t)semihost(SYS_OPEN, open_block);
    printf("open missing file: %s\n", opened == -1 ? "-1" : "a handle");
    printf("still running\n");
    return 0;
}
