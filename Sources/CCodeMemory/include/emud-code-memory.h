// emud: memory for translated code. GPL-2.0-or-later.
#ifndef EMUD_CODE_MEMORY_H
#define EMUD_CODE_MEMORY_H
#include <stddef.h>

/// Maps `size` bytes of one anonymous memory file twice: read-write at *writable and read-execute at
/// *executable, so translated code is never writable and executable through the same mapping.
/// Returns 0, or -errno (and maps nothing).
int emud_code_memory_map(size_t size, void **writable, void **executable);

/// Unmaps both views.
void emud_code_memory_unmap(size_t size, void *writable, void *executable);

/// Whether the host CPU has SSE4.2's CRC32 instruction (1) or not (0).
int emud_host_has_crc32c(void);

/// Whether the host CPU has SSE4.1 (PMULLD, PMOVSX/ZX, PACKUSDW...) (1) or not (0).
int emud_host_has_sse41(void);

/// Whether the host CPU has LAHF in 64-bit mode (CPUID 0x80000001 ECX bit 0) (1) or not (0).
int emud_host_has_lahf(void);

#endif
