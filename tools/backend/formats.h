// tools/backend/formats.h — the pure text formats of the users API: PostgreSQL LSNs, RFC 4180
// CSV fields, ETags, and the parsing of ids, cookies and query strings.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace edged::backend {

// "16/B374D848" -> 0x16B374D848; nullopt when malformed.
std::optional<uint64_t> parseLsn(std::string_view text);
std::string formatLsn(uint64_t lsn);
// The LSN as 16 upper-case hex digits: compares as a string in the same order as the number
// (what the Redis scripts compare).
std::string fixedLsn(uint64_t lsn);
std::optional<uint64_t> parseFixedLsn(std::string_view text);

// Appends one CSV field, quoted (with quotes doubled) when it holds a comma, quote, CR or LF.
void appendCsvField(std::string& out, std::string_view field);

// A strong ETag (quoted) over the representation's bytes.
std::string etagOf(std::string_view body);
// True when an If-None-Match value lists `etag` (or is "*"); weak comparison as RFC 9110 says.
bool etagMatches(std::string_view if_none_match, std::string_view etag);

// A user id: decimal 1..2^63-1, nothing else.
std::optional<int64_t> parseId(std::string_view text);
// A non-negative decimal up to `max`; nullopt if malformed or above.
std::optional<uint64_t> parseCount(std::string_view text, uint64_t max);

// The value of cookie `name` in a Cookie header, or empty.
std::string_view cookieValue(std::string_view header, std::string_view name);
// The raw (still percent-encoded) value of `name` in a query string, or nullopt.
std::optional<std::string_view> queryParam(std::string_view query, std::string_view name);
// Percent-decoding ('+' is a space); nullopt on a bad escape.
std::optional<std::string> percentDecode(std::string_view in);

}  // namespace edged::backend
