// proxy/compress/zstd_compressor.cpp
// ZSTD_getCParams (exported by libzstd.so, declared in the "static linking only" section).
#define ZSTD_STATIC_LINKING_ONLY
#include <zstd.h>

#include "proxy/compress/zstd_compressor.h"

#include <algorithm>
#include <utility>

#include "proxy/compress/counting_alloc.h"

namespace edged::compress {

// Memory: without a known source size zstd takes the level's parameters for large inputs
// (level 3: windowLog 21 = 2 MiB window, level 19: 8 MiB window and 64+ MiB of tables). Instead
// the level's parameters for a 256 KiB source (zstd's own table for sources up to 256 KiB) are
// used for every stream: windowLog 18, and hash/chain tables sized to that window. Measured with
// ZSTD_sizeof_CCtx: level 1 ~1.1 MiB, level 3 ~1.5 MiB (hashLog 17, chainLog 16, plus the
// window-sized input buffer and block buffers), level 19 and above ~5.8 MiB.

std::unique_ptr<ZstdCompressor> ZstdCompressor::create(int level) {
  std::unique_ptr<ZstdCompressor> c(new ZstdCompressor());
  c->cctx_ = ZSTD_createCCtx();
  if (!c->cctx_ || !c->configure(level)) return nullptr;
  return c;
}

bool ZstdCompressor::configure(int level) {
  level = std::clamp(level, 1, ZSTD_maxCLevel());
  const ZSTD_compressionParameters p = ZSTD_getCParams(level, size_t{1} << kWindowLog, 0);
  const std::pair<ZSTD_cParameter, int> params[] = {
      {ZSTD_c_compressionLevel, level},
      {ZSTD_c_windowLog, std::min<int>(static_cast<int>(p.windowLog), kWindowLog)},
      {ZSTD_c_hashLog, static_cast<int>(p.hashLog)},
      {ZSTD_c_chainLog, static_cast<int>(p.chainLog)},
      {ZSTD_c_searchLog, static_cast<int>(p.searchLog)},
      {ZSTD_c_minMatch, static_cast<int>(p.minMatch)},
      {ZSTD_c_targetLength, static_cast<int>(p.targetLength)},
      {ZSTD_c_strategy, static_cast<int>(p.strategy)},
      {ZSTD_c_checksumFlag, 1},
  };
  for (const auto& [param, value] : params)
    if (ZSTD_isError(ZSTD_CCtx_setParameter(cctx_, param, value))) return false;
  return true;
}

ZstdCompressor::~ZstdCompressor() { ZSTD_freeCCtx(cctx_); }

size_t ZstdCompressor::memoryUsage() const { return ZSTD_sizeof_CCtx(cctx_); }

bool ZstdCompressor::run(int directive, std::string_view in, Sink& out) {
  const auto mode = static_cast<ZSTD_EndDirective>(directive);
  ZSTD_inBuffer input{in.data(), in.size(), 0};
  while (true) {
    const std::span<char> buf = out.reserve(detail::kMinReserve);
    ZSTD_outBuffer output{buf.data(), buf.size(), 0};
    const size_t remaining = ZSTD_compressStream2(cctx_, &output, &input, mode);
    out.commit(output.pos);
    if (ZSTD_isError(remaining)) return false;
    if (mode == ZSTD_e_continue ? input.pos == input.size : remaining == 0) return true;
  }
}

bool ZstdCompressor::write(std::string_view in, Sink& out) {
  if (finished_ || failed_) return false;
  if (in.empty()) return true;
  dirty_ = true;
  if (!run(ZSTD_e_continue, in, out)) return !(failed_ = true);
  return true;
}

bool ZstdCompressor::flush(Sink& out) {
  if (finished_ || failed_) return false;
  if (!dirty_) return true;
  dirty_ = false;
  if (!run(ZSTD_e_flush, {}, out)) return !(failed_ = true);
  return true;
}

bool ZstdCompressor::finish(Sink& out) {
  if (finished_ || failed_) return false;
  finished_ = true;
  if (!run(ZSTD_e_end, {}, out)) return !(failed_ = true);
  return true;
}

bool ZstdCompressor::reset() {
  dirty_ = finished_ = false;
  // Keeps the parameters and the allocated tables.
  failed_ = ZSTD_isError(ZSTD_CCtx_reset(cctx_, ZSTD_reset_session_only));
  return !failed_;
}

}  // namespace edged::compress
