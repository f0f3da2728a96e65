// proxy/real_ip.h — the client address behind trusted proxies: X-Forwarded-For walked from the
// right past trusted hops (nginx real_ip_recursive on).
#pragma once

#include <span>
#include <string_view>

#include "proxy/http/cidr_set.h"

namespace edged::proxy {

// `peer`: the address of the TCP peer. `header_values`: every X-Forwarded-For field line of the
// request, in order (one list across lines, RFC 9110 §5.3). If the peer is not trusted, the
// client is the peer: anyone can write the header. Otherwise the items are taken from the right,
// each trusted one passed over; the first untrusted item is the client. When every item is
// trusted, the leftmost is. An item that is not an IP address stops the walk: the last address
// reached (a trusted hop) is the answer, since nothing left of garbage can be believed.
// The returned view points into `peer` or into one of `header_values`.
std::string_view realClientIp(std::string_view peer, std::span<const std::string_view> header_values,
                              const CidrSet& trusted);

// The same with nginx's real_ip_recursive as a choice: when off, the client is the list's last
// item (if the peer is trusted and the item is an address), trusted or not.
std::string_view realClientIp(std::string_view peer, std::span<const std::string_view> header_values,
                              const CidrSet& trusted, bool recursive);

}  // namespace edged::proxy
