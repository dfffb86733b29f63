#ifndef BERTH_CLZ4_SHIM_H
#define BERTH_CLZ4_SHIM_H

// Only the stable liblz4 API: LZ4F_STATIC_LINKING_ONLY is deliberately not
// defined, so nothing here can change shape between liblz4 releases.
#include <lz4.h>
#include <lz4frame.h>

#endif
