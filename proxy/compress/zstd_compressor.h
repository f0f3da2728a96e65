// proxy/compress/zstd_compressor.h — ZstdCompressor: the zstd coding (RFC 8878) through libzstd.
#pragma once

#include "proxy/compress/compressor.h"

struct ZSTD_CCtx_s;  // zstd.h stays out of this header (the .cpp needs its static-linking API)

namespace edged::compress {

class ZstdCompressor final : public Compressor {
 public:
  static constexpr int kWindowLog = 18;  // 256 KiB window (RFC 8878 caps HTTP decoders at 8 MiB)

  // Null when zstd cannot allocate its state.
  static std::unique_ptr<ZstdCompressor> create(int level);
  ~ZstdCompressor() override;

  bool write(std::string_view in, Sink& out) override;
  bool flush(Sink& out) override;
  bool finish(Sink& out) override;
  bool reset() override;
  size_t memoryUsage() const override;
  Algorithm algorithm() const override { return Algorithm::Zstd; }

 private:
  ZstdCompressor() = default;
  bool configure(int level);
  bool run(int mode, std::string_view in, Sink& out);  // a ZSTD_EndDirective

  ZSTD_CCtx_s* cctx_ = nullptr;
  bool dirty_ = false;
  bool finished_ = false;
  bool failed_ = false;
};

}  // namespace edged::compress
