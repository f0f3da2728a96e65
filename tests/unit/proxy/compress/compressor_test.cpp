// tests/unit/proxy/compress/compressor_test.cpp — every Compressor round-tripped through the
// reference decoders (zlib, libbrotlidec, libzstd): bodies of 0 bytes to 10 MiB, fed in seeded
// random chunk sizes with flush() at random points; after each flush the output so far must decode
// to exactly the input so far (what lets SSE events through promptly).
#include <doctest.h>

#include <brotli/decode.h>
#include <zlib.h>
#include <zstd.h>

#include <cstdint>
#include <memory>
#include <random>
#include <string>
#include <string_view>
#include <vector>

#include "proxy/compress/compressor.h"

namespace edged::compress {
namespace {

// A streaming decoder for one coding; feed() appends what it can decode so far.
class Decoder {
 public:
  virtual ~Decoder() = default;
  virtual bool feed(std::string_view in, std::string& out) = 0;
  virtual bool finished() const = 0;
};

class GunzipDecoder final : public Decoder {
 public:
  GunzipDecoder() { ok_ = inflateInit2(&z_, 15 + 16) == Z_OK; }  // gzip wrapper only
  ~GunzipDecoder() override { inflateEnd(&z_); }
  bool feed(std::string_view in, std::string& out) override {
    if (!ok_) return false;
    z_.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(in.data()));
    z_.avail_in = static_cast<uInt>(in.size());
    char buf[16384];
    do {
      z_.next_out = reinterpret_cast<Bytef*>(buf);
      z_.avail_out = sizeof buf;
      const int rc = inflate(&z_, Z_NO_FLUSH);
      out.append(buf, sizeof buf - z_.avail_out);
      if (rc == Z_STREAM_END) {
        done_ = true;
        return z_.avail_in == 0;
      }
      if (rc != Z_OK && rc != Z_BUF_ERROR) return false;
    } while (z_.avail_in > 0 || z_.avail_out == 0);
    return true;
  }
  bool finished() const override { return done_; }

 private:
  z_stream z_{};
  bool ok_ = false;
  bool done_ = false;
};

class BrotliDecoder final : public Decoder {
 public:
  BrotliDecoder() : s_(BrotliDecoderCreateInstance(nullptr, nullptr, nullptr)) {}
  ~BrotliDecoder() override { BrotliDecoderDestroyInstance(s_); }
  bool feed(std::string_view in, std::string& out) override {
    const auto* next_in = reinterpret_cast<const uint8_t*>(in.data());
    size_t avail_in = in.size();
    while (true) {
      uint8_t buf[16384];
      uint8_t* next_out = buf;
      size_t avail_out = sizeof buf;
      const auto rc = BrotliDecoderDecompressStream(s_, &avail_in, &next_in, &avail_out, &next_out, nullptr);
      out.append(reinterpret_cast<char*>(buf), sizeof buf - avail_out);
      if (rc == BROTLI_DECODER_RESULT_ERROR) return false;
      if (rc == BROTLI_DECODER_RESULT_SUCCESS) return avail_in == 0;
      // With the output buffer exactly full the decoder may say NEEDS_MORE_INPUT while it still
      // holds decoded bytes: only a call with room left proves it has nothing more.
      if (rc == BROTLI_DECODER_RESULT_NEEDS_MORE_INPUT && avail_out > 0) return true;
    }
  }
  bool finished() const override { return BrotliDecoderIsFinished(s_); }

 private:
  BrotliDecoderState* s_;
};

class ZstdDecoder final : public Decoder {
 public:
  ZstdDecoder() : d_(ZSTD_createDCtx()) {}
  ~ZstdDecoder() override { ZSTD_freeDCtx(d_); }
  bool feed(std::string_view in, std::string& out) override {
    ZSTD_inBuffer input{in.data(), in.size(), 0};
    while (true) {
      char buf[16384];
      ZSTD_outBuffer output{buf, sizeof buf, 0};
      const size_t rc = ZSTD_decompressStream(d_, &output, &input);
      out.append(buf, output.pos);
      if (ZSTD_isError(rc)) return false;
      if (rc == 0) done_ = true;  // a frame ended
      if (input.pos == input.size && output.pos < output.size) return true;
    }
  }
  bool finished() const override { return done_; }

 private:
  ZSTD_DCtx* d_;
  bool done_ = false;
};

std::unique_ptr<Decoder> makeDecoder(Algorithm a) {
  switch (a) {
    case Algorithm::Gzip: return std::make_unique<GunzipDecoder>();
    case Algorithm::Brotli: return std::make_unique<BrotliDecoder>();
    case Algorithm::Zstd: return std::make_unique<ZstdDecoder>();
    case Algorithm::None: break;
  }
  return nullptr;
}

// A sink that hands out exactly what is asked for, so the encoders loop on full output buffers.
class TightSink final : public Sink {
 public:
  explicit TightSink(std::string& out) : out_(out) {}
  std::span<char> reserve(size_t min) override {
    base_ = out_.size();
    out_.resize(base_ + min);
    return {out_.data() + base_, min};
  }
  void commit(size_t n) override { out_.resize(base_ + n); }

 private:
  std::string& out_;
  size_t base_ = 0;
};

// JSON-like text with short stretches of random bytes (~1/8 of the body): both the compressible
// and the incompressible path of every encoder.
std::string makeBody(size_t size, std::mt19937_64& rng) {
  static constexpr std::string_view kWords[] = {"{\"id\":", "\"name\":\"", "edged", "\"},", "[", "]", "true",
                                                "null", "\"value\":", "proxy", "42", ",", " ", "\n"};
  std::string body;
  body.reserve(size + 8);
  while (body.size() < size) {
    const uint64_t r = rng();
    if (r % 64 == 0) {
      for (size_t n = 1 + (r >> 8) % 64; n > 0; --n) {  // up to 512 random bytes, 8 at a time
        const uint64_t bits = rng();
        body.append(reinterpret_cast<const char*>(&bits), sizeof bits);
      }
    } else {
      body.append(kWords[(r >> 8) % std::size(kWords)]);
    }
  }
  body.resize(size);
  return body;
}

int defaultLevel(Algorithm a) { return a == Algorithm::Gzip ? 6 : a == Algorithm::Brotli ? 4 : 3; }

struct Case {
  size_t size;
  int level;
  bool tight_sink;
};

void roundTrip(Algorithm algo, const Case& c, uint64_t seed) {
  CAPTURE(encodingToken(algo));
  CAPTURE(c.size);
  CAPTURE(c.level);
  CAPTURE(seed);
  std::mt19937_64 rng(seed);
  const std::string body = makeBody(c.size, rng);
  auto compressor = makeCompressor(algo, c.level);
  REQUIRE(compressor);
  CHECK(compressor->algorithm() == algo);
  auto decoder = makeDecoder(algo);

  std::string compressed;
  StringSink loose(compressed);
  TightSink tight(compressed);
  Sink& sink = c.tight_sink ? static_cast<Sink&>(tight) : loose;
  std::string decoded;
  size_t fed = 0;  // compressed bytes already given to the decoder
  size_t pos = 0;
  size_t peak_memory = 0;
  while (pos < body.size()) {
    // Mostly mid-sized chunks, sometimes tiny, sometimes large (a full read batch).
    const size_t pick = rng() % 8;
    const size_t limit = pick == 0 ? 16 : pick < 6 ? 16384 : 262144;
    const size_t n = std::min<size_t>(1 + rng() % limit, body.size() - pos);
    REQUIRE(compressor->write(std::string_view(body).substr(pos, n), sink));
    pos += n;
    if (rng() % 6 == 0) {
      REQUIRE(compressor->flush(sink));
      REQUIRE(decoder->feed(std::string_view(compressed).substr(fed), decoded));
      fed = compressed.size();
      REQUIRE(decoded.size() == pos);  // everything written so far is decodable now
      const size_t before = compressed.size();
      REQUIRE(compressor->flush(sink));  // nothing new: a no-op
      CHECK(compressed.size() == before);
    }
    peak_memory = std::max(peak_memory, compressor->memoryUsage());
  }
  REQUIRE(compressor->finish(sink));
  REQUIRE(decoder->feed(std::string_view(compressed).substr(fed), decoded));
  CHECK(decoder->finished());
  REQUIRE(decoded.size() == body.size());
  CHECK(decoded == body);
  // Bounded state at the default levels and below: see compressor.h for the figures.
  if (c.level <= defaultLevel(algo)) {
    const size_t bound = algo == Algorithm::Gzip ? 300u << 10 : algo == Algorithm::Brotli ? 3u << 20 : 2u << 20;
    CHECK(peak_memory < bound);
  }
  if (algo == Algorithm::Gzip && !compressed.empty()) {
    CHECK(static_cast<unsigned char>(compressed[0]) == 0x1f);
    CHECK(static_cast<unsigned char>(compressed[1]) == 0x8b);
  }
}

constexpr Algorithm kAlgorithms[] = {Algorithm::Gzip, Algorithm::Brotli, Algorithm::Zstd};

TEST_CASE("round trip: small and medium bodies, random chunks and flushes") {
  const size_t sizes[] = {0, 1, 17, 511, 512, 513, 4096, 65537, 300000, 1u << 20};
  uint64_t seed = 1;
  for (Algorithm a : kAlgorithms)
    for (size_t size : sizes)
      for (bool tight : {false, true})
        if (!tight || size <= 65537) roundTrip(a, {size, defaultLevel(a), tight}, seed++);
}

TEST_CASE("round trip: 10 MiB once per algorithm at a fast level") {
  uint64_t seed = 1000;
  for (Algorithm a : kAlgorithms) roundTrip(a, {10u << 20, 1, false}, seed++);
}

TEST_CASE("round trip: out-of-range levels are clamped") {
  uint64_t seed = 2000;
  for (Algorithm a : kAlgorithms) {
    roundTrip(a, {5000, -5, false}, seed++);
    roundTrip(a, {5000, 100, false}, seed++);
  }
}

TEST_CASE("makeCompressor(None) is null") { CHECK(makeCompressor(Algorithm::None, 5) == nullptr); }

TEST_CASE("finish ends the stream; reset makes it usable again") {
  for (Algorithm a : kAlgorithms) {
    CAPTURE(encodingToken(a));
    auto c = makeCompressor(a, defaultLevel(a));
    REQUIRE(c);
    for (int round = 0; round < 2; ++round) {
      std::string out;
      StringSink sink(out);
      const std::string body(3000, 'a');
      CHECK(c->flush(sink));  // nothing written yet: nothing to flush
      CHECK(c->write(body, sink));
      CHECK(c->write({}, sink));
      CHECK(c->finish(sink));
      CHECK_FALSE(c->write("more", sink));
      CHECK_FALSE(c->flush(sink));
      CHECK_FALSE(c->finish(sink));
      auto d = makeDecoder(a);
      std::string decoded;
      CHECK(d->feed(out, decoded));
      CHECK(d->finished());
      CHECK(decoded == body);
      CHECK(c->reset());
    }
  }
}

TEST_CASE("an empty stream is a valid empty body") {
  for (Algorithm a : kAlgorithms) {
    CAPTURE(encodingToken(a));
    auto c = makeCompressor(a, defaultLevel(a));
    std::string out;
    StringSink sink(out);
    CHECK(c->finish(sink));
    CHECK_FALSE(out.empty());
    auto d = makeDecoder(a);
    std::string decoded;
    CHECK(d->feed(out, decoded));
    CHECK(d->finished());
    CHECK(decoded.empty());
  }
}

}  // namespace
}  // namespace edged::compress
