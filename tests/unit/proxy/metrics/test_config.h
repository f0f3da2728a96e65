// tests/unit/proxy/metrics/test_config.h — a small hand-built conf::Config for the metrics tests.
#pragma once

#include <string>

#include "conf/config.h"

namespace edged::metrics::test {

inline conf::Address address(std::string text) {
  conf::Address a;
  a.text = std::move(text);
  return a;
}

// Routes "/" and "www.example.com/" -> web, "/api/" -> api; upstream web has two servers, api one;
// two listeners.
inline conf::Config sampleConfig() {
  conf::Config c;
  c.listeners.push_back({address("0.0.0.0:8080"), 511});
  c.listeners.push_back({address("[::1]:8443"), 511});
  conf::UpstreamConfig web;
  web.name = "web";
  web.servers.push_back(conf::ServerConfig{address("10.0.0.1:80")});
  web.servers.push_back(conf::ServerConfig{address("10.0.0.2:80")});
  conf::UpstreamConfig api;
  api.name = "api";
  api.servers.push_back(conf::ServerConfig{address("127.0.0.1:9000")});
  c.upstreams = {web, api};
  conf::RouteConfig root;
  root.prefix = "/";
  root.upstream = "web";
  root.upstream_index = 0;
  conf::RouteConfig www;
  www.prefix = "/";
  www.host = "www.example.com";
  www.upstream = "web";
  conf::RouteConfig apiRoute;
  apiRoute.prefix = "/api/";
  apiRoute.upstream = "api";
  apiRoute.upstream_index = 1;
  c.routes = {root, www, apiRoute};
  return c;
}

}  // namespace edged::metrics::test
