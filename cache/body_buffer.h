// cache/body_buffer.h — BodyBuffer: an immutable, reference-counted run of body bytes in one
// allocation, and BufferRef, the handle a hit holds while its write is in flight (no copy).
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <string_view>

namespace edged::cache {

class BufferRef;

class BodyBuffer {
 public:
  // One allocation holding the counter, the size and the bytes.
  static BufferRef copyOf(std::string_view bytes);

  std::string_view view() const { return {data(), size_}; }
  size_t size() const { return size_; }
  // What the buffer costs in memory (header + bytes).
  size_t bytes() const { return sizeof(BodyBuffer) + size_; }

  BodyBuffer(const BodyBuffer&) = delete;
  BodyBuffer& operator=(const BodyBuffer&) = delete;

 private:
  friend class BufferRef;
  explicit BodyBuffer(uint32_t size) : size_(size) {}
  const char* data() const { return reinterpret_cast<const char*>(this + 1); }
  char* data() { return reinterpret_cast<char*>(this + 1); }
  void retain() const { refs_.fetch_add(1, std::memory_order_relaxed); }
  void release() const;

  mutable std::atomic<uint32_t> refs_{1};
  uint32_t size_;
};

class BufferRef {
 public:
  BufferRef() = default;
  BufferRef(const BufferRef& o) : buffer_(o.buffer_) { if (buffer_) buffer_->retain(); }
  BufferRef(BufferRef&& o) noexcept : buffer_(o.buffer_) { o.buffer_ = nullptr; }
  BufferRef& operator=(BufferRef o) noexcept { std::swap(buffer_, o.buffer_); return *this; }
  ~BufferRef() { if (buffer_) buffer_->release(); }

  explicit operator bool() const { return buffer_ != nullptr; }
  const BodyBuffer* get() const { return buffer_; }
  std::string_view view() const { return buffer_ ? buffer_->view() : std::string_view{}; }
  size_t size() const { return buffer_ ? buffer_->size() : 0; }

 private:
  friend class BodyBuffer;
  explicit BufferRef(const BodyBuffer* b) : buffer_(b) {}
  const BodyBuffer* buffer_ = nullptr;
};

}  // namespace edged::cache
