// proxy/compress/compression_filter.h — compression as an exchange filter: per route settings,
// the one decision function, header edits, streaming compressors reused across responses, and
// its own counters (bytes in and out per algorithm) kept in its worker's metrics.
#pragma once

#include <memory>
#include <vector>

#include "proxy/compress/compression_settings.h"
#include "proxy/compress/compressor.h"
#include "proxy/compress/header_edits.h"
#include "proxy/http/http.h"

namespace edged::metrics {
class WorkerMetrics;
}

namespace edged::compress {

class CompressionExchangeFilter;

// One per worker and configuration generation (not thread-safe).
class CompressionFilterFactory final : public proxy::FilterFactory {
 public:
  // `per_route[i]` for Config::routes[i]; the last entry is for requests no route matched.
  CompressionFilterFactory(std::vector<CompressionSettings> per_route, metrics::WorkerMetrics& metrics);
  ~CompressionFilterFactory() override;

  // Null for routes that do not compress; otherwise a pooled filter (nothing allocated once warm).
  proxy::ExchangeFilter* attach(const proxy::RequestHead& request, size_t route) override;

 private:
  friend class CompressionExchangeFilter;
  // Compressors are reset and kept for the next response (deflateInit alone allocates 256 KiB).
  std::unique_ptr<Compressor> acquire(Algorithm algo, int level);
  void giveBack(std::unique_ptr<Compressor> c, int level);
  void recycle(CompressionExchangeFilter* f);

  struct Pool {
    Algorithm algo;
    int level;
    std::vector<std::unique_ptr<Compressor>> idle;
  };
  std::vector<CompressionSettings> per_route_;
  metrics::WorkerMetrics& metrics_;
  std::vector<Pool> pools_;
  std::vector<std::unique_ptr<CompressionExchangeFilter>> filters_;  // every filter made
  std::vector<CompressionExchangeFilter*> free_;
  HeaderEdits edits_;          // the last head's edits: its values back the rewritten headers
  std::vector<proxy::Header> rewritten_;
  std::vector<proxy::Header> request_headers_;
  std::string scratch_;        // compressor output before it goes to the sink
};

}  // namespace edged::compress
