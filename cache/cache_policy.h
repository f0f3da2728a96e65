// cache/cache_policy.h — the RFC 9111 decisions of a shared cache as pure functions over parsed
// facts and an injected `now`: storable?, freshness lifetime, current age, reuse, the conditional
// request, the 304 merge, invalidation, client conditionals, ranges; and the cache state with its
// reason for Cache-Status (RFC 9211) and the access log.
#pragma once

#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>

#include "cache/cache_control.h"
#include "cache/field_values.h"
#include "cache/stored_head.h"

namespace edged::cache {

// What the cache did for one exchange.
enum class CacheState : uint8_t { Hit, Miss, Stale, Revalidated, Collapsed, Bypass };

// Why a response was not stored or a request not answered from the cache.
enum class BypassReason : uint8_t {
  None,
  Method,           // not GET / HEAD
  Status,           // not final, 206, 304, or must-understand with a status not understood
  NoStoreRequest,
  NoStoreResponse,
  Private,
  Authorization,    // Authorization without public / s-maxage / must-revalidate
  NotCacheable,     // no explicit freshness, no validator, not heuristically cacheable
  VaryStar,
  TooLarge,         // body over max_object
  Incomplete,       // the body did not end cleanly
  Purged,           // a purge ran while the fill was in progress
  OnlyIfCached,     // only-if-cached and nothing usable stored: 504
  SetCookie,        // Set-Cookie in the response, and the route does not store it (the default)
};

std::string_view stateName(CacheState s);
std::string_view reasonName(BypassReason r);

// Cache-Status field value (RFC 9211 §2), e.g. `edged; hit; ttl=42`, `edged; fwd=uri-miss;
// stored`, `edged; fwd=bypass; detail=no-store-response`. `ttl` is freshness left (may be < 0).
std::string formatCacheStatus(std::string_view cache_name, CacheState state, BypassReason reason,
                              std::optional<int64_t> ttl, bool stored);
// The same, appended to `out`.
void appendCacheStatus(std::string& out, std::string_view cache_name, CacheState state, BypassReason reason,
                       std::optional<int64_t> ttl, bool stored);

// Route-level knobs of the policy.
struct PolicyConfig {
  Seconds heuristic_cap = 86400;             // cap of the 10% Last-Modified heuristic
  Seconds default_stale_while_revalidate = 0;  // used when the response names none
  Seconds default_stale_if_error = 0;
  // RFC 9111 §7.3 lets a shared cache store a response with Set-Cookie; nginx and Varnish do not by
  // default (one user's session cookie would be served to the next), and neither does edged unless
  // the route says `store_set_cookie: true`. A Set-Cookie the response itself withholds
  // (no-cache="Set-Cookie", private="Set-Cookie") is left out of the stored head and does not
  // stop the store.
  bool store_set_cookie = false;
};

// The request's facts.
struct RequestFacts {
  std::string_view method;
  CacheControl cc;                 // requestCacheControl(): Pragma already folded in
  bool has_authorization = false;
};

// The response's facts, parsed by the caller from its header fields.
struct ResponseFacts {
  int status = 0;
  SelectedCacheControl cc;         // selectResponseCacheControl()
  std::optional<int64_t> date;
  bool expires_present = false;    // with !expires: an invalid Expires (= already expired)
  std::optional<int64_t> expires;
  std::optional<int64_t> last_modified;
  std::optional<int64_t> age;
  bool has_etag = false;
  bool vary_star = false;
  bool set_cookie = false;         // a Set-Cookie the Cache-Control does not withhold
};

// The facts of a request / response read from its fields (Cache-Control and Pragma folded per
// §5.4; targeted fields per RFC 9213; dates and Age parsed; Vary checked for "*"). `now` is the
// reference for rfc850 two-digit years. A request with If-Match or If-Unmodified-Since counts as
// no-cache (§4.3.2: those preconditions are the origin's to evaluate).
RequestFacts requestFacts(std::string_view method, std::span<const FieldView> fields);
ResponseFacts responseFacts(int status, std::span<const FieldView> fields, int64_t now);

// RFC 9110 §15.1: the status codes that are heuristically cacheable.
bool isHeuristicallyCacheable(int status);
// The status codes whose caching rules this cache implements (for must-understand, RFC 9111 §5.2.2.3).
bool isUnderstoodStatus(int status);
// RFC 9110 §9.2.1 safe methods: GET, HEAD, OPTIONS, TRACE.
bool isSafeMethod(std::string_view method);

struct StoreDecision {
  bool store = false;
  BypassReason reason = BypassReason::None;
};
// RFC 9111 §3: may this response be stored by a shared cache? (Body size and completeness are
// judged later, by the store.) The first rule that refuses gives the reason.
StoreDecision decideStore(const RequestFacts& request, const ResponseFacts& response,
                          const PolicyConfig& config = {});

// RFC 9111 §4.2.1 / §4.2.2: s-maxage, else max-age, else Expires - Date (Expires ignored under a
// targeted field; an invalid Expires is 0), else the heuristic: 10% of Date - Last-Modified capped
// at heuristic_cap, for heuristically cacheable statuses (or public) only. `response_time` stands
// in for a missing Date.
Seconds freshnessLifetime(const ResponseFacts& response, int64_t response_time, const PolicyConfig& config);

// RFC 9111 §4.2.3: corrected_initial_age = max(apparent_age, Age + response_delay).
Seconds initialAge(const ResponseFacts& response, int64_t request_time, int64_t response_time);
// current_age = corrected_initial_age + resident_time.
Seconds currentAge(Seconds initial_age, int64_t response_time, int64_t now);

// What a stored entry remembers for its reuse decisions.
struct StoredFacts {
  int64_t response_time = 0;
  Seconds initial_age = 0;
  Seconds freshness_lifetime = 0;
  bool no_cache = false;        // response no-cache: validate before every reuse
  bool never_stale = false;     // must-revalidate, proxy-revalidate or s-maxage
  bool has_validator = false;   // ETag or Last-Modified
  std::optional<Seconds> stale_while_revalidate;
  std::optional<Seconds> stale_if_error;
};
StoredFacts storedFacts(const ResponseFacts& response, int64_t request_time, int64_t response_time,
                        const PolicyConfig& config);

enum class ReuseAction : uint8_t {
  ServeFresh,            // hit
  ServeStale,            // request max-stale allows it: hit, stale
  ServeStaleRevalidate,  // stale-while-revalidate: serve now, revalidate in the background
  Revalidate,            // send a conditional request (or a plain one if there is no validator)
  GatewayTimeout,        // only-if-cached and not usable without the origin: 504
};
enum class ReuseReason : uint8_t {
  Fresh, MaxStale, StaleWhileRevalidate, Stale, RequestNoCache, ResponseNoCache, RequestMaxAge,
  RequestMinFresh, NeverStale,
};
struct ReuseDecision {
  ReuseAction action = ReuseAction::Revalidate;
  ReuseReason reason = ReuseReason::Stale;
  Seconds age = 0;             // the Age to send with a stored response
  Seconds ttl = 0;             // freshness left: lifetime - age (negative when stale)
  bool stale_if_error = false;  // if revalidation fails (5xx or no answer), the stale entry may be served
};
// RFC 9111 §4.2 / §4.3 / §5.2.1 / §5.2.2, RFC 5861: can the stored response answer this request?
ReuseDecision decideReuse(const CacheControl& request, const StoredFacts& stored, int64_t now);

// RFC 9111 §4.3.1: the validator to send: If-None-Match with the stored ETag, else
// If-Modified-Since with the stored Last-Modified; nullopt when the entry has neither.
std::optional<FieldView> conditionalRequestField(HeadView stored);

// Hop-by-hop fields (RFC 9110 §7.6.1) plus the proxy-only ones a cache must not store (RFC 9111 §3.1).
bool isHopByHop(std::string_view name);
// The head to store: every field except hop-by-hop ones, those named in Connection and those
// `withheld` by the response's no-cache="..." / private="..." (RFC 9111 §5.2.2.4, §5.2.2.7).
StoredHead makeStoredHead(int status, std::span<const FieldView> fields, std::string_view withheld = {});

// RFC 9111 §3.2 / §4.3.4: fields of a 304 that replace the stored ones. Everything except:
// hop-by-hop and Connection-named fields (not stored at all), Content-Length, Transfer-Encoding,
// Content-Encoding, Content-Range (the stored body's framing and coding depend on them).
bool updatedBy304(std::string_view name);
// The stored head after a 304: stored fields whose name the 304 carries (and may update) are
// replaced by the 304's, the others kept in order; the 304's new fields appended. Status kept.
// The stored Age is always dropped: the merged head is aged from the 304 (its Age, if any, and
// its Date), never from the old response's Age (a hit generates its own Age anyway).
// Fields `withheld` by the 304's own no-cache="..." / private="..." are not kept, stored or new.
StoredHead merge304(HeadView stored, std::span<const FieldView> not_modified, std::string_view withheld = {});
// RFC 9111 §4.3.4: does this 304 select the stored response for update? Its ETag, when it has
// one, must match the stored ETag (strong comparison for a strong one, weak for a weak one);
// without an ETag, its Last-Modified, when both have one, must equal the stored one. A 304
// without a validator selects the stored response. False: the 304 updates nothing.
bool selectedBy304(HeadView stored, std::span<const FieldView> not_modified);

// RFC 9111 §4.4: does this response to `method` invalidate cached URIs? Unsafe (or unknown)
// method and a non-error status (2xx, 3xx).
bool invalidatesStored(std::string_view method, int status);

// RFC 9110 §13.2.2 for a stored response: If-None-Match (weak comparison) when present, and only
// then If-Modified-Since (GET/HEAD, against Last-Modified, else Date). True = answer 304.
bool answerNotModified(std::string_view method, std::span<const std::string_view> if_none_match,
                       std::span<const std::string_view> if_modified_since, HeadView stored);

// Range answered from a stored complete 200 (RFC 9110 §14): Full = send the whole 200 (no Range,
// several ranges, invalid, If-Range that does not match, not GET); Partial = 206 for `span`;
// Unsatisfiable = 416 with Content-Range: bytes */length.
struct RangeAnswer {
  enum class Kind : uint8_t { Full, Partial, Unsatisfiable } kind = Kind::Full;
  ByteSpan span;
};
RangeAnswer answerRange(std::string_view method, std::string_view range, std::string_view if_range,
                        HeadView stored, uint64_t length);
// "bytes first-last/length" for a 206, "bytes */length" for a 416.
std::string contentRange(const RangeAnswer& answer, uint64_t length);

}  // namespace edged::cache
