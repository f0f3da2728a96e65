// proxy/net/tls/tls_certificate.cpp — loading a PEM chain and key with messages a user can act on.
#include "proxy/net/tls/tls_certificate.h"

#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/x509v3.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <utility>

namespace edged::net::tls {

namespace {

struct FileCloser {
  void operator()(FILE* f) const { std::fclose(f); }
};
using File = std::unique_ptr<FILE, FileCloser>;

std::string lower(std::string_view text) {
  std::string out(text);
  for (char& c : out) {
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
  }
  return out;
}

// Opening ourselves gives errno-based messages ("Permission denied") instead of OpenSSL's
// "system library" codes.
File openReadable(const std::string& path, std::string& why) {
  FILE* f = std::fopen(path.c_str(), "re");
  if (!f) why = "cannot read " + path + ": " + std::strerror(errno);
  return File(f);
}

std::time_t asn1ToTime(const ASN1_TIME* t) {
  struct tm tm {};
  if (ASN1_TIME_to_tm(t, &tm) != 1) return 0;
  return timegm(&tm);
}

std::string formatTime(std::time_t t) {
  struct tm tm {};
  gmtime_r(&t, &tm);
  char buffer[32];
  std::strftime(buffer, sizeof buffer, "%Y-%m-%d %H:%M:%S UTC", &tm);
  return buffer;
}

std::vector<std::string> dnsNames(X509* cert) {
  std::vector<std::string> names;
  auto* sans = static_cast<GENERAL_NAMES*>(X509_get_ext_d2i(cert, NID_subject_alt_name, nullptr, nullptr));
  if (sans) {
    for (int i = 0; i < sk_GENERAL_NAME_num(sans); ++i) {
      const GENERAL_NAME* name = sk_GENERAL_NAME_value(sans, i);
      if (name->type != GEN_DNS) continue;
      const ASN1_IA5STRING* dns = name->d.dNSName;
      names.push_back(lower(std::string_view(reinterpret_cast<const char*>(ASN1_STRING_get0_data(dns)),
                                             static_cast<size_t>(ASN1_STRING_length(dns)))));
    }
    GENERAL_NAMES_free(sans);
  }
  // RFC 6125: the CN counts only when there is no DNS SAN.
  if (names.empty()) {
    X509_NAME* subject = X509_get_subject_name(cert);
    const int index = X509_NAME_get_index_by_NID(subject, NID_commonName, -1);
    if (index >= 0) {
      const ASN1_STRING* cn = X509_NAME_ENTRY_get_data(X509_NAME_get_entry(subject, index));
      names.push_back(lower(std::string_view(reinterpret_cast<const char*>(ASN1_STRING_get0_data(cn)),
                                             static_cast<size_t>(ASN1_STRING_length(cn)))));
    }
  }
  return names;
}

}  // namespace

std::string takeOpenSslError(std::string_view fallback) {
  const unsigned long code = ERR_peek_last_error();
  std::string out;
  if (code != 0) {
    const char* reason = ERR_reason_error_string(code);
    out = reason ? reason : "error " + std::to_string(code);
  } else {
    out = std::string(fallback);
  }
  ERR_clear_error();
  return out;
}

TlsCertificate::TlsCertificate(TlsCertificate&& o) noexcept
    : leaf_(std::exchange(o.leaf_, nullptr)),
      chain_(std::exchange(o.chain_, nullptr)),
      key_(std::exchange(o.key_, nullptr)),
      names_(std::move(o.names_)),
      not_after_(o.not_after_),
      cert_path_(std::move(o.cert_path_)) {}

TlsCertificate::~TlsCertificate() {
  X509_free(leaf_);
  sk_X509_pop_free(chain_, X509_free);
  EVP_PKEY_free(key_);
}

std::optional<TlsCertificate> TlsCertificate::load(const TlsCertificateFiles& files, std::time_t now,
                                                   TlsLoadError& error) {
  ERR_clear_error();
  TlsCertificate out;
  out.cert_path_ = files.cert;
  error.kind = TlsSettingKind::Certificate;
  File cert_file = openReadable(files.cert, error.message);
  if (!cert_file) return std::nullopt;
  out.leaf_ = PEM_read_X509(cert_file.get(), nullptr, nullptr, nullptr);
  if (!out.leaf_) {
    ERR_clear_error();
    error.message = files.cert + ": no PEM certificate found";
    return std::nullopt;
  }
  out.chain_ = sk_X509_new_null();
  while (X509* extra = PEM_read_X509(cert_file.get(), nullptr, nullptr, nullptr)) {
    sk_X509_push(out.chain_, extra);
  }
  // The loop ends on "no start line" at the end of the file; anything else is a broken PEM block.
  const unsigned long last = ERR_peek_last_error();
  if (last != 0 && ERR_GET_REASON(last) != PEM_R_NO_START_LINE) {
    error.message = files.cert + ": bad PEM certificate after the first: " + takeOpenSslError("");
    return std::nullopt;
  }
  ERR_clear_error();

  error.kind = TlsSettingKind::Key;
  File key_file = openReadable(files.key, error.message);
  if (!key_file) return std::nullopt;
  out.key_ = PEM_read_PrivateKey(key_file.get(), nullptr, nullptr, nullptr);
  if (!out.key_) {
    ERR_clear_error();
    error.message = files.key + ": no PEM private key found";
    return std::nullopt;
  }
  if (X509_check_private_key(out.leaf_, out.key_) != 1) {
    ERR_clear_error();
    error.message = files.key + ": private key does not match the certificate " + files.cert;
    return std::nullopt;
  }

  error.kind = TlsSettingKind::Certificate;
  out.not_after_ = asn1ToTime(X509_get0_notAfter(out.leaf_));
  if (out.not_after_ <= now) {
    error.message = files.cert + ": certificate expired on " + formatTime(out.not_after_);
    return std::nullopt;
  }
  out.names_ = dnsNames(out.leaf_);
  error = TlsLoadError{};
  return out;
}

bool TlsCertificate::matchesExactly(std::string_view host) const {
  for (const std::string& name : names_) {
    if (name == host) return true;
  }
  return false;
}

bool TlsCertificate::matchesWildcard(std::string_view host) const {
  // "*.example.com" matches "a.example.com", not "example.com" nor "a.b.example.com".
  const size_t dot = host.find('.');
  if (dot == std::string_view::npos || dot == 0) return false;
  const std::string_view parent = host.substr(dot);
  for (const std::string& name : names_) {
    if (name.size() > 2 && name[0] == '*' && name[1] == '.' && std::string_view(name).substr(1) == parent) {
      return true;
    }
  }
  return false;
}

}  // namespace edged::net::tls
