// proxy/compress/brotli_compressor.cpp
#include "proxy/compress/brotli_compressor.h"

#include <algorithm>
#include <cstdint>

#include "proxy/compress/counting_alloc.h"

namespace edged::compress {

// Memory: lgwin 18 makes the ring buffer 2^18 + slack; at quality 4 the H4 hasher adds
// 2^17 buckets x 4 ways x 4 bytes = 512 KiB, and command/storage buffers sized by the metablock
// (bounded by the window) the rest: ~2.1-2.4 MiB peak per stream measured (lgwin 17: 1.85,
// 19: 3.0, 20: 4.3 MiB; the ratio on web bodies barely moves). Brotli's default lgwin 22 would
// take far more on large bodies.

void* BrotliCompressor::allocate(void* self, size_t size) {
  return detail::countedAlloc(static_cast<BrotliCompressor*>(self)->allocated_, size);
}
void BrotliCompressor::release(void* self, void* p) {
  detail::countedFree(static_cast<BrotliCompressor*>(self)->allocated_, p);
}

std::unique_ptr<BrotliCompressor> BrotliCompressor::create(int quality) {
  std::unique_ptr<BrotliCompressor> c(new BrotliCompressor(std::clamp(quality, BROTLI_MIN_QUALITY, BROTLI_MAX_QUALITY)));
  if (!c->open()) return nullptr;
  return c;
}

bool BrotliCompressor::open() {
  state_ = BrotliEncoderCreateInstance(&BrotliCompressor::allocate, &BrotliCompressor::release, this);
  if (!state_) return false;
  return BrotliEncoderSetParameter(state_, BROTLI_PARAM_QUALITY, static_cast<uint32_t>(quality_)) &&
         BrotliEncoderSetParameter(state_, BROTLI_PARAM_LGWIN, kWindowBits);
}

BrotliCompressor::~BrotliCompressor() {
  if (state_) BrotliEncoderDestroyInstance(state_);
}

bool BrotliCompressor::run(BrotliEncoderOperation op, std::string_view in, Sink& out) {
  const auto* next_in = reinterpret_cast<const uint8_t*>(in.data());
  size_t avail_in = in.size();
  while (true) {
    const std::span<char> buf = out.reserve(detail::kMinReserve);
    auto* next_out = reinterpret_cast<uint8_t*>(buf.data());
    size_t avail_out = buf.size();
    const bool ok = BrotliEncoderCompressStream(state_, op, &avail_in, &next_in, &avail_out, &next_out, nullptr);
    out.commit(buf.size() - avail_out);
    if (!ok) return false;
    if (op == BROTLI_OPERATION_FINISH) {
      if (BrotliEncoderIsFinished(state_)) return true;
    } else if (avail_in == 0 && !BrotliEncoderHasMoreOutput(state_)) {
      return true;
    }
  }
}

bool BrotliCompressor::write(std::string_view in, Sink& out) {
  if (finished_ || failed_) return false;
  if (in.empty()) return true;
  dirty_ = true;
  if (!run(BROTLI_OPERATION_PROCESS, in, out)) return !(failed_ = true);
  return true;
}

bool BrotliCompressor::flush(Sink& out) {
  if (finished_ || failed_) return false;
  if (!dirty_) return true;
  dirty_ = false;
  if (!run(BROTLI_OPERATION_FLUSH, {}, out)) return !(failed_ = true);
  return true;
}

bool BrotliCompressor::finish(Sink& out) {
  if (finished_ || failed_) return false;
  finished_ = true;
  if (!run(BROTLI_OPERATION_FINISH, {}, out)) return !(failed_ = true);
  return true;
}

bool BrotliCompressor::reset() {
  // libbrotlienc has no reset: a new instance (its allocations are the expensive part anyway).
  if (state_) BrotliEncoderDestroyInstance(state_);
  state_ = nullptr;
  dirty_ = finished_ = false;
  failed_ = !open();
  return !failed_;
}

}  // namespace edged::compress
