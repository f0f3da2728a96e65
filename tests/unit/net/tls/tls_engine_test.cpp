// tests/unit/net/tls/tls_engine_test.cpp — a client engine against a server engine in memory:
// handshakes, SNI, ALPN, resumption, refusals, closes and truncation.
#include <doctest.h>

#include <string>

#include "proxy/net/tls/tls.h"
#include "tests/unit/net/tls/tls_test_support.h"

namespace edged::net::tls {
namespace {

using namespace test;
using State = TlsEngine::State;
using Failure = TlsEngine::Failure;

TEST_CASE("tls engine: TLSv1.3 handshake with ECDSA P-256, then data both ways") {
  auto server = serverContext(serverSettings({"ec"}));
  auto client = clientContext(clientSettings());
  EnginePair pair = connect(*client, *server, "ec.example.com");
  REQUIRE(pair.client->state() == State::Open);
  REQUIRE(pair.server->state() == State::Open);
  CHECK(pair.client->handshakeDone());
  CHECK(pair.server->handshakeDone());
  const TlsConnectionInfo info = pair.server->info();
  CHECK(info.protocol == "TLSv1.3");
  CHECK(info.cipher.rfind("TLS_", 0) == 0);
  CHECK(info.server_name == "ec.example.com");
  CHECK(info.alpn == "http/1.1");
  CHECK_FALSE(info.resumed);
  CHECK(info.peer_subject.empty());
  CHECK(pair.client->info().alpn == "http/1.1");
  CHECK(pair.client->info().peer_verified);
  CHECK(servedCommonName(*pair.client) == "ec.example.com");

  REQUIRE(pair.client->write("GET / HTTP/1.1\r\nHost: ec.example.com\r\n\r\n"));
  pair.pump();
  CHECK(pair.server_plain == "GET / HTTP/1.1\r\nHost: ec.example.com\r\n\r\n");
  // A body bigger than one record (16 KiB) arrives whole and in order.
  std::string body(300000, 'x');
  for (size_t i = 0; i < body.size(); ++i) body[i] = static_cast<char>('a' + i % 26);
  REQUIRE(pair.server->write(body));
  pair.pump();
  CHECK(pair.client_plain == body);
}

TEST_CASE("tls engine: TLSv1.2 with an RSA certificate picks an ECDHE + AEAD suite") {
  TlsServerSettings settings = serverSettings({"rsa"});
  settings.protocols = kTls12;
  auto server = serverContext(settings);
  auto client = clientContext(clientSettings());
  EnginePair pair = connect(*client, *server, "rsa.example.com");
  REQUIRE(pair.server->state() == State::Open);
  const TlsConnectionInfo info = pair.server->info();
  CHECK(info.protocol == "TLSv1.2");
  CHECK(info.cipher == "ECDHE-RSA-AES128-GCM-SHA256");
  CHECK(servedCommonName(*pair.client) == "rsa.example.com");
}

TEST_CASE("tls engine: SNI picks the exact name, then the wildcard, then the first certificate") {
  auto server = serverContext(serverSettings({"rsa", "ec", "wild", "cn-only"}));
  TlsClientSettings no_verify = clientSettings();
  no_verify.verify = false;
  auto client = clientContext(no_verify);
  CHECK(servedCommonName(*connect(*client, *server, "ec.example.com").client) == "ec.example.com");
  CHECK(servedCommonName(*connect(*client, *server, "www.ec.example.com").client) == "ec.example.com");
  CHECK(servedCommonName(*connect(*client, *server, "a.wild.example.com").client) == "*.wild.example.com");
  // The CN counts when the certificate has no DNS SAN.
  CHECK(servedCommonName(*connect(*client, *server, "cn.example.com").client) == "cn.example.com");
  // A wildcard covers one label only; unknown names get the first certificate.
  CHECK(servedCommonName(*connect(*client, *server, "a.b.wild.example.com").client) == "rsa.example.com");
  CHECK(servedCommonName(*connect(*client, *server, "unknown.test").client) == "rsa.example.com");
  // Upper case SNI still matches.
  CHECK(servedCommonName(*connect(*client, *server, "EC.Example.COM").client) == "ec.example.com");
  // An RSA certificate chosen over an ECDSA default is the one served, whatever the client's
  // signature algorithm preference.
  auto ec_first = serverContext(serverSettings({"ec", "rsa"}));
  CHECK(servedCommonName(*connect(*client, *ec_first, "rsa.example.com").client) == "rsa.example.com");
  CHECK(servedCommonName(*connect(*client, *ec_first, "other.test").client) == "ec.example.com");
  // And with verification on, the wildcard certificate passes the host name check.
  auto verifying = clientContext(clientSettings());
  EnginePair pair = connect(*verifying, *server, "x.wild.example.com");
  CHECK(pair.client->state() == State::Open);
  CHECK(pair.client->info().peer_verified);
}

TEST_CASE("tls engine: a chain file sends the intermediate, so a client trusting only the root verifies") {
  auto server = serverContext(serverSettings({"chain"}));
  auto client = clientContext(clientSettings());
  EnginePair pair = connect(*client, *server, "chain.example.com");
  INFO(pair.client->error());
  CHECK(pair.client->state() == State::Open);
  CHECK(pair.client->info().peer_verified);
}

TEST_CASE("tls engine: ALPN prefers http/1.1; a client offering only h2 gets a clean alert, no hang") {
  auto server = serverContext(serverSettings());
  SUBCASE("h2 and http/1.1 offered") {
    TlsClientSettings settings = clientSettings();
    settings.alpn = {"h2", "http/1.1"};
    auto client = clientContext(settings);
    EnginePair pair = connect(*client, *server, "ec.example.com");
    CHECK(pair.server->info().alpn == "http/1.1");
  }
  SUBCASE("no ALPN at all: the handshake succeeds without one") {
    TlsClientSettings settings = clientSettings();
    settings.alpn = {};
    auto client = clientContext(settings);
    EnginePair pair = connect(*client, *server, "ec.example.com");
    CHECK(pair.server->state() == State::Open);
    CHECK(pair.server->info().alpn.empty());
  }
  SUBCASE("only h2") {
    TlsClientSettings settings = clientSettings();
    settings.alpn = {"h2"};
    auto client = clientContext(settings);
    EnginePair pair = connect(*client, *server, "ec.example.com");
    CHECK(pair.server->state() == State::Failed);
    CHECK(pair.server->failure() == Failure::Handshake);
    CHECK(pair.client->state() == State::Failed);
    CHECK(pair.client->error().find("no application protocol") != std::string::npos);
  }
}

TEST_CASE("tls engine: a session ticket resumes on another engine of the same context") {
  for (uint8_t protocols : {uint8_t{kTls13}, uint8_t{kTls12}}) {
    CAPTURE(int{protocols});
    TlsServerSettings settings = serverSettings();
    settings.protocols = protocols;
    auto server = serverContext(settings);
    auto client = clientContext(clientSettings());
    EnginePair first = connect(*client, *server, "ec.example.com", "10.0.0.5:443");
    REQUIRE(first.client->state() == State::Open);
    CHECK_FALSE(first.server->info().resumed);
    CHECK(client->cachedSessions() == 1);
    EnginePair second = connect(*client, *server, "ec.example.com", "10.0.0.5:443");
    REQUIRE(second.server->state() == State::Open);
    CHECK(second.server->info().resumed);
    CHECK(second.client->info().resumed);
    // Another server key has no session to offer.
    EnginePair other = connect(*client, *server, "ec.example.com", "10.0.0.6:443");
    CHECK_FALSE(other.server->info().resumed);
  }
}

TEST_CASE("tls engine: a session survives a dropped connection, but not a truncated one") {
  for (uint8_t protocols : {uint8_t{kTls13}, uint8_t{kTls12}}) {
    CAPTURE(int{protocols});
    TlsServerSettings settings = serverSettings();
    settings.protocols = protocols;
    auto server = serverContext(settings);
    auto client = clientContext(clientSettings());
    connect(*client, *server, "ec.example.com");  // destroyed at once, without close_notify
    {
      EnginePair second = connect(*client, *server, "ec.example.com");
      CHECK(second.server->info().resumed);
      CHECK(second.client->feedEof() == State::Failed);
    }
    EnginePair third = connect(*client, *server, "ec.example.com");
    CHECK(third.server->state() == State::Open);
    CHECK_FALSE(third.client->info().resumed);
  }
}

TEST_CASE("tls engine: without tickets, TLSv1.2 resumes from the shared session cache") {
  TlsServerSettings settings = serverSettings();
  settings.protocols = kTls12;
  settings.session_tickets = false;
  auto server = serverContext(settings);
  auto client = clientContext(clientSettings());
  EnginePair first = connect(*client, *server, "ec.example.com");
  REQUIRE(first.server->state() == State::Open);
  CHECK(SSL_CTX_sess_number(server->sslContext()) == 1);
  EnginePair second = connect(*client, *server, "ec.example.com");
  CHECK(second.server->info().resumed);
}

TEST_CASE("tls engine: ticket keys rotate; tickets under a retired key do not resume") {
  TlsServerSettings settings = serverSettings();
  auto ring = std::make_shared<TicketKeyRing>(std::chrono::seconds(3600), 2);
  TlsLoadError error;
  auto server = TlsServerContext::create(settings, error, std::time(nullptr), ring);
  REQUIRE(server);
  auto client = clientContext(clientSettings());
  connect(*client, *server, "ec.example.com");
  ring->rotate();  // the ticket's key is now the previous one: still accepted
  EnginePair second = connect(*client, *server, "ec.example.com");
  CHECK(second.server->info().resumed);
  // `second` got a fresh ticket under the current key; retire every key it could use.
  ring->rotate();
  ring->rotate();
  EnginePair third = connect(*client, *server, "ec.example.com");
  CHECK(third.server->state() == State::Open);
  CHECK_FALSE(third.server->info().resumed);
}

TEST_CASE("tls engine: a TLSv1.1 client is refused") {
  auto server = serverContext(serverSettings());
  TlsClientSettings settings = clientSettings();
  settings.ciphers = "DEFAULT@SECLEVEL=0";
  auto client = clientContext(settings);
  EnginePair pair;
  pair.client = client->newEngine("ec.example.com", "s");
  pair.server = server->newEngine();
  SSL_set_security_level(pair.client->ssl(), 0);
  SSL_set_min_proto_version(pair.client->ssl(), TLS1_VERSION);
  SSL_set_max_proto_version(pair.client->ssl(), TLS1_1_VERSION);
  pair.handshake();
  CHECK(pair.server->state() == State::Failed);
  CHECK(pair.server->failure() == Failure::Handshake);
  CHECK(pair.server->error().find("unsupported protocol") != std::string::npos);
  CHECK(pair.client->state() == State::Failed);
}

TEST_CASE("tls engine: close_notify both ways, and a stream cut without it is truncated") {
  auto server = serverContext(serverSettings());
  auto client = clientContext(clientSettings());
  SUBCASE("client closes first, server answers with its own close_notify") {
    EnginePair pair = connect(*client, *server, "ec.example.com");
    REQUIRE(pair.client->write("last words"));
    pair.client->shutdown();
    CHECK(pair.client->closeNotifySent());
    CHECK_FALSE(pair.client->write("more"));
    pair.pump();
    CHECK(pair.server_plain == "last words");
    CHECK(pair.server->state() == State::PeerClosed);
    CHECK(pair.server->closeNotifyReceived());
    // A half-closed peer may still be written to, then we close too.
    REQUIRE(pair.server->write("reply"));
    pair.server->shutdown();
    pair.pump();
    CHECK(pair.client_plain == "reply");
    CHECK(pair.client->state() == State::PeerClosed);
    // EOF after close_notify is the clean end.
    CHECK(pair.client->feedEof() == State::PeerClosed);
    CHECK(pair.server->feedEof() == State::PeerClosed);
  }
  SUBCASE("EOF without close_notify after the handshake") {
    EnginePair pair = connect(*client, *server, "ec.example.com");
    REQUIRE(pair.server->write("partial body"));
    pair.pump();
    CHECK(pair.client->feedEof() == State::Failed);
    CHECK(pair.client->failure() == Failure::Truncated);
    CHECK(pair.client->error().find("close_notify") != std::string::npos);
  }
  SUBCASE("EOF in the middle of the handshake") {
    EnginePair pair;
    pair.client = client->newEngine("ec.example.com", "s");
    pair.server = server->newEngine();
    pair.client->start();
    std::string hello, ignored;
    pair.client->takeOutput(hello);
    pair.server->feed(hello, ignored);
    CHECK(pair.server->state() == State::Handshaking);
    CHECK(pair.server->feedEof() == State::Failed);
    CHECK(pair.server->failure() == Failure::Truncated);
  }
  SUBCASE("EOF in the middle of a record") {
    EnginePair pair = connect(*client, *server, "ec.example.com");
    REQUIRE(pair.server->write(std::string(1000, 'y')));
    std::string record;
    pair.server->takeOutput(record);
    pair.client->feed(std::string_view(record).substr(0, 500), pair.client_plain);
    CHECK(pair.client->state() == State::Open);
    CHECK(pair.client_plain.empty());
    CHECK(pair.client->feedEof() == State::Failed);
    CHECK(pair.client->failure() == Failure::Truncated);
  }
}

TEST_CASE("tls engine: bytes arriving one at a time still make a handshake") {
  auto server = serverContext(serverSettings());
  auto client = clientContext(clientSettings());
  EnginePair pair;
  pair.client = client->newEngine("ec.example.com", "s");
  pair.server = server->newEngine();
  pair.client->start();
  for (int round = 0; round < 10 && (pair.client->hasOutput() || pair.server->hasOutput()); ++round) {
    std::string bytes;
    pair.client->takeOutput(bytes);
    for (char c : bytes) pair.server->feed(std::string_view(&c, 1), pair.server_plain);
    pair.server->takeOutput(bytes);
    for (char c : bytes) pair.client->feed(std::string_view(&c, 1), pair.client_plain);
  }
  CHECK(pair.client->state() == State::Open);
  CHECK(pair.server->state() == State::Open);
}

TEST_CASE("tls engine: a plain HTTP request on the TLS port is recognised, in one piece or several") {
  auto server = serverContext(serverSettings());
  std::string plain;
  SUBCASE("one piece") {
    auto engine = server->newEngine();
    CHECK(engine->feed("GET / HTTP/1.1\r\nHost: a\r\n\r\n", plain) == State::Failed);
    CHECK(engine->failure() == Failure::PlainHttp);
    CHECK_FALSE(engine->hasOutput());  // no TLS alert: the caller answers in plain HTTP
  }
  SUBCASE("split inside the method") {
    auto engine = server->newEngine();
    CHECK(engine->feed("PO", plain) == State::Handshaking);
    CHECK(engine->feed("ST /x HTTP/1.1\r\n", plain) == State::Failed);
    CHECK(engine->failure() == Failure::PlainHttp);
  }
  CHECK(plain.empty());
  const std::string_view response = kPlainHttpOnTlsPortResponse;
  const size_t head_end = response.find("\r\n\r\n");
  REQUIRE(head_end != std::string_view::npos);
  CHECK(response.rfind("HTTP/1.1 400 Bad Request\r\n", 0) == 0);
  CHECK(response.find("Content-Length: " + std::to_string(response.size() - head_end - 4) + "\r\n") !=
        std::string_view::npos);
  CHECK(response.find("The plain HTTP request was sent to HTTPS port") != std::string_view::npos);
}

TEST_CASE("tls engine: garbage instead of a ClientHello is an error") {
  auto server = serverContext(serverSettings());
  std::string plain;
  SUBCASE("not a TLS record at all") {
    auto engine = server->newEngine();
    CHECK(engine->feed(std::string_view("\x00\x01\x02\x03garbage", 11), plain) == State::Failed);
    CHECK(engine->failure() == Failure::NotTls);
  }
  SUBCASE("a handshake record header followed by nonsense") {
    auto engine = server->newEngine();
    std::string bytes("\x16\x03\x01\x00\x10", 5);
    bytes += std::string(16, '\xff');
    CHECK(engine->feed(bytes, plain) == State::Failed);
    CHECK(engine->failure() == Failure::Handshake);
    CHECK_FALSE(engine->error().empty());
  }
}

TEST_CASE("tls engine: mutual TLS reports the verified client subject, and refuses no certificate") {
  TlsServerSettings settings = serverSettings();
  settings.client_ca = TestPki::get().pem("ca");
  auto server = serverContext(settings);
  SUBCASE("with a client certificate") {
    TlsClientSettings client_settings = clientSettings();
    client_settings.client_cert = TestPki::get().pem("client");
    client_settings.client_key = TestPki::get().key("client");
    auto client = clientContext(client_settings);
    EnginePair pair = connect(*client, *server, "ec.example.com");
    INFO(pair.server->error());
    REQUIRE(pair.server->state() == State::Open);
    const TlsConnectionInfo info = pair.server->info();
    CHECK(info.peer_verified);
    CHECK(info.peer_subject == "O=edged tests,CN=client one");
  }
  SUBCASE("without one") {
    auto client = clientContext(clientSettings());
    EnginePair pair = connect(*client, *server, "ec.example.com");
    CHECK(pair.server->state() == State::Failed);
    CHECK(pair.server->error().find("certificate") != std::string::npos);
  }
}

TEST_CASE("tls engine: the client refuses a certificate for another name or from an unknown CA") {
  auto server = serverContext(serverSettings());
  SUBCASE("wrong host name") {
    auto client = clientContext(clientSettings());
    EnginePair pair = connect(*client, *server, "wrong.example.com");
    CHECK(pair.client->state() == State::Failed);
    CHECK(pair.client->failure() == Failure::Handshake);
    CHECK(pair.client->error() == "certificate verify failed: hostname mismatch");
  }
  SUBCASE("settings.sni names the certificate's host, so the same address passes") {
    TlsClientSettings settings = clientSettings();
    settings.sni = "ec.example.com";
    auto client = clientContext(settings);
    EnginePair pair = connect(*client, *server, "10.0.0.5");
    CHECK(pair.client->state() == State::Open);
    CHECK(pair.server->info().server_name == "ec.example.com");
  }
  SUBCASE("untrusted CA") {
    TlsClientSettings settings = clientSettings();
    settings.ca_file = TestPki::get().pem("other-ca");
    auto client = clientContext(settings);
    EnginePair pair = connect(*client, *server, "ec.example.com");
    CHECK(pair.client->state() == State::Failed);
    CHECK(pair.client->error().find("certificate verify failed") == 0);
  }
  SUBCASE("verify off accepts it") {
    TlsClientSettings settings = clientSettings();
    settings.verify = false;
    auto client = clientContext(settings);
    EnginePair pair = connect(*client, *server, "wrong.example.com");
    CHECK(pair.client->state() == State::Open);
    CHECK_FALSE(pair.client->info().peer_verified);
  }
}

TEST_CASE("tls engine: releaseBuffers on an idle connection keeps it usable") {
  TlsServerSettings settings = serverSettings();
  settings.release_buffers = false;
  auto server = serverContext(settings);
  auto client = clientContext(clientSettings());
  EnginePair pair = connect(*client, *server, "ec.example.com");
  pair.server->releaseBuffers();
  pair.client->releaseBuffers();
  REQUIRE(pair.client->write("after release"));
  pair.pump();
  CHECK(pair.server_plain == "after release");
}

TEST_CASE("tls engine: keepBuffers holds the record buffers while busy, releases them when idle") {
  auto client = clientContext(clientSettings());
  const auto releasing = [](const TlsEngine& e) { return (SSL_get_mode(e.ssl()) & SSL_MODE_RELEASE_BUFFERS) != 0; };
  SUBCASE("release_buffers on: cleared while busy, back (and freed) when idle") {
    auto server = serverContext(serverSettings());
    EnginePair pair = connect(*client, *server, "ec.example.com");
    CHECK(releasing(*pair.server));
    pair.server->keepBuffers(true);
    CHECK_FALSE(releasing(*pair.server));
    REQUIRE(pair.client->write("busy one"));
    pair.pump();
    REQUIRE(pair.server->write("answer one"));
    pair.pump();
    CHECK(pair.server_plain == "busy one");
    CHECK(pair.client_plain == "answer one");
    pair.server->keepBuffers(false);
    CHECK(releasing(*pair.server));
    REQUIRE(pair.client->write(" idle then two"));
    pair.pump();
    CHECK(pair.server_plain == "busy one idle then two");
  }
  SUBCASE("release_buffers off: keepBuffers(false) does not turn releasing on") {
    TlsServerSettings settings = serverSettings();
    settings.release_buffers = false;
    auto server = serverContext(settings);
    EnginePair pair = connect(*client, *server, "ec.example.com");
    pair.server->keepBuffers(true);
    pair.server->keepBuffers(false);
    CHECK_FALSE(releasing(*pair.server));
  }
}

}  // namespace
}  // namespace edged::net::tls
