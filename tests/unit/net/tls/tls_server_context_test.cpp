// tests/unit/net/tls/tls_server_context_test.cpp — loading errors as values with clear messages,
// certificate names and expiry, refused settings.
#include <doctest.h>

#include <sys/stat.h>

#include <string>

#include "proxy/net/tls/tls.h"
#include "tests/unit/net/tls/tls_test_support.h"

namespace edged::net::tls {
namespace {

using namespace test;

std::string loadError(const TlsServerSettings& settings, TlsLoadError* out = nullptr) {
  TlsLoadError error;
  auto ctx = TlsServerContext::create(settings, error);
  CHECK(ctx == nullptr);
  if (out) *out = error;
  return error.message;
}

TEST_CASE("tls server context: a key that does not match its certificate") {
  TlsServerSettings settings;
  settings.certificates = {TestPki::get().files("ec"), {TestPki::get().pem("rsa"), TestPki::get().key("ec")}};
  TlsLoadError error;
  CHECK(loadError(settings, &error) ==
        TestPki::get().key("ec") + ": private key does not match the certificate " + TestPki::get().pem("rsa"));
  CHECK(error.kind == TlsSettingKind::Key);
  CHECK(error.certificate == 1);
}

TEST_CASE("tls server context: an expired certificate") {
  TlsLoadError error;
  const std::string message = loadError(serverSettings({"expired"}), &error);
  CHECK(message.rfind(TestPki::get().pem("expired") + ": certificate expired on 20", 0) == 0);
  CHECK(error.kind == TlsSettingKind::Certificate);
  CHECK(error.certificate == 0);
}

TEST_CASE("tls server context: unreadable, missing and non-PEM files") {
  TlsServerSettings settings;
  settings.certificates = {{TestPki::get().dir + "/missing.pem", TestPki::get().key("ec")}};
  CHECK(loadError(settings) == "cannot read " + TestPki::get().dir + "/missing.pem: No such file or directory");
  settings.certificates = {{TestPki::get().dir + "/garbage.pem", TestPki::get().key("ec")}};
  CHECK(loadError(settings) == TestPki::get().dir + "/garbage.pem: no PEM certificate found");
  settings.certificates = {{TestPki::get().pem("ec"), TestPki::get().dir + "/garbage.pem"}};
  TlsLoadError error;
  CHECK(loadError(settings, &error) == TestPki::get().dir + "/garbage.pem: no PEM private key found");
  CHECK(error.kind == TlsSettingKind::Key);
  if (geteuid() != 0) {  // root reads anything
    const std::string locked = TestPki::get().dir + "/locked.key";
    writeKey(locked, ecKey().get());
    chmod(locked.c_str(), 0);
    settings.certificates = {{TestPki::get().pem("ec"), locked}};
    CHECK(loadError(settings) == "cannot read " + locked + ": Permission denied");
  }
  settings = serverSettings();
  settings.client_ca = TestPki::get().dir + "/garbage.pem";
  CHECK(loadError(settings, &error).find("no PEM certificate found") != std::string::npos);
  CHECK(error.kind == TlsSettingKind::ClientCa);
}

TEST_CASE("tls server context: a cipher list with nothing usable, no protocol, no certificate") {
  TlsServerSettings settings = serverSettings();
  settings.ciphers = "NO-SUCH-CIPHER";
  TlsLoadError error;
  CHECK(loadError(settings, &error).find("no usable TLSv1.2 cipher in 'NO-SUCH-CIPHER'") == 0);
  CHECK(error.kind == TlsSettingKind::Ciphers);
  settings = serverSettings();
  settings.protocols = 0;
  CHECK(loadError(settings).find("no protocol enabled") == 0);
  CHECK(loadError(TlsServerSettings{}) == "no certificate configured");
}

TEST_CASE("tls server context: names from SAN (else CN), choice by SNI, expiry in seconds") {
  auto ctx = serverContext(serverSettings({"rsa", "ec", "wild", "cn-only"}));
  REQUIRE(ctx->certificates().size() == 4);
  CHECK(ctx->certificates()[1].names() == std::vector<std::string>{"ec.example.com", "www.ec.example.com"});
  CHECK(ctx->certificates()[3].names() == std::vector<std::string>{"cn.example.com"});
  CHECK(&ctx->certificateFor("www.ec.example.com") == &ctx->certificates()[1]);
  CHECK(&ctx->certificateFor("z.wild.example.com") == &ctx->certificates()[2]);
  CHECK(&ctx->certificateFor("wild.example.com") == &ctx->certificates()[0]);
  CHECK(&ctx->certificateFor("") == &ctx->certificates()[0]);
  const std::time_t now = std::time(nullptr);
  const int64_t left = ctx->secondsUntilExpiry(0, now);
  CHECK(left > 30 * 86400 - 120);
  CHECK(left <= 30 * 86400);
  CHECK(ctx->secondsUntilExpiry(0, now + 31 * 86400) < 0);
}

}  // namespace
}  // namespace edged::net::tls
