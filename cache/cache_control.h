// cache/cache_control.h — CacheControl: the directives of Cache-Control / Pragma / the targeted
// CDN-Cache-Control and Edged-Cache-Control fields (RFC 9111 §5.2, §5.4; RFC 9213), each parsed by
// one pure function that never fails.
#pragma once

#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>

namespace edged::cache {

// A delta-seconds argument (RFC 9111 §1.2.2), already saturated at 2^31.
using Seconds = int64_t;

struct CacheControl {
  bool present = false;            // at least one directive (known or not) was seen
  bool no_store = false;
  bool no_cache = false;           // unqualified, or qualified with a list that is not valid
  bool no_cache_qualified = false;
  bool private_ = false;           // unqualified, or qualified with a list that is not valid
  bool public_ = false;
  bool must_revalidate = false;
  bool proxy_revalidate = false;
  bool must_understand = false;
  bool no_transform = false;
  bool only_if_cached = false;
  bool immutable = false;
  // max-age / s-maxage: a duplicate or an invalid argument makes the value 0 (RFC 9111 §4.2.1:
  // "considered stale"), and the matching *_invalid flag says why.
  std::optional<Seconds> max_age;
  std::optional<Seconds> s_maxage;
  bool max_age_invalid = false;
  bool s_maxage_invalid = false;
  // Request max-stale: present without argument = any staleness is acceptable.
  bool max_stale = false;
  std::optional<Seconds> max_stale_value;
  std::optional<Seconds> min_fresh;
  std::optional<Seconds> stale_while_revalidate;  // RFC 5861
  std::optional<Seconds> stale_if_error;          // RFC 5861
  // Cache-Control no-cache="a, b" / private="c" (RFC 9111 §5.2.2.4, §5.2.2.7): the listed field
  // names, lowercase, each followed by ','. The response may be stored and reused without them.
  // A list that is empty or holds a non-token counts as the unqualified directive instead.
  std::string withheld;
};

// True when `name` is one of a CacheControl::withheld list (any case).
bool isWithheld(std::string_view withheld, std::string_view name);

// Cache-Control, RFC 9111 §5.2 / RFC 9110 §5.6.2: every field line of the message, in order (their
// combination is the comma-joined list). Directive names are case-insensitive tokens; arguments
// are tokens or quoted-strings (with \-escapes, accepted for every directive); unknown directives
// are ignored; a duplicate or invalid max-age / s-maxage is treated as stale (0); a duplicate or
// invalid min-fresh, max-stale value, stale-while-revalidate, stale-if-error is dropped (the
// directive then does not relax anything).
CacheControl parseCacheControl(std::span<const std::string_view> lines);
CacheControl parseCacheControl(std::string_view line);

// True when a Pragma field value holds the no-cache directive (RFC 9111 §5.4).
bool pragmaHasNoCache(std::string_view value);

// The request's effective directives: Cache-Control when present, else Pragma: no-cache acts as
// Cache-Control: no-cache (RFC 9111 §5.4 / RFC 7234 §5.4).
CacheControl requestCacheControl(std::span<const std::string_view> cache_control_lines,
                                 std::span<const std::string_view> pragma_lines);

// A targeted field (RFC 9213 §2): an sf-dictionary. nullopt when absent, empty or not a valid
// dictionary (then the next field down is used). Keys are lowercase by the SF grammar.
std::optional<CacheControl> parseTargetedCacheControl(std::span<const std::string_view> lines);

struct SelectedCacheControl {
  CacheControl directives;
  bool targeted = false;  // came from a targeted field: Expires must then be ignored (RFC 9213 §2.1)
};

// The response's effective directives for this shared cache: the first valid non-empty targeted
// field in the list order Edged-Cache-Control, CDN-Cache-Control; else Cache-Control.
SelectedCacheControl selectResponseCacheControl(std::span<const std::string_view> edged_cache_control,
                                                std::span<const std::string_view> cdn_cache_control,
                                                std::span<const std::string_view> cache_control);

}  // namespace edged::cache
