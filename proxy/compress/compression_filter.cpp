// proxy/compress/compression_filter.cpp — glue between the proxy's filter interface and the
// compression decision and compressors of this module.
#include "proxy/compress/compression_filter.h"

#include <algorithm>

#include "proxy/compress/compression_decision.h"

namespace edged::compress {

namespace {
constexpr size_t kMaxIdlePerPool = 8;
constexpr size_t kOutputChunk = 16 * 1024;

// Compressor output goes through a scratch buffer to the proxy's sink.
class SinkAdapter final : public Sink {
 public:
  SinkAdapter(proxy::FilterSink& out, std::string& buf) : out_(out), buf_(buf) {}
  std::span<char> reserve(size_t min) override {
    buf_.resize(std::max(min, kOutputChunk));
    return {buf_.data(), buf_.size()};
  }
  void commit(size_t n) override {
    if (n) out_.append({buf_.data(), n});
  }

 private:
  proxy::FilterSink& out_;
  std::string& buf_;
};
}  // namespace

class CompressionBodyFilter final : public proxy::BodyFilter {
 public:
  CompressionBodyFilter(CompressionFilterFactory& f, std::unique_ptr<Compressor> c, int level)
      : factory_(f), c_(std::move(c)), level_(level) {}
  ~CompressionBodyFilter() override { factory_.giveBack(std::move(c_), level_); }
  bool write(std::string_view in, proxy::FilterSink& out) override {
    SinkAdapter s(out, factory_.scratch_);
    return c_->write(in, s);
  }
  bool flush(proxy::FilterSink& out) override {
    SinkAdapter s(out, factory_.scratch_);
    return c_->flush(s);
  }
  bool finish(proxy::FilterSink& out) override {
    SinkAdapter s(out, factory_.scratch_);
    return c_->finish(s);
  }
  std::string_view name() const override { return encodingToken(c_->algorithm()); }

 private:
  CompressionFilterFactory& factory_;
  std::unique_ptr<Compressor> c_;
  int level_;
};

CompressionFilterFactory::CompressionFilterFactory(std::vector<CompressionSettings> per_route)
    : per_route_(std::move(per_route)) {}

CompressionFilterFactory::~CompressionFilterFactory() = default;

std::unique_ptr<Compressor> CompressionFilterFactory::acquire(Algorithm algo, int level) {
  for (Pool& p : pools_) {
    if (p.algo != algo || p.level != level || p.idle.empty()) continue;
    std::unique_ptr<Compressor> c = std::move(p.idle.back());
    p.idle.pop_back();
    return c;
  }
  return makeCompressor(algo, level);
}

void CompressionFilterFactory::giveBack(std::unique_ptr<Compressor> c, int level) {
  if (!c || !c->reset()) return;
  for (Pool& p : pools_) {
    if (p.algo == c->algorithm() && p.level == level) {
      if (p.idle.size() < kMaxIdlePerPool) p.idle.push_back(std::move(c));
      return;
    }
  }
  pools_.push_back({c->algorithm(), level, {}});
  pools_.back().idle.push_back(std::move(c));
}

std::unique_ptr<proxy::BodyFilter> CompressionFilterFactory::onResponseHead(
    const proxy::FilterRequest& request, int status, std::vector<proxy::Header>& headers) {
  if (per_route_.empty()) return nullptr;
  const CompressionSettings& settings = per_route_[std::min(request.route, per_route_.size() - 1)];
  if (!settings.enabled) return nullptr;
  CompressionInput in;
  in.method = request.method;
  in.request_headers = request.headers;
  in.status = status;
  in.response_headers = headers;
  in.upgraded = request.upgraded;
  const CompressionDecision d = decideCompression(settings, in);
  CompressionDecision decision = d;
  if (decision.algo == Algorithm::None && !decision.add_vary) return nullptr;
  // The compressor first: if it cannot be had, the response goes out as it came (still with
  // Vary), never labelled with an encoding it does not have.
  const int level = decision.algo == Algorithm::None ? 0 : settings.levelFor(decision.algo);
  std::unique_ptr<Compressor> c;
  if (decision.algo != Algorithm::None) {
    c = acquire(decision.algo, level);
    if (!c) decision.algo = Algorithm::None;
  }
  edits_ = compressionHeaderEdits(headers, decision);
  if (!edits_.empty()) {
    rewritten_ = edits_.apply(headers);
    headers.swap(rewritten_);
  }
  if (!c) return nullptr;
  return std::make_unique<CompressionBodyFilter>(*this, std::move(c), level);
}

}  // namespace edged::compress
