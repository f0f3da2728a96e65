// proxy/compress/compression_filter.h — compression as a response filter: per route settings,
// the one decision function, header edits, and streaming compressors reused across responses.
#pragma once

#include <memory>
#include <vector>

#include "proxy/compress/compression_settings.h"
#include "proxy/compress/compressor.h"
#include "proxy/compress/header_edits.h"
#include "proxy/filter.h"

namespace edged::compress {

// One per worker (not thread-safe).
class CompressionFilterFactory final : public proxy::FilterFactory {
 public:
  // `per_route[i]` for Config::routes[i]; the last entry is for requests no route matched.
  explicit CompressionFilterFactory(std::vector<CompressionSettings> per_route);
  ~CompressionFilterFactory() override;

  std::unique_ptr<proxy::BodyFilter> onResponseHead(const proxy::FilterRequest& request, int status,
                                                    std::vector<proxy::Header>& headers) override;

  // Compressors are reset and kept for the next response (deflateInit alone allocates 256 KiB).
  std::unique_ptr<Compressor> acquire(Algorithm algo, int level);
  void giveBack(std::unique_ptr<Compressor> c, int level);

 private:
  struct Pool {
    Algorithm algo;
    int level;
    std::vector<std::unique_ptr<Compressor>> idle;
  };
  std::vector<CompressionSettings> per_route_;
  std::vector<Pool> pools_;
  HeaderEdits edits_;          // the last head's edits: its values back the rewritten headers
  std::vector<proxy::Header> rewritten_;
  std::string scratch_;        // compressor output before it goes to the sink
  friend class CompressionBodyFilter;
};

}  // namespace edged::compress
