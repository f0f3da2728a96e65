// proxy/compress/counting_alloc.h — malloc/free with a size prefix, adding up the bytes a codec
// library holds (zlib's and brotli's allocator hooks), for Compressor::memoryUsage().
#pragma once

#include <cstddef>
#include <cstdlib>

namespace edged::compress::detail {

inline constexpr size_t kAllocPrefix = alignof(std::max_align_t);

inline void* countedAlloc(size_t& total, size_t size) {
  auto* p = static_cast<char*>(std::malloc(size + kAllocPrefix));
  if (!p) return nullptr;
  *reinterpret_cast<size_t*>(p) = size;
  total += size;
  return p + kAllocPrefix;
}

inline void countedFree(size_t& total, void* user) {
  if (!user) return;
  char* p = static_cast<char*>(user) - kAllocPrefix;
  total -= *reinterpret_cast<size_t*>(p);
  std::free(p);
}

// Minimum reservation asked of a Sink: small enough not to waste a buffer's tail, large enough
// that the encoders do not loop on tiny slices.
inline constexpr size_t kMinReserve = 512;

}  // namespace edged::compress::detail
