#ifndef BERTH_CCRC32C_H
#define BERTH_CCRC32C_H

#include <stddef.h>
#include <stdint.h>

/// 1 when this CPU has a CRC-32C instruction (x86-64: SSE4.2's crc32; ARMv8: the CRC32
/// extension's crc32c), checked once at run time; 0 otherwise.
int berth_crc32c_instruction_available(void);

/// Folds `count` bytes into a CRC-32C register value with the CPU's instruction. The value
/// is the raw register (neither pre- nor post-inverted): the caller inverts, as the table
/// implementation does. Call only when berth_crc32c_instruction_available() returned 1.
uint32_t berth_crc32c_instruction_update(uint32_t crc, const void *bytes, size_t count);

#endif
