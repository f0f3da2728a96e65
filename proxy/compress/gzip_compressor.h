// proxy/compress/gzip_compressor.h — GzipCompressor: the gzip coding (RFC 1952) through zlib.
#pragma once

#include <zlib.h>

#include "proxy/compress/compressor.h"

namespace edged::compress {

class GzipCompressor final : public Compressor {
 public:
  // Null when zlib cannot allocate its state.
  static std::unique_ptr<GzipCompressor> create(int level);
  ~GzipCompressor() override;

  bool write(std::string_view in, Sink& out) override;
  bool flush(Sink& out) override;
  bool finish(Sink& out) override;
  bool reset() override;
  size_t memoryUsage() const override { return allocated_; }
  Algorithm algorithm() const override { return Algorithm::Gzip; }

 private:
  GzipCompressor() = default;
  bool run(int mode, Sink& out);
  static void* allocate(void* self, uInt items, uInt size);
  static void release(void* self, void* p);

  z_stream z_{};
  size_t allocated_ = 0;
  bool dirty_ = false;     // input since the last flush
  bool finished_ = false;
  bool failed_ = false;
};

}  // namespace edged::compress
