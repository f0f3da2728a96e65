// cache/cache_policy.cpp — the RFC 9111 decision functions. Each keeps its rules in the order the
// RFC states them, so that a reader can check one against the other.
#include "cache/cache_policy.h"

#include <algorithm>
#include <charconv>
#include <vector>

#include "cache/field_text.h"
#include "cache/http_date.h"

namespace edged::cache {

using namespace text;

std::string_view stateName(CacheState s) {
  switch (s) {
    case CacheState::Hit: return "hit";
    case CacheState::Miss: return "miss";
    case CacheState::Stale: return "stale";
    case CacheState::Revalidated: return "revalidated";
    case CacheState::Collapsed: return "collapsed";
    case CacheState::Bypass: return "bypass";
  }
  return "?";
}

std::string_view reasonName(BypassReason r) {
  switch (r) {
    case BypassReason::None: return "none";
    case BypassReason::Method: return "method";
    case BypassReason::Status: return "status";
    case BypassReason::NoStoreRequest: return "no-store-request";
    case BypassReason::NoStoreResponse: return "no-store-response";
    case BypassReason::Private: return "private";
    case BypassReason::Authorization: return "authorization";
    case BypassReason::NotCacheable: return "not-cacheable";
    case BypassReason::VaryStar: return "vary-star";
    case BypassReason::TooLarge: return "too-large";
    case BypassReason::Incomplete: return "incomplete";
    case BypassReason::Purged: return "purged";
    case BypassReason::OnlyIfCached: return "only-if-cached";
    case BypassReason::SetCookie: return "set-cookie";
  }
  return "?";
}

std::string formatCacheStatus(std::string_view cache_name, CacheState state, BypassReason reason,
                              std::optional<int64_t> ttl, bool stored) {
  std::string out;
  appendCacheStatus(out, cache_name, state, reason, ttl, stored);
  return out;
}

void appendCacheStatus(std::string& out, std::string_view cache_name, CacheState state, BypassReason reason,
                       std::optional<int64_t> ttl, bool stored) {
  out += cache_name;
  switch (state) {
    case CacheState::Hit: out += "; hit"; break;
    case CacheState::Stale: out += "; hit"; break;  // served stale without the origin: a negative ttl says so (RFC 9211 §2.4)
    case CacheState::Collapsed: out += "; fwd=uri-miss; collapsed"; break;
    case CacheState::Miss: out += "; fwd=uri-miss"; break;
    case CacheState::Revalidated: out += "; fwd=stale; fwd-status=304"; break;
    case CacheState::Bypass:
      out += reason == BypassReason::Method ? "; fwd=method" : reason == BypassReason::NoStoreRequest ? "; fwd=request" : "; fwd=bypass";
      break;
  }
  if (ttl) {
    char digits[24];
    const auto [end, ec] = std::to_chars(digits, digits + sizeof digits, *ttl);
    out += "; ttl=";
    out.append(digits, end);
  }
  if (stored) out += "; stored";
  // fwd=method already names the reason (RFC 9211 §2.2): no detail repeating it.
  if (state == CacheState::Bypass && reason != BypassReason::None && reason != BypassReason::Method) {
    out += "; detail=";
    out += reasonName(reason);
  }
}

namespace {

std::vector<std::string_view> valuesOf(std::span<const FieldView> fields, std::string_view name) {
  std::vector<std::string_view> v;
  for (const FieldView& f : fields)
    if (iequals(f.name, name)) v.push_back(f.value);
  return v;
}

}  // namespace

RequestFacts requestFacts(std::string_view method, std::span<const FieldView> fields) {
  RequestFacts r;
  r.method = method;
  r.cc = requestCacheControl(valuesOf(fields, "cache-control"), valuesOf(fields, "pragma"));
  for (const FieldView& f : fields) {
    r.has_authorization = r.has_authorization || iequals(f.name, "authorization");
    // RFC 9111 §4.3.2: If-Match / If-Unmodified-Since are not for a cache to evaluate: the stored
    // response is validated at the origin, where the precondition goes along (as no-cache does).
    if (iequals(f.name, "if-match") || iequals(f.name, "if-unmodified-since")) r.cc.no_cache = true;
  }
  return r;
}

ResponseFacts responseFacts(int status, std::span<const FieldView> fields, int64_t now) {
  ResponseFacts r;
  r.status = status;
  r.cc = selectResponseCacheControl(valuesOf(fields, "edged-cache-control"), valuesOf(fields, "cdn-cache-control"),
                                    valuesOf(fields, "cache-control"));
  // §4.2.1: several values of a single-valued field: be conservative. Two Expires (or a list)
  // count as invalid (stale); for Date / Last-Modified / Age the first valid one is used.
  int expires_count = 0;
  for (const FieldView& f : fields) {
    if (iequals(f.name, "date") && !r.date) r.date = parseHttpDate(trim(f.value), now);
    else if (iequals(f.name, "expires")) {
      r.expires_present = true;
      r.expires = ++expires_count == 1 ? parseHttpDate(trim(f.value), now) : std::nullopt;
    } else if (iequals(f.name, "last-modified") && !r.last_modified) r.last_modified = parseHttpDate(trim(f.value), now);
    else if (iequals(f.name, "age") && !r.age) r.age = parseAge(f.value);
    else if (iequals(f.name, "etag")) r.has_etag = r.has_etag || parseEntityTag(f.value).has_value();
  }
  r.vary_star = parseVary(valuesOf(fields, "vary")).star;
  for (const FieldView& f : fields)
    if (iequals(f.name, "set-cookie")) r.set_cookie = !isWithheld(r.cc.directives.withheld, "set-cookie");
  return r;
}

bool isHeuristicallyCacheable(int status) {
  switch (status) {
    case 200: case 203: case 204: case 206: case 300: case 301: case 308:
    case 404: case 405: case 410: case 414: case 501:
      return true;
    default:
      return false;
  }
}

bool isUnderstoodStatus(int status) {
  switch (status) {
    case 200: case 203: case 204: case 300: case 301: case 302: case 303: case 307: case 308:
    case 404: case 405: case 410: case 414: case 451: case 501:
      return true;
    default:
      return false;
  }
}

bool isSafeMethod(std::string_view m) { return m == "GET" || m == "HEAD" || m == "OPTIONS" || m == "TRACE"; }

StoreDecision decideStore(const RequestFacts& rq, const ResponseFacts& rs, const PolicyConfig& config) {
  const CacheControl& cc = rs.cc.directives;
  // §3: the request method is understood by the cache. Only GET bodies are stored: a HEAD response
  // has none, and HEAD is answered from the stored GET.
  if (rq.method != "GET") return {false, BypassReason::Method};
  // §3: the status code is final; 206 is not stored (partial responses, §3.3, not combined here);
  // 304 is a validation answer, not a response to store.
  if (rs.status < 200 || rs.status == 206 || rs.status == 304) return {false, BypassReason::Status};
  // RFC 9110 §15.5.13: a 412 answers the request's precondition (If-Match, If-Unmodified-Since,
  // which go to the origin, §4.3.2), not the resource: never a response for other requests.
  if (rs.status == 412) return {false, BypassReason::Status};
  if (rq.cc.no_store) return {false, BypassReason::NoStoreRequest};
  // §5.2.2.3: must-understand limits storing to status codes the cache understands, and then
  // overrides no-store.
  bool no_store = cc.no_store;
  if (cc.must_understand) {
    if (!isUnderstoodStatus(rs.status)) return {false, BypassReason::Status};
    no_store = false;
  }
  if (no_store) return {false, BypassReason::NoStoreResponse};
  if (cc.private_) return {false, BypassReason::Private};  // §5.2.2.7: shared cache
  // §3.5: Authorization needs an explicit permission in the response.
  if (rq.has_authorization && !cc.public_ && !cc.s_maxage && !cc.must_revalidate)
    return {false, BypassReason::Authorization};
  if (rs.vary_star) return {false, BypassReason::VaryStar};  // §4.1: never matches
  if (rs.set_cookie && !config.store_set_cookie) return {false, BypassReason::SetCookie};
  const bool explicit_freshness = cc.max_age || cc.s_maxage || (rs.expires_present && !rs.cc.targeted) || cc.public_;
  const bool validator = rs.has_etag || rs.last_modified.has_value();
  if (!explicit_freshness && !validator && !isHeuristicallyCacheable(rs.status))
    return {false, BypassReason::NotCacheable};
  return {true, BypassReason::None};
}

Seconds freshnessLifetime(const ResponseFacts& rs, int64_t response_time, const PolicyConfig& config) {
  const CacheControl& cc = rs.cc.directives;
  if (cc.s_maxage) return *cc.s_maxage;
  if (cc.max_age) return *cc.max_age;
  const int64_t date = rs.date.value_or(response_time);
  if (rs.expires_present && !rs.cc.targeted) {
    if (!rs.expires) return 0;  // §5.3: an invalid Expires means already expired
    return std::max<int64_t>(0, *rs.expires - date);
  }
  // §4.2.2: heuristic only without explicit freshness, for heuristically cacheable codes (or
  // responses marked public).
  if (rs.last_modified && (isHeuristicallyCacheable(rs.status) || cc.public_)) {
    const int64_t since = date - *rs.last_modified;
    if (since <= 0) return 0;
    return std::min<int64_t>(since / 10, config.heuristic_cap);
  }
  return 0;
}

Seconds initialAge(const ResponseFacts& rs, int64_t request_time, int64_t response_time) {
  const int64_t apparent_age = std::max<int64_t>(0, response_time - rs.date.value_or(response_time));
  const int64_t response_delay = std::max<int64_t>(0, response_time - request_time);
  const int64_t corrected_age_value = rs.age.value_or(0) + response_delay;
  return std::max(apparent_age, corrected_age_value);
}

Seconds currentAge(Seconds initial_age, int64_t response_time, int64_t now) {
  return initial_age + std::max<int64_t>(0, now - response_time);
}

StoredFacts storedFacts(const ResponseFacts& rs, int64_t request_time, int64_t response_time,
                        const PolicyConfig& config) {
  const CacheControl& cc = rs.cc.directives;
  StoredFacts f;
  f.response_time = response_time;
  f.initial_age = initialAge(rs, request_time, response_time);
  f.freshness_lifetime = freshnessLifetime(rs, response_time, config);
  f.no_cache = cc.no_cache;
  // §5.2.2.10: s-maxage carries proxy-revalidate's semantics for a shared cache.
  f.never_stale = cc.must_revalidate || cc.proxy_revalidate || cc.s_maxage.has_value();
  f.has_validator = rs.has_etag || rs.last_modified.has_value();
  f.stale_while_revalidate = cc.stale_while_revalidate;
  if (!f.stale_while_revalidate && config.default_stale_while_revalidate > 0)
    f.stale_while_revalidate = config.default_stale_while_revalidate;
  f.stale_if_error = cc.stale_if_error;
  if (!f.stale_if_error && config.default_stale_if_error > 0) f.stale_if_error = config.default_stale_if_error;
  return f;
}

ReuseDecision decideReuse(const CacheControl& rq, const StoredFacts& st, int64_t now) {
  ReuseDecision d;
  d.age = currentAge(st.initial_age, st.response_time, now);
  d.ttl = st.freshness_lifetime - d.age;
  const bool fresh = d.ttl > 0;
  const int64_t staleness = fresh ? 0 : -d.ttl;
  // §4.2.4: never stale when a directive forbids it (must-revalidate, proxy-revalidate, s-maxage,
  // and the response's no-cache: reuse only after a successful validation).
  d.stale_if_error = !st.never_stale && !st.no_cache && st.stale_if_error && staleness <= *st.stale_if_error;
  auto set = [&](ReuseAction a, ReuseReason r) { d.action = a; d.reason = r; };
  if (rq.no_cache) set(ReuseAction::Revalidate, ReuseReason::RequestNoCache);            // §5.2.1.4
  else if (st.no_cache) set(ReuseAction::Revalidate, ReuseReason::ResponseNoCache);      // §5.2.2.4
  else if (rq.max_age && d.age > *rq.max_age) set(ReuseAction::Revalidate, ReuseReason::RequestMaxAge);  // §5.2.1.1
  else if (fresh) {
    if (rq.min_fresh && d.ttl < *rq.min_fresh) set(ReuseAction::Revalidate, ReuseReason::RequestMinFresh);  // §5.2.1.3
    else set(ReuseAction::ServeFresh, ReuseReason::Fresh);
  } else if (st.never_stale) {
    set(ReuseAction::Revalidate, ReuseReason::NeverStale);  // §5.2.2.2 / §5.2.2.8 / §5.2.2.10
  } else if (rq.max_stale && (!rq.max_stale_value || staleness <= *rq.max_stale_value)) {
    set(ReuseAction::ServeStale, ReuseReason::MaxStale);  // §5.2.1.2
  } else if (st.stale_while_revalidate && staleness <= *st.stale_while_revalidate) {
    set(ReuseAction::ServeStaleRevalidate, ReuseReason::StaleWhileRevalidate);  // RFC 5861 §3
  } else {
    set(ReuseAction::Revalidate, ReuseReason::Stale);
  }
  // §5.2.1.7: only-if-cached gets a stored response or 504, never the origin.
  if (rq.only_if_cached && d.action == ReuseAction::Revalidate) d.action = ReuseAction::GatewayTimeout;
  return d;
}

std::optional<FieldView> conditionalRequestField(HeadView stored) {
  const std::string_view etag = stored.get("etag");
  if (!etag.empty()) return FieldView{"If-None-Match", etag};
  const std::string_view lm = stored.get("last-modified");
  if (!lm.empty()) return FieldView{"If-Modified-Since", lm};
  return std::nullopt;
}

bool isHopByHop(std::string_view n) {
  constexpr std::string_view kNames[] = {"connection", "keep-alive", "proxy-connection", "te", "transfer-encoding",
                                         "upgrade", "trailer", "proxy-authenticate", "proxy-authorization",
                                         "proxy-authentication-info"};
  for (std::string_view k : kNames)
    if (iequals(n, k)) return true;
  return false;
}

namespace {

bool namedInConnection(std::span<const FieldView> fields, std::string_view name) {
  bool found = false;
  for (const FieldView& f : fields)
    if (iequals(f.name, "connection"))
      forEachElement(f.value, [&](std::string_view token) { found = found || iequals(token, name); });
  return found;
}

bool storable(std::span<const FieldView> fields, std::string_view name) {
  return !isHopByHop(name) && !namedInConnection(fields, name);
}

}  // namespace

StoredHead makeStoredHead(int status, std::span<const FieldView> fields, std::string_view withheld) {
  StoredHead h(status);
  for (const FieldView& f : fields)
    if (storable(fields, f.name) && !isWithheld(withheld, f.name)) h.add(f.name, f.value);
  h.shrink();
  return h;
}

bool updatedBy304(std::string_view n) {
  if (isHopByHop(n)) return false;
  constexpr std::string_view kKept[] = {"content-length", "content-encoding", "content-range"};
  for (std::string_view k : kKept)
    if (iequals(n, k)) return false;
  return true;
}

StoredHead merge304(HeadView stored, std::span<const FieldView> nm, std::string_view withheld) {
  auto updates = [&](std::string_view name) {
    if (!updatedBy304(name) || !storable(nm, name)) return false;
    for (const FieldView& f : nm)
      if (iequals(f.name, name)) return true;
    return false;
  };
  StoredHead out(stored.status());
  stored.forEach([&](FieldView f) {
    // The stored Age went with the old response: the merged head's age is the 304's (§4.2.3).
    if (!updates(f.name) && !iequals(f.name, "age") && !isWithheld(withheld, f.name)) out.add(f.name, f.value);
  });
  for (const FieldView& f : nm)
    if (updatedBy304(f.name) && storable(nm, f.name) && !isWithheld(withheld, f.name)) out.add(f.name, f.value);
  out.shrink();
  return out;
}

bool selectedBy304(HeadView stored, std::span<const FieldView> nm) {
  std::string_view etag, lm;
  for (const FieldView& f : nm) {
    if (etag.empty() && iequals(f.name, "etag")) etag = f.value;
    else if (lm.empty() && iequals(f.name, "last-modified")) lm = f.value;
  }
  if (!etag.empty()) {
    const auto theirs = parseEntityTag(etag), ours = parseEntityTag(stored.get("etag"));
    if (!theirs) return true;  // not a validator at all: as if absent
    if (!ours) return false;
    return theirs->weak ? weakMatch(*theirs, *ours) : strongMatch(*theirs, *ours);
  }
  const std::string_view stored_lm = stored.get("last-modified");
  if (lm.empty() || stored_lm.empty()) return true;
  const auto theirs = parseHttpDate(trim(lm)), ours = parseHttpDate(trim(stored_lm));
  return !theirs || !ours || *theirs == *ours;
}

bool invalidatesStored(std::string_view method, int status) {
  return !isSafeMethod(method) && status >= 200 && status < 400;
}

bool answerNotModified(std::string_view method, std::span<const std::string_view> inm,
                       std::span<const std::string_view> ims, HeadView stored) {
  if (method != "GET" && method != "HEAD") return false;
  if (!inm.empty()) return ifNoneMatchMatches(inm, stored.get("etag"));  // §13.2.2 step 3: IMS ignored
  if (ims.empty()) return false;
  const auto since = parseHttpDate(trim(ims.front()));
  if (!since) return false;  // §13.1.3: an invalid date is ignored
  std::string_view lm = stored.get("last-modified");
  if (lm.empty()) lm = stored.get("date");  // RFC 9111 §4.3.2
  const auto modified = parseHttpDate(trim(lm));
  return modified && *modified <= *since;
}

RangeAnswer answerRange(std::string_view method, std::string_view range, std::string_view if_range,
                        HeadView stored, uint64_t length) {
  RangeAnswer a;
  if (method != "GET" || stored.status() != 200 || range.empty()) return a;
  const RangeRequest r = parseRange(range);
  if (r.kind != RangeRequest::Kind::Single) return a;  // none, invalid or several: the full 200
  if (!trim(if_range).empty()) {
    // §13.1.5: an entity-tag must match strongly, a date exactly the Last-Modified.
    const std::string_view ir = trim(if_range);
    if (ir.front() == '"' || ir.starts_with("W/")) {
      const auto want = parseEntityTag(ir), have = parseEntityTag(stored.get("etag"));
      if (!want || !have || !strongMatch(*want, *have)) return a;
    } else {
      const auto want = parseHttpDate(ir), have = parseHttpDate(trim(stored.get("last-modified")));
      if (!want || !have || *want != *have) return a;
    }
  }
  if (auto s = resolveRange(r, length)) {
    a.kind = RangeAnswer::Kind::Partial;
    a.span = *s;
  } else {
    a.kind = RangeAnswer::Kind::Unsatisfiable;
  }
  return a;
}

std::string contentRange(const RangeAnswer& answer, uint64_t length) {
  if (answer.kind == RangeAnswer::Kind::Partial)
    return "bytes " + std::to_string(answer.span.first) + "-" + std::to_string(answer.span.last) + "/" +
           std::to_string(length);
  return "bytes */" + std::to_string(length);
}

}  // namespace edged::cache
