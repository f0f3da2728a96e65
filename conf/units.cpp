// conf/units.cpp — parsers for durations, sizes and socket addresses written in the config file.
#include "conf/units.h"

#include <arpa/inet.h>
#include <netdb.h>

#include <cstring>
#include <limits>

#include "conf/config.h"

namespace edged::conf {

namespace {

bool isDigit(char c) { return c >= '0' && c <= '9'; }
bool isAlpha(char c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'); }

// Splits "123unit" into its number and unit. Only plain decimal digits are a number: no sign,
// no fraction, no spaces, so "-5s", "1.5s" and "5 s" are all rejected rather than guessed at.
bool splitNumber(std::string_view text, uint64_t& number, std::string_view& unit) {
  size_t i = 0;
  uint64_t value = 0;
  while (i < text.size() && isDigit(text[i])) {
    const uint64_t digit = static_cast<uint64_t>(text[i] - '0');
    if (value > (std::numeric_limits<uint64_t>::max() - digit) / 10) return false;
    value = value * 10 + digit;
    ++i;
  }
  if (i == 0) return false;
  number = value;
  unit = text.substr(i);
  return true;
}

bool multiply(uint64_t value, uint64_t by, uint64_t limit, uint64_t& out) {
  if (by != 0 && value > limit / by) return false;
  out = value * by;
  return true;
}

std::optional<uint16_t> parsePort(std::string_view text, std::string* why) {
  uint64_t port = 0;
  std::string_view rest;
  if (!splitNumber(text, port, rest) || !rest.empty()) {
    if (why)
      *why = text.empty() ? "missing port" : "port '" + std::string(text) + "' is not a number";
    return std::nullopt;
  }
  if (port < 1 || port > 65535) {
    if (why) *why = "port must be 1..65535";
    return std::nullopt;
  }
  return static_cast<uint16_t>(port);
}

// Host names go to the resolver only when they look like names, so garbage such as "a b" or
// "127.1" (which inet_aton would silently accept) never reaches getaddrinfo.
bool looksLikeHostName(std::string_view host) {
  bool has_letter = false;
  for (char c : host) {
    if (isAlpha(c)) {
      has_letter = true;
    } else if (!isDigit(c) && c != '-' && c != '.' && c != '_') {
      return false;
    }
  }
  return has_letter && host.front() != '.' && host.front() != '-';
}

// Canonical text comes from the numeric form, so "localhost:80" and "127.0.0.1:80" compare equal
// when the loader looks for duplicates.
std::string canonicalText(const sockaddr* sa, socklen_t len, uint16_t port) {
  char host[NI_MAXHOST] = {};
  if (getnameinfo(sa, len, host, sizeof host, nullptr, 0, NI_NUMERICHOST) != 0) return {};
  if (sa->sa_family == AF_INET6) return "[" + std::string(host) + "]:" + std::to_string(port);
  return std::string(host) + ":" + std::to_string(port);
}

std::optional<Address> resolve(const std::string& host, uint16_t port, bool numeric_only,
                               std::string* why) {
  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  hints.ai_flags = AI_NUMERICSERV | (numeric_only ? AI_NUMERICHOST : 0);
  addrinfo* list = nullptr;
  const std::string service = std::to_string(port);
  const int rc = getaddrinfo(host.c_str(), service.c_str(), &hints, &list);
  if (rc != 0 || list == nullptr) {
    if (why) {
      *why = numeric_only ? "'" + host + "' is not a valid IP address"
                          : "cannot resolve '" + host + "': " + gai_strerror(rc);
    }
    if (list) freeaddrinfo(list);
    return std::nullopt;
  }
  // Prefer IPv4: origins on "localhost" usually listen on 127.0.0.1 only, while glibc may list
  // ::1 first.
  const addrinfo* chosen = list;
  for (const addrinfo* ai = list; ai; ai = ai->ai_next) {
    if (ai->ai_family == AF_INET) {
      chosen = ai;
      break;
    }
  }
  Address address;
  if (chosen->ai_addrlen > sizeof address.storage) {
    freeaddrinfo(list);
    if (why) *why = "unsupported address family";
    return std::nullopt;
  }
  std::memcpy(&address.storage, chosen->ai_addr, chosen->ai_addrlen);
  address.length = chosen->ai_addrlen;
  freeaddrinfo(list);
  address.text = canonicalText(address.sa(), address.length, port);
  if (address.text.empty()) {
    if (why) *why = "cannot format address";
    return std::nullopt;
  }
  return address;
}

}  // namespace

uint16_t Address::port() const {
  if (storage.ss_family == AF_INET) {
    return ntohs(reinterpret_cast<const sockaddr_in*>(&storage)->sin_port);
  }
  if (storage.ss_family == AF_INET6) {
    return ntohs(reinterpret_cast<const sockaddr_in6*>(&storage)->sin6_port);
  }
  return 0;
}

std::optional<Duration> parseDuration(std::string_view text) {
  uint64_t number = 0;
  std::string_view unit;
  if (!splitNumber(text, number, unit)) return std::nullopt;
  uint64_t ms_per_unit = 0;
  if (unit.empty() || unit == "s") {
    ms_per_unit = 1000;
  } else if (unit == "ms") {
    ms_per_unit = 1;
  } else if (unit == "m") {
    ms_per_unit = 60'000;
  } else if (unit == "h") {
    ms_per_unit = 3'600'000;
  } else if (unit == "d") {
    ms_per_unit = 86'400'000;
  } else {
    return std::nullopt;
  }
  uint64_t ms = 0;
  const auto limit = static_cast<uint64_t>(std::numeric_limits<Duration::rep>::max());
  if (!multiply(number, ms_per_unit, limit, ms)) return std::nullopt;
  return Duration{static_cast<Duration::rep>(ms)};
}

std::optional<uint64_t> parseSize(std::string_view text) {
  uint64_t number = 0;
  std::string_view unit;
  if (!splitNumber(text, number, unit)) return std::nullopt;
  uint64_t scale = 0;
  if (unit.empty()) {
    scale = 1;
  } else if (unit == "k" || unit == "K" || unit == "KB" || unit == "KiB") {
    scale = uint64_t{1} << 10;
  } else if (unit == "m" || unit == "M" || unit == "MB" || unit == "MiB") {
    scale = uint64_t{1} << 20;
  } else if (unit == "g" || unit == "G" || unit == "GB" || unit == "GiB") {
    scale = uint64_t{1} << 30;
  } else {
    return std::nullopt;
  }
  uint64_t bytes = 0;
  if (!multiply(number, scale, std::numeric_limits<uint64_t>::max(), bytes)) return std::nullopt;
  return bytes;
}

std::optional<Address> parseAddress(std::string_view text, std::string* why) {
  if (text.empty()) {
    if (why) *why = "empty address";
    return std::nullopt;
  }
  if (text.find("://") != std::string_view::npos) {
    if (why) *why = "no scheme here: write HOST:PORT";
    return std::nullopt;
  }
  std::string_view host;
  std::string_view port_text;
  bool bracketed = false;
  if (text.front() == '[') {
    const size_t close = text.find(']');
    if (close == std::string_view::npos) {
      if (why) *why = "missing ']' after IPv6 address";
      return std::nullopt;
    }
    host = text.substr(1, close - 1);
    const std::string_view rest = text.substr(close + 1);
    if (rest.empty() || rest.front() != ':') {
      if (why) *why = "expected ':PORT' after ']'";
      return std::nullopt;
    }
    port_text = rest.substr(1);
    bracketed = true;
  } else {
    const size_t colon = text.rfind(':');
    if (colon == std::string_view::npos) {
      if (why) *why = "expected HOST:PORT";
      return std::nullopt;
    }
    host = text.substr(0, colon);
    port_text = text.substr(colon + 1);
    if (host.find(':') != std::string_view::npos) {
      if (why) *why = "IPv6 addresses need brackets, e.g. [::1]:8080";
      return std::nullopt;
    }
  }
  if (host.empty()) {
    if (why) *why = "missing host (use *:PORT for every address)";
    return std::nullopt;
  }
  const auto port = parsePort(port_text, why);
  if (!port) return std::nullopt;

  if (bracketed) {
    if (host.find(':') == std::string_view::npos) {
      if (why) *why = "'" + std::string(host) + "' is not an IPv6 address";
      return std::nullopt;
    }
    return resolve(std::string(host), *port, /*numeric_only=*/true, why);
  }
  if (host == "*") return resolve("0.0.0.0", *port, /*numeric_only=*/true, why);
  in_addr v4{};
  const std::string host_string(host);
  if (inet_pton(AF_INET, host_string.c_str(), &v4) == 1) {
    return resolve(host_string, *port, /*numeric_only=*/true, why);
  }
  if (!looksLikeHostName(host)) {
    if (why) *why = "'" + host_string + "' is not an IP address or host name";
    return std::nullopt;
  }
  return resolve(host_string, *port, /*numeric_only=*/false, why);
}

std::optional<Address> parseAddress(std::string_view text) { return parseAddress(text, nullptr); }

}  // namespace edged::conf
