// proxy/compress/gzip_compressor.cpp
#include "proxy/compress/gzip_compressor.h"

#include <algorithm>
#include <climits>

#include "proxy/compress/counting_alloc.h"

namespace edged::compress {

namespace {
// windowBits 15 is the deflate maximum (32 KiB); +16 asks zlib for the gzip wrapper. memLevel 8
// (zlib's default) keeps deflate's state at 128 KiB window + 128 KiB hash/pending ≈ 260 KiB.
constexpr int kWindowBits = 15 + 16;
constexpr int kMemLevel = 8;
constexpr size_t kMaxPiece = 1u << 30;  // avail_in is a uInt
}  // namespace

void* GzipCompressor::allocate(void* self, uInt items, uInt size) {
  return detail::countedAlloc(static_cast<GzipCompressor*>(self)->allocated_, size_t{items} * size);
}
void GzipCompressor::release(void* self, void* p) {
  detail::countedFree(static_cast<GzipCompressor*>(self)->allocated_, p);
}

std::unique_ptr<GzipCompressor> GzipCompressor::create(int level) {
  std::unique_ptr<GzipCompressor> c(new GzipCompressor());
  c->z_.zalloc = &GzipCompressor::allocate;
  c->z_.zfree = &GzipCompressor::release;
  c->z_.opaque = c.get();
  if (deflateInit2(&c->z_, std::clamp(level, 1, 9), Z_DEFLATED, kWindowBits, kMemLevel,
                   Z_DEFAULT_STRATEGY) != Z_OK)
    return nullptr;
  return c;
}

GzipCompressor::~GzipCompressor() { deflateEnd(&z_); }

bool GzipCompressor::run(int mode, Sink& out) {
  while (true) {
    const std::span<char> buf = out.reserve(detail::kMinReserve);
    z_.next_out = reinterpret_cast<Bytef*>(buf.data());
    z_.avail_out = static_cast<uInt>(std::min<size_t>(buf.size(), UINT_MAX));
    const uInt offered = z_.avail_out;
    const int rc = deflate(&z_, mode);
    out.commit(offered - z_.avail_out);
    // Z_BUF_ERROR only says no progress was possible (e.g. a repeated flush): not an error.
    if (rc != Z_OK && rc != Z_BUF_ERROR && rc != Z_STREAM_END) return false;
    if (mode == Z_FINISH) {
      if (rc == Z_STREAM_END) return true;
      if (rc == Z_BUF_ERROR && z_.avail_out != 0) return false;  // would spin forever
    } else if (mode == Z_NO_FLUSH) {
      if (z_.avail_in == 0) return true;
    } else if (z_.avail_out != 0) {
      return true;  // Z_SYNC_FLUSH: all pending output fit
    }
  }
}

bool GzipCompressor::write(std::string_view in, Sink& out) {
  if (finished_ || failed_) return false;
  while (!in.empty()) {
    const size_t piece = std::min(in.size(), kMaxPiece);
    z_.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(in.data()));
    z_.avail_in = static_cast<uInt>(piece);
    if (!run(Z_NO_FLUSH, out)) return !(failed_ = true);
    in.remove_prefix(piece);
    dirty_ = true;
  }
  return true;
}

bool GzipCompressor::flush(Sink& out) {
  if (finished_ || failed_) return false;
  if (!dirty_) return true;
  dirty_ = false;
  if (!run(Z_SYNC_FLUSH, out)) return !(failed_ = true);
  return true;
}

bool GzipCompressor::finish(Sink& out) {
  if (finished_ || failed_) return false;
  finished_ = true;
  z_.avail_in = 0;
  if (!run(Z_FINISH, out)) return !(failed_ = true);
  return true;
}

bool GzipCompressor::reset() {
  dirty_ = finished_ = failed_ = false;
  if (deflateReset(&z_) == Z_OK) return true;
  failed_ = true;
  return false;
}

}  // namespace edged::compress
