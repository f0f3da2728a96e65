// cache/cache_key.h — cache keys: the primary key of a request URI (normalised scheme, host,
// port, path, query with ignored parameters dropped) and the secondary key that tells Vary
// variants apart (normalised request field values, Accept-Encoding reduced to the coding served).
#pragma once

#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "cache/field_values.h"
#include "cache/stored_head.h"

namespace edged::cache {

struct KeyOptions {
  // Query parameter names to drop from the key; glob patterns ('*' any run, '?' one character),
  // compared case-sensitively on the raw (undecoded) name, e.g. {"utm_*", "fbclid"}.
  std::vector<std::string> ignore_query;
  // Codings the server can send, in its order of preference ("br", "gzip", "zstd"); Accept-Encoding
  // is keyed by the one that would be served (or "identity"), not by its raw text.
  std::vector<std::string> encodings;
};

// Glob match: '*' matches any run (also empty), '?' exactly one character.
bool globMatch(std::string_view pattern, std::string_view text);

// scheme://host[:port]path?query: scheme and host lowercased, the scheme's default port dropped
// (http 80, https 443), an empty path made "/", the path's percent-encoding normalised (hex upper
// case, unreserved characters decoded), ignored query parameters removed (the others keep
// their order; a query left empty loses its '?'), the fragment dropped. The method is not part
// of the key (HEAD is answered from GET's entry).
std::string primaryKey(std::string_view scheme, std::string_view host, std::string_view target,
                       const KeyOptions& options);
// The same, appended to `out` (a hit reuses its key buffer: no allocation).
void appendPrimaryKey(std::string& out, std::string_view scheme, std::string_view host, std::string_view target,
                      const KeyOptions& options);

// The key of a Location / Content-Location value relative to the request (RFC 9111 §4.4): an
// absolute URI or an absolute path; "" when it names another origin or cannot be resolved.
std::string sameOriginKey(std::string_view scheme, std::string_view host, std::string_view request_target,
                          std::string_view location, const KeyOptions& options);

// The coding a request's Accept-Encoding selects among `encodings` (the highest q, the server's
// order breaking ties), "identity" when none has q > 0.
std::string_view negotiatedEncoding(std::span<const std::string_view> accept_encoding,
                                    std::span<const std::string> encodings);

// Secondary key for a response's Vary list: for each listed name (sorted), the request's values
// of that field joined with ',' (field order kept), whitespace runs collapsed to one space and
// trimmed; accept-encoding replaced by negotiatedEncoding(). "" when the list is empty.
std::string secondaryKey(const VaryList& vary, std::span<const FieldView> request_fields, const KeyOptions& options);
// The same, appended to `key`.
void appendSecondaryKey(std::string& key, const VaryList& vary, std::span<const FieldView> request_fields,
                        const KeyOptions& options);
// secondaryKey(vary, request_fields, options) == stored, built in a per-thread buffer (a lookup of
// a Vary entry allocates nothing once the thread's buffer has grown).
bool secondaryKeyMatches(const VaryList& vary, std::span<const FieldView> request_fields, const KeyOptions& options,
                         std::string_view stored);

}  // namespace edged::cache
