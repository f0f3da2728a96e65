// tests/unit/net/tls/tls_test_support.h — a throwaway PKI made with the OpenSSL API in a temp dir
// (a root CA, an intermediate, RSA and ECDSA P-256 leaves, a wildcard, an expired leaf, a client
// certificate), and a loop that carries bytes between two engines in memory.
#pragma once

#include <doctest.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509v3.h>
#include <stdlib.h>

#include <cstdio>
#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include "proxy/net/tls/tls.h"

namespace edged::net::tls::test {

struct KeyFree {
  void operator()(EVP_PKEY* k) const { EVP_PKEY_free(k); }
};
struct CertFree {
  void operator()(X509* c) const { X509_free(c); }
};
using Key = std::unique_ptr<EVP_PKEY, KeyFree>;
using Cert = std::unique_ptr<X509, CertFree>;

inline Key ecKey() { return Key(EVP_PKEY_Q_keygen(nullptr, nullptr, "EC", "P-256")); }
inline Key rsaKey() { return Key(EVP_PKEY_Q_keygen(nullptr, nullptr, "RSA", static_cast<size_t>(2048))); }

inline void addExtension(X509* cert, X509* issuer, int nid, const char* value) {
  X509V3_CTX ctx;
  X509V3_set_ctx_nodb(&ctx);
  X509V3_set_ctx(&ctx, issuer, cert, nullptr, nullptr, 0);
  X509_EXTENSION* ext = X509V3_EXT_conf_nid(nullptr, &ctx, nid, value);
  REQUIRE(ext != nullptr);
  X509_add_ext(cert, ext, -1);
  X509_EXTENSION_free(ext);
}

// Signed by (issuer, issuer_key), or self-signed when issuer is null. Validity in seconds from now.
inline Cert makeCert(const std::string& cn, const std::string& org, const std::vector<std::string>& dns,
                     EVP_PKEY* key, X509* issuer, EVP_PKEY* issuer_key, bool ca, long from = -3600,
                     long to = 30L * 24 * 3600) {
  static long serial = 1;
  Cert cert(X509_new());
  X509_set_version(cert.get(), 2);
  ASN1_INTEGER_set(X509_get_serialNumber(cert.get()), serial++);
  X509_gmtime_adj(X509_getm_notBefore(cert.get()), from);
  X509_gmtime_adj(X509_getm_notAfter(cert.get()), to);
  X509_set_pubkey(cert.get(), key);
  X509_NAME* name = X509_get_subject_name(cert.get());
  X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC, reinterpret_cast<const unsigned char*>(cn.c_str()), -1, -1, 0);
  if (!org.empty()) {
    X509_NAME_add_entry_by_txt(name, "O", MBSTRING_ASC, reinterpret_cast<const unsigned char*>(org.c_str()), -1, -1, 0);
  }
  X509* signer = issuer ? issuer : cert.get();
  X509_set_issuer_name(cert.get(), X509_get_subject_name(signer));
  addExtension(cert.get(), signer, NID_basic_constraints, ca ? "critical,CA:TRUE" : "critical,CA:FALSE");
  if (ca) addExtension(cert.get(), signer, NID_key_usage, "critical,keyCertSign,cRLSign");
  addExtension(cert.get(), signer, NID_subject_key_identifier, "hash");
  if (issuer) addExtension(cert.get(), signer, NID_authority_key_identifier, "keyid");
  if (!dns.empty()) {
    std::string san;
    for (const auto& d : dns) san += (san.empty() ? "DNS:" : ",DNS:") + d;
    addExtension(cert.get(), signer, NID_subject_alt_name, san.c_str());
  }
  REQUIRE(X509_sign(cert.get(), issuer_key ? issuer_key : key, EVP_sha256()) > 0);
  return cert;
}

inline void writePem(const std::string& path, const std::vector<X509*>& certs) {
  FILE* f = std::fopen(path.c_str(), "w");
  REQUIRE(f != nullptr);
  for (X509* c : certs) PEM_write_X509(f, c);
  std::fclose(f);
}

inline void writeKey(const std::string& path, EVP_PKEY* key) {
  FILE* f = std::fopen(path.c_str(), "w");
  REQUIRE(f != nullptr);
  PEM_write_PrivateKey(f, key, nullptr, nullptr, 0, nullptr, nullptr);
  std::fclose(f);
}

// Files, made once per test process: <dir>/NAME.pem (chain) and <dir>/NAME.key.
class TestPki {
 public:
  static TestPki& get() {
    static TestPki pki;
    return pki;
  }
  std::string pem(const std::string& name) const { return dir + "/" + name + ".pem"; }
  std::string key(const std::string& name) const { return dir + "/" + name + ".key"; }
  TlsCertificateFiles files(const std::string& name) const { return {pem(name), key(name)}; }

  std::string dir;

 private:
  TestPki() {
    char pattern[] = "/tmp/edged-tls-test-XXXXXX";
    REQUIRE(mkdtemp(pattern) != nullptr);
    dir = pattern;
    Key ca_key = ecKey();
    Cert ca = makeCert("edged test root", "edged tests", {}, ca_key.get(), nullptr, nullptr, true);
    writePem(pem("ca"), {ca.get()});
    Key other_key = ecKey();
    Cert other = makeCert("another root", "elsewhere", {}, other_key.get(), nullptr, nullptr, true);
    writePem(pem("other-ca"), {other.get()});
    Key inter_key = ecKey();
    Cert inter = makeCert("edged test intermediate", "edged tests", {}, inter_key.get(), ca.get(),
                          ca_key.get(), true);

    const auto leaf = [&](const std::string& name, Key k, const std::string& cn,
                          const std::vector<std::string>& dns, long from, long to, bool via_inter) {
      X509* issuer = via_inter ? inter.get() : ca.get();
      EVP_PKEY* issuer_key = via_inter ? inter_key.get() : ca_key.get();
      Cert c = makeCert(cn, "", dns, k.get(), issuer, issuer_key, false, from, to);
      if (via_inter) {
        writePem(pem(name), {c.get(), inter.get()});
      } else {
        writePem(pem(name), {c.get()});
      }
      writeKey(key(name), k.get());
    };
    leaf("ec", ecKey(), "ec.example.com", {"ec.example.com", "www.ec.example.com"}, -3600, 86400 * 30, false);
    leaf("rsa", rsaKey(), "rsa.example.com", {"rsa.example.com"}, -3600, 86400 * 30, false);
    leaf("wild", ecKey(), "*.wild.example.com", {"*.wild.example.com"}, -3600, 86400 * 30, false);
    leaf("cn-only", ecKey(), "cn.example.com", {}, -3600, 86400 * 30, false);
    leaf("chain", ecKey(), "chain.example.com", {"chain.example.com"}, -3600, 86400 * 30, true);
    leaf("expired", ecKey(), "old.example.com", {"old.example.com"}, -86400 * 10, -86400, false);
    // The client certificate for mutual TLS: subject "CN=client one,O=edged tests".
    {
      Key k = ecKey();
      Cert c = makeCert("client one", "edged tests", {}, k.get(), ca.get(), ca_key.get(), false);
      writePem(pem("client"), {c.get()});
      writeKey(key("client"), k.get());
    }
    // A key that belongs to no certificate here.
    writeKey(key("stray"), ecKey().get());
    FILE* f = std::fopen((dir + "/garbage.pem").c_str(), "w");
    std::fputs("this is not a PEM file\n", f);
    std::fclose(f);
  }
  ~TestPki() {
    std::error_code ignored;
    std::filesystem::remove_all(dir, ignored);
  }
};

inline TlsServerSettings serverSettings(std::vector<std::string> names = {"ec"}) {
  TlsServerSettings settings;
  for (const auto& n : names) settings.certificates.push_back(TestPki::get().files(n));
  return settings;
}

inline TlsClientSettings clientSettings() {
  TlsClientSettings settings;
  settings.ca_file = TestPki::get().pem("ca");
  return settings;
}

inline std::shared_ptr<TlsServerContext> serverContext(const TlsServerSettings& settings) {
  TlsLoadError error;
  auto ctx = TlsServerContext::create(settings, error);
  INFO(error.message);
  REQUIRE(ctx != nullptr);
  return ctx;
}

inline std::shared_ptr<TlsClientContext> clientContext(const TlsClientSettings& settings) {
  TlsLoadError error;
  auto ctx = TlsClientContext::create(settings, error);
  INFO(error.message);
  REQUIRE(ctx != nullptr);
  return ctx;
}

// Two engines joined back to back; what each one decrypts is collected.
struct EnginePair {
  std::unique_ptr<TlsEngine> client;
  std::unique_ptr<TlsEngine> server;
  std::string client_plain;  // received by the client
  std::string server_plain;  // received by the server
  int rounds = 0;

  // Moves ciphertext both ways until neither side has anything to send; bounded, so that a
  // protocol that stalls shows up as a failed check, not a hang.
  void pump() {
    for (rounds = 0; rounds < 50; ++rounds) {
      const bool c = client->hasOutput();
      const bool s = server->hasOutput();
      if (!c && !s) return;
      if (c) {
        std::string bytes;
        client->takeOutput(bytes);
        server->feed(bytes, server_plain);
      }
      if (s) {
        std::string bytes;
        server->takeOutput(bytes);
        client->feed(bytes, client_plain);
      }
    }
    FAIL("engines still talking after 50 rounds");
  }

  void handshake() {
    client->start();
    pump();
  }
};

inline EnginePair connect(TlsClientContext& client, TlsServerContext& server, const std::string& host,
                          const std::string& server_key = "server:443") {
  EnginePair pair;
  pair.client = client.newEngine(host, server_key);
  pair.server = server.newEngine();
  REQUIRE(pair.client != nullptr);
  REQUIRE(pair.server != nullptr);
  pair.handshake();
  return pair;
}

// The subject CN of the certificate the client got.
inline std::string servedCommonName(const TlsEngine& client) {
  X509* peer = SSL_get0_peer_certificate(client.ssl());
  if (!peer) return {};
  char buffer[256] = {};
  X509_NAME_get_text_by_NID(X509_get_subject_name(peer), NID_commonName, buffer, sizeof buffer);
  return buffer;
}

}  // namespace edged::net::tls::test
