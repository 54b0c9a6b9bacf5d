/* Host files through semihosting, beneath `--semihosting-root` only. For each name it tries to read the file
 * and prints the first line or "refused"; then it tries to overwrite a few names and prints what happened.
 * The test lays out the root with regular files, symbolic links pointing out of it, and a link to a directory
 * outside, and checks that nothing outside the root is read or written.
 * SPDX-License-Identifier: GPL-2.0-or-later */
#include "rt.h"

#define SYS_OPEN 0x01
#define SYS_CLOSE 0x02
#define SYS_WRITE 0x05
#define SYS_READ 0x06

static int64_t open_file(const char *name, uint64_t mode)
{
    uint64_t block[3] = { (uint64_t)(uintptr_t)name, mode, strlen(name) };
    return (int64_t)semihost(SYS_OPEN, block);
}

static void try_read(const char *name)
{
    int64_t h = open_file(name, 0);
    if (h < 0) {
        printf("read %s: refused\n", name);
        return;
    }
    static char buffer[80];
    memset(buffer, 0, sizeof buffer);
    uint64_t block[3] = { (uint64_t)h, (uint64_t)(uintptr_t)buffer, sizeof buffer - 1 };
    semihost(SYS_READ, block);
    for (char *c = buffer; *c; c++)
        if (*c == '\n')
            *c = 0;
    printf("read %s: %s\n", name, buffer);
    uint64_t close_block[1] = { (uint64_t)h };
    semihost(SYS_CLOSE, close_block);
}

static void try_write(const char *name)
{
    int64_t h = open_file(name, 4); /* "w" */
    if (h < 0) {
        printf("write %s: refused\n", name);
        return;
    }
    static const char text[] = "written by the guest\n";
    uint64_t block[3] = { (uint64_t)h, (uint64_t)(uintptr_t)text, sizeof text - 1 };
    uint64_t left = semihost(SYS_WRITE, block);
    printf("write %s: %s\n", name, left == 0 ? "done" : "short");
    uint64_t close_block[1] = { (uint64_t)h };
    semihost(SYS_CLOSE, close_block);
}

int main(void)
{
    static const char *reads[] = {
        "inside.txt", "./sub/nested.txt", "sub//nested.txt", "link-out", "dir-out/secret.txt", "../secret.txt",
        "sub/../inside.txt", "/etc/hostname", "link-in", "fifo", "sub", "",
    };
    for (unsigned i = 0; i < sizeof reads / sizeof reads[0]; i++)
        try_read(reads[i]);
    static const char *writes[] = { "new.txt", "link-out", "dangling", "dir-out/secret.txt" };
    for (unsigned i = 0; i < sizeof writes / sizeof writes[0]; i++)
        try_write(writes[i]);
    return 0;
}
