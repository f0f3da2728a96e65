// proxy/compress/compression_filter.cpp — glue between the proxy's filter interface and the
// compression decision and compressors of this module.
#include "proxy/compress/compression_filter.h"

#include <algorithm>

#include "proxy/compress/compression_decision.h"
#include "proxy/metrics/metrics.h"

namespace edged::compress {

namespace {
constexpr size_t kMaxIdlePerPool = 8;
constexpr size_t kOutputChunk = 16 * 1024;

// Compressor output goes through a scratch buffer to the proxy's sink.
class SinkAdapter final : public Sink {
 public:
  SinkAdapter(proxy::FilterSink& out, std::string& buf, uint64_t& counted) : out_(out), buf_(buf), counted_(counted) {}
  std::span<char> reserve(size_t min) override {
    buf_.resize(std::max(min, kOutputChunk));
    return {buf_.data(), buf_.size()};
  }
  void commit(size_t n) override {
    if (n) out_.append({buf_.data(), n});
    counted_ += n;
  }

 private:
  proxy::FilterSink& out_;
  std::string& buf_;
  uint64_t& counted_;
};
}  // namespace

class CompressionExchangeFilter final : public proxy::ExchangeFilter {
 public:
  explicit CompressionExchangeFilter(CompressionFilterFactory& f) : factory_(f) {}

  void start(const proxy::RequestHead& request, const CompressionSettings& settings) {
    request_ = &request;
    settings_ = &settings;
  }

  proxy::FilterAction onResponseHead(proxy::ResponseEdit& e, proxy::LocalResponse&) override {
    CompressionFilterFactory& f = factory_;
    request_->fields.headers(f.request_headers_);
    CompressionInput in;
    in.method = request_->method;
    in.request_headers = f.request_headers_;
    in.status = e.status;
    in.response_headers = e.headers;
    in.upgraded = e.upgraded;
    CompressionDecision decision = decideCompression(*settings_, in);
    if (decision.algo == Algorithm::None && !decision.add_vary) return proxy::FilterAction::Continue;
    // The compressor first: if it cannot be had, the response goes out as it came (still with
    // Vary), never labelled with an encoding it does not have.
    if (decision.algo != Algorithm::None) {
      level_ = settings_->levelFor(decision.algo);
      compressor_ = f.acquire(decision.algo, level_);
      if (!compressor_) decision.algo = Algorithm::None;
    }
    f.edits_ = compressionHeaderEdits(e.headers, decision);
    if (!f.edits_.empty()) {
      f.rewritten_ = f.edits_.apply(e.headers);
      e.headers.swap(f.rewritten_);
    }
    e.filter_body = compressor_ != nullptr && e.has_body;
    return proxy::FilterAction::Continue;
  }

  bool onResponseBody(std::string_view in, bool end, proxy::FilterSink& out) override {
    SinkAdapter s(out, factory_.scratch_, bytes_out_);
    bytes_in_ += in.size();
    if (!in.empty() && !compressor_->write(in, s)) return false;
    return !end || compressor_->finish(s);
  }

  bool onFlush(proxy::FilterSink& out) override {
    SinkAdapter s(out, factory_.scratch_, bytes_out_);
    return compressor_->flush(s);
  }

  void onFinish(proxy::Termination) override {
    if (!compressor_) return;
    factory_.metrics_.compression(metricsAlgorithm(compressor_->algorithm()), bytes_in_, bytes_out_);
    factory_.giveBack(std::move(compressor_), level_);
  }

  void release() override {
    compressor_.reset();
    request_ = nullptr;
    settings_ = nullptr;
    bytes_in_ = bytes_out_ = 0;
    factory_.recycle(this);
  }

 private:
  static metrics::Algorithm metricsAlgorithm(Algorithm a) {
    switch (a) {
      case Algorithm::Brotli: return metrics::Algorithm::Brotli;
      case Algorithm::Zstd: return metrics::Algorithm::Zstd;
      default: return metrics::Algorithm::Gzip;
    }
  }
  CompressionFilterFactory& factory_;
  const proxy::RequestHead* request_ = nullptr;
  const CompressionSettings* settings_ = nullptr;
  std::unique_ptr<Compressor> compressor_;
  int level_ = 0;
  uint64_t bytes_in_ = 0;
  uint64_t bytes_out_ = 0;
};

CompressionFilterFactory::CompressionFilterFactory(std::vector<CompressionSettings> per_route,
                                                   metrics::WorkerMetrics& metrics)
    : per_route_(std::move(per_route)), metrics_(metrics) {}

CompressionFilterFactory::~CompressionFilterFactory() = default;

proxy::ExchangeFilter* CompressionFilterFactory::attach(const proxy::RequestHead& request, size_t route) {
  if (per_route_.empty()) return nullptr;
  const CompressionSettings& settings = per_route_[std::min(route, per_route_.size() - 1)];
  if (!settings.enabled) return nullptr;
  CompressionExchangeFilter* f;
  if (!free_.empty()) {
    f = free_.back();
    free_.pop_back();
  } else {
    filters_.push_back(std::make_unique<CompressionExchangeFilter>(*this));
    f = filters_.back().get();
  }
  f->start(request, settings);
  return f;
}

void CompressionFilterFactory::recycle(CompressionExchangeFilter* f) { free_.push_back(f); }

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

}  // namespace edged::compress
