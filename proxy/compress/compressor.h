// proxy/compress/compressor.h — Compressor: one streaming encoder for one response body, behind a
// small interface with one class per algorithm (GzipCompressor, BrotliCompressor, ZstdCompressor).
//
// Output goes to the Sink as soon as the library produces it; only the library's own state is
// kept between calls, so memory per stream is bounded by the window and tables set at creation.
// Peak bytes held per stream at the default levels (measured on a 4 MiB JSON-like body):
//   gzip 6  windowBits 15 (32 KiB window), memLevel 8                 ~0.26 MiB
//   br 4    lgwin 18 (256 KiB window); H4 hasher 512 KiB + block buffers  ~2.1-2.4 MiB
//   zstd 3  windowLog 18 (256 KiB window), hashLog 17, chainLog 16      ~1.5 MiB
// Higher levels cost more: br 9 ~36 MiB (its H6 hasher), br 11 ~7 MiB, zstd 19 ~6 MiB.
// memoryUsage() reports the live figure.
#pragma once

#include <cstddef>
#include <memory>
#include <string_view>

#include "proxy/compress/algorithm.h"
#include "proxy/compress/sink.h"

namespace edged::compress {

class Compressor {
 public:
  virtual ~Compressor() = default;
  // Compresses `in`, appending whatever the encoder produces to `out` (possibly nothing: the
  // encoder may hold input back for a better ratio until flush() or finish()). False on an
  // encoder error or after finish(); the stream is then unusable.
  virtual bool write(std::string_view in, Sink& out) = 0;
  // Forces every byte written so far out as decodable output (Z_SYNC_FLUSH,
  // BROTLI_OPERATION_FLUSH, ZSTD_e_flush). A no-op when nothing was written since the last flush,
  // so the proxy may call it at the end of every read batch. False on error / after finish().
  virtual bool flush(Sink& out) = 0;
  // Ends the stream (trailer, checksum). False on error or when called twice.
  virtual bool finish(Sink& out) = 0;
  // Makes the compressor ready for a new stream with the same settings (cheaper than a new one
  // for gzip and zstd). False when the encoder cannot be reset; then discard it.
  virtual bool reset() = 0;
  // Bytes the encoder holds right now (its allocations).
  virtual size_t memoryUsage() const = 0;
  virtual Algorithm algorithm() const = 0;
};

// A compressor for `algo` at `level` (clamped to the library's range), or nullptr for
// Algorithm::None or when the library cannot allocate its state.
std::unique_ptr<Compressor> makeCompressor(Algorithm algo, int level);

}  // namespace edged::compress
