// proxy/admin_server.cpp — deliberately simple: admin traffic is rare and small, so clarity wins
// over the data path's zero-copy machinery.
#include "proxy/admin_server.h"

#include <arpa/inet.h>
#include <llhttp.h>
#include <strings.h>

#include <cstdio>
#include <ctime>

#include "proxy/log.h"
#include "proxy/http/http.h"
#include "proxy/net/tls/tls.h"

namespace edged::proxy {

namespace {
constexpr size_t kMaxRequest = 64 * 1024;

// "Bearer <token>" (scheme case-insensitive, RFC 9110 §11.1), compared in time independent of
// where the first difference is.
bool bearerMatches(std::string_view value, std::string_view token) {
  if (value.size() < 7 || strncasecmp(value.data(), "bearer ", 7) != 0) return false;
  value.remove_prefix(7);
  while (!value.empty() && value.front() == ' ') value.remove_prefix(1);
  while (!value.empty() && value.back() == ' ') value.remove_suffix(1);
  unsigned char diff = value.size() == token.size() ? 0 : 1;
  for (size_t i = 0; i < token.size(); ++i)
    diff |= static_cast<unsigned char>(token[i] ^ (i < value.size() ? value[i] : 0));
  return diff == 0;
}
}  // namespace

struct AdminServer::Connection {
  AdminServer* server;
  net::Transport transport;
  uv_write_t write_req{};
  llhttp_t parser{};
  std::string url, body, out;
  std::string field, authorization;  // the field being parsed; the Authorization value
  bool in_authorization = false;
  size_t received = 0;
  bool done = false;
  Connection* prev = nullptr;
  Connection* next = nullptr;

  static const llhttp_settings_t* settings() {
    static const llhttp_settings_t s = [] {
      llhttp_settings_t x;
      llhttp_settings_init(&x);
      x.on_url = [](llhttp_t* p, const char* at, size_t n) {
        static_cast<Connection*>(p->data)->url.append(at, n);
        return 0;
      };
      x.on_header_field = [](llhttp_t* p, const char* at, size_t n) {
        auto* c = static_cast<Connection*>(p->data);
        c->field.append(at, n);
        return 0;
      };
      x.on_header_field_complete = [](llhttp_t* p) {
        auto* c = static_cast<Connection*>(p->data);
        c->in_authorization = c->field.size() == 13 && strncasecmp(c->field.data(), "authorization", 13) == 0;
        c->field.clear();
        return 0;
      };
      x.on_header_value = [](llhttp_t* p, const char* at, size_t n) {
        auto* c = static_cast<Connection*>(p->data);
        if (c->in_authorization) c->authorization.append(at, n);
        return 0;
      };
      x.on_body = [](llhttp_t* p, const char* at, size_t n) {
        static_cast<Connection*>(p->data)->body.append(at, n);
        return 0;
      };
      x.on_message_complete = [](llhttp_t* p) {
        static_cast<Connection*>(p->data)->done = true;
        return static_cast<int>(HPE_PAUSED);
      };
      return x;
    }();
    return &s;
  }

  void respond(const Response& r) {
    out.clear();
    out.append("HTTP/1.1 ").append(std::to_string(r.status)).append(" ").append(reasonPhrase(r.status));
    out.append("\r\nDate: ").append(httpDateNow());  // RFC 9110 §6.6.1
    out.append("\r\nContent-Type: ").append(r.content_type);
    out.append("\r\nContent-Length: ").append(std::to_string(r.body.size()));
    out.append("\r\n");
    if (r.status == 401) out.append("WWW-Authenticate: Bearer realm=\"edged-admin\"\r\n");
    out.append("Connection: close\r\nCache-Control: no-store\r\n\r\n").append(r.body);
    transport.stopReading();
    uv_buf_t b = uv_buf_init(out.data(), static_cast<unsigned>(out.size()));
    if (transport.write(&write_req, &b, 1, [](uv_write_t* w, int) {
          static_cast<Connection*>(w->data)->close();
        }) != 0)
      close();
  }

  void close() {
    if (transport.closing()) return;
    transport.close(this);
  }

  // TransportHandler.
  void onTransportAlloc(uv_buf_t* b) {
    static thread_local char buf[16384];
    *b = uv_buf_init(buf, sizeof buf);
  }
  void onTransportRead(ssize_t n, const uv_buf_t* b) {
    if (n > 0)
      onData(b->base, static_cast<size_t>(n));
    else if (n < 0)
      close();
  }
  void onTransportClosed() {
    if (server) {
      if (prev) prev->next = next;
      else server->connections_ = next;
      if (next) next->prev = prev;
    }
    delete this;
  }

  void onData(const char* data, size_t n) {
    received += n;
    if (received > kMaxRequest) {
      respond({413, "text/plain; charset=utf-8", "request too large\n"});
      return;
    }
    llhttp_errno_t err = llhttp_execute(&parser, data, n);
    if (err != HPE_OK && err != HPE_PAUSED) {
      respond({400, "text/plain; charset=utf-8", "bad request\n"});
      return;
    }
    if (!done) return;
    Request r;
    r.method = llhttp_method_name(static_cast<llhttp_method_t>(parser.method));
    std::string_view u = url;
    const size_t q = u.find('?');
    r.path = u.substr(0, q);
    if (q != std::string_view::npos) r.query = u.substr(q + 1);
    r.body = body;
    r.authorization = authorization;
    char peer[64] = "-";
    sockaddr_storage ss{};
    if (transport.peerAddress(ss) == 0) {
      char ip[48] = "";
      if (ss.ss_family == AF_INET6)
        inet_ntop(AF_INET6, &reinterpret_cast<sockaddr_in6*>(&ss)->sin6_addr, ip, sizeof ip);
      else
        inet_ntop(AF_INET, &reinterpret_cast<sockaddr_in*>(&ss)->sin_addr, ip, sizeof ip);
      snprintf(peer, sizeof peer, "%s", ip);
    }
    r.peer = peer;
    respond(server->dispatch(r));
  }
};

AdminServer::AdminServer(uv_loop_t* loop) : loop_(loop) {}

AdminServer::~AdminServer() = default;

void AdminServer::route(std::string method, std::string path, Handler h) {
  const bool prefix = !path.empty() && path.back() == '*';
  if (prefix) path.pop_back();
  routes_.push_back({std::move(method), std::move(path), prefix, std::move(h)});
}

AdminServer::Response AdminServer::dispatch(const Request& r) const {
  bool path_known = false;
  for (const Route& rt : routes_) {
    const bool match = rt.prefix ? r.path.substr(0, rt.path.size()) == rt.path : r.path == rt.path;
    if (!match) continue;
    path_known = true;
    if (rt.method != r.method) continue;
    if (rt.method != "GET" && token_) {
      if (const std::string token = token_(); !token.empty() && !bearerMatches(r.authorization, token)) {
        LOG_WARN("admin: %.*s %.*s from %.*s refused: %s bearer token", static_cast<int>(r.method.size()),
                 r.method.data(), static_cast<int>(r.path.size()), r.path.data(), static_cast<int>(r.peer.size()),
                 r.peer.data(), r.authorization.empty() ? "no" : "wrong");
        return {401, "text/plain; charset=utf-8", "unauthorized\n"};
      }
    }
    return rt.handler(r);
  }
  if (path_known) return {405, "text/plain; charset=utf-8", "method not allowed\n"};
  return {404, "text/plain; charset=utf-8", "not found\n"};
}

bool AdminServer::listen(const conf::Address& address, std::string& err, const conf::ListenerTlsConfig* tls) {
  if (tls) {
    net::tls::TlsLoadError error;
    tls_ = net::tls::TlsServerContext::create(net::tls::serverSettingsFrom(*tls), error, std::time(nullptr));
    if (!tls_) {
      err = "admin.tls: " + error.message;
      return false;
    }
  }
  listening_ = true;
  int rc = listener_.bind(loop_, address.sa());
  if (rc == 0) rc = listener_.listen(64, onConnection, this);
  if (rc != 0) {
    err = uv_strerror(rc);
    return false;
  }
  return true;
}

bool AdminServer::swapTls(const conf::ListenerTlsConfig& tls, std::string& err) {
  if (!tls_) {
    err = "admin.tls: the admin listener is plain HTTP; turning TLS on needs a restart";
    return false;
  }
  net::tls::TlsLoadError error;
  auto fresh = net::tls::TlsServerContext::create(net::tls::serverSettingsFrom(tls), error, std::time(nullptr),
                                                  tls_->sharedTicketKeys());
  if (!fresh) {
    err = "admin.tls: " + error.message;
    return false;
  }
  tls_ = std::move(fresh);  // engines made before keep the old context alive
  return true;
}

void AdminServer::onConnection(void* owner, net::Listener& listener, int status) {
  auto* self = static_cast<AdminServer*>(owner);
  if (status < 0) return;
  auto* c = new Connection;
  c->server = self;
  c->transport.open(self->loop_, c);
  c->write_req.data = c;
  llhttp_init(&c->parser, HTTP_REQUEST, Connection::settings());
  c->parser.data = c;
  c->next = self->connections_;
  if (self->connections_) self->connections_->prev = c;
  self->connections_ = c;
  if (c->transport.accept(listener) != 0) {
    c->close();
    return;
  }
  if (self->tls_) {
    std::unique_ptr<net::tls::TlsEngine> engine = self->tls_->newEngine();
    if (!engine) {
      c->close();
      return;
    }
    c->transport.useTls(std::move(engine), c);
  }
  c->transport.startReading(c);
}

void AdminServer::close() {
  if (listening_) listener_.close();
  for (Connection* c = connections_; c; c = c->next) c->close();
}

}  // namespace edged::proxy
