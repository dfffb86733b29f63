#ifndef BERTH_CMALLOC_H
#define BERTH_CMALLOC_H

/// Gives the pages glibc's allocator holds free back to the system (malloc_trim(0), which
/// the Swift view of glibc leaves out). Returns 1 if any memory was released.
int berth_release_free_memory(void);

#endif
