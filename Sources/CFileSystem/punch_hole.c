#define _GNU_SOURCE
#include <fcntl.h>
#include "CFileSystem.h"

int berth_punch_hole(int fd, int64_t offset, int64_t length) {
    return fallocate(fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, (off_t)offset, (off_t)length);
}
