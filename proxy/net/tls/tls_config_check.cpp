// proxy/net/tls/tls_config_check.cpp — `edged --check` and start-up run the same loads the
// listeners will, so a bad key is a config error, not a failed handshake at the first client.
#include "proxy/net/tls/tls_config_check.h"

#include <chrono>

#include "proxy/net/tls/tls_certificate.h"
#include "proxy/net/tls/tls_client_context.h"
#include "proxy/net/tls/tls_server_context.h"

namespace edged::net::tls {

namespace {

conf::ConfigError errorAt(const conf::Config& config, const conf::ConfigPosition& position,
                          std::string message) {
  conf::ConfigError error;
  error.file = config.source_path;
  error.line = position.line;
  error.column = position.column;
  error.key_path = position.key_path;
  error.message = std::move(message);
  return error;
}

}  // namespace

TlsServerSettings serverSettingsFrom(const conf::ListenerTlsConfig& tls) {
  TlsServerSettings settings;
  for (const auto& c : tls.certificates) settings.certificates.push_back({c.cert, c.key});
  settings.protocols = 0;
  if (tls.protocols & conf::kTlsV12) settings.protocols |= kTls12;
  if (tls.protocols & conf::kTlsV13) settings.protocols |= kTls13;
  if (!tls.ciphers.empty()) settings.ciphers = tls.ciphers;
  settings.session_tickets = tls.session_tickets;
  settings.session_timeout = std::chrono::duration_cast<std::chrono::seconds>(tls.session_timeout);
  if (settings.session_timeout.count() == 0) settings.session_timeout = std::chrono::seconds(1);
  settings.client_ca = tls.client_ca;
  return settings;
}

TlsClientSettings clientSettingsFrom(const conf::UpstreamTlsConfig& tls) {
  TlsClientSettings settings;
  settings.verify = tls.verify;
  settings.ca_file = tls.ca;
  settings.sni = tls.sni;
  return settings;
}

std::vector<conf::ConfigError> validateTlsConfig(const conf::Config& config, std::time_t now) {
  std::vector<conf::ConfigError> errors;
  // The listeners' TLS sections, and the admin listener's (the same checks).
  std::vector<const conf::ListenerTlsConfig*> sections;
  for (const conf::ListenerConfig& listener : config.listeners) {
    if (listener.tls) sections.push_back(&*listener.tls);
  }
  if (config.admin && config.admin->tls) sections.push_back(&*config.admin->tls);
  for (const conf::ListenerTlsConfig* section : sections) {
    const conf::ListenerTlsConfig& tls = *section;
    bool certificates_ok = true;
    for (const conf::TlsCertificateConfig& c : tls.certificates) {
      TlsLoadError error;
      if (TlsCertificate::load({c.cert, c.key}, now, error)) continue;
      certificates_ok = false;
      const conf::ConfigPosition& at = error.kind == TlsSettingKind::Key ? c.key_position : c.cert_position;
      errors.push_back(errorAt(config, at, error.message));
    }
    if (!certificates_ok || tls.certificates.empty()) continue;
    TlsLoadError error;
    if (TlsServerContext::create(serverSettingsFrom(tls), error, now)) continue;
    const conf::ConfigPosition* at = &tls.position;
    if (error.kind == TlsSettingKind::ClientCa) at = &tls.client_ca_position;
    if (error.kind == TlsSettingKind::Ciphers) at = &tls.ciphers_position;
    errors.push_back(errorAt(config, *at, error.message));
  }
  for (const conf::UpstreamConfig& upstream : config.upstreams) {
    if (!upstream.tls) continue;
    TlsLoadError error;
    if (TlsClientContext::create(clientSettingsFrom(*upstream.tls), error)) continue;
    const conf::ConfigPosition& at =
        error.kind == TlsSettingKind::CaFile ? upstream.tls->ca_position : upstream.tls->position;
    errors.push_back(errorAt(config, at, error.message));
  }
  return errors;
}

}  // namespace edged::net::tls
