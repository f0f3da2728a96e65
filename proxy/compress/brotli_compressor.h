// proxy/compress/brotli_compressor.h — BrotliCompressor: the br coding (RFC 7932) through libbrotlienc.
#pragma once

#include <brotli/encode.h>

#include "proxy/compress/compressor.h"

namespace edged::compress {

class BrotliCompressor final : public Compressor {
 public:
  static constexpr int kWindowBits = 18;  // 256 KiB window

  // Null when brotli cannot allocate its state.
  static std::unique_ptr<BrotliCompressor> create(int quality);
  ~BrotliCompressor() override;

  bool write(std::string_view in, Sink& out) override;
  bool flush(Sink& out) override;
  bool finish(Sink& out) override;
  bool reset() override;
  size_t memoryUsage() const override { return allocated_; }
  Algorithm algorithm() const override { return Algorithm::Brotli; }

 private:
  explicit BrotliCompressor(int quality) : quality_(quality) {}
  bool open();
  bool run(BrotliEncoderOperation op, std::string_view in, Sink& out);
  static void* allocate(void* self, size_t size);
  static void release(void* self, void* p);

  BrotliEncoderState* state_ = nullptr;
  int quality_;
  size_t allocated_ = 0;
  bool dirty_ = false;
  bool finished_ = false;
  bool failed_ = false;
};

}  // namespace edged::compress
