// proxy/compress/compressor.cpp
#include "proxy/compress/compressor.h"

#include "proxy/compress/brotli_compressor.h"
#include "proxy/compress/gzip_compressor.h"
#include "proxy/compress/zstd_compressor.h"

namespace edged::compress {

std::unique_ptr<Compressor> makeCompressor(Algorithm algo, int level) {
  switch (algo) {
    case Algorithm::Gzip: return GzipCompressor::create(level);
    case Algorithm::Brotli: return BrotliCompressor::create(level);
    case Algorithm::Zstd: return ZstdCompressor::create(level);
    case Algorithm::None: break;
  }
  return nullptr;
}

}  // namespace edged::compress
