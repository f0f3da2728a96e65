// proxy/session.cpp — one exchange from parsed request head to the last response byte.
#include "proxy/session.h"

#include <uv.h>

#include <algorithm>
#include <charconv>
#include <cstdio>
#include <optional>

#include "proxy/access_log.h"
#include "proxy/client_limiter.h"
#include "proxy/log.h"
#include "proxy/request_checks.h"
#include "proxy/metrics/metrics.h"
#include "proxy/worker_gen.h"

namespace edged::proxy {

namespace {
// Only "chunked" is implemented; any other transfer coding gets 501 (RFC 9112 §6.1).
bool onlyChunked(std::string_view te) {
  bool any = false, other = false;
  fields::forEachListElement(te, [&](std::string_view coding) {
    if (fields::iequals(coding, "chunked")) any = true;
    else other = true;
  });
  return any && !other;
}

void resumeTask(void* owner) { static_cast<Session*>(owner)->onResumedTask(); }

// RFC 9110 §7.8: a server MUST NOT switch to a protocol the request's Upgrade did not name. True
// when each protocol an origin's 101 names was offered (a 101 naming none takes the offer).
bool switchesToOffered(std::string_view offered, std::string_view chosen) {
  bool ok = true;
  fields::forEachToken(chosen, [&](std::string_view p) { ok = ok && fields::listHasToken(offered, p); });
  return ok;
}
}  // namespace

// Nothing is reserved here: an idle keep-alive connection should cost as little as possible.
Session::Session(Downstream& client, SessionServices& services) : client_(client), services_(services) {
  resume_task_.fn = resumeTask;
  resume_task_.owner = this;
  for (size_t i = 0; i < stages_.size(); ++i) {
    stages_[i].session = this;
    stages_[i].next = static_cast<uint8_t>(i);
  }
}

Session::~Session() {
  SessionServices::cancel(resume_task_);
  if (up_) up_->release(false);
  up_ = nullptr;
  for (uint8_t i = 0; i < filter_count_; ++i) filters_[i]->release();
  filter_count_ = 0;
  if (gen_) services_.releaseGen(gen_);
}

WorkerGen& Session::gen() { return gen_ ? *gen_ : services_.currentGen(); }

const conf::Config& Session::config() { return gen().config(); }

size_t Session::serverSlot() const { return gen_->layout().serverSlot(route_->upstream_index, server_->index); }

size_t Session::routeIndex() const {
  const conf::Config& cfg = gen_->config();
  return route_ ? static_cast<size_t>(route_ - cfg.routes.data()) : cfg.routes.size();
}

void Session::recycle(size_t keep) {
  if (up_) up_->release(false);
  up_ = nullptr;
  reset();
  active_ = false;
  if (upstream_head_.capacity() > keep) std::string().swap(upstream_head_);
  if (target_storage_.capacity() > keep) std::string().swap(target_storage_);
}

void Session::reset() {
  SessionServices::cancel(resume_task_);
  for (uint8_t i = 0; i < filter_count_; ++i) filters_[i]->release();
  filter_count_ = 0;
  body_count_ = 0;
  next_filter_ = 0;
  if (gen_) services_.releaseGen(gen_);
  gen_ = nullptr;
  route_ = nullptr;
  picker_ = nullptr;
  tried_.clear();
  req_body_bytes_ = 0;
  req_complete_ = false;
  upgrade_ = false;
  tunnel_ = false;
  waiting_ = false;
  tries_ = 0;
  first_try_ms_ = 0;
  head_written_ = false;
  counted_ = false;
  upstream_head_.clear();
  forward_target_ = {};
  default_host_ = false;
  host_from_target_ = false;
  route_host_ = {};
  max_forwards_ = -1;
  resumed_action_ = FilterAction::Continue;
  local_ = {};
  server_ = nullptr;
  up_ = nullptr;
  stale_retry_done_ = false;
  upstream_paused_ = false;
  origin_reuse_ = false;
  status_ = 0;
  response_head_sent_ = false;
  keep_alive_ = true;
  body_failed_ = false;
  resp_body_bytes_ = 0;
  resp_length_ = kUnknownLength;
  upstream_start_ns_ = 0;
  upstream_head_ns_ = 0;
  request_id_ = {};
  request_id_due_ = false;
}

// ---- request phase -------------------------------------------------------------------------

int Session::onRequestHead() {
  reset();
  active_ = true;
  gen_ = services_.acquireGen();
  out_mark_ = client_.bytesQueued();
  start_ns_ = client_.requestStartNs();  // nginx $request_time starts at the first byte
  const RequestHead& req = client_.request();
  const ParsedHead& head = req.fields;

  int host_count = 0, te_count = 0, cl_count = 0;
  const std::string_view host = head.find(HeaderId::Host, &host_count);
  const std::string_view te = head.find(HeaderId::TransferEncoding, &te_count);
  head.find(HeaderId::ContentLength, &cl_count);
  // RFC 9112 §3.2: HTTP/1.1 needs exactly one Host; §6.1: CL with TE is a smuggling vector.
  if ((!req.http10() && host_count == 0) || host_count > 1 || (te_count > 0 && cl_count > 0) || cl_count > 1)
    return 400;
  // RFC 9112 §6.1: Transfer-Encoding in an HTTP/1.0 message means faulty framing.
  if (te_count > 0 && req.http10()) return 400;
  if (te_count > 0) {  // RFC 9112 §6.3: the final coding of the last field must be chunked
    std::string_view last_te = te;
    for (size_t i = 0; i < head.size(); ++i)
      if (head.id(i) == HeaderId::TransferEncoding) last_te = head.value(i);
    if (!finalCodingIsChunked(last_te)) return 400;
  }
  if (te_count > 1 || (te_count == 1 && !onlyChunked(te))) return 501;
  if (req.method_id == Method::Connect) return 405;
  const conf::Config& cfg = gen_->config();
  const uint64_t max_body = cfg.limits.max_body_bytes;
  if (max_body != 0 && req.framing == BodyFraming::ContentLength && req.content_length > max_body) return 413;

  // Host and the request line (proxy/request_checks): an absolute-form target ("GET
  // http://host/path") routes on its authority, which also becomes the origin's Host, and
  // forwards its path (RFC 9112 §3.2.2).
  const RequestLineVerdict line = checkRequestLine(req.method, head.target(), host, host_count, req.version_major);
  if (line.status) return line.status;
  if (client_.redirectHttps()) {
    redirectToHttps(line.route_host, line.target);
    return 0;
  }
  // RFC 9110 §7.6.2: an OPTIONS with Max-Forwards 0 is answered here; otherwise it goes on with
  // the value decremented.
  max_forwards_ = -1;
  if (req.method_id == Method::Options) {
    int mf_count = 0;
    if (const std::string_view mf = head.find("max-forwards", &mf_count); mf_count > 0) {
      max_forwards_ = parseMaxForwards(mf);
      if (max_forwards_ < 0) return 400;
      if (max_forwards_ == 0) {
        answer(200, Termination::None, req.framing != BodyFraming::None);
        return 0;
      }
    }
  }
  // RFC 9110 §9.3.7: "OPTIONS *" asks about the server itself, which edged is to its client:
  // answered here like Max-Forwards 0 (200 with Allow), never routed as a path.
  if (req.method_id == Method::Options && line.target == "*") {
    answer(200, Termination::None, req.framing != BodyFraming::None);
    return 0;
  }
  std::string_view target = line.target;
  route_host_ = line.route_host;
  host_from_target_ = line.host_from_target;
  if (target.empty() || target.front() == '?') {  // "http://host" or "http://host?q": the path is "/"
    target_storage_.assign("/").append(target);
    target = target_storage_;
  }
  const std::string_view route_host = route_host_;
  forward_target_ = target;
  default_host_ = host_count == 0;
  auto route = gen_->router().match(route_host, target);
  if (!route) {
    answer(404, Termination::None, req.framing != BodyFraming::None);
    return 0;
  }
  route_ = &cfg.routes[*route];
  picker_ = &gen_->picker(route_->upstream_index);
  if (!admitted(*route)) return 0;

  // The client's id, or one made when first used (a cache hit with the access log off never
  // needs it).
  if (std::string_view id = head.find(HeaderId::XRequestId); validRequestId(id))
    request_id_ = id;
  else
    request_id_due_ = true;
  // WebSocket: Upgrade and Connection tokens matched case-insensitively, in lists.
  if (req.upgrade && headerHasToken(head.find(HeaderId::Upgrade), "websocket") &&
      headerHasToken(head.find(HeaderId::Connection), "upgrade")) {
    if (!route_->websocket) {
      answer(403, Termination::None, true);
      return 0;
    }
    upgrade_ = true;
  }

  for (FilterFactory* f : gen_->filters()) {
    if (filter_count_ == kMaxFilters) break;
    if (ExchangeFilter* x = f->attach(req, *route)) filters_[filter_count_++] = x;
  }
  runRequestFilters(0);
  return waiting_ ? kWaiting : 0;
}

std::string_view Session::requestId() {
  if (request_id_due_) {
    services_.newRequestId(request_id_buf_);
    request_id_ = {request_id_buf_, sizeof request_id_buf_};
    request_id_due_ = false;
  }
  return request_id_;
}

void Session::runRequestFilters(size_t from) {
  for (size_t i = from; i < filter_count_; ++i) {
    switch (filters_[i]->onRequest(client_.request(), local_, *this)) {
      case FilterAction::Continue:
        continue;
      case FilterAction::Respond:
        respond(local_, Termination::None, false, ClientNext::Done);
        return;
      case FilterAction::Wait:
        next_filter_ = static_cast<uint8_t>(i + 1);
        waiting_ = true;
        return;
    }
  }
  buildRequestHead();
  pickAndConnect();
}

// A background exchange repeats this request without a client (proxy/background_exchange.h);
// one never starts another.
bool Session::startBackground(std::string_view method) {
  const RequestHead& req = client_.request();
  if (req.background || !active_) return false;
  return services_.startBackground(req, method, client_.clientIp(), client_.forwardedFor());
}

void Session::resume(FilterAction action) {
  resumed_action_ = action;
  services_.post(resume_task_);
}

void Session::onResumedTask() {
  if (!active_ || !waiting_) return;
  waiting_ = false;
  if (resumed_action_ == FilterAction::Respond) {
    respond(local_, Termination::None, false, ClientNext::Done);
  } else {
    runRequestFilters(next_filter_);
  }
  // The head's parse stopped for the wait: the body (toward the origin now) or the next
  // pipelined request comes next.
  client_.resumeRequest();
}

void Session::buildRequestHead() {
  const RequestHead& req = client_.request();
  std::vector<Header>& headers = services_.headerScratch();
  req.fields.headers(headers);
  // The authority of an absolute-form target is the origin's Host (RFC 9112 §3.2.2); an OPTIONS
  // goes on with Max-Forwards decremented (RFC 9110 §7.6.2).
  if (host_from_target_)
    for (Header& h : headers)
      if (h.id == HeaderId::Host) h.value = route_host_;
  char max_forwards_text[24];
  if (max_forwards_ > 0) {
    const int n = std::snprintf(max_forwards_text, sizeof max_forwards_text, "%ld", max_forwards_ - 1);
    for (Header& h : headers)
      if (equalsIgnoreCase(h.name, "max-forwards")) h.value = {max_forwards_text, static_cast<size_t>(n)};
  }
  UpstreamRequest edit{req.method, forward_target_, headers};
  for (uint8_t i = 0; i < filter_count_; ++i) filters_[i]->onUpstreamRequest(edit);
  UpstreamRequestOptions o;
  o.request_id = requestId();
  o.client_ip = client_.clientIp();
  if (!client_.tls().version.empty()) o.scheme = "https";
  o.forwarded_for = client_.forwardedFor();
  // getsockname(2) only when used
  if (default_host_) o.default_host = host_from_target_ ? route_host_ : client_.localAddress();
  o.body = req.framing;
  o.content_length = req.content_length;
  o.keep_alive = picker_->group().config().keepalive > 0;
  if (upgrade_) o.upgrade = req.fields.find(HeaderId::Upgrade);
  o.client_http10 = req.version_major == 1 && req.version_minor == 0;
  buildUpstreamRequestHead(edit.method, edit.target, headers, o, upstream_head_);
}

// ---- pickServer / connect ------------------------------------------------------------------

std::string_view Session::hashKey() const {
  const upstream::UpstreamGroup& g = picker_->group();
  if (!g.needsHashKey()) return {};
  const upstream::HashKey& k = g.hashKey();
  const ParsedHead& head = client_.request().fields;
  switch (k.kind) {
    case upstream::HashKeyKind::RemoteAddr: return client_.clientIp();
    case upstream::HashKeyKind::Uri: {
      std::string_view t = head.target();
      return t.substr(0, t.find('?'));
    }
    case upstream::HashKeyKind::Header: return head.find(k.name);
    case upstream::HashKeyKind::Cookie: return upstream::findCookie(head.find("cookie"), k.name);
  }
  return {};
}

bool Session::pickAndConnect() {
  const upstream::PickResult r = picker_->choose(tried_, hashKey());
  if (!r.server) {
    LOG_WARN("no server available in upstream \"%s\" (%s)", picker_->group().name().c_str(),
             r.why == upstream::PickFailure::AllTried ? "all tried" : "none usable");
    answerUpstreamError(upstream::statusFor(r.why), Termination::NoServer, !req_complete_);
    return false;
  }
  if (r.panic) notePanic(*r.server);
  if (tries_ == 0) first_try_ms_ = picker_->group().nowMs();
  tried_.insert(r.server->index);
  ++tries_;
  return connectTo(*r.server, true);
}

// Panic routing (upstream/upstream_picker.h): no server was usable, so one that health holds out
// is tried anyway; counted and logged so that an operator sees the group is in trouble.
void Session::notePanic(const upstream::Server& server) {
  services_.metrics().panic(gen_->layout().upstreamSlot(route_->upstream_index));
  LOG_WARN("upstream \"%s\" has no usable server: trying %s anyway (panic)", picker_->group().name().c_str(),
           server.name().c_str());
}

bool Session::connectTo(upstream::Server& server, bool allow_pooled) {
  server_ = &server;
  head_written_ = false;
  server.active.fetch_add(1, std::memory_order_relaxed);
  server.requests.fetch_add(1, std::memory_order_relaxed);
  counted_ = true;
  upstream_start_ns_ = services_.nowNs();
  int error = 0;
  OriginStream* origin =
      services_.openOrigin(*gen_, route_->upstream_index, server, serverSlot(), allow_pooled, this, &error);
  if (!origin) {
    LOG_WARN("connect() to %s failed: %s", server.name().c_str(), uv_strerror(error));
    onUpstreamFailure(UpstreamFailure::ConnectFailed);
    return false;
  }
  up_ = origin;
  up_->out().appendCopy(upstream_head_);  // a new connection sends it once connected
  if (origin->reused()) {
    head_written_ = true;
    flushUpstream();
  }
  return true;
}

void Session::onUpstreamConnected() {
  if (server_) services_.metrics().upstreamConnect(serverSlot(), services_.nowNs() - upstream_start_ns_);
  head_written_ = true;  // the queued head goes out now: a failure from here on may have reached the origin
  flushUpstream();
}

// Sends what is queued toward the origin, then settles backpressure on the client's request
// body: paused while more than the high watermark waits, resumed once under the low one. Writes
// that complete at once raise no callback, so this check follows every flush.
void Session::flushUpstream() {
  if (!up_) return;
  // Bounded: below 2 x kHighWater before the next read adds at most one buffer.
  if (client_.mayDeferUpstreamFlush() && up_->out().queuedBytes() < 2 * kHighWater) {
    client_.deferUpstreamFlush();
    return;
  }
  up_->flush();
  if (!up_) return;
  const size_t queued = up_->out().queuedBytes();
  if (queued > kHighWater)
    client_.pauseRequestBody();
  else if (queued < kLowWater)
    client_.resumeRequestBody();
}

// ---- sendRequest -------------------------------------------------------------------------

namespace {
// Queues n request body bytes toward the origin in the request's framing.
void queueRequestBody(WriteQueue& q, BodyFraming framing, IoBuf* buf, const char* p, size_t n) {
  if (framing == BodyFraming::Chunked) {
    char hdr[20];
    q.appendCopy({hdr, writeChunkHeader(n, hdr)});
  }
  if (buf)
    q.append(buf, p, n);
  else
    q.appendCopy({p, n});
  if (framing == BodyFraming::Chunked) q.appendCopy(kChunkTrailer);
}
}  // namespace

int Session::onRequestBody(IoBuf* buf, const char* p, size_t n) {
  req_body_bytes_ += n;
  const uint64_t max_body = gen().config().limits.max_body_bytes;
  if (max_body != 0 && req_body_bytes_ > max_body) return 413;
  if (!up_) return 0;  // already answered: the rest of the body is discarded
  queueRequestBody(up_->out(), client_.request().framing, buf, p, n);
  return 0;
}

// nginx's check: a chunk that would take the body past max_body_bytes is refused when its size
// line arrives (a "ffffffffffffffff" chunk is 413 at once, not after client_body).
int Session::onRequestChunk(uint64_t size) {
  const uint64_t max_body = gen().config().limits.max_body_bytes;
  return max_body != 0 && size > max_body - std::min(req_body_bytes_, max_body) ? 413 : 0;
}

void Session::onRequestComplete() {
  req_complete_ = true;
  if (up_ && client_.request().framing == BodyFraming::Chunked) up_->out().appendCopy(kLastChunk);
}

void Session::onRequestBodyReadBatchDone() { flushUpstream(); }

void Session::onUpstreamWritten() {
  if (up_ && up_->out().queuedBytes() < kLowWater) client_.resumeRequestBody();
}

// ---- failures and retries ------------------------------------------------------------------

void Session::releaseUpstream(bool reuse) {
  if (counted_ && server_) {
    server_->active.fetch_sub(1, std::memory_order_relaxed);
    counted_ = false;
  }
  if (up_) {
    OriginStream* origin = up_;
    up_ = nullptr;
    origin->release(reuse);
  }
}

void Session::onUpstreamFailure(UpstreamFailure f) {
  if (tunnel_) {
    releaseUpstream(false);
    end(Termination::UpstreamClosed, ClientNext::CloseAfterWrite);
    return;
  }
  const bool was_reused = up_ && up_->reused();
  const bool response_started = up_ && up_->responseStarted();
  releaseUpstream(false);
  // A pooled connection the origin closed while idle is not the server's failure: once, on a
  // fresh connection, when nothing of a body was consumed and the method is idempotent.
  const RequestHead& req = client_.request();
  if (!response_head_sent_ && was_reused && !response_started && f == UpstreamFailure::Closed &&
      req.idempotent() && req.framing == BodyFraming::None && !stale_retry_done_ && server_) {
    stale_retry_done_ = true;
    LOG_INFO("retrying on a fresh connection to %s after a stale pooled connection", server_->name().c_str());
    connectTo(*server_, false);
    return;
  }
  if (server_) {
    static constexpr metrics::FailureReason kReason[] = {
        metrics::FailureReason::ConnectFailed, metrics::FailureReason::ConnectTimeout,
        metrics::FailureReason::SendTimeout,   metrics::FailureReason::ReadTimeout,
        metrics::FailureReason::UpstreamClosed, metrics::FailureReason::BadResponse};
    services_.metrics().upstreamFailure(serverSlot(), kReason[static_cast<int>(f)]);
  }
  upstream::FailureKind kind = upstream::FailureKind::Error;
  Termination why = Termination::UpstreamClosed;
  switch (f) {
    case UpstreamFailure::ConnectFailed:
      kind = upstream::FailureKind::ConnectFailed;
      why = Termination::ConnectFailed;
      break;
    case UpstreamFailure::ConnectTimeout:
      kind = upstream::FailureKind::ConnectTimeout;
      why = Termination::UpstreamTimeout;
      break;
    case UpstreamFailure::SendTimeout:
    case UpstreamFailure::ReadTimeout:
      kind = upstream::FailureKind::Timeout;
      why = Termination::UpstreamTimeout;
      break;
    case UpstreamFailure::Closed: break;
    case UpstreamFailure::BadResponse: kind = upstream::FailureKind::InvalidResponse; break;
  }
  if (response_head_sent_)
    LOG_WARN("upstream %s failed mid-response (%s); closing client connection",
             (server_ ? server_->name().c_str() : "-"), failureName(f));
  upstream::RetryDecision d;
  if (retried(kind, 0, d)) return;
  switch (d.action) {
    case upstream::RetryAction::Retry:   // no server left to retry on
    case upstream::RetryAction::Answer:
      answerUpstreamError(d.status, why, !req_complete_);
      return;
    case upstream::RetryAction::Abort:
    case upstream::RetryAction::PassThrough:  // not reached for transport failures
      keep_alive_ = false;
      end(why, ClientNext::Done);
      return;
  }
}

// The one place a try's outcome is judged (upstream/retry_policy): passive health first, then a
// retry on another server. True when the exchange moved on to that server; `d` says what to do
// otherwise.
bool Session::retried(upstream::FailureKind kind, int http_status, upstream::RetryDecision& d) {
  const upstream::UpstreamGroup& g = picker_->group();
  const uint64_t now = g.nowMs();
  upstream::RetryContext ctx = upstream::RetryContext::forUpstream(g.config());
  ctx.failure = kind;
  ctx.http_status = http_status;
  ctx.tries = tries_;
  ctx.elapsed_ms = now - first_try_ms_;
  ctx.idempotent = client_.request().idempotent();
  ctx.head_bytes_sent = head_written_ ? upstream_head_.size() : 0;
  ctx.body_bytes_sent = head_written_ ? req_body_bytes_ : 0;
  ctx.response_started = response_head_sent_;
  ctx.untried_server_remains = picker_->anyUntriedAvailable(tried_);
  d = upstream::decideRetry(ctx);
  if (d.server_failed && server_ && server_->recordFailure(now))
    LOG_WARN("upstream \"%s\" server %s failed %u time(s) within fail_timeout: unavailable for %lld ms",
             g.name().c_str(), server_->name().c_str(), g.config().health.max_fails,
             static_cast<long long>(g.config().health.fail_timeout.count()));
  if (d.action != upstream::RetryAction::Retry) return false;
  // A status answer is retried only once the request was sent whole (its body is not kept).
  if (kind == upstream::FailureKind::HttpStatus && !req_complete_) return false;
  const upstream::PickResult r = picker_->choose(tried_, hashKey());
  if (!r.server) return false;
  if (kind == upstream::FailureKind::HttpStatus) {
    LOG_INFO("upstream %s answered %d: retrying on %s", (server_ ? server_->name().c_str() : "-"), http_status,
             r.server->name().c_str());
    services_.metrics().upstreamResponse(serverSlot(), http_status, services_.nowNs() - upstream_start_ns_);
  }
  services_.metrics().retry(gen_->layout().upstreamSlot(route_->upstream_index));
  if (r.panic) notePanic(*r.server);
  releaseUpstream(false);
  tried_.insert(r.server->index);
  ++tries_;
  connectTo(*r.server, true);
  return true;
}

void Session::timeout() {
  if (!active_) return;
  if (response_head_sent_) {
    keep_alive_ = false;
    end(Termination::RequestTimeout, ClientNext::Done);  // closes: the client must see a cut response
    return;
  }
  answer(504, Termination::RequestTimeout, true);
}

// ---- response head / body ------------------------------------------------------------------

bool Session::onUpstreamHead(const ResponseHead& h) {
  const int status = h.status;
  if (status == 101 && !upgrade_) {
    LOG_WARN("upstream %s answered 101 to a request that was not an upgrade",
             (server_ ? server_->name().c_str() : "-"));
    onUpstreamFailure(UpstreamFailure::BadResponse);
    return false;
  }
  if (status == 101 &&
      !switchesToOffered(client_.request().fields.find(HeaderId::Upgrade), h.fields.find(HeaderId::Upgrade))) {
    LOG_WARN("upstream %s answered 101 with a protocol the client did not offer",
             (server_ ? server_->name().c_str() : "-"));
    onUpstreamFailure(UpstreamFailure::BadResponse);
    return false;
  }
  std::vector<Header>& headers = services_.headerScratch();
  h.fields.headers(headers);
  if (status == 101) {
    upstream_head_ns_ = services_.nowNs();
    status_ = 101;
    ResponseMeta m;
    m.upgrade = h.fields.find(HeaderId::Upgrade);
    if (m.upgrade.empty()) m.upgrade = "websocket";
    client_.sendHead(101, h.reason(), headers, m);
    response_head_sent_ = true;
    tunnel_ = true;
    keep_alive_ = false;
    services_.metrics().tunnelOpened();
    up_->startTunnel();
    client_.startTunnel();
    return false;
  }
  if (status < 200) {
    // Interim responses (100 Continue, 103 Early Hints) go on as they come, where the client's
    // protocol has them.
    client_.sendInterim(status, h.reason(), headers);
    client_.flush();
    return false;
  }
  // A status retry_on names is judged like a transport failure, before any byte reaches the client.
  const upstream::UpstreamGroup& g = picker_->group();
  if (const uint32_t cond = upstream::retryConditionFor(upstream::FailureKind::HttpStatus, status);
      cond && (g.config().retry_on & cond)) {
    upstream::RetryDecision d;
    if (retried(upstream::FailureKind::HttpStatus, status, d)) return false;
    // Not retried: the origin's own response goes to the client.
  } else if (server_ && server_->recordSuccess(g.nowMs())) {
    LOG_INFO("upstream \"%s\" server %s answered again: back in rotation", g.name().c_str(),
             server_->name().c_str());
  }
  upstream_head_ns_ = services_.nowNs();
  status_ = status;
  if (server_) services_.metrics().upstreamResponse(serverSlot(), status, upstream_head_ns_ - upstream_start_ns_);
  const bool no_body = client_.request().method_id == Method::Head || status == 204 || status == 304;

  // Response filters, in reverse order of the chain.
  ResponseEdit edit{status, h.reason(), headers, !no_body, false};
  bool body_rewritten = false;  // a body filter changes the bytes (their length is not known)
  for (size_t i = filter_count_; i-- > 0;) {
    edit.filter_body = edit.body_unchanged = false;
    if (filters_[i]->onResponseHead(edit, local_) == FilterAction::Respond) {
      releaseUpstream(false);  // its body is not read: the connection cannot be reused
      respond(local_, Termination::None, false, ClientNext::Done);
      return false;
    }
    if (edit.filter_body && !no_body) {
      body_[body_count_++] = filters_[i];
      body_rewritten |= !edit.body_unchanged;
    }
  }
  status_ = edit.status;
  ResponseMeta m;
  if (no_body)
    m.body = BodyFraming::None;
  else if (!body_rewritten && h.framing == BodyFraming::ContentLength)  // no filter, or only tees
    m.body = BodyFraming::ContentLength, m.content_length = h.content_length;
  else
    m.body = BodyFraming::Chunked;  // length unknown (a filter transforms it, or the origin did not say)
  m.must_close = !req_complete_ || services_.draining();
  m.request_id = requestId();
  keep_alive_ = client_.sendHead(edit.status, edit.reason, headers, m);
  response_head_sent_ = true;
  resp_length_ = m.body == BodyFraming::ContentLength ? m.content_length : kUnknownLength;
  return no_body;  // HEAD, 204, 304: no body whatever Content-Length says (RFC 9110 §6.4.1)
}

void Session::onUpstreamBody(IoBuf* buf, const char* p, size_t n) {
  if (body_count_ == 0) {
    resp_body_bytes_ += n;
    client_.sendBody(buf, p, n);
    return;
  }
  pushBody(0, {p, n}, false);
  if (body_failed_) {
    LOG_WARN("a response body filter failed; closing the client connection");
    keep_alive_ = false;
    end(Termination::Internal, ClientNext::Done);
  }
}

// Bytes entering body stage `stage`: the filter there, or the client past the last one.
void Session::pushBody(uint8_t stage, std::string_view bytes, bool end_of_body) {
  if (stage >= body_count_) {
    if (bytes.empty()) return;
    resp_body_bytes_ += bytes.size();
    client_.sendBody(nullptr, bytes.data(), bytes.size());
    return;
  }
  if (!body_[stage]->onResponseBody(bytes, end_of_body, stages_[stage + 1])) body_failed_ = true;
  if (end_of_body) pushBody(static_cast<uint8_t>(stage + 1), {}, true);
}

bool Session::flushFilters() {
  for (uint8_t i = 0; i < body_count_; ++i)
    if (!body_[i]->onFlush(stages_[i + 1])) body_failed_ = true;
  return !body_failed_;
}

void Session::onUpstreamTunnelData(IoBuf* buf, const char* p, size_t n) {
  resp_body_bytes_ += n;
  client_.sendTunnelData(buf, p, n);
}

void Session::onTunnelClientData(IoBuf* buf, const char* p, size_t n) {
  if (!up_) return;
  req_body_bytes_ += n;
  up_->out().append(buf, p, n);
  flushUpstream();
}

// Either side of a tunnel ended: what was received is delivered, then both close.
void Session::onUpstreamTunnelEnd() { end(Termination::None, ClientNext::CloseAfterWrite); }
void Session::onTunnelClientEnd() { end(Termination::None, ClientNext::CloseAfterWrite); }

void Session::onUpstreamReadBatchDone() {
  // The origin paused: what the filters hold goes out now (server-sent events stay prompt).
  if (body_count_ && !flushFilters()) {
    keep_alive_ = false;
    end(Termination::Internal, ClientNext::Done);
    return;
  }
  client_.flush();
  if (up_ && !upstream_paused_ && client_.queuedBytes() > responseMark()) {
    upstream_paused_ = true;
    up_->pauseReading();
  }
}

bool Session::mayDeferReadBatch() {
  // What waits is bounded: under 2 x the mark (responseMark()) before the next read adds one
  // buffer, and that read's flush checks the mark (pausing the origin) as usual.
  return client_.queuedBytes() < 2 * responseMark();
}

// ---- the response's high-water mark (small until the client reads: downstream.h) -----------
size_t Session::responseMark() const {
  const uint64_t done = client_.bytesQueued() - client_.queuedBytes();  // handed to the socket
  const uint64_t left = resp_length_ == kUnknownLength ? kUnknownLength
                        : resp_length_ - std::min(resp_length_, resp_body_bytes_);
  return responseHighWater(done > out_mark_ ? done - out_mark_ : 0, left);
}

void Session::onClientDrained() {
  if (upstream_paused_ && up_) {
    upstream_paused_ = false;
    up_->resumeReading();
  }
}

void Session::onUpstreamComplete(bool reusable) {
  if (body_count_) {
    pushBody(0, {}, true);
    if (body_failed_) {
      keep_alive_ = false;
      end(Termination::Internal, ClientNext::Done);
      return;
    }
  }
  client_.endBody();
  origin_reuse_ = reusable && !upgrade_ && req_complete_ && up_ && up_->out().idle() &&
                  picker_->group().config().keepalive > 0 && !services_.draining();
  releaseUpstream(origin_reuse_);
  client_.flush();
  end(Termination::None, ClientNext::Done);
}

// ---- answers edged writes itself -----------------------------------------------------------

void Session::respond(const LocalResponse& r, Termination why, bool close, ClientNext next) {
  releaseUpstream(false);
  status_ = r.status;
  std::vector<Header>& headers = services_.headerScratch();
  headers.assign(r.headers.begin(), r.headers.end());
  const bool head_request = client_.request().method_id == Method::Head;
  ResponseMeta m;
  m.raw_fields = r.raw_fields;
  m.raw_has_date = r.raw_has_date;
  char length[24];
  const std::span<const std::string_view> parts = r.body_parts.empty() ? std::span(&r.body, 1) : r.body_parts;
  size_t body_size = 0;
  for (std::string_view p : parts) body_size += p.size();
  if (r.has_body) {
    // Content-Length describes the body for HEAD too (RFC 9110 §8.6).
    const size_t n = static_cast<size_t>(std::to_chars(length, length + sizeof length, body_size).ptr - length);
    headers.push_back({"Content-Length", {length, n}, HeaderId::ContentLength});
    m.body = head_request ? BodyFraming::None : BodyFraming::ContentLength;
    m.content_length = body_size;
  }
  m.must_close = close || (!req_complete_ && client_.request().framing != BodyFraming::None) ||
                 services_.draining() || next == ClientNext::Nothing;
  keep_alive_ = client_.sendHead(r.status, r.reason, headers, m) && keep_alive_;
  response_head_sent_ = true;
  if (r.has_body && !head_request && body_size > 0) {
    resp_body_bytes_ = body_size;
    // An owned body (a cache hit) is written by reference: the owner is held until it is sent.
    IoBuf* held = nullptr;
    if (r.body_owner.object) {
      r.body_owner.retain(r.body_owner.object);
      held = net::wrapExternal(r.body_owner.object, r.body_owner.release);
    }
    for (std::string_view p : parts)
      if (!p.empty()) client_.sendBody(held, p.data(), p.size());
    if (held) net::release(held);
  }
  client_.endBody();
  client_.flush();
  end(why, next);
}

void Session::answer(int status, Termination why, bool close) {
  static constexpr Header kFields[] = {{"Server", "edged", HeaderId::Other},
                                       {"Content-Type", "text/html", HeaderId::ContentType}};
  static constexpr Header kAllowFields[] = {{"Server", "edged", HeaderId::Other},
                                            {"Content-Type", "text/html", HeaderId::ContentType},
                                            {"Allow", kAllowedMethods, HeaderId::Other}};
  // OPTIONS with Max-Forwards 0 (RFC 9110 §7.6.2) or "*" is the one success edged answers itself.
  static constexpr Header kOptionsFields[] = {{"Server", "edged", HeaderId::Other},
                                              {"Allow", kAllowedMethods, HeaderId::Other}};
  std::string& text = services_.textScratch();
  text.clear();
  LocalResponse r;
  r.status = status;
  if (status == 200) {
    r.headers = kOptionsFields;
  } else {
    errorPageBody(status, text);
    r.headers = status == 405 ? std::span<const Header>(kAllowFields) : std::span<const Header>(kFields);
    r.body = text;
  }
  respond(r, why, close, ClientNext::Done);
}

void Session::answerUpstreamError(int status, Termination why, bool close) {
  if (!response_head_sent_) {
    for (size_t i = filter_count_; i-- > 0;) {
      if (filters_[i]->onUpstreamError(status, local_) == FilterAction::Respond) {
        respond(local_, why, close, ClientNext::Done);
        return;
      }
    }
  }
  answer(status, why, close);
}

// `redirect_https: true` (nginx `return 308 https://$host$request_uri`): the path and query stay.
void Session::redirectToHttps(std::string_view host, std::string_view target) {
  if (host.empty()) {
    answer(400, Termination::None, true);
    return;
  }
  // $host: without the port (the https port is the default one).
  if (const size_t colon = host.rfind(':'); colon != std::string_view::npos && host.find(']', colon) == std::string_view::npos)
    host = host.substr(0, colon);
  std::string& location = services_.textScratch();
  location.assign("https://");
  for (char c : host) location.push_back(c >= 'A' && c <= 'Z' ? static_cast<char>(c + 32) : c);  // $host is lower case
  location.append(target.empty() || target.front() != '/' ? "/" : "");
  location.append(target);
  const Header fields[] = {{"Server", "edged", HeaderId::Other}, {"Location", location, HeaderId::Other}};
  LocalResponse r;
  r.status = 308;
  r.headers = fields;
  respond(r, Termination::None, client_.request().framing != BodyFraming::None, ClientNext::Done);
}

bool Session::admitted(size_t route) {
  // A background exchange was admitted as the request it repeats: not counted a second time.
  if (client_.request().background) return true;
  const Generation& g = gen_->generation();
  const std::string_view ip = client_.clientIp();
  const bool unread_body = client_.request().framing != BodyFraming::None;
  if (route < g.route_access.size() && !g.route_access[route].allows(ip)) {
    answer(403, Termination::None, unread_body);
    return false;
  }
  ClientLimiter* limiter = services_.clientLimiter();
  if (!limiter) return true;
  using Reason = metrics::WorkerMetrics::LimitReason;
  Reason reason = Reason::Connections;
  bool refused = client_.overConnectionLimit();
  if (!refused && limiter->limitsRequests()) {
    const std::string& key_header = g.config->limits.per_client.key_header;
    std::optional<IpAddress> key;
    if (!key_header.empty()) {
      // A request without the header is counted by its address: leaving it out is no way around.
      if (const std::string_view v = client_.request().fields.find(key_header); !v.empty())
        key = ClientLimiter::keyOf(v);
    }
    if (!key) key = parseIpAddress(ip);
    refused = key && !limiter->allowRequest(*key, services_.nowNs() / 1'000'000);
    reason = Reason::Rate;
  }
  if (!refused) return true;
  services_.metrics().limited(reason);
  char seconds[12];
  const int n = std::snprintf(seconds, sizeof seconds, "%u", limiter->retryAfterSeconds());
  const Header fields[] = {{"Server", "edged", HeaderId::Other},
                           {"Content-Type", "text/html", HeaderId::ContentType},
                           {"Retry-After", {seconds, static_cast<size_t>(n)}, HeaderId::Other}};
  std::string& text = services_.textScratch();
  text.clear();
  errorPageBody(429, text);
  LocalResponse r;
  r.status = 429;
  r.headers = fields;
  r.body = text;
  // Over the connection limit: this connection goes, so that the client's count drops.
  respond(r, Termination::None, unread_body || reason == Reason::Connections, ClientNext::Done);
  return false;
}

void Session::reject(int status, Termination why) {
  if (active_ && response_head_sent_) {  // too late for an error page: the connection just closes
    abort(why, status_);
    return;
  }
  if (!active_) {
    reset();
    active_ = true;
    out_mark_ = client_.bytesQueued();
    start_ns_ = client_.requestStartNs() ? client_.requestStartNs() : services_.nowNs();
  }
  keep_alive_ = false;
  static constexpr Header kFields[] = {{"Server", "edged", HeaderId::Other},
                                       {"Content-Type", "text/html", HeaderId::ContentType}};
  static constexpr Header kAllowFields[] = {{"Server", "edged", HeaderId::Other},
                                            {"Content-Type", "text/html", HeaderId::ContentType},
                                            {"Allow", kAllowedMethods, HeaderId::Other}};
  std::string& text = services_.textScratch();
  text.clear();
  errorPageBody(status, text);
  LocalResponse r;
  r.status = status;
  r.headers = status == 405 ? std::span<const Header>(kAllowFields) : std::span<const Header>(kFields);
  r.body = text;
  respond(r, why, true, ClientNext::Nothing);  // the connection closes after writing it
}

void Session::abort(Termination why, int status_for_log) {
  if (!active_) return;
  if (!response_head_sent_) status_ = status_for_log;
  keep_alive_ = false;
  end(why, ClientNext::Nothing);
}

// ---- the one exit --------------------------------------------------------------------------

void Session::end(Termination why, ClientNext next) {
  if (!active_) return;
  SessionServices::cancel(resume_task_);
  waiting_ = false;
  for (uint8_t i = 0; i < filter_count_; ++i) filters_[i]->onFinish(why);
  // An answer sent before the whole request body arrived leaves body bytes unread: close.
  if (!req_complete_ && client_.request().framing != BodyFraming::None) keep_alive_ = false;
  logAccess(why);
  if (tunnel_) {
    tunnel_ = false;
    services_.metrics().tunnelClosed();
    if (counted_ && server_) {
      server_->active.fetch_sub(1, std::memory_order_relaxed);
      counted_ = false;
    }
    if (up_) {
      OriginStream* origin = up_;
      up_ = nullptr;
      // A tunnel's end delivers what was received; a client gone takes the origin side with it.
      if (next == ClientNext::Nothing)
        origin->release(false);
      else
        origin->closeAfterWrite();
    }
  } else {
    releaseUpstream(false);  // onUpstreamComplete already pooled a reusable one
  }
  for (uint8_t i = 0; i < filter_count_; ++i) filters_[i]->release();
  filter_count_ = 0;
  body_count_ = 0;
  active_ = false;
  if (gen_) services_.releaseGen(gen_);
  gen_ = nullptr;
  route_ = nullptr;
  picker_ = nullptr;
  switch (next) {
    case ClientNext::Done: client_.exchangeDone(keep_alive_); break;
    case ClientNext::CloseAfterWrite: client_.closeAfterWrite(); break;
    case ClientNext::Nothing: break;
  }
}

void Session::logAccess(Termination why) {
  const RequestHead& req = client_.request();
  const uint64_t end_ns = services_.nowNs();
  const bool have_method = !req.method.empty();
  {
    WorkerGen& g = gen();
    metrics::WorkerMetrics& m = services_.metrics();
    const size_t route = g.layout().routeSlot(route_ ? routeIndex() : g.layout().unmatchedRoute());
    // Head and body on the wire: "METHOD SP target SP HTTP/1.1 CRLF" + header lines + CRLF + body.
    const uint64_t request_bytes = have_method ? req.method.size() + 14 + req.fields.bytes() + req_body_bytes_ : 0;
    const uint64_t response_bytes = client_.bytesQueued() - out_mark_;
    m.request(route, have_method ? metrics::methodFromName(req.method) : metrics::Method::Other, status_,
              end_ns - start_ns_, request_bytes, response_bytes);
  }
  AccessLog& log = services_.accessLog();
  if (!log.enabled()) return;
  AccessRecord r;
  r.client_ip = client_.clientIp();
  r.method = have_method ? req.method : std::string_view("-");
  r.target = req.target();
  r.http_major = req.version_major;
  r.http_minor = req.version_minor;
  r.status = status_;
  r.body_bytes_sent = resp_body_bytes_;
  r.referer = req.fields.find(HeaderId::Referer);
  r.user_agent = req.fields.find(HeaderId::UserAgent);
  r.upstream = server_ ? std::string_view(server_->name()) : std::string_view();
  r.upstream_seconds = upstream_head_ns_ ? (upstream_head_ns_ - upstream_start_ns_) / 1e9 : -1;
  r.request_seconds = (end_ns - start_ns_) / 1e9;
  r.termination = terminationName(why);
  r.request_id = requestId();
  const Downstream::TlsFacts tls = client_.tls();
  r.tls_version = tls.version;
  r.tls_cipher = tls.cipher;
  r.tls_server_name = tls.server_name;
  r.tls_client_subject = tls.client_subject;
  LogNotes notes;
  for (uint8_t i = 0; i < filter_count_; ++i) filters_[i]->annotateLog(notes);
  r.cache = notes.cache;
  r.cache_detail = notes.cache_detail;
  r.background = req.background;
  // Where the exchange stood when it ended other than normally (HAProxy's second letter).
  if (why != Termination::None) {
    if (tunnel_ || status_ == 101) r.phase = "tunnel";
    else if (response_head_sent_ && upstream_head_ns_) r.phase = "response_body";
    else if (server_) r.phase = "upstream";
    else if (client_.receivingHead()) r.phase = "request_head";
    else r.phase = "request";
  }
  log.write(r);
}

}  // namespace edged::proxy
