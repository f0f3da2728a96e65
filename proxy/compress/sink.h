// proxy/compress/sink.h — Sink: where a Compressor writes its output, straight into memory the
// caller owns (the proxy's buffer chain), so compressed bytes are never copied on the way out.
#pragma once

#include <cstddef>
#include <span>
#include <string>

namespace edged::compress {

class Sink {
 public:
  virtual ~Sink() = default;
  // Writable space of at least `min` bytes (it may be larger: the compressor uses what it gets).
  // Valid until the next commit(). Must not fail: a sink that cannot grow asserts/aborts.
  virtual std::span<char> reserve(size_t min) = 0;
  // The first `n` bytes of the last reservation hold output. n == 0 is allowed and means the
  // reservation was not used; the sink may hand the same space out again.
  virtual void commit(size_t n) = 0;
};

// A Sink appending to a std::string (tests, small bodies).
class StringSink final : public Sink {
 public:
  explicit StringSink(std::string& out) : out_(out) {}
  std::span<char> reserve(size_t min) override {
    base_ = out_.size();
    out_.resize(base_ + (min < kChunk ? kChunk : min));
    return {out_.data() + base_, out_.size() - base_};
  }
  void commit(size_t n) override { out_.resize(base_ + n); }

 private:
  static constexpr size_t kChunk = 16 * 1024;
  std::string& out_;
  size_t base_ = 0;
};

}  // namespace edged::compress
