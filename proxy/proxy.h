// proxy/proxy.h — what the proxy module offers: the daemon entry point, and the pure HTTP pieces
// under it (route matching, hop-by-hop header rewriting, chunk framing) that tests use directly.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "conf/config.h"

namespace edged::proxy {

// ---- Daemon -------------------------------------------------------------------------------
class FilterFactory;
struct DaemonOptions {
  std::string config_path;
  uint32_t workers_override = 0;  // --workers N; 0 = from the config
  // Builds one worker's response filters (main.cpp assembles compression here); may be empty.
  std::function<std::unique_ptr<FilterFactory>(const conf::Config&)> make_filters;
};
// Binds every listener, runs the workers until SIGTERM/SIGINT, drains, returns the exit code.
int runDaemon(std::shared_ptr<const conf::Config> config, const DaemonOptions& options);

// ---- Routes -------------------------------------------------------------------------------
// Longest matching prefix wins; at equal length a route naming the host beats a host-less one.
// Host is compared case-insensitively with any ":port" removed.
class Router {
 public:
  explicit Router(const std::vector<conf::RouteConfig>& routes);
  // Index into the routes given to the constructor, or nullopt when nothing matches.
  std::optional<size_t> match(std::string_view host, std::string_view path) const;

 private:
  struct Entry {
    std::string prefix;
    std::string host;  // lower case, empty = any
    size_t index;
  };
  std::vector<Entry> entries_;  // sorted by prefix length, longest first
};

// ---- Header rewriting ---------------------------------------------------------------------
// The field names edged acts on anywhere, so that each name is compared once (when it is parsed)
// and every later test is an integer compare.
enum class HeaderId : uint8_t {
  Unclassified = 0,  // not looked at yet: use headerIdOf(), which classifies the name
  Other,             // none of the names below
  // hop-by-hop (isHopByHop)
  Connection, KeepAlive, ProxyConnection, TE, Trailer, TransferEncoding, Upgrade,
  // forwarding headers edged sets
  XForwardedFor, XForwardedProto, XForwardedHost, XRealIp, XRequestId,
  // framing, routing, compression, caching, access log
  ContentLength, Host, AcceptEncoding, ContentType, ContentEncoding, Vary, ETag, AcceptRanges,
  CacheControl, Range, ProxyAuthenticate, ProxyAuthorization, Cookie, Referer, UserAgent,
};
// The id of a field name, ASCII case-insensitively (exact otherwise: "x-forwarded-for " is Other).
HeaderId classifyHeader(std::string_view name);

struct Header {
  std::string_view name;
  std::string_view value;
  // Describes `name`; ParsedHead fills it in, a Header built elsewhere may leave it Unclassified.
  // Whoever changes `name` must reset it.
  HeaderId id = HeaderId::Unclassified;
};
inline HeaderId headerIdOf(const Header& h) {
  return h.id != HeaderId::Unclassified ? h.id : classifyHeader(h.name);
}

bool equalsIgnoreCase(std::string_view a, std::string_view b);
// True when `list` (a comma-separated header value) holds `token`, case-insensitively.
bool headerHasToken(std::string_view list, std::string_view token);
// Hop-by-hop by definition (RFC 9110 §7.6.1), plus Proxy-Connection and Transfer-Encoding,
// which edged re-frames itself.
bool isHopByHop(std::string_view name);
inline bool isHopByHop(HeaderId id) { return id >= HeaderId::Connection && id <= HeaderId::Upgrade; }

enum class BodyFraming : uint8_t { None, ContentLength, Chunked, UntilClose };

struct UpstreamRequestOptions {
  std::string_view client_ip;      // appended to X-Forwarded-For, set as X-Real-IP
  std::string_view scheme = "http";
  std::string_view default_host;   // used only when the request has no Host (HTTP/1.0)
  BodyFraming body = BodyFraming::None;
  uint64_t content_length = 0;     // with BodyFraming::ContentLength
  bool keep_alive = true;          // false: ask the origin to close ("Connection: close")
  std::string_view upgrade;        // non-empty: forward "Upgrade: <this>" and "Connection: upgrade"
  std::string_view request_id;     // non-empty: sent as X-Request-Id (the client's own is dropped)
};
// Appends the head to send to the origin: "METHOD TARGET HTTP/1.1", the client's headers less
// hop-by-hop ones (and those Connection names) and less any X-Forwarded-*/X-Real-IP it replaces,
// then X-Forwarded-For (appended), X-Real-IP, X-Forwarded-Proto, X-Forwarded-Host and framing.
void buildUpstreamRequestHead(std::string_view method, std::string_view target,
                              const std::vector<Header>& headers,
                              const UpstreamRequestOptions& options, std::string& out);

struct ClientResponseOptions {
  BodyFraming body = BodyFraming::ContentLength;  // how edged frames the body toward the client
  bool keep_alive = true;
  bool client_http10 = false;      // an HTTP/1.0 client keeping alive needs "Connection: keep-alive"
  std::string_view upgrade;        // a 101: "Upgrade: <this>" and "Connection: upgrade"
  std::string_view request_id;     // non-empty: X-Request-Id, unless the origin sent one
};

// X-Request-Id: a client's value is kept when it is 1..128 of [A-Za-z0-9._:-].
bool validRequestId(std::string_view id);
// Appends the head to send to the client: "HTTP/1.1 STATUS REASON", the origin's headers less
// hop-by-hop ones, then Transfer-Encoding / Connection as `options` says.
void buildClientResponseHead(int status, std::string_view reason, const std::vector<Header>& headers,
                             const ClientResponseOptions& options, std::string& out);

// ---- Chunked framing ----------------------------------------------------------------------
// Writes "<hex size>\r\n" into `out` (at least 18 bytes) and returns its length.
size_t writeChunkHeader(uint64_t size, char* out);
inline constexpr std::string_view kChunkTrailer = "\r\n";
inline constexpr std::string_view kLastChunk = "0\r\n\r\n";

// A small complete response edged answers by itself (errors): status line, Content-Type,
// Content-Length, optional "Connection: close", and a short HTML body naming the status.
// Returns the body's length.
size_t buildErrorResponse(int status, bool close, std::string& out);
std::string_view reasonPhrase(int status);

}  // namespace edged::proxy
