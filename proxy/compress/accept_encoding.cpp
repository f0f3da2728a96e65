// proxy/compress/accept_encoding.cpp
#include "proxy/compress/accept_encoding.h"

#include <algorithm>

#include "proxy/http/http.h"

namespace edged::compress {

using proxy::fields::iequals;
using proxy::fields::trim;

std::optional<Algorithm> algorithmFromToken(std::string_view token) {
  if (iequals(token, "gzip")) return Algorithm::Gzip;
  if (iequals(token, "br")) return Algorithm::Brotli;
  if (iequals(token, "zstd")) return Algorithm::Zstd;
  return std::nullopt;
}

int parseQValue(std::string_view t) {
  if (t.empty() || t.size() > 5) return -1;
  if (t[0] != '0' && t[0] != '1') return -1;
  int value = (t[0] - '0') * 1000;
  if (t.size() == 1) return value;
  if (t[1] != '.') return -1;
  int scale = 100;
  for (size_t i = 2; i < t.size(); ++i, scale /= 10) {
    if (t[i] < '0' || t[i] > '9') return -1;
    value += (t[i] - '0') * scale;
  }
  return value <= 1000 ? value : -1;  // "1.5" is not a q-value
}

namespace {
// q of one list element "coding *( OWS ; OWS param )"; a bad or repeated q makes it 0 so that a
// malformed element can never make a coding more acceptable than the sender meant.
int elementQuality(std::string_view params) {
  int q = 1000;
  bool seen = false;
  while (!params.empty()) {
    const size_t semi = params.find(';');
    const std::string_view param = trim(params.substr(0, semi));
    params = semi == std::string_view::npos ? std::string_view{} : params.substr(semi + 1);
    if (param.empty()) continue;
    const size_t eq = param.find('=');
    if (!iequals(trim(param.substr(0, eq)), "q")) continue;  // other parameters: ignored
    if (seen || eq == std::string_view::npos) return 0;
    seen = true;
    const int parsed = parseQValue(trim(param.substr(eq + 1)));
    if (parsed < 0) return 0;
    q = parsed;
  }
  return q;
}

void raise(int& slot, int q) { slot = std::max(slot, q); }
}  // namespace

void AcceptEncoding::add(std::string_view field_value) {
  present_ = true;
  proxy::fields::forEachListElement(field_value, [this](std::string_view element) {
    const size_t semi = element.find(';');
    const std::string_view coding = trim(element.substr(0, semi));
    const int q = semi == std::string_view::npos ? 1000 : elementQuality(element.substr(semi + 1));
    // Repeated codings: the highest q counts (RFC 9110 does not say; this is what browsers mean).
    if (iequals(coding, "gzip") || iequals(coding, "x-gzip")) raise(gzip_, q);
    else if (iequals(coding, "br")) raise(br_, q);
    else if (iequals(coding, "zstd")) raise(zstd_, q);
    else if (iequals(coding, "identity")) raise(identity_, q);
    else if (coding == "*") raise(star_, q);
  });
}

int AcceptEncoding::quality(Algorithm a) const {
  int own = kUnlisted;
  switch (a) {
    case Algorithm::Gzip: own = gzip_; break;
    case Algorithm::Brotli: own = br_; break;
    case Algorithm::Zstd: own = zstd_; break;
    case Algorithm::None: return identityQuality();
  }
  if (own != kUnlisted) return own;
  if (star_ != kUnlisted) return star_;
  return 0;
}

int AcceptEncoding::identityQuality() const {
  if (identity_ != kUnlisted) return identity_;
  if (star_ != kUnlisted) return star_;
  return 1;
}

Algorithm AcceptEncoding::choose(std::span<const Algorithm> preference) const {
  Algorithm best = Algorithm::None;
  int best_q = 0;
  for (Algorithm a : preference) {
    if (a == Algorithm::None) continue;
    const int q = quality(a);
    if (q > best_q) {  // strictly greater: an earlier entry wins a tie
      best = a;
      best_q = q;
    }
  }
  if (best != Algorithm::None && identityQuality() > best_q) return Algorithm::None;
  return best;
}

}  // namespace edged::compress
