// cache/cache_filter.cpp — glue between the exchange filter interface and the cache's policy
// functions and store. Every decision is one of cache_policy.h's; this file moves bytes and state.
#include "cache/cache_filter.h"

#include <uv.h>

#include <algorithm>
#include <cassert>
#include <cctype>
#include <charconv>
#include <cstdlib>
#include <cstdio>
#include <ctime>
#include <optional>

#include "cache/entry_builder.h"
#include "cache/entry_codec.h"
#include "cache/http_date.h"
#include "proxy/proxy.h"

namespace edged::cache {

namespace {

int64_t nowSeconds() { return static_cast<int64_t>(std::time(nullptr)); }

bool isTagHeader(const CacheSettings& s, std::string_view name) {
  for (const std::string& t : s.tag_headers)
    if (proxy::equalsIgnoreCase(t, name)) return true;
  return false;
}

// Tags are separated by spaces or commas (Surrogate-Key uses spaces, Cache-Tag commas).
template <typename F>
void forEachTag(std::string_view value, F&& f) {
  size_t i = 0;
  while (i < value.size()) {
    while (i < value.size() && (value[i] == ' ' || value[i] == ',' || value[i] == '\t')) ++i;
    size_t j = i;
    while (j < value.size() && value[j] != ' ' && value[j] != ',' && value[j] != '\t') ++j;
    if (j > i) f(value.substr(i, j - i));
    i = j;
  }
}

// Framing and per-hop fields a stored head must not carry into a response the core frames.
bool dropFromHit(std::string_view name, proxy::HeaderId id) {
  return id == proxy::HeaderId::TransferEncoding || replacedOnHit(name);
}

// RFC 9110 §15.4.5: what a 304 carries of the stored response.
bool keptIn304(std::string_view name) {
  for (std::string_view n : {"cache-control", "content-location", "date", "etag", "expires", "vary", "last-modified"})
    if (proxy::equalsIgnoreCase(name, n)) return true;
  return false;
}

}  // namespace

// One wait on another exchange's fill: the registered Waiter, its lock_timeout timer, and the
// way back to the waiting filter. Outlives the filter when the exchange ends while a wake-up is
// in flight (then it frees itself once delivered and its timer closed).
struct WaitState final : Waiter {
  WaitState(Waker& waker, CacheStore& s, proxy::WorkerMailbox* m) : Waiter(waker), store(s), mailbox(m) {}
  CacheStore& store;
  proxy::WorkerMailbox* mailbox;
  CacheExchangeFilter* filter = nullptr;  // null once the filter stopped waiting
  uv_timer_t timer{};
  FillOutcome outcome = FillOutcome::Abandoned;
  bool wake_pending = false;  // registered and not cancelled: a wake-up is due or in flight
  bool timer_open = false;

  void maybeDelete() {
    if (!filter && !wake_pending && !timer_open) delete this;
  }
  void closeTimer() {
    if (!timer_open) return;
    uv_timer_stop(&timer);
    uv_close(reinterpret_cast<uv_handle_t*>(&timer), [](uv_handle_t* h) {
      auto* ws = static_cast<WaitState*>(h->data);
      ws->timer_open = false;
      ws->maybeDelete();
    });
  }
  // On the waiter's thread, from the mailbox.
  void onFillOutcome(FillOutcome outcome) override;
  static void deliver(void* arg) {
    auto* ws = static_cast<WaitState*>(arg);
    ws->onFillOutcome(ws->outcome);
  }
  static void onTimeout(uv_timer_t* t);
};

namespace {
// Hands a wake-up to the waiter's worker; the one Waker of the process.
class MailboxWaker final : public Waker {
 public:
  void wake(Waiter* w, FillOutcome outcome) override {
    auto* ws = static_cast<WaitState*>(w);
    ws->outcome = outcome;
    if (ws->mailbox) ws->mailbox->postFromAnyThread(&WaitState::deliver, ws);
  }
};
MailboxWaker g_waker;
}  // namespace

class CacheExchangeFilter final : public proxy::ExchangeFilter, public SecondTierLookup {
 public:
  static constexpr uint64_t kPendingRefreshMs = 2000;

  explicit CacheExchangeFilter(CacheFilterFactory& f) : factory_(f) {}

  void start(const proxy::RequestHead& request, const RouteCacheSettings& route) {
    request_ = &request;
    route_ = &route;
  }

  proxy::FilterAction onRequest(const proxy::RequestHead& req, proxy::LocalResponse& local,
                                proxy::Resumer& resumer) override {
    local_ = &local;
    resumer_ = &resumer;
    request_time_ = nowSeconds();
    req.fields.headers(req_headers_);
    req_fields_.clear();
    for (const proxy::Header& h : req_headers_) req_fields_.push_back({h.name, h.value});
    makeKey();
    if (req.method == "PURGE") return purge(resumer.clientAddress());
    const bool get = req.method_id == proxy::Method::Get, head = req.method_id == proxy::Method::Head;
    if (!get && !head) {
      state_ = CacheState::Bypass;
      reason_ = BypassReason::Method;
      invalidate_ = !isSafeMethod(req.method);
      return proxy::FilterAction::Continue;
    }
    facts_ = requestFacts(req.method, req_fields_);
    if (req.background) return startRefreshExchange();
    return lookup(true);
  }

  void onUpstreamRequest(proxy::UpstreamRequest& edit) override {
    if (!permit_) return;
    // A fill asks for the full response: the client's own validators would turn it into a 304
    // that cannot be stored (the client's conditional is answered from the entry instead).
    std::erase_if(edit.headers, [](const proxy::Header& h) {
      return proxy::equalsIgnoreCase(h.name, "if-none-match") || proxy::equalsIgnoreCase(h.name, "if-modified-since");
    });
    if (revalidating_ && entry_) {
      if (auto f = conditionalRequestField(entry_->head())) edit.headers.push_back({f->name, f->value});
    }
  }

  proxy::FilterAction onResponseHead(proxy::ResponseEdit& e, proxy::LocalResponse& local) override {
    const CacheSettings& s = *factory_.settings_;
    const int64_t now = nowSeconds();
    resp_fields_.clear();
    tags_.clear();
    for (const proxy::Header& h : e.headers) {
      if (isTagHeader(s, h.name)) {
        forEachTag(h.value, [&](std::string_view t) { tags_.emplace_back(t); });
        continue;
      }
      resp_fields_.push_back({h.name, h.value});
    }
    // Tags are for edged only: never sent on.
    if (resp_fields_.size() != e.headers.size())
      std::erase_if(e.headers, [&](const proxy::Header& h) { return isTagHeader(s, h.name); });

    if (invalidate_ || reason_ == BypassReason::Method) {
      if (invalidate_ && invalidatesStored(request_->method, e.status)) invalidate();
      status_text_ = formatCacheStatus("edged", CacheState::Bypass, BypassReason::Method, std::nullopt, false);
      e.headers.push_back({"Cache-Status", status_text_});
      return proxy::FilterAction::Continue;
    }
    if (revalidating_ && entry_ && e.status == 304) {
      if (selectedBy304(entry_->head(), resp_fields_)) return answerRevalidated(now, local);
      // RFC 9111 §4.3.4: a 304 for another representation updates nothing: the stored response
      // is answered as it is (not freshened, so the next request revalidates again).
      permit_.abandon();
      state_ = CacheState::Stale;
      unmatched_304_ = true;
      route_->counters->stale.fetch_add(1, std::memory_order_relaxed);
      return serve(*entry_, entry_->head(), entry_->bodySize(), reuse_.age, reuse_.ttl, local);
    }
    if (entry_ && stale_if_error_ && e.status >= 500) {
      permit_.abandon();
      state_ = CacheState::Stale;
      route_->counters->stale.fetch_add(1, std::memory_order_relaxed);
      return serve(*entry_, entry_->head(), entry_->bodySize(), reuse_.age, reuse_.ttl, local);
    }
    if (permit_) {
      const ResponseFacts rf = responseFacts(e.status, resp_fields_, now);
      StoreDecision d = decideStore(facts_, rf, route_->policy);
      StoredFacts sf = storedFacts(rf, request_time_, now, route_->policy);
      const bool explicit_freshness = rf.cc.directives.max_age || rf.cc.directives.s_maxage || rf.expires_present;
      if (route_->default_ttl > 0 && !explicit_freshness && isHeuristicallyCacheable(e.status) &&
          (d.store || d.reason == BypassReason::NotCacheable)) {
        d = {true, BypassReason::None};
        sf.freshness_lifetime = route_->default_ttl;
      }
      // A body announced larger than max_object streams through: waiters are released now.
      for (const FieldView& f : resp_fields_) {
        if (!d.store || !proxy::equalsIgnoreCase(f.name, "content-length")) continue;
        uint64_t n = 0;
        const auto [end, ec] = std::from_chars(f.value.data(), f.value.data() + f.value.size(), n);
        if (ec == std::errc() && end == f.value.data() + f.value.size() && n > s.max_object)
          d = {false, BypassReason::TooLarge};
      }
      if (d.store) {
        CacheEntry::Parts parts;
        parts.head = makeStoredHead(e.status, resp_fields_, rf.cc.directives.withheld);
        if (!parts.head.has("date")) {  // RFC 9110 §6.6.1: cached with the time it was received
          char date[29];
          parts.head.add("Date", formatHttpDate(now, date));
          parts.head.shrink();
        }
        parts.facts = sf;
        std::vector<std::string_view> vary_lines;
        for (const FieldView& f : resp_fields_)
          if (proxy::equalsIgnoreCase(f.name, "vary")) vary_lines.push_back(f.value);
        parts.vary = parseVary(vary_lines);
        parts.vary_key = secondaryKey(parts.vary, req_fields_, route_->key);
        parts.tags = tags_;
        parts.gauges = &route_->counters->store;
        builder_.emplace(std::move(parts), s.max_object);
        stored_ = true;
        if (!e.has_body) {
          builder_->finish();  // a 204: the head is the whole response (unfinished, it was never stored)
          commitFill();
        } else {
          e.filter_body = true;
          e.body_unchanged = true;  // copied as it passes: the client keeps the origin's length
        }
      } else {
        permit_.abandon();
        releaseTierLock();  // other instances waiting for this fill go to the origin now
        reason_ = d.reason;
        route_->counters->not_stored.fetch_add(1, std::memory_order_relaxed);
      }
    }
    if (revalidating_) {
      state_ = CacheState::Revalidated;
      route_->counters->refetched.fetch_add(1, std::memory_order_relaxed);
    }
    status_text_ = formatCacheStatus("edged", state_, reason_, std::nullopt, stored_);
    if (revalidating_) status_text_ = std::string("edged; fwd=stale; fwd-status=") + std::to_string(e.status) + (stored_ ? "; stored" : "");
    e.headers.push_back({"Cache-Status", status_text_});
    return proxy::FilterAction::Continue;
  }

  // stale-if-error when the origin could not answer at all.
  proxy::FilterAction onUpstreamError(int status, proxy::LocalResponse& local) override {
    if (entry_ && !stale_if_error_ && status != 504 && reuse_.ttl <= 0 && entry_->facts().never_stale)
      return revalidationFailed(local);
    if (!entry_ || !stale_if_error_) return proxy::FilterAction::Continue;
    permit_.abandon();
    state_ = CacheState::Stale;
    route_->counters->stale.fetch_add(1, std::memory_order_relaxed);
    return serve(*entry_, entry_->head(), entry_->bodySize(), reuse_.age, reuse_.ttl, local);
  }

  bool onResponseBody(std::string_view in, bool end, proxy::FilterSink& out) override {
    if (!in.empty()) out.append(in);
    if (builder_) {
      builder_->append(in);
      if (builder_->tooLarge()) {
        commitFill();  // refused at once: the waiters go to the origin without waiting for the end
        stored_ = false;
      } else if (end) {
        builder_->finish();
        commitFill();
      }
    }
    return true;
  }

  void onFinish(proxy::Termination) override {
    if (tier_pending_) {
      tier_pending_ = false;
      factory_.tier_->cancel(*this);
    }
    releaseTierLock();
    if (wait_) stopWaiting();
    builder_.reset();
    permit_.abandon();
  }

  void release() override {
    entry_.reset();
    request_ = nullptr;
    route_ = nullptr;
    local_ = nullptr;
    resumer_ = nullptr;
    revalidating_ = invalidate_ = stored_ = stale_if_error_ = waited_ = false;
    updating_ = not_modified_ = purge_ = unmatched_304_ = false;
    from_tier_ = tier_pending_ = false;
    tier_lock_ = 0;
    state_ = CacheState::Miss;
    reason_ = BypassReason::None;
    factory_.recycle(this);
  }

  // nginx's $upstream_cache_status words, with the reason beside them.
  void annotateLog(proxy::LogNotes& notes) const override {
    switch (state_) {
      case CacheState::Hit: notes.cache = "HIT"; break;
      case CacheState::Collapsed:
        notes.cache = "HIT";
        notes.cache_detail = from_tier_ ? "collapsed-shared" : "collapsed";  // -shared: another instance's fill
        break;
      case CacheState::Stale:
        notes.cache = updating_ ? "UPDATING" : "STALE";
        if (!updating_)
          notes.cache_detail = unmatched_304_ ? "unmatched-304"
                               : reuse_.stale_if_error || stale_if_error_ ? "stale-if-error" : "max-stale";
        break;
      case CacheState::Revalidated: notes.cache = not_modified_ ? "REVALIDATED" : "EXPIRED"; break;
      case CacheState::Miss:
        notes.cache = "MISS";
        if (reason_ != BypassReason::None) notes.cache_detail = reasonName(reason_);
        break;
      case CacheState::Bypass:
        notes.cache = purge_ ? "PURGE" : "BYPASS";
        if (reason_ != BypassReason::None) notes.cache_detail = reasonName(reason_);
        break;
    }
    if (request_ && request_->background && state_ == CacheState::Bypass && reason_ == BypassReason::None)
      notes.cache_detail = "refresh-busy";
  }

  ~CacheExchangeFilter() override { delete spare_; }

  // The wait ended (the fill's outcome arrived, or lock_timeout): look again, without waiting.
  void onWaitOver(FillOutcome outcome, bool timed_out) {
    wait_ = nullptr;
    waited_ = true;
    (void)outcome;
    (void)timed_out;
    const proxy::FilterAction a = lookup(false);
    resumer_->resume(a == proxy::FilterAction::Wait ? proxy::FilterAction::Continue : a);
  }

 private:
  void makeKey() {
    const proxy::ParsedHead& h = request_->fields;
    const std::string_view host = h.find(proxy::HeaderId::Host);
    key_.clear();
    if (route_->key_template.empty()) {
      appendPrimaryKey(key_, request_->scheme(), host, request_->target(), route_->key);
      return;
    }
    const std::string_view t = route_->key_template, target = request_->target();
    const size_t q = target.find('?');
    for (size_t i = 0; i < t.size(); ++i) {
      if (t[i] != '$') {
        key_ += t[i];
        continue;
      }
      size_t j = i + 1;
      while (j < t.size() && (std::isalnum(static_cast<unsigned char>(t[j])) || t[j] == '_' || t[j] == '-')) ++j;
      const std::string_view var = t.substr(i + 1, j - i - 1);
      i = j - 1;
      if (var == "scheme") key_ += request_->scheme();
      else if (var == "host") for (char c : host) key_ += static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
      else if (var == "request_uri") key_ += target;
      else if (var == "uri") key_ += target.substr(0, q);
      else if (var == "args") key_ += q == std::string_view::npos ? std::string_view{} : target.substr(q + 1);
      else if (var.starts_with("http_")) {
        std::string name(var.substr(5));
        std::replace(name.begin(), name.end(), '_', '-');
        key_ += h.find(std::string_view(name));
      } else if (var.starts_with("cookie_")) {
        const std::string_view want = var.substr(7);
        std::string_view cookies = h.find(proxy::HeaderId::Cookie);
        while (!cookies.empty()) {
          size_t semi = cookies.find(';');
          std::string_view pair = proxy::fields::trim(cookies.substr(0, semi));
          if (pair.substr(0, pair.find('=')) == want && pair.find('=') != std::string_view::npos) {
            key_ += pair.substr(pair.find('=') + 1);
            break;
          }
          if (semi == std::string_view::npos) break;
          cookies.remove_prefix(semi + 1);
        }
      }
    }
  }

  bool hasRange() const { return !request_->fields.find(proxy::HeaderId::Range).empty(); }

  // Looks the key up: a hit is answered (Respond), a miss either fills (Continue with the permit),
  // waits on another exchange's fill (Wait) or goes to the origin without storing.
  proxy::FilterAction lookup(bool may_wait) {
    CacheStore& store = factory_.store_;
    const bool head = request_->method_id == proxy::Method::Head;
    // HEAD and Range misses go to the origin as they are: their answers cannot fill a GET entry.
    const bool may_fill = !head && !hasRange() && !facts_.cc.no_store;
    Waiter* w = may_fill && may_wait ? spareWaiter() : nullptr;
    CacheStore::Begin b;
    if (may_fill) {
      b = store.lookupOrFill(key_, req_fields_, route_->key, w);
    } else {
      b.entry = store.lookup(key_, req_fields_, route_->key);
      b.kind = b.entry ? CacheStore::Begin::Kind::Hit : CacheStore::Begin::Kind::Busy;
    }
    switch (b.kind) {
      case CacheStore::Begin::Kind::Hit:
        entry_ = std::move(b.entry);
        return reuse();
      case CacheStore::Begin::Kind::Fill:
        permit_ = std::move(b.permit);
        if (facts_.cc.only_if_cached) return gatewayTimeout();
        if (may_wait && askSecondTier()) return proxy::FilterAction::Wait;
        state_ = CacheState::Miss;
        route_->counters->misses.fetch_add(1, std::memory_order_relaxed);
        return proxy::FilterAction::Continue;
      case CacheStore::Begin::Kind::Wait:
        startWaiting();
        return proxy::FilterAction::Wait;
      case CacheStore::Begin::Kind::Busy:
        if (facts_.cc.only_if_cached) return gatewayTimeout();
        state_ = CacheState::Miss;
        route_->counters->misses.fetch_add(1, std::memory_order_relaxed);
        return proxy::FilterAction::Continue;
    }
    return proxy::FilterAction::Continue;
  }

  proxy::FilterAction reuse() {
    const int64_t now = nowSeconds();
    reuse_ = decideReuse(facts_.cc, entry_->facts(), now);
    switch (reuse_.action) {
      case ReuseAction::ServeFresh:
        state_ = waited_ ? CacheState::Collapsed : CacheState::Hit;
        (waited_ ? route_->counters->collapsed : route_->counters->hits).fetch_add(1, std::memory_order_relaxed);
        return serve(*entry_, entry_->head(), entry_->bodySize(), reuse_.age, reuse_.ttl, *local_);
      case ReuseAction::ServeStale:
        state_ = CacheState::Stale;
        route_->counters->stale.fetch_add(1, std::memory_order_relaxed);
        return serve(*entry_, entry_->head(), entry_->bodySize(), reuse_.age, reuse_.ttl, *local_);
      case ReuseAction::GatewayTimeout:
        return gatewayTimeout();
      case ReuseAction::ServeStaleRevalidate:
        // RFC 5861 §3: served stale now; one background exchange revalidates (or refetches) it.
        // A refresh already running (this worker's or another's) holds the key's fill permit.
        if (request_->background) break;
        state_ = CacheState::Stale;
        updating_ = true;
        route_->counters->stale.fetch_add(1, std::memory_order_relaxed);
        requestRefresh();
        return serve(*entry_, entry_->head(), entry_->bodySize(), reuse_.age, reuse_.ttl, *local_);
      case ReuseAction::Revalidate:
        break;
    }
    if (facts_.cc.only_if_cached) return gatewayTimeout();
    stale_if_error_ = reuse_.stale_if_error;
    if (request_->method_id != proxy::Method::Get || hasRange()) {
      state_ = CacheState::Miss;
      return proxy::FilterAction::Continue;  // forwarded as it is, nothing stored
    }
    CacheStore::Begin b = factory_.store_.beginFill(key_, nullptr);
    if (b.kind == CacheStore::Begin::Kind::Fill) {
      permit_ = std::move(b.permit);
      revalidating_ = true;
    }
    state_ = CacheState::Miss;
    return proxy::FilterAction::Continue;
  }

  // The stored response (or `head` merged from a 304) as the local answer: 304 to a matching
  // client conditional, 206/416 to a Range, else the whole response with Age.
  proxy::FilterAction serve(const CacheEntry& entry, HeadView head, uint64_t length, Seconds age,
                            Seconds ttl, proxy::LocalResponse& local) {
    std::vector<std::string_view>& inm = scratch_a_;
    std::vector<std::string_view>& ims = scratch_b_;
    inm.clear();
    ims.clear();
    std::string_view range, if_range;
    for (const FieldView& f : req_fields_) {
      if (proxy::equalsIgnoreCase(f.name, "if-none-match")) inm.push_back(f.value);
      else if (proxy::equalsIgnoreCase(f.name, "if-modified-since")) ims.push_back(f.value);
      else if (proxy::equalsIgnoreCase(f.name, "range")) range = f.value;
      else if (proxy::equalsIgnoreCase(f.name, "if-range")) if_range = f.value;
    }
    out_headers_.clear();
    local = {};
    const bool not_modified = (!inm.empty() || !ims.empty()) && answerNotModified(request_->method, inm, ims, head);
    RangeAnswer ra;
    if (!not_modified && head.status() == 200 && !range.empty())
      ra = answerRange(request_->method, range, if_range, head, length);
    // The entry's own head (not a 304-merged one), whole: its stored lines go out as they are
    // (CacheEntry::hitFields()). Otherwise field by field, each name classified once here and the
    // id kept, so the response head builder does not classify it again.
    std::string_view raw;
    bool raw_has_date = false;
    if (not_modified || head.blob().data() != entry.head().blob().data() || !entry.hitFields(raw, raw_has_date)) {
      raw = {};
      head.forEach([&](FieldView f) {
        const proxy::HeaderId id = proxy::classifyHeader(f.name);
        if (dropFromHit(f.name, id)) return;
        if (not_modified && !keptIn304(f.name)) return;
        out_headers_.push_back({f.name, f.value, id});
      });
    }
    local.raw_fields = raw;
    local.raw_has_date = raw_has_date;
    age_text_ = std::to_string(std::max<Seconds>(age, 0));
    out_headers_.push_back({"Age", age_text_, proxy::HeaderId::Other});
    status_text_.clear();
    // An unmatched 304 went forward (fwd=stale; fwd-status=304) but stored nothing.
    appendCacheStatus(status_text_, "edged", unmatched_304_ ? CacheState::Revalidated : state_, reason_, ttl, false);
    if (state_ == CacheState::Revalidated) status_text_ = "edged; fwd=stale; fwd-status=304; stored";
    if (updating_) status_text_ += "; detail=stale-while-revalidate";
    if (unmatched_304_) status_text_ += "; detail=unmatched-304";
    if (from_tier_) status_text_ += "; detail=shared";
    out_headers_.push_back({"Cache-Status", status_text_, proxy::HeaderId::Other});
    local.status = head.status();
    if (not_modified) {
      local.status = 304;
      local.has_body = false;
      local.headers = out_headers_;
      return proxy::FilterAction::Respond;
    }
    // The body as the entry's own bytes, written by reference while the entry is held (no copy).
    assert(&entry == entry_.get());
    uint64_t from = 0, count = length;
    if (ra.kind == RangeAnswer::Kind::Partial) {
      local.status = 206;
      range_text_ = contentRange(ra, length);
      out_headers_.push_back({"Content-Range", range_text_, proxy::HeaderId::Other});
      from = ra.span.first;
      count = ra.span.size();
    } else if (ra.kind == RangeAnswer::Kind::Unsatisfiable) {
      local.status = 416;
      range_text_ = contentRange(ra, length);
      out_headers_.push_back({"Content-Range", range_text_, proxy::HeaderId::Other});
      count = 0;
    }
    body_parts_.clear();
    for (size_t i = 0; i < entry.chunkCount() && count > 0; ++i) {
      std::string_view c = entry.chunk(i);
      if (from >= c.size()) {
        from -= c.size();
        continue;
      }
      c = c.substr(from, count);
      from = 0;
      count -= c.size();
      body_parts_.push_back(c);
    }
    local.headers = out_headers_;
    local.body_parts = body_parts_;
    if (!body_parts_.empty()) local.body_owner = {entry_.get(), &EntryRef::retainRaw, &EntryRef::releaseRaw};
    local.has_body = !(local.status == 204 || local.status == 304);
    return proxy::FilterAction::Respond;
  }

  proxy::FilterAction answerRevalidated(int64_t now, proxy::LocalResponse& local) {
    std::string withheld = responseFacts(304, resp_fields_, now).cc.directives.withheld;
    if (!route_->policy.store_set_cookie) withheld += "set-cookie,";  // a 304's Set-Cookie is not stored either
    merged_ = merge304(entry_->head(), resp_fields_, withheld);
    std::vector<FieldView>& mf = merged_fields_;
    mf.clear();
    merged_.forEach([&](FieldView f) { mf.push_back(f); });
    const ResponseFacts rf = responseFacts(merged_.status(), mf, now);
    CacheEntry::Parts parts;
    parts.head = merged_;
    // The body is shared with the stale entry when it is in buffers; a small one is copied inline.
    for (const BufferRef& b : entry_->buffers()) parts.body.push_back(b);
    if (parts.body.empty() && entry_->bodySize() > 0) parts.small_body.assign(entry_->chunk(0));
    parts.gauges = &route_->counters->store;
    parts.facts = storedFacts(rf, request_time_, now, route_->policy);
    if (route_->default_ttl > 0 && !rf.cc.directives.max_age && !rf.cc.directives.s_maxage && !rf.expires_present)
      parts.facts.freshness_lifetime = route_->default_ttl;
    parts.vary = entry_->vary();
    parts.vary_key = std::string(entry_->varyKey());
    parts.tags.assign(entry_->tags().begin(), entry_->tags().end());
    for (const std::string& t : tags_)
      if (std::find(parts.tags.begin(), parts.tags.end(), t) == parts.tags.end()) parts.tags.push_back(t);
    EntryBuilder b(std::move(parts), UINT64_MAX);
    b.finish();
    const Seconds age = initialAge(rf, request_time_, now);
    const Seconds ttl = (route_->default_ttl > 0 ? route_->default_ttl : freshnessLifetime(rf, now, route_->policy)) - age;
    EntryRef fresh;
    stored_ = permit_.commit(std::move(b), factory_.tier_ ? &fresh : nullptr) == BypassReason::None;
    if (fresh) copyToSecondTier(*fresh);
    state_ = CacheState::Revalidated;
    not_modified_ = true;
    route_->counters->revalidated.fetch_add(1, std::memory_order_relaxed);
    return serve(*entry_, merged_, entry_->bodySize(), age, ttl, local);
  }

  // stale-while-revalidate, the request that served stale: a background exchange refreshes the
  // key unless a fill or refresh of it runs already (the key's fill permit is taken), or one was
  // asked for here and has not started yet.
  void requestRefresh() {
    auto& pending = factory_.refreshes_;
    const uint64_t now = uv_now(factory_.loop_);
    // A background exchange claims its request within a loop iteration or two; one whose chain
    // answered before reaching this filter never does, and is forgotten after a while.
    std::erase_if(pending, [&](const CacheFilterFactory::PendingRefresh& p) { return now - p.since_ms > kPendingRefreshMs; });
    for (const CacheFilterFactory::PendingRefresh& p : pending)
      if (p.key == key_) return;
    if (factory_.store_.beginFill(key_, nullptr).kind != CacheStore::Begin::Kind::Fill) return;
    // (The permit went back at once: the refresh takes it itself when it starts.)
    pending.push_back({key_, entry_, now});
    if (resumer_->startBackground("GET")) {
      route_->counters->refreshes.fetch_add(1, std::memory_order_relaxed);
      return;
    }
    pending.pop_back();  // none could start: a later request tries again
  }

  // The background exchange of a refresh: takes the key's fill permit (nothing to do when another
  // exchange fills or refreshes it meanwhile), then revalidates the stale entry like an in-line
  // revalidation: conditional request, 304 merge or a new fill.
  proxy::FilterAction startRefreshExchange() {
    auto& pending = factory_.refreshes_;
    EntryRef stale;
    for (size_t i = 0; i < pending.size(); ++i) {
      if (pending[i].key != key_) continue;
      stale = std::move(pending[i].entry);
      pending.erase(pending.begin() + static_cast<std::ptrdiff_t>(i));
      break;
    }
    CacheStore::Begin b = factory_.store_.beginFill(key_, nullptr);
    if (b.kind != CacheStore::Begin::Kind::Fill) {
      state_ = CacheState::Bypass;
      *local_ = {};
      local_->status = 204;
      local_->has_body = false;
      return proxy::FilterAction::Respond;
    }
    permit_ = std::move(b.permit);
    // Asked for in another generation's factory (a reload in between): the entry stored now.
    entry_ = stale ? std::move(stale) : factory_.store_.lookup(key_, req_fields_, route_->key);
    revalidating_ = entry_ != nullptr;
    state_ = CacheState::Miss;
    return proxy::FilterAction::Continue;
  }

  void commitFill() {
    if (!builder_ || !permit_) return;
    EntryRef stored;
    const BypassReason r = permit_.commit(std::move(*builder_), factory_.tier_ ? &stored : nullptr);
    builder_.reset();
    (r == BypassReason::None ? route_->counters->stored : route_->counters->not_stored)
        .fetch_add(1, std::memory_order_relaxed);
    if (stored) copyToSecondTier(*stored);
    releaseTierLock();  // after the copy's store (same connection): a waiter finds it
  }

  // --- The second tier (cache.shared): looked up on a local miss that holds the fill permit,
  // written after a clean fill. A tier key is the primary key and the negotiated encoding, so
  // that each compressed variant has its own copy; other Vary fields must match the copy's.
  void makeTierKey() {
    std::vector<std::string_view>& ae = scratch_a_;
    ae.clear();
    for (const FieldView& f : req_fields_)
      if (proxy::equalsIgnoreCase(f.name, "accept-encoding")) ae.push_back(f.value);
    tier_key_.assign(key_);
    tier_key_ += '#';
    tier_key_ += negotiatedEncoding(ae, route_->key.encodings);
  }

  bool askSecondTier() {
    SecondTier* tier = factory_.tier_;
    if (!tier || request_->method_id != proxy::Method::Get || hasRange()) return false;
    makeTierKey();
    // Collapsing across instances takes a lock for this fill: not for a request whose answer is
    // most likely not storable (Authorization).
    if (!tier->lookup(tier_key_, *this, !facts_.has_authorization)) return false;
    tier_pending_ = true;
    return true;
  }

  // This exchange's fill lock in the second tier, given back: the fill was copied there, or
  // will not be.
  void releaseTierLock() {
    if (!tier_lock_) return;
    if (factory_.tier_) factory_.tier_->unlock(tier_key_, tier_lock_);
    tier_lock_ = 0;
  }

  void onSecondTierResult(const SecondTierAnswer& answer) override {
    tier_pending_ = false;
    tier_lock_ = answer.lock;
    const std::string_view value = answer.value;
    SecondTierCounters* c = factory_.settings_->tier_counters;
    proxy::FilterAction a = proxy::FilterAction::Continue;
    bool hit = false;
    if (!value.empty() && permit_) {
      std::optional<CacheEntry::Parts> parts = decodeEntry(tier_key_, value);
      if (!parts) {
        if (c) c->corrupt.fetch_add(1, std::memory_order_relaxed);
      } else if (secondaryKeyMatches(parts->vary, req_fields_, route_->key, parts->vary_key)) {
        parts->gauges = &route_->counters->store;
        EntryBuilder b(std::move(*parts), UINT64_MAX);
        b.finish();
        EntryRef got;
        if (permit_.commit(std::move(b), &got) == BypassReason::None && got) {
          entry_ = std::move(got);
          from_tier_ = hit = true;
          waited_ = answer.waited;  // another instance's fill: served as collapsed
          if (answer.waited && c) c->lock_waits_served.fetch_add(1, std::memory_order_relaxed);
          a = reuse();
        }
      }
    }
    if (c) (hit ? c->hits : c->misses).fetch_add(1, std::memory_order_relaxed);
    if (!hit) {
      state_ = CacheState::Miss;
      route_->counters->misses.fetch_add(1, std::memory_order_relaxed);
    }
    resumer_->resume(a);
  }

  void copyToSecondTier(const CacheEntry& entry) {
    SecondTier* tier = factory_.tier_;
    if (!tier || entry.bodySize() > tier->maxObject()) return;
    const uint64_t ttl = tierTtl(entry, nowSeconds());
    if (ttl == 0) return;
    makeTierKey();
    tier->store(tier_key_, encodeEntry(tier_key_, entry), ttl, entry.tags());
  }

  proxy::FilterAction gatewayTimeout() {
    permit_.abandon();
    state_ = CacheState::Bypass;
    reason_ = BypassReason::OnlyIfCached;
    out_headers_.clear();
    status_text_ = formatCacheStatus("edged", CacheState::Miss, BypassReason::None, std::nullopt, false);
    out_headers_.push_back({"Cache-Status", status_text_, proxy::HeaderId::Other});
    *local_ = {};
    local_->status = 504;
    local_->headers = out_headers_;
    local_->has_body = true;
    return proxy::FilterAction::Respond;
  }

  // RFC 9111 §5.2.2.2: a stale response that must not be served stale (must-revalidate,
  // proxy-revalidate, s-maxage) could not be revalidated: the generated error SHOULD be 504,
  // whatever stopped the origin (refused, reset, no answer, a broken head).
  proxy::FilterAction revalidationFailed(proxy::LocalResponse& local) {
    permit_.abandon();
    out_headers_.clear();
    out_headers_.push_back({"Server", "edged", proxy::HeaderId::Other});
    out_headers_.push_back({"Content-Type", "text/html", proxy::HeaderId::Other});
    out_headers_.push_back({"Cache-Status", "edged; fwd=stale; detail=must-revalidate", proxy::HeaderId::Other});
    body_scratch_.clear();
    proxy::errorPageBody(504, body_scratch_);
    local = {};
    local.status = 504;
    local.headers = out_headers_;
    local.body = body_scratch_;
    return proxy::FilterAction::Respond;
  }

  // PURGE /path from an allowed address: every variant of the key, answered with the count.
  proxy::FilterAction purge(std::string_view client) {
    purge_ = true;
    out_headers_.clear();
    out_headers_.push_back({"Content-Type", "application/json"});
    *local_ = {};
    if (!factory_.settings_->purgeAllowed(client)) {
      local_->status = 403;
      body_scratch_ = "{\"error\": \"PURGE is not allowed from this address\"}\n";
    } else {
      const size_t n = factory_.store_.purgeKey(key_);
      if (factory_.tier_) factory_.tier_->purge(PurgeKind::Key, key_);  // every instance, and Redis
      route_->counters->purges.fetch_add(n, std::memory_order_relaxed);
      local_->status = 200;
      body_scratch_ = "{\"purged\": " + std::to_string(n) + "}\n";
    }
    local_->headers = out_headers_;
    local_->body = body_scratch_;
    state_ = CacheState::Bypass;
    return proxy::FilterAction::Respond;
  }

  // RFC 9111 §4.4: the target and same-origin Location / Content-Location.
  void invalidate() {
    CacheStore& store = factory_.store_;
    size_t n = store.purgeKey(key_);
    if (factory_.tier_) factory_.tier_->purge(PurgeKind::Key, key_);
    const std::string_view host = request_->fields.find(proxy::HeaderId::Host);
    for (const FieldView& f : resp_fields_) {
      if (!proxy::equalsIgnoreCase(f.name, "location") && !proxy::equalsIgnoreCase(f.name, "content-location")) continue;
      const std::string k = sameOriginKey(request_->scheme(), host, request_->target(), f.value, route_->key);
      if (!k.empty()) n += store.purgeKey(k);
      if (!k.empty() && factory_.tier_) factory_.tier_->purge(PurgeKind::Key, k);
    }
    route_->counters->invalidations.fetch_add(n, std::memory_order_relaxed);
  }

  Waiter* spareWaiter() {
    if (!spare_) spare_ = new WaitState(g_waker, factory_.store_, factory_.mailbox_);
    return spare_;
  }

  void startWaiting() {
    wait_ = spare_;
    spare_ = nullptr;
    wait_->filter = this;
    wait_->wake_pending = true;
    uv_timer_init(factory_.loop_, &wait_->timer);
    wait_->timer.data = wait_;
    wait_->timer_open = true;
    uv_timer_start(&wait_->timer, &WaitState::onTimeout, route_->lock_timeout_ms, 0);
  }

  // The exchange ended while waiting.
  void stopWaiting() {
    WaitState* ws = wait_;
    wait_ = nullptr;
    if (factory_.store_.cancelWait(ws)) ws->wake_pending = false;
    ws->filter = nullptr;
    ws->closeTimer();
    ws->maybeDelete();
  }

  CacheFilterFactory& factory_;
  const proxy::RequestHead* request_ = nullptr;
  const RouteCacheSettings* route_ = nullptr;
  proxy::LocalResponse* local_ = nullptr;
  proxy::Resumer* resumer_ = nullptr;
  int64_t request_time_ = 0;
  RequestFacts facts_;
  std::string key_;
  EntryRef entry_;
  ReuseDecision reuse_;
  FillPermit permit_;
  std::optional<EntryBuilder> builder_;
  WaitState* wait_ = nullptr;
  WaitState* spare_ = nullptr;
  CacheState state_ = CacheState::Miss;
  BypassReason reason_ = BypassReason::None;
  bool revalidating_ = false;
  bool invalidate_ = false;
  bool stored_ = false;
  bool waited_ = false;
  bool stale_if_error_ = false;
  bool updating_ = false;       // served stale under stale-while-revalidate (a refresh runs)
  bool unmatched_304_ = false;  // revalidation got a 304 for another representation: served as stored
  bool not_modified_ = false;   // revalidated by a 304
  bool purge_ = false;          // a PURGE request
  bool from_tier_ = false;     // entry_ came from the second tier
  bool tier_pending_ = false;  // a second-tier lookup is out
  uint64_t tier_lock_ = 0;     // this exchange holds the key's fill lock in the second tier
  std::string tier_key_;
  StoredHead merged_;
  std::vector<proxy::Header> req_headers_;
  std::vector<FieldView> req_fields_, resp_fields_, merged_fields_;
  std::vector<std::string> tags_;
  std::vector<std::string_view> scratch_a_, scratch_b_;
  std::vector<proxy::Header> out_headers_;
  std::vector<std::string_view> body_parts_;
  std::string age_text_, status_text_, range_text_, body_scratch_;
};

void WaitState::onFillOutcome(FillOutcome o) {
  wake_pending = false;
  if (CacheExchangeFilter* f = filter) {
    filter = nullptr;
    closeTimer();
    f->onWaitOver(o, false);
  }
  maybeDelete();
}

void WaitState::onTimeout(uv_timer_t* t) {
  auto* ws = static_cast<WaitState*>(t->data);
  if (!ws->filter || !ws->store.cancelWait(ws)) return;  // the wake-up is on its way
  ws->wake_pending = false;
  CacheExchangeFilter* f = ws->filter;
  ws->filter = nullptr;
  ws->closeTimer();
  f->onWaitOver(FillOutcome::Abandoned, true);
}

CacheFilterFactory::CacheFilterFactory(std::shared_ptr<const CacheSettings> settings, CacheStore& store,
                                       uv_loop_s* loop, proxy::WorkerMailbox* mailbox)
    : settings_(std::move(settings)), store_(store), loop_(loop), mailbox_(mailbox) {}

CacheFilterFactory::~CacheFilterFactory() { closeHandles(); }

void CacheFilterFactory::closeHandles() {
  if (SecondTier* t = tier_) {
    tier_ = nullptr;
    t->release();
  }
}

proxy::ExchangeFilter* CacheFilterFactory::attach(const proxy::RequestHead& request, size_t route) {
  const auto& per_route = settings_->per_route;
  if (per_route.empty()) return nullptr;
  const RouteCacheSettings& r = per_route[std::min(route, per_route.size() - 1)];
  if (!r.enabled) return nullptr;
  CacheExchangeFilter* f;
  if (!free_.empty()) {
    f = free_.back();
    free_.pop_back();
  } else {
    filters_.push_back(std::make_unique<CacheExchangeFilter>(*this));
    f = filters_.back().get();
  }
  f->start(request, r);
  return f;
}

}  // namespace edged::cache
