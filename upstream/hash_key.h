// upstream/hash_key.h — which request value the hash balancer hashes, parsed from `hash_key`.
#pragma once

#include <optional>
#include <string>
#include <string_view>

namespace edged::upstream {

enum class HashKeyKind {
  RemoteAddr,  // "$remote_addr": the client's IP address, without port
  Uri,         // "$uri": the request path, without the query string
  Header,      // "$http_x_user": the value of header `name` ("x-user"; absent -> empty key)
  Cookie,      // "$cookie_session": the value of cookie `name` ("session"; absent -> empty key)
};

struct HashKey {
  HashKeyKind kind = HashKeyKind::RemoteAddr;
  std::string name;  // Header: lower-case header name, underscores turned to dashes; Cookie: cookie name
};

// nullopt for anything else, including "$http_" / "$cookie_" with no name.
std::optional<HashKey> parseHashKey(std::string_view text);

// The value of cookie `name` in a Cookie header ("a=1; session=xyz"), or empty when absent.
std::string_view findCookie(std::string_view cookie_header, std::string_view name);

}  // namespace edged::upstream
