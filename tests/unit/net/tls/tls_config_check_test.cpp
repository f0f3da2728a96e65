// tests/unit/net/tls/tls_config_check_test.cpp — validateTlsConfig loads what a config names and
// reports each failure at its YAML position, as `edged --check` prints it.
#include <doctest.h>

#include <string>

#include "conf/config.h"
#include "proxy/net/tls/tls.h"
#include "tests/unit/conf/conf_test_support.h"
#include "tests/unit/net/tls/tls_test_support.h"

namespace edged::net::tls {
namespace {

using namespace test;
using conf::test::Errors;

// The config must load; returns what validateTlsConfig reports, as "t.yaml:L:C: path: message".
Errors check(const std::string& yaml) {
  const conf::LoadResult result = conf::loadConfigString(yaml, "t.yaml");
  INFO(conf::test::joinErrors(result));
  REQUIRE(result.ok());
  Errors out;
  for (const auto& e : validateTlsConfig(*result.config)) out.push_back(e.str());
  return out;
}

std::string config(const std::string& certificates, const std::string& extra = "",
                   const std::string& upstream_tls = "") {
  return "listen:\n  - address: 127.0.0.1:8443\n    tls:\n      certificates:\n" + certificates + extra +
         "upstreams:\n  api:\n" + upstream_tls +
         "    servers:\n      - address: 127.0.0.1:3001\nroutes:\n  - match: { prefix: / }\n    upstream: api\n";
}

TEST_CASE("tls config check: valid files pass") {
  const TestPki& pki = TestPki::get();
  CHECK(check(config("        - { cert: " + pki.pem("ec") + ", key: " + pki.key("ec") + " }\n" +
                         "        - { cert: " + pki.pem("rsa") + ", key: " + pki.key("rsa") + " }\n",
                     "      client_ca: " + pki.pem("ca") + "\n",
                     "    tls: { ca: " + pki.pem("ca") + ", sni: api.internal }\n"))
            .empty());
}

TEST_CASE("tls config check: a mismatched key, an expired certificate and an unreadable file, all reported") {
  const TestPki& pki = TestPki::get();
  const std::string certificates =
      "        - { cert: " + pki.pem("ec") + ", key: " + pki.key("stray") + " }\n" +       // line 5
      "        - cert: " + pki.pem("expired") + "\n          key: " + pki.key("expired") + "\n" +  // 6-7
      "        - cert: " + pki.dir + "/nope.pem\n          key: " + pki.key("ec") + "\n";  // 8-9
  const std::string key_column = std::to_string(26 + pki.pem("ec").size());
  const Errors errors = check(config(certificates));
  REQUIRE(errors.size() == 3);
  CHECK(errors[0] == "t.yaml:5:" + key_column + ": listen[0].tls.certificates[0].key: " + pki.key("stray") +
                         ": private key does not match the certificate " + pki.pem("ec"));
  CHECK(errors[1].rfind("t.yaml:6:17: listen[0].tls.certificates[1].cert: " + pki.pem("expired") +
                            ": certificate expired on 20",
                        0) == 0);
  CHECK(errors[2] == "t.yaml:8:17: listen[0].tls.certificates[2].cert: cannot read " + pki.dir +
                         "/nope.pem: No such file or directory");
}

TEST_CASE("tls config check: client_ca, ciphers and an upstream CA at their own positions") {
  const TestPki& pki = TestPki::get();
  const std::string ok_certificate = "        - { cert: " + pki.pem("ec") + ", key: " + pki.key("ec") + " }\n";
  CHECK(check(config(ok_certificate, "      client_ca: " + pki.dir + "/garbage.pem\n")) ==
        Errors{"t.yaml:6:18: listen[0].tls.client_ca: " + pki.dir +
                                 "/garbage.pem: no PEM certificate found"});
  CHECK(check(config(ok_certificate, "      ciphers: RC4-MD5\n")) ==
        Errors{"t.yaml:6:16: listen[0].tls.ciphers: no usable TLSv1.2 cipher in 'RC4-MD5': "
                                 "no cipher match"});
  CHECK(check(config(ok_certificate, "", "    tls: { ca: /nonexistent/ca.pem }\n")) ==
        Errors{"t.yaml:8:16: upstreams.api.tls.ca: cannot read /nonexistent/ca.pem: No such "
                                 "file or directory"});
}

}  // namespace
}  // namespace edged::net::tls
