// cache/body_buffer.cpp — BodyBuffer allocation and release.
#include "cache/body_buffer.h"

#include <cstring>
#include <new>

namespace edged::cache {

BufferRef BodyBuffer::copyOf(std::string_view bytes) {
  void* memory = ::operator new(sizeof(BodyBuffer) + bytes.size());
  auto* b = new (memory) BodyBuffer(static_cast<uint32_t>(bytes.size()));
  if (!bytes.empty()) std::memcpy(b->data(), bytes.data(), bytes.size());
  return BufferRef(b);
}

void BodyBuffer::release() const {
  // acq_rel: the last owner must see every write made through other owners before freeing.
  if (refs_.fetch_sub(1, std::memory_order_acq_rel) == 1) {
    this->~BodyBuffer();
    ::operator delete(const_cast<BodyBuffer*>(this));
  }
}

}  // namespace edged::cache
