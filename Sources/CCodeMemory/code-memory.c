// emud: memory for translated code. GPL-2.0-or-later.
#define _GNU_SOURCE
#include "emud-code-memory.h"
#include <errno.h>
#if defined(__x86_64__)
#include <cpuid.h>
#endif
#include <sys/mman.h>
#include <unistd.h>

int emud_code_memory_map(size_t size, void **writable, void **executable)
{
    int fd = memfd_create("emud-jit", MFD_CLOEXEC);
    if (fd < 0)
        return -errno;
    if (ftruncate(fd, (off_t)size) != 0) {
        int e = errno;
        close(fd);
        return -e;
    }
    void *rw = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    if (rw == MAP_FAILED) {
        int e = errno;
        close(fd);
        return -e;
    }
    void *rx = mmap(NULL, size, PROT_READ | PROT_EXEC, MAP_SHARED, fd, 0);
    if (rx == MAP_FAILED) {
        int e = errno;
        munmap(rw, size);
        close(fd);
        return -e;
    }
    close(fd);
    *writable = rw;
    *executable = rx;
    return 0;
}

void emud_code_memory_unmap(size_t size, void *writable, void *executable)
{
    munmap(writable, size);
    munmap(executable, size);
}

int emud_host_has_crc32c(void)
{
#if defined(__x86_64__)
    __builtin_cpu_init();
    return __builtin_cpu_supports("sse4.2") ? 1 : 0;
#else
    return 0;
#endif
}

int emud_host_has_sse41(void)
{
#if defined(__x86_64__)
    __builtin_cpu_init();
    return __builtin_cpu_supports("sse4.1") ? 1 : 0;
#else
    return 0;
#endif
}

int emud_host_has_lahf(void)
{
#if defined(__x86_64__)
    unsigned int a, b, c, d;
    if (!__get_cpuid(0x80000001, &a, &b, &c, &d)) return 0;
    return (c & 1) ? 1 : 0;
#else
    return 0;
#endif
}
