// cache/http_date.h — HTTP-date (RFC 9110 §5.6.7) parse and format, as Unix seconds.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace edged::cache {

// Accepts IMF-fixdate ("Sun, 06 Nov 1994 08:49:37 GMT"), rfc850 ("Sunday, 06-Nov-94 08:49:37 GMT")
// and asctime ("Sun Nov  6 08:49:37 1994"). nullopt for anything else (bad field ranges, a day
// that the month does not have, trailing bytes). An rfc850 two-digit year that would be more than
// 50 years after `now` is taken as the previous century (RFC 9110 §5.6.7).
std::optional<int64_t> parseHttpDate(std::string_view text, int64_t now);
// Same, with 2026 as the reference for rfc850 years (for callers without a clock at hand).
std::optional<int64_t> parseHttpDate(std::string_view text);

// IMF-fixdate, 29 bytes. `out` must hold 29 characters; returns them as a view of `out`.
std::string_view formatHttpDate(int64_t unix_seconds, char (&out)[29]);
std::string formatHttpDate(int64_t unix_seconds);

}  // namespace edged::cache
