#include <malloc.h>

#include "CMalloc.h"

int berth_release_free_memory(void) { return malloc_trim(0); }
