// tests/unit/conf/config_tls_test.cpp — `listen[].tls`, `redirect_https` and `upstreams.X.tls`:
// the shape that must parse, the defaults, the positions kept for later checks, and the errors.
#include <doctest.h>

#include <string>

#include "conf/config.h"
#include "tests/unit/conf/conf_test_support.h"

namespace edged::conf {
namespace {

using namespace test;

constexpr std::string_view kTlsConfig = R"(listen:
  - address: 0.0.0.0:443
    tls:
      certificates:
        - { cert: /etc/edged/example.com.pem, key: /etc/edged/example.com.key }
        - cert: /etc/edged/wild.pem
          key: /etc/edged/wild.key
      protocols: [TLSv1.2, TLSv1.3]
      ciphers: ECDHE-ECDSA-AES128-GCM-SHA256
      session_tickets: on
      session_timeout: 1h
      client_ca: /etc/edged/clients.pem
  - address: 0.0.0.0:80
    redirect_https: true
upstreams:
  secure:
    tls: { verify: true, ca: /etc/ssl/certs/ca-certificates.crt, sni: api.internal }
    servers:
      - address: 10.0.0.5:443
routes:
  - match: { prefix: / }
    upstream: secure
)";

TEST_CASE("config tls: the documented shape parses, with positions for each file") {
  const LoadResult result = loadConfigString(kTlsConfig, "t.yaml");
  INFO(joinErrors(result));
  REQUIRE(result.ok());
  const Config& config = *result.config;
  REQUIRE(config.listeners.size() == 2);
  REQUIRE(config.listeners[0].tls);
  const ListenerTlsConfig& tls = *config.listeners[0].tls;
  REQUIRE(tls.certificates.size() == 2);
  CHECK(tls.certificates[0].cert == "/etc/edged/example.com.pem");
  CHECK(tls.certificates[0].key == "/etc/edged/example.com.key");
  CHECK(tls.certificates[0].position.line == 5);
  CHECK(tls.certificates[0].position.column == 11);
  CHECK(tls.certificates[0].cert_position.line == 5);
  CHECK(tls.certificates[0].cert_position.column == 19);
  CHECK(tls.certificates[0].key_position.column == 52);
  CHECK(tls.certificates[1].cert_position.line == 6);
  CHECK(tls.certificates[1].key_position.line == 7);
  CHECK(tls.certificates[1].key_position.key_path == "listen[0].tls.certificates[1].key");
  CHECK(tls.protocols == (kTlsV12 | kTlsV13));
  CHECK(tls.ciphers == "ECDHE-ECDSA-AES128-GCM-SHA256");
  CHECK(tls.ciphers_position.line == 9);
  CHECK(tls.session_tickets);
  CHECK(tls.session_timeout == std::chrono::hours(1));
  CHECK(tls.client_ca == "/etc/edged/clients.pem");
  CHECK(tls.client_ca_position.line == 12);
  CHECK_FALSE(config.listeners[0].redirect_https);
  CHECK_FALSE(config.listeners[1].tls);
  CHECK(config.listeners[1].redirect_https);
  REQUIRE(config.upstreams[0].tls);
  const UpstreamTlsConfig& up = *config.upstreams[0].tls;
  CHECK(up.verify);
  CHECK(up.ca == "/etc/ssl/certs/ca-certificates.crt");
  CHECK(up.ca_position.line == 17);
  CHECK(up.sni == "api.internal");
}

TEST_CASE("config tls: defaults, the old listener form, and `tls: on` for an upstream") {
  const LoadResult result = loadConfigString(R"(listen:
  - address: 127.0.0.1:8443
    tls:
      certificates:
        - { cert: a.pem, key: a.key }
  - address: 127.0.0.1:8080
    backlog: 100
upstreams:
  api:
    tls: on
    servers:
      - address: 127.0.0.1:3001
routes:
  - match: { prefix: / }
    upstream: api
)", "t.yaml");
  INFO(joinErrors(result));
  REQUIRE(result.ok());
  const ListenerTlsConfig& tls = *result.config->listeners[0].tls;
  CHECK(tls.protocols == (kTlsV12 | kTlsV13));
  CHECK(tls.ciphers.empty());
  CHECK(tls.session_tickets);
  CHECK(tls.session_timeout == std::chrono::minutes(5));
  CHECK(tls.client_ca.empty());
  CHECK(result.config->listeners[1].backlog == 100);
  CHECK_FALSE(result.config->listeners[1].tls);
  REQUIRE(result.config->upstreams[0].tls);
  CHECK(result.config->upstreams[0].tls->verify);
  CHECK(result.config->upstreams[0].tls->ca.empty());
  CHECK(loadConfigString(kBase, "t.yaml").config->listeners[0].tls == std::nullopt);
}

TEST_CASE("config tls: errors point at the value") {
  const auto listen = [](std::string_view tls_lines) {
    return std::string("listen:\n  - address: 127.0.0.1:8443\n    tls:\n") + std::string(tls_lines) +
           "upstreams:\n  api:\n    servers:\n      - address: 127.0.0.1:3001\n"
           "routes:\n  - match: { prefix: / }\n    upstream: api\n";
  };
  CHECK(errorsOf(listen("      certificates:\n        - { cert: a.pem, key: a.key }\n"
                        "      protocols: [TLSv1.1, TLSv1.3]\n")) ==
        Errors{"t.yaml:6:19: listen[0].tls.protocols[0]: TLSv1.1 is refused: it is obsolete and "
               "insecure (RFC 8996); use TLSv1.2 or TLSv1.3"});
  CHECK(errorsOf(listen("      certificates:\n        - { cert: a.pem, key: a.key }\n"
                        "      protocols: [TLSv1.4]\n")) ==
        Errors{"t.yaml:6:19: listen[0].tls.protocols[0]: must be TLSv1.2 or TLSv1.3, got 'TLSv1.4' "
               "(did you mean 'TLSv1.2'?)"});
  CHECK(errorsOf(listen("      protocols: [TLSv1.3]\n")) ==
        Errors{"t.yaml:4:7: listen[0].tls: missing required key 'certificates'"});
  CHECK(errorsOf(listen("      certificates: []\n")) ==
        Errors{"t.yaml:4:21: listen[0].tls.certificates: must list at least one certificate"});
  CHECK(errorsOf(listen("      certificates:\n        - { cert: a.pem }\n")) ==
        Errors{"t.yaml:5:11: listen[0].tls.certificates[0]: missing required key 'key'"});
  CHECK(errorsOf(listen("      certificates:\n        - { cert: a.pem, key: a.key, chain: b }\n")) ==
        Errors{"t.yaml:5:38: listen[0].tls.certificates[0].chain: unknown key"});
  CHECK(errorsOf(listen("      certificates:\n        - { cert: a.pem, key: a.key }\n"
                        "      session_timeout: 8d\n")) ==
        Errors{"t.yaml:6:24: listen[0].tls.session_timeout: must be at most 7d (RFC 8446 ticket "
               "lifetime limit)"});
  CHECK(errorsOf(R"(listen:
  - address: 127.0.0.1:8443
    redirect_https: true
    tls:
      certificates:
        - { cert: a.pem, key: a.key }
upstreams:
  api:
    tls: { verify: maybe, sni: "a:443" }
    servers:
      - address: 127.0.0.1:3001
routes:
  - match: { prefix: / }
    upstream: api
)") == Errors{"t.yaml:3:5: listen[0].redirect_https: a TLS listener cannot redirect to https; use it "
              "on a plain listener",
              "t.yaml:9:20: upstreams.api.tls.verify: expected true or false, got 'maybe'",
              "t.yaml:9:32: upstreams.api.tls.sni: must be a host name without a port, got 'a:443'"});
}

TEST_CASE("config tls: proxy_protocol with tls on one listener, and admin.tls") {
  const LoadResult result = loadConfigString(R"(listen:
  - address: 127.0.0.1:8443
    proxy_protocol: true
    tls:
      certificates:
        - { cert: a.pem, key: a.key }
admin:
  address: 127.0.0.1:9901
  tls: { cert: admin.pem, key: admin.key }
upstreams:
  api:
    servers:
      - address: 127.0.0.1:3001
routes:
  - match: { prefix: / }
    upstream: api
)", "t.yaml");
  INFO(joinErrors(result));
  REQUIRE(result.ok());
  const Config& config = *result.config;
  CHECK(config.listeners[0].proxy_protocol);
  CHECK(config.listeners[0].tls);
  REQUIRE(config.admin);
  REQUIRE(config.admin->tls);
  REQUIRE(config.admin->tls->certificates.size() == 1);
  CHECK(config.admin->tls->certificates[0].cert == "admin.pem");
  CHECK(config.admin->tls->certificates[0].key == "admin.key");
  CHECK(config.admin->tls->certificates[0].cert_position.line == 9);
  CHECK(config.admin->tls->certificates[0].cert_position.column == 16);
  CHECK(config.admin->tls->certificates[0].key_position.key_path == "admin.tls.key");
  CHECK(config.admin->tls->protocols == (kTlsV12 | kTlsV13));

  const auto admin = [](std::string_view tls_value) {
    return std::string("listen:\n  - address: 127.0.0.1:8080\nadmin:\n  address: 127.0.0.1:9901\n  tls: ") +
           std::string(tls_value) +
           "\nupstreams:\n  api:\n    servers:\n      - address: 127.0.0.1:3001\n"
           "routes:\n  - match: { prefix: / }\n    upstream: api\n";
  };
  CHECK(errorsOf(admin("{ cert: a.pem }")) == Errors{"t.yaml:5:8: admin.tls: missing required key 'key'"});
  CHECK(errorsOf(admin("{ cert: a.pem, key: a.key, client_ca: c.pem }")) ==
        Errors{"t.yaml:5:35: admin.tls.client_ca: unknown key"});
  CHECK(errorsOf(admin("on")) == Errors{"t.yaml:5:8: admin.tls: expected a map, got 'on'"});
}

}  // namespace
}  // namespace edged::conf
