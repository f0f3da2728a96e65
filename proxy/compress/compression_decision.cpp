// proxy/compress/compression_decision.cpp
#include "proxy/compress/compression_decision.h"

#include <cstdint>
#include <optional>
#include <string>

#include "proxy/compress/accept_encoding.h"
#include "proxy/http/http.h"

namespace edged::compress {

using proxy::fields::iequals;
using proxy::fields::trim;

namespace {

using proxy::HeaderId;
using proxy::headerIdOf;

// Names are compared by id: the proxy classified them when it parsed the head.
const Header* findHeader(std::span<const Header> headers, HeaderId id) {
  for (const Header& h : headers)
    if (headerIdOf(h) == id) return &h;
  return nullptr;
}

bool anyHeaderHasToken(std::span<const Header> headers, HeaderId id, std::string_view token) {
  for (const Header& h : headers)
    if (headerIdOf(h) == id && proxy::fields::listHasToken(h.value, token)) return true;
  return false;
}

// A Content-Length we can trust, else nullopt (then the length counts as unknown; llhttp has
// already rejected conflicting or malformed ones before the head reaches us).
std::optional<uint64_t> contentLength(std::span<const Header> headers) {
  const Header* h = findHeader(headers, HeaderId::ContentLength);
  if (!h) return std::nullopt;
  const std::string_view v = trim(h->value);
  if (v.empty() || v.size() > 19) return std::nullopt;
  uint64_t n = 0;
  for (char c : v) {
    if (c < '0' || c > '9') return std::nullopt;
    n = n * 10 + static_cast<uint64_t>(c - '0');
  }
  return n;
}

bool skippedForResponse(const CompressionSettings& s, const CompressionInput& in) {
  if (!s.enabled || s.algorithms.empty()) return true;
  if (in.upgraded || in.status == 101) return true;
  if (iequals(in.method, "HEAD")) return true;
  if (in.status < 200 || in.status == 204 || in.status == 304) return true;
  if (in.status == 206 || findHeader(in.request_headers, HeaderId::Range)) return true;
  for (const Header& h : in.response_headers)
    if (headerIdOf(h) == HeaderId::ContentEncoding && !trim(h.value).empty()) return true;
  if (anyHeaderHasToken(in.response_headers, HeaderId::CacheControl, "no-transform")) return true;
  const Header* type = findHeader(in.response_headers, HeaderId::ContentType);
  if (!type || !mediaTypeListed(type->value, s.types)) return true;
  if (auto length = contentLength(in.response_headers); length && (*length == 0 || *length < s.min_length))
    return true;
  return false;
}

}  // namespace

bool mediaTypeListed(std::string_view content_type, std::span<const std::string> types) {
  const std::string_view media = trim(content_type.substr(0, content_type.find(';')));
  const size_t slash = media.find('/');
  if (slash == std::string_view::npos || slash == 0) return false;
  for (const std::string& entry : types) {
    const std::string_view t = trim(entry);
    if (t == "*/*" || t == "*") return true;
    if (t.size() >= 2 && t.substr(t.size() - 2) == "/*") {
      if (iequals(media.substr(0, slash + 1), t.substr(0, t.size() - 1))) return true;
    } else if (iequals(media, t)) {
      return true;
    }
  }
  return false;
}

CompressionDecision decideCompression(const CompressionSettings& s, const CompressionInput& in) {
  if (skippedForResponse(s, in)) return {};
  AcceptEncoding accept;
  for (const Header& h : in.request_headers)
    if (headerIdOf(h) == HeaderId::AcceptEncoding) accept.add(h.value);
  return {accept.choose(s.algorithms), true};
}

HeaderEdits compressionHeaderEdits(std::span<const Header> headers, const CompressionDecision& d) {
  HeaderEdits edits;
  if (d.add_vary && !anyHeaderHasToken(headers, HeaderId::Vary, "accept-encoding") &&
      !anyHeaderHasToken(headers, HeaderId::Vary, "*")) {
    std::string merged;
    for (const Header& h : headers) {
      if (headerIdOf(h) != HeaderId::Vary) continue;
      const std::string_view v = trim(h.value);
      if (v.empty()) continue;
      merged.append(v).append(", ");
    }
    merged.append("Accept-Encoding");
    edits.set("Vary", std::move(merged));
  }
  if (d.algo == Algorithm::None) return edits;

  edits.set("Content-Encoding", std::string(encodingToken(d.algo)));
  edits.remove("Content-Length");
  edits.remove("Accept-Ranges");
  // The compressed bytes differ from the origin's, so a strong validator would lie about byte
  // equality (RFC 9110 §8.8.1); a weak one still lets conditional requests revalidate.
  if (const Header* etag = findHeader(headers, HeaderId::ETag)) {
    const std::string_view v = trim(etag->value);
    if (!v.empty() && !v.starts_with("W/")) edits.set("ETag", "W/" + std::string(v));
  }
  return edits;
}

}  // namespace edged::compress
