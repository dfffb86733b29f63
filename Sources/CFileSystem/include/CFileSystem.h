#ifndef BERTH_CFILESYSTEM_H
#define BERTH_CFILESYSTEM_H

#include <stdint.h>

/// Frees the disk blocks of `length` bytes at `offset` of the open file `fd`, keeping its
/// size (fallocate with FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, which the Swift view of
/// glibc leaves out). Returns 0, or -1 with errno set.
int berth_punch_hole(int fd, int64_t offset, int64_t length);

#endif
