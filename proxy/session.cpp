// proxy/session.cpp — one exchange from parsed request head to the last response byte.
#include "proxy/session.h"

#include <cstdio>

#include "proxy/client_connection.h"
#include "proxy/log.h"
#include "proxy/request_checks.h"
#include "proxy/worker.h"

namespace edged::proxy {

const char* terminationName(Termination t) {
  switch (t) {
    case Termination::None: return "";
    case Termination::ClientClosed: return "client_closed";
    case Termination::ClientTimeout: return "client_timeout";
    case Termination::NoServer: return "no_server";
    case Termination::ConnectFailed: return "connect_failed";
    case Termination::UpstreamTimeout: return "upstream_timeout";
    case Termination::UpstreamClosed: return "upstream_closed";
    case Termination::BadRequest: return "bad_request";
    case Termination::Internal: return "internal";
    case Termination::RequestTimeout: return "request_timeout";
  }
  return "";
}

namespace {
bool isIdempotent(llhttp_method_t m) {
  switch (m) {
    case HTTP_GET: case HTTP_HEAD: case HTTP_OPTIONS: case HTTP_TRACE: case HTTP_PUT: case HTTP_DELETE:
      return true;
    default:
      return false;
  }
}

// Only "chunked" is implemented; any other transfer coding gets 501 (RFC 9112 §6.1).
bool onlyChunked(std::string_view te) {
  bool any = false;
  while (!te.empty()) {
    auto comma = te.find(',');
    std::string_view item = te.substr(0, comma);
    while (!item.empty() && (item.front() == ' ' || item.front() == '\t')) item.remove_prefix(1);
    while (!item.empty() && (item.back() == ' ' || item.back() == '\t')) item.remove_suffix(1);
    if (!item.empty()) {
      if (!equalsIgnoreCase(item, "chunked")) return false;
      any = true;
    }
    if (comma == std::string_view::npos) break;
    te.remove_prefix(comma + 1);
  }
  return any;
}

// Queues n body bytes in the given framing: by reference when `buf` holds them, else copied.
void queueBody(WriteQueue& q, BodyFraming framing, IoBuf* buf, const char* p, size_t n) {
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

// Nothing is reserved here: an idle keep-alive connection should cost as little as possible.
// Heads are built in the worker's scratch buffers and copied once into the write queue.
Session::Session(ActiveClient& client) : c_(client) {}

Session::~Session() {
  if (up_) up_->close();
  releaseGen();
}

WorkerGen& Session::gen() { return gen_ ? *gen_ : c_.worker().gen(); }

const conf::Config& Session::config() { return gen().config(); }

// The exchange is over: what it pointed into (route, picker) belongs to the generation and is
// not used again before reset().
void Session::releaseGen() {
  filter_.reset();  // a filter gives its compressor back to its generation's factory
  if (gen_) {
    c_.worker().releaseGen(gen_);
    gen_ = nullptr;
  }
  route_ = nullptr;
  picker_ = nullptr;
}

size_t Session::serverSlot() const {
  return gen_->layout().serverSlot(route_->upstream_index, server_->index);
}

void Session::reset() {
  releaseGen();
  route_ = nullptr;
  picker_ = nullptr;
  tried_.clear();
  req_framing_ = BodyFraming::None;
  req_body_bytes_ = 0;
  req_complete_ = false;
  req_idempotent_ = false;
  req_keep_alive_ = false;
  head_request_ = false;
  upgrade_ = false;
  tunnel_ = false;
  tries_ = 0;
  first_try_ms_ = 0;
  head_written_ = false;
  counted_ = false;
  up_head_.clear();
  server_ = nullptr;
  up_ = nullptr;
  stale_retry_done_ = false;
  upstream_paused_ = false;
  status_ = 0;
  response_head_sent_ = false;
  resp_framing_ = BodyFraming::None;
  keep_alive_ = true;
  resp_body_bytes_ = 0;
  upstream_start_ns_ = 0;
  upstream_head_ns_ = 0;
  filter_.reset();
  filter_in_ = 0;
  request_id_ = {};
}

// ---- onRequestHead -----------------------------------------------------------------------

void Session::onRequestHead() {
  reset();
  active_ = true;
  gen_ = c_.worker().acquireGen();
  out_mark_ = c_.out().appendedTotal();
  start_ns_ = c_.head_start_ns_;  // nginx $request_time starts at the first byte of the request
  llhttp_t& p = c_.parser();
  const ParsedHead& head = c_.request();
  const auto method = static_cast<llhttp_method_t>(p.method);
  req_keep_alive_ = llhttp_should_keep_alive(&p) != 0;
  head_request_ = method == HTTP_HEAD;
  req_idempotent_ = isIdempotent(method);

  int host_count = 0, te_count = 0, cl_count = 0;
  const std::string_view host = head.find(HeaderId::Host, &host_count);
  const std::string_view te = head.find(HeaderId::TransferEncoding, &te_count);
  head.find(HeaderId::ContentLength, &cl_count);
  // RFC 9112 §3.2: HTTP/1.1 needs exactly one Host; §6.1: CL with TE is a smuggling vector.
  if ((p.http_major == 1 && p.http_minor >= 1 && host_count == 0) || host_count > 1 ||
      (te_count > 0 && cl_count > 0) || cl_count > 1) {
    c_.reject_status_ = 400;
    return;
  }
  // RFC 9112 §6.1: Transfer-Encoding in an HTTP/1.0 message means faulty framing.
  if (te_count > 0 && p.http_major == 1 && p.http_minor == 0) {
    c_.reject_status_ = 400;
    return;
  }
  if (te_count > 0) {  // RFC 9112 §6.3: the final coding of the last field must be chunked
    std::string_view last_te = te;
    for (size_t i = 0; i < head.size(); ++i)
      if (equalsIgnoreCase(head.name(i), "transfer-encoding")) last_te = head.value(i);
    if (!finalCodingIsChunked(last_te)) {
      c_.reject_status_ = 400;
      return;
    }
  }
  if (te_count > 1 || (te_count == 1 && !onlyChunked(te))) {
    c_.reject_status_ = 501;
    return;
  }
  if (method == HTTP_CONNECT) {
    c_.reject_status_ = 405;
    return;
  }
  if (p.flags & F_CHUNKED) {
    req_framing_ = BodyFraming::Chunked;
  } else if ((p.flags & F_CONTENT_LENGTH) && p.content_length > 0) {
    req_framing_ = BodyFraming::ContentLength;
  }
  const conf::Config& cfg = gen_->config();
  const uint64_t max_body = cfg.limits.max_body_bytes;
  if (max_body != 0 && req_framing_ == BodyFraming::ContentLength && p.content_length > max_body) {
    c_.reject_status_ = 413;
    return;
  }

  // Host and the request line (proxy/request_checks): an absolute-form target ("GET
  // http://host/path") routes on its authority, which also becomes the origin's Host, and
  // forwards its path (RFC 9112 §3.2.2).
  const RequestLineVerdict line = checkRequestLine(llhttp_method_name(method), head.target(), host, host_count, p.http_major);
  if (line.status) {
    c_.reject_status_ = line.status;
    return;
  }
  // RFC 9110 §7.6.2: an OPTIONS with Max-Forwards 0 is answered here; otherwise it goes on with
  // the value decremented.
  long max_forwards = -1;
  if (method == HTTP_OPTIONS) {
    int mf_count = 0;
    if (const std::string_view mf = head.find("max-forwards", &mf_count); mf_count > 0) {
      max_forwards = parseMaxForwards(mf);
      if (max_forwards < 0) {
        c_.reject_status_ = 400;
        return;
      }
      if (max_forwards == 0) {
        answer(200, Termination::None, req_framing_ != BodyFraming::None);
        return;
      }
    }
  }
  std::string_view target = line.target;
  const std::string_view route_host = line.route_host;
  if (target.empty() || target.front() == '?') {  // "http://host" or "http://host?q": the path is "/"
    target_.assign("/").append(target);
    target = target_;
  }
  auto route = gen_->router().match(route_host, target);
  if (!route) {
    answer(404, Termination::None, req_framing_ != BodyFraming::None);
    return;
  }
  route_ = &cfg.routes[*route];
  picker_ = &gen_->picker(route_->upstream_index);

  head.headers(c_.worker().headerScratch());
  if (line.host_from_target)
    for (Header& h : c_.worker().headerScratch())
      if (h.id == HeaderId::Host) h.value = route_host;
  char max_forwards_text[16];
  if (max_forwards > 0) {
    const int n = std::snprintf(max_forwards_text, sizeof max_forwards_text, "%ld", max_forwards - 1);
    for (Header& h : c_.worker().headerScratch())
      if (equalsIgnoreCase(h.name, "max-forwards")) h.value = {max_forwards_text, static_cast<size_t>(n)};
  }
  if (std::string_view id = head.find(HeaderId::XRequestId); validRequestId(id)) {
    request_id_ = id;
  } else {
    c_.worker().newRequestId(request_id_buf_);
    request_id_ = {request_id_buf_, sizeof request_id_buf_};
  }
  UpstreamRequestOptions o;
  o.request_id = request_id_;
  o.client_ip = c_.clientIp();
  if (host_count == 0) o.default_host = line.host_from_target ? route_host : c_.localAddress();
  o.body = req_framing_;
  o.content_length = p.content_length;
  o.keep_alive = picker_->group().config().keepalive > 0;
  // WebSocket: Upgrade and Connection tokens matched case-insensitively, in lists.
  if (p.upgrade) {
    const std::string_view upgrade = head.find(HeaderId::Upgrade);
    if (headerHasToken(upgrade, "websocket") && headerHasToken(head.find(HeaderId::Connection), "upgrade")) {
      if (!route_->websocket) {
        answer(403, Termination::None, true);
        return;
      }
      upgrade_ = true;
      o.upgrade = upgrade;
    }
  }
  buildUpstreamRequestHead(llhttp_method_name(method), target, c_.worker().headerScratch(), o, up_head_);
  pickAndConnect();
}

// ---- pickServer / connectUpstream ----------------------------------------------------------

std::string_view Session::hashKey() const {
  const upstream::UpstreamGroup& g = picker_->group();
  if (!g.needsHashKey()) return {};
  const upstream::HashKey& k = g.hashKey();
  const ParsedHead& head = c_.request();
  switch (k.kind) {
    case upstream::HashKeyKind::RemoteAddr: return c_.clientIp();
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
    answer(upstream::statusFor(r.why), Termination::NoServer, !req_complete_);
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
  c_.worker().metrics().panic(gen_->layout().upstreamSlot(route_->upstream_index));
  LOG_WARN("upstream \"%s\" has no usable server: trying %s anyway (panic)", picker_->group().name().c_str(),
           server.name().c_str());
}

bool Session::connectTo(upstream::Server& server, bool allow_pooled) {
  server_ = &server;
  head_written_ = false;
  server.active.fetch_add(1, std::memory_order_relaxed);
  server.requests.fetch_add(1, std::memory_order_relaxed);
  counted_ = true;
  upstream_start_ns_ = uv_hrtime();
  Worker& w = c_.worker();
  const size_t idx = route_->upstream_index;
  const size_t slot = serverSlot();
  UpstreamConnection* conn = allow_pooled ? w.pool().take(slot, uv_now(w.loop())) : nullptr;
  if (conn) {
    conn->rebind(*gen_, idx, server);
    up_ = conn;
    conn->attach(this);
    queueRequestHead();
    head_written_ = true;
    flushUpstream();
    return true;
  }
  conn = new UpstreamConnection(w, *gen_, idx, server, slot);
  if (int rc = conn->connect(this); rc != 0) {
    LOG_WARN("connect() to %s failed: %s", server.name().c_str(), uv_strerror(rc));
    conn->close();
    onUpstreamFailure(UpstreamFailure::ConnectFailed);
    return false;
  }
  up_ = conn;
  queueRequestHead();  // sent once connected
  return true;
}

void Session::queueRequestHead() { up_->out().appendCopy(up_head_); }

void Session::onUpstreamConnected() {
  if (server_) c_.worker().metrics().upstreamConnect(serverSlot(), uv_hrtime() - upstream_start_ns_);
  head_written_ = true;  // queued head goes out now; a failure from here on may have reached the origin
  flushUpstream();
}

// Sends what is queued toward the origin, then settles backpressure on the client's request
// body: paused while more than the high watermark waits, resumed once under the low one. Writes
// that complete at once raise no callback, so this check follows every flush.
void Session::flushUpstream() {
  if (!up_) return;
  // Bounded: below 2 x kHighWater before the next read adds at most one buffer.
  if (c_.mayDeferUpstreamFlush() && up_->out().queuedBytes() < 2 * ClientConnection::kHighWater) {
    c_.deferUpstreamFlush();
    return;
  }
  c_.upstream_flush_deferred_ = false;
  up_->flush();
  if (!up_) return;
  const size_t queued = up_->out().queuedBytes();
  if (queued > ClientConnection::kHighWater)
    c_.pauseBodyReading();
  else if (queued < ClientConnection::kLowWater)
    c_.resumeBodyReading();
}

// ---- sendRequest -------------------------------------------------------------------------

void Session::onRequestBody(IoBuf* buf, const char* p, size_t n) {
  req_body_bytes_ += n;
  const uint64_t max_body = gen().config().limits.max_body_bytes;
  if (max_body != 0 && req_body_bytes_ > max_body) {
    c_.reject_status_ = 413;
    return;
  }
  if (!up_) return;  // already answered: the rest of the body is discarded
  queueBody(up_->out(), req_framing_, buf, p, n);
}

void Session::onRequestComplete() {
  req_complete_ = true;
  if (up_ && req_framing_ == BodyFraming::Chunked) up_->out().appendCopy(kLastChunk);
}

void Session::onRequestBodyReadBatchDone() { flushUpstream(); }

bool Session::wantsClientBodyPaused() const {
  return up_ && up_->out().queuedBytes() > ClientConnection::kHighWater;
}

void Session::onUpstreamWritten() {
  if (up_ && up_->out().queuedBytes() < ClientConnection::kLowWater) c_.resumeBodyReading();
}

// ---- failures ------------------------------------------------------------------------------

void Session::releaseUpstream(bool reuse) {
  if (counted_ && server_) {
    server_->active.fetch_sub(1, std::memory_order_relaxed);
    counted_ = false;
  }
  if (up_) {
    UpstreamConnection* conn = up_;
    up_ = nullptr;
    conn->release(reuse);
  }
}

void Session::onUpstreamFailure(UpstreamFailure f) {
  if (tunnel_) {
    releaseUpstream(false);
    endTunnel(Termination::UpstreamClosed);
    return;
  }
  UpstreamConnection* conn = up_;
  const bool was_reused = conn && conn->reused();
  const bool response_started = conn && conn->responseStarted();
  releaseUpstream(false);
  const bool timeout = f == UpstreamFailure::ConnectTimeout || f == UpstreamFailure::ReadTimeout ||
                       f == UpstreamFailure::SendTimeout;
  // A pooled connection the origin closed while idle is not the server's failure: retry once on
  // a fresh connection when nothing of a body was consumed and the method is idempotent.
  if (!response_head_sent_ && was_reused && !response_started && f == UpstreamFailure::Closed &&
      req_idempotent_ && req_framing_ == BodyFraming::None && !stale_retry_done_ && server_) {
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
    c_.worker().metrics().upstreamFailure(serverSlot(), kReason[static_cast<int>(f)]);
  }
  upstream::FailureKind kind = upstream::FailureKind::Error;
  switch (f) {
    case UpstreamFailure::ConnectFailed: kind = upstream::FailureKind::ConnectFailed; break;
    case UpstreamFailure::ConnectTimeout: kind = upstream::FailureKind::ConnectTimeout; break;
    case UpstreamFailure::SendTimeout:
    case UpstreamFailure::ReadTimeout: kind = upstream::FailureKind::Timeout; break;
    case UpstreamFailure::Closed: kind = upstream::FailureKind::Error; break;
    case UpstreamFailure::BadResponse: kind = upstream::FailureKind::InvalidResponse; break;
  }
  if (response_head_sent_)
    LOG_WARN("upstream %s failed mid-response (%s); closing client connection", (server_ ? server_->name().c_str() : "-"),
             failureName(f));
  handleTryFailure(kind, 0,
                   timeout ? Termination::UpstreamTimeout
                           : (f == UpstreamFailure::ConnectFailed ? Termination::ConnectFailed
                                                                  : Termination::UpstreamClosed));
}

// What decideRetry() needs to know of this request and its current try.
upstream::RetryContext Session::retryContext(upstream::FailureKind kind, int http_status, uint64_t now) const {
  upstream::RetryContext ctx = upstream::RetryContext::forUpstream(picker_->group().config());
  ctx.failure = kind;
  ctx.http_status = http_status;
  ctx.tries = tries_;
  ctx.elapsed_ms = now - first_try_ms_;
  ctx.idempotent = req_idempotent_;
  ctx.head_bytes_sent = head_written_ ? up_head_.size() : 0;
  ctx.body_bytes_sent = head_written_ ? req_body_bytes_ : 0;
  ctx.response_started = response_head_sent_;
  ctx.untried_server_remains = picker_->anyUntriedAvailable(tried_);
  return ctx;
}

// The one place a failed try is judged (upstream/retry_policy): passive health, then retry on
// another server or answer.
void Session::handleTryFailure(upstream::FailureKind kind, int http_status, Termination why) {
  const upstream::UpstreamGroup& g = picker_->group();
  const uint64_t now = g.nowMs();
  const upstream::RetryDecision d = upstream::decideRetry(retryContext(kind, http_status, now));
  if (d.server_failed && server_ && server_->recordFailure(now))
    LOG_WARN("upstream \"%s\" server %s failed %u time(s) within fail_timeout: unavailable for %lld ms",
             g.name().c_str(), server_->name().c_str(), g.config().health.max_fails,
             static_cast<long long>(g.config().health.fail_timeout.count()));
  switch (d.action) {
    case upstream::RetryAction::Retry: {
      const upstream::PickResult r = picker_->choose(tried_, hashKey());
      if (r.server) {
        c_.worker().metrics().retry(gen_->layout().upstreamSlot(route_->upstream_index));
        if (r.panic) notePanic(*r.server);
        tried_.insert(r.server->index);
        ++tries_;
        connectTo(*r.server, true);
        return;
      }
      answer(d.status, why, !req_complete_);
      return;
    }
    case upstream::RetryAction::Answer:
      answer(d.status, why, !req_complete_);
      return;
    case upstream::RetryAction::Abort:
    case upstream::RetryAction::PassThrough:  // not reached for transport failures
      keep_alive_ = false;
      finish(why);
      return;
  }
}

void Session::timeout() {
  if (!active_) return;
  if (response_head_sent_) {
    releaseUpstream(false);
    keep_alive_ = false;
    finish(Termination::RequestTimeout);  // closes: the client must see a cut response
    return;
  }
  answer(504, Termination::RequestTimeout, true);
}

void Session::failBeforeResponse(int status, Termination why) { answer(status, why, !req_complete_); }

// ---- onResponseHead / body -----------------------------------------------------------------

bool Session::onUpstreamHead(int status, const ParsedHead& head, const llhttp_t& parser) {
  if (status == 101 && !upgrade_) {
    LOG_WARN("upstream %s answered 101 to a request that was not an upgrade", (server_ ? server_->name().c_str() : "-"));
    onUpstreamFailure(UpstreamFailure::BadResponse);
    return false;
  }
  head.headers(c_.worker().headerScratch());
  if (status == 101) {
    upstream_head_ns_ = uv_hrtime();
    status_ = 101;
    ClientResponseOptions o;
    o.body = BodyFraming::None;
    o.upgrade = head.find(HeaderId::Upgrade);
    if (o.upgrade.empty()) o.upgrade = "websocket";
    c_.out().appendBuilt(
        [&](std::string& out) { buildClientResponseHead(101, head.target(), c_.worker().headerScratch(), o, out); });
    response_head_sent_ = true;
    tunnel_ = true;
    keep_alive_ = false;
    c_.worker().metrics().tunnelOpened();
    up_->startTunnel();
    c_.startTunnel();
    return false;
  }
  if (status < 200) {
    // Interim responses (100 Continue, 103 Early Hints) go to HTTP/1.1 clients as they come.
    if (!c_.http10()) {
      ClientResponseOptions o;
      o.body = BodyFraming::None;
      o.keep_alive = true;
      // No Connection header on an interim response.
      c_.out().appendBuilt(
          [&](std::string& out) { buildClientResponseHead(status, head.target(), c_.worker().headerScratch(), o, out); });
      c_.flush();
    }
    return false;
  }
  // A status retry_on names: judged like a transport failure, before any byte reaches the client.
  const upstream::UpstreamGroup& g = picker_->group();
  if (const uint32_t cond = upstream::retryConditionFor(upstream::FailureKind::HttpStatus, status);
      cond && (g.config().retry_on & cond)) {
    const upstream::RetryDecision d =
        upstream::decideRetry(retryContext(upstream::FailureKind::HttpStatus, status, g.nowMs()));
    if (d.server_failed && server_) server_->recordFailure(g.nowMs());
    if (d.action == upstream::RetryAction::Retry && req_complete_) {
      const upstream::PickResult r = picker_->choose(tried_, hashKey());
      if (r.server) {
        LOG_INFO("upstream %s answered %d: retrying on %s", (server_ ? server_->name().c_str() : "-"), status, r.server->name().c_str());
        c_.worker().metrics().upstreamResponse(serverSlot(), status, uv_hrtime() - upstream_start_ns_);
        c_.worker().metrics().retry(gen_->layout().upstreamSlot(route_->upstream_index));
        if (r.panic) notePanic(*r.server);
        releaseUpstream(false);
        tried_.insert(r.server->index);
        ++tries_;
        connectTo(*r.server, true);
        return false;
      }
    }
    // Not retried: the origin's own response goes to the client.
  } else if (server_) {
    if (server_->recordSuccess(g.nowMs()))
      LOG_INFO("upstream \"%s\" server %s answered again: back in rotation", g.name().c_str(), server_->name().c_str());
  }
  upstream_head_ns_ = uv_hrtime();
  status_ = status;
  if (server_)
    c_.worker().metrics().upstreamResponse(serverSlot(), status, upstream_head_ns_ - upstream_start_ns_);
  const bool no_body = head_request_ || status == 204 || status == 304;
  std::vector<Header>& headers = c_.worker().headerScratch();
  if (FilterFactory* ff = gen_->filters()) {
    const conf::Config& cfg = gen_->config();
    std::vector<Header>& request_headers = c_.worker().requestHeaderScratch();
    c_.request().headers(request_headers);
    FilterRequest fr{llhttp_method_name(static_cast<llhttp_method_t>(c_.parser().method)), request_headers,
                     route_ ? static_cast<size_t>(route_ - cfg.routes.data()) : cfg.routes.size(), upgrade_};
    filter_ = ff->onResponseHead(fr, status, headers);
  }
  if (filter_ && !no_body) {
    resp_framing_ = c_.http10() ? BodyFraming::UntilClose : BodyFraming::Chunked;
  } else if (no_body) {
    filter_.reset();
    resp_framing_ = BodyFraming::None;
  } else if (parser.flags & F_CHUNKED) {
    resp_framing_ = c_.http10() ? BodyFraming::UntilClose : BodyFraming::Chunked;
  } else if (parser.flags & F_CONTENT_LENGTH) {
    resp_framing_ = BodyFraming::ContentLength;
  } else {
    resp_framing_ = c_.http10() ? BodyFraming::UntilClose : BodyFraming::Chunked;
  }
  keep_alive_ = req_keep_alive_ && req_complete_ && !c_.worker().draining() &&
                resp_framing_ != BodyFraming::UntilClose;
  ClientResponseOptions o;
  o.body = resp_framing_;
  o.keep_alive = keep_alive_;
  o.request_id = request_id_;
  o.client_http10 = c_.http10();
  c_.out().appendBuilt([&](std::string& out) { buildClientResponseHead(status, head.target(), headers, o, out); });
  response_head_sent_ = true;
  return no_body;  // HEAD, 204, 304: no body whatever Content-Length says (RFC 9110 §6.4.1)
}

void Session::onUpstreamBody(IoBuf* buf, const char* p, size_t n) {
  if (filter_) {
    filter_in_ += n;
    if (!filter_->write({p, n}, *this)) {
      LOG_WARN("response filter %.*s failed; closing the client connection",
               static_cast<int>(filter_->name().size()), filter_->name().data());
      filter_.reset();
      onUpstreamFailure(UpstreamFailure::BadResponse);
    }
    return;
  }
  resp_body_bytes_ += n;
  queueBody(c_.out(), resp_framing_, buf, p, n);
}

void Session::onUpstreamTunnelData(IoBuf* buf, const char* p, size_t n) {
  resp_body_bytes_ += n;
  c_.out().append(buf, p, n);
}

void Session::onTunnelClientData(IoBuf* buf, const char* p, size_t n) {
  if (!up_) return;
  req_body_bytes_ += n;
  up_->out().append(buf, p, n);
  flushUpstream();
}

// Either side ended: what was received is delivered, then both close.
void Session::endTunnel(Termination why) {
  if (!tunnel_) return;
  tunnel_ = false;
  c_.worker().metrics().tunnelClosed();
  if (counted_ && server_) {
    server_->active.fetch_sub(1, std::memory_order_relaxed);
    counted_ = false;
  }
  if (up_) {
    UpstreamConnection* conn = up_;
    up_ = nullptr;
    conn->closeAfterWrite();
  }
  logAccess(why);
  active_ = false;
  releaseGen();
  c_.closeAfterWrite();
}

void Session::onUpstreamTunnelEnd() { endTunnel(Termination::None); }
void Session::onTunnelClientEnd() { endTunnel(Termination::None); }

// FilterSink: what a body filter produced goes to the client in the response's framing.
void Session::append(std::string_view bytes) {
  if (bytes.empty()) return;
  resp_body_bytes_ += bytes.size();
  queueBody(c_.out(), resp_framing_, nullptr, bytes.data(), bytes.size());
}

void Session::endFilter(bool finish) {
  if (!filter_) return;
  if (finish) filter_->finish(*this);
  const std::string_view name = filter_->name();
  const metrics::Algorithm a = name == "gzip" ? metrics::Algorithm::Gzip
                               : name == "br" ? metrics::Algorithm::Brotli
                                              : metrics::Algorithm::Zstd;
  c_.worker().metrics().compression(a, filter_in_, resp_body_bytes_);
  filter_.reset();
}

void Session::onUpstreamReadBatchDone() {
  // The origin paused: what the filter holds goes out now (server-sent events stay prompt).
  if (filter_) filter_->flush(*this);
  c_.flush();
  if (up_ && !upstream_paused_ && c_.out().queuedBytes() > ClientConnection::kHighWater) {
    upstream_paused_ = true;
    up_->pauseReading();
  }
}

bool Session::mayDeferReadBatch() {
  // What waits is bounded: under 2 x kHighWater before the next read adds one buffer, and that
  // read's flush checks the high-water mark (pausing the origin) as usual.
  return c_.out().queuedBytes() < 2 * ClientConnection::kHighWater;
}

void Session::onClientDrained() {
  if (upstream_paused_ && up_) {
    upstream_paused_ = false;
    up_->resumeReading();
  }
}

void Session::onUpstreamComplete(bool reusable) {
  endFilter(true);
  if (resp_framing_ == BodyFraming::Chunked) c_.out().appendCopy(kLastChunk);
  const bool reuse = reusable && !upgrade_ && req_complete_ && up_ && up_->out().idle() &&
                     picker_->group().config().keepalive > 0 && !c_.worker().draining();
  releaseUpstream(reuse);
  c_.flush();
  finish(Termination::None);
}

// ---- answers edged writes itself, and the end --------------------------------------------

void Session::answer(int status, Termination why, bool close) {
  releaseUpstream(false);
  status_ = status;
  keep_alive_ = keep_alive_ && !close && req_keep_alive_ && !c_.worker().draining();
  std::string& text = c_.worker().textScratch();
  text.clear();
  resp_body_bytes_ = buildErrorResponse(status, !keep_alive_, text);
  c_.out().appendCopy(text);
  response_head_sent_ = true;
  c_.flush();
  finish(why);
}

void Session::reject(int status, Termination why) {
  if (active_ && response_head_sent_) {  // too late for an error page: the connection just closes
    abort(why, status_);
    return;
  }
  if (!active_) {
    reset();
    out_mark_ = c_.out().appendedTotal();
    start_ns_ = c_.head_start_ns_ ? c_.head_start_ns_ : uv_hrtime();
  }
  releaseUpstream(false);
  status_ = status;
  keep_alive_ = false;
  std::string& text = c_.worker().textScratch();
  text.clear();
  resp_body_bytes_ = buildErrorResponse(status, true, text);
  c_.out().appendCopy(text);
  logAccess(why);
  active_ = false;
  releaseGen();
}

void Session::abort(Termination why, int status_for_log) {
  if (!active_) return;
  releaseUpstream(false);
  if (!response_head_sent_) status_ = status_for_log;
  keep_alive_ = false;
  if (tunnel_) c_.worker().metrics().tunnelClosed();
  tunnel_ = false;
  logAccess(why);
  active_ = false;
  releaseGen();
}

void Session::finish(Termination why) {
  if (!active_) return;
  // An answer sent before the whole request body arrived leaves body bytes unread: close.
  if (!req_complete_ && req_framing_ != BodyFraming::None) keep_alive_ = false;
  logAccess(why);
  active_ = false;
  releaseGen();
  c_.sessionFinished(keep_alive_);
}

void Session::logAccess(Termination why) {
  const ParsedHead& head = c_.request();
  const llhttp_t& p = c_.parser();
  const uint64_t end_ns = uv_hrtime();
  {
    WorkerGen& g = gen();
    const conf::Config& cfg = g.config();
    metrics::WorkerMetrics& m = c_.worker().metrics();
    const size_t route = g.layout().routeSlot(route_ ? static_cast<size_t>(route_ - cfg.routes.data())
                                                      : g.layout().unmatchedRoute());
    const std::string_view method =
        p.http_major != 0 ? llhttp_method_name(static_cast<llhttp_method_t>(p.method)) : std::string_view();
    // Head and body on the wire: "METHOD SP target SP HTTP/1.1 CRLF" + header lines + CRLF + body.
    const uint64_t request_bytes = p.http_major != 0 ? method.size() + 14 + head.bytes() + req_body_bytes_ : 0;
    const uint64_t response_bytes = c_.out().appendedTotal() - out_mark_;
    m.request(route, method.empty() ? metrics::Method::Other : metrics::methodFromName(method), status_,
              end_ns - start_ns_, request_bytes, response_bytes);
  }
  AccessLog& log = c_.worker().accessLog();
  if (!log.enabled()) return;
  AccessRecord r;
  r.client_ip = c_.clientIp();
  r.method = p.http_major != 0 ? llhttp_method_name(static_cast<llhttp_method_t>(p.method)) : "-";
  r.target = head.target();
  r.http_major = p.http_major;
  r.http_minor = p.http_minor;
  r.status = status_;
  r.body_bytes_sent = resp_body_bytes_;
  r.referer = head.find(HeaderId::Referer);
  r.user_agent = head.find(HeaderId::UserAgent);
  r.upstream = server_ ? std::string_view(server_->name()) : std::string_view();
  const uint64_t now = uv_hrtime();
  r.upstream_seconds = upstream_head_ns_ ? (upstream_head_ns_ - upstream_start_ns_) / 1e9 : -1;
  r.request_seconds = (now - start_ns_) / 1e9;
  r.termination = terminationName(why);
  r.request_id = request_id_;
  // Where the exchange stood when it ended other than normally (HAProxy's second letter).
  if (why != Termination::None) {
    if (tunnel_ || status_ == 101) r.phase = "tunnel";
    else if (response_head_sent_ && upstream_head_ns_) r.phase = "response_body";
    else if (server_) r.phase = "upstream";
    else if (c_.phase_ == ClientConnection::Phase::Head) r.phase = "request_head";
    else r.phase = "request";
  }
  log.write(r);
}

}  // namespace edged::proxy
