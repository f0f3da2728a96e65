// proxy/worker_gen.h — one loaded configuration as the process builds it once (Generation: the
// upstream groups, the metrics layout) and as each worker holds it (WorkerGen: router, pickers,
// the filter chain), reference-counted by the exchanges and connections started under it.
#pragma once

#include <functional>
#include <memory>
#include <vector>

#include "conf/config.h"
#include "proxy/access_rules.h"
#include "proxy/http/cidr_set.h"
#include "proxy/http/http.h"
#include "proxy/metrics/metrics.h"
#include "proxy/net/tls/tls.h"
#include "proxy/proxy.h"
#include "proxy/router.h"
#include "upstream/upstream.h"

namespace edged::proxy {

// One loaded configuration and what the process builds from it once (a "generation"): the
// upstream groups (their Servers' runtime is carried over from the previous generation for
// servers that stay) and the metrics layout. Immutable after construction but for Server atomics;
// shared by the workers, which each hold it for as long as a request, tunnel or connection
// started under it lives.
struct Generation {
  uint64_t number = 1;
  std::shared_ptr<const conf::Config> config;
  std::vector<std::unique_ptr<upstream::UpstreamGroup>> groups;  // parallel to config->upstreams
  std::unique_ptr<metrics::Layout> metrics_layout;
  struct ServerRef {
    size_t upstream = 0;
    upstream::Server* server = nullptr;  // null: no server has this slot in this generation
  };
  std::vector<ServerRef> by_slot;  // indexed by metrics server slot
  // Client addresses: the trusted proxies of `real_ip` (empty: none) and each route's allow/deny
  // rules (parallel to config->routes).
  CidrSet real_ip_from;
  std::vector<AccessRules> route_access;

  // TLS. Per metrics listener slot: the server context (null: plain) and whether the listener
  // answers 308 to https; per upstream (parallel to groups) the client context (null: plain).
  // Contexts are shared by every worker; a connection's engine keeps its context alive, so a
  // reload swaps certificates for new handshakes only. Ticket keys carry over per listener slot.
  std::vector<std::shared_ptr<net::tls::TlsServerContext>> tls_by_listener;
  std::vector<uint8_t> redirect_https_by_listener;
  std::vector<std::shared_ptr<net::tls::TlsClientContext>> upstream_tls;
  std::vector<std::string> tls_errors;  // contexts that failed to load (validated before: rare)
  net::tls::TlsServerContext* tlsFor(size_t listener_slot) const {
    return listener_slot < tls_by_listener.size() ? tls_by_listener[listener_slot].get() : nullptr;
  }
  bool redirectHttps(size_t listener_slot) const {
    return listener_slot < redirect_https_by_listener.size() && redirect_https_by_listener[listener_slot];
  }

  // `previous`: the generation this one replaces (null at start-up).
  Generation(std::shared_ptr<const conf::Config> config, const Generation* previous);
  void buildTls(const Generation* previous);
  const ServerRef* serverAt(size_t slot) const {
    return slot < by_slot.size() && by_slot[slot].server ? &by_slot[slot] : nullptr;
  }
};

// One worker's state for one generation: the router, balancer state (pickers) and response
// filters. Sessions and upstream connections hold a reference (a plain count: it never leaves
// the worker's thread); a generation that is no longer current is freed once unreferenced.
class WorkerGen {
 public:
  WorkerGen(std::shared_ptr<const Generation> gen, const std::vector<FilterFactoryMaker>& filter_makers,
            FilterEnv& env);
  const Generation& generation() const { return *gen_; }
  const conf::Config& config() const { return *gen_->config; }
  const metrics::Layout& layout() const { return *gen_->metrics_layout; }
  const Router& router() const { return router_; }
  upstream::UpstreamPicker& picker(size_t upstream_index) { return *pickers_[upstream_index]; }
  // The filter chain under this configuration, in request order (factories with nothing to do
  // under it left out).
  const std::vector<FilterFactory*>& filters() const { return filter_list_; }
  // The worker is finishing: each factory closes the handles it keeps.
  void closeFilterHandles() {
    for (auto& f : filters_) f->closeHandles();
  }

  void ref() { ++refs_; }
  void unref() { --refs_; }
  bool unused() const { return refs_ == 0; }

 private:
  std::shared_ptr<const Generation> gen_;
  Router router_;
  std::vector<std::unique_ptr<upstream::UpstreamPicker>> pickers_;
  std::vector<std::unique_ptr<FilterFactory>> filters_;
  std::vector<FilterFactory*> filter_list_;
  uint32_t refs_ = 0;
};

}  // namespace edged::proxy
