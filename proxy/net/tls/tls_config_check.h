// proxy/net/tls/tls_config_check.h — conf's TLS sections as context settings, and the check that
// loads every certificate, key and CA of a Config and reports failures at their YAML positions.
#pragma once

#include <ctime>
#include <vector>

#include "conf/config.h"
#include "proxy/net/tls/tls_settings.h"

namespace edged::net::tls {

TlsServerSettings serverSettingsFrom(const conf::ListenerTlsConfig& tls);
TlsClientSettings clientSettingsFrom(const conf::UpstreamTlsConfig& tls);

// Builds (and drops) every TLS context the config describes. Each failure becomes a
// "FILE:LINE:COL: key.path: message" error at the certificate entry, key, CA or cipher list it is
// about; every certificate is checked even after one failed. Empty when all load.
std::vector<conf::ConfigError> validateTlsConfig(const conf::Config& config,
                                                 std::time_t now = std::time(nullptr));

}  // namespace edged::net::tls
