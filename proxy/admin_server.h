// proxy/admin_server.h — the admin listener (`admin: { address }`): a small HTTP/1.1 server on
// the main thread's loop for /metrics, /healthz, /readyz, /upstreams, /config and control POSTs.
// One request per connection (answers carry Connection: close); bodies up to 64 KiB.
#pragma once

#include <uv.h>

#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "conf/config.h"
#include "proxy/net/net.h"

namespace edged::net::tls {
class TlsServerContext;
}

namespace edged::proxy {

class AdminServer {
 public:
  struct Request {
    std::string_view method;
    std::string_view path;   // without the query string
    std::string_view query;
    std::string_view body;
    std::string_view authorization;  // the Authorization field's value (empty: none)
    std::string_view peer;           // "ip:port" of the client, for logs
  };
  struct Response {
    int status = 200;
    std::string content_type = "text/plain; charset=utf-8";
    std::string body;
  };
  using Handler = std::function<Response(const Request&)>;

  explicit AdminServer(uv_loop_t* loop);
  ~AdminServer();
  AdminServer(const AdminServer&) = delete;
  AdminServer& operator=(const AdminServer&) = delete;

  // `path` is matched exactly, or as a prefix when it ends with '*'.
  void route(std::string method, std::string path, Handler h);
  // `admin.token_file`: what `token` returns (empty: no token) is then required as
  // "Authorization: Bearer <token>" by every route whose method is not GET (the state-changing
  // ones: reload, drain, weights, purge); else 401, logged. Read per request: a reload may change it.
  void requireToken(std::function<std::string()> token) { token_ = std::move(token); }
  // Binds and listens; false with `err` set on failure. With `tls` (admin.tls) every connection
  // is HTTPS, with a context made here from its certificate.
  bool listen(const conf::Address& address, std::string& err, const conf::ListenerTlsConfig* tls = nullptr);
  // Reload: new handshakes use `tls`'s certificate from now on (open connections keep theirs;
  // session ticket keys carry over). False with `err` set, the running certificate kept, when it
  // does not load or the listener is not HTTPS (turning TLS on or off needs a restart).
  bool swapTls(const conf::ListenerTlsConfig& tls, std::string& err);
  // Closes the listener and every open admin connection.
  void close();

 private:
  struct Connection;
  struct Route {
    std::string method, path;
    bool prefix;
    Handler handler;
  };
  static void onConnection(void* owner, net::Listener& listener, int status);
  Response dispatch(const Request& r) const;
  friend struct Connection;

  uv_loop_t* loop_;
  net::Listener listener_;
  bool listening_ = false;
  std::vector<Route> routes_;
  std::function<std::string()> token_;
  Connection* connections_ = nullptr;
  std::shared_ptr<net::tls::TlsServerContext> tls_;
};

}  // namespace edged::proxy
