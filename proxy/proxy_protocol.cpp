// proxy/proxy_protocol.cpp — v1: "PROXY TCP4 src dst sport dport\r\n" (text, at most 107 bytes);
// v2: a 12-byte signature, version/command, family/transport, a big-endian length, addresses,
// then TLVs that edged skips.
#include "proxy/proxy_protocol.h"

#include <cstring>
#include <optional>

namespace edged::proxy {
namespace {

constexpr char kV2Signature[12] = {'\r', '\n', '\r', '\n', '\0', '\r', '\n', 'Q', 'U', 'I', 'T', '\n'};
constexpr size_t kV1Max = 107;

bool parsePort(std::string_view s, uint16_t& out) {
  // 0..65535, no leading zeros, no sign (the spec's grammar).
  if (s.empty() || s.size() > 5 || (s.size() > 1 && s[0] == '0')) return false;
  uint32_t n = 0;
  for (char c : s) {
    if (c < '0' || c > '9') return false;
    n = n * 10 + static_cast<uint32_t>(c - '0');
  }
  if (n > 65535) return false;
  out = static_cast<uint16_t>(n);
  return true;
}

// Splits off the text up to the next single space.
std::string_view nextField(std::string_view& line) {
  const size_t sp = line.find(' ');
  const std::string_view f = line.substr(0, sp);
  line = sp == std::string_view::npos ? std::string_view() : line.substr(sp + 1);
  return f;
}

ProxyHeaderResult parseV1(std::string_view bytes, ProxyHeader& h) {
  const size_t crlf = bytes.substr(0, kV1Max).find("\r\n");
  if (crlf == std::string_view::npos) {
    // The verdict waits for the CRLF (or the 107-byte bound), so that it never depends on how
    // the bytes were split into reads.
    return bytes.size() >= kV1Max ? ProxyHeaderResult::Invalid : ProxyHeaderResult::NeedMore;
  }
  std::string_view line = bytes.substr(6, crlf - 6);  // after "PROXY "
  h = {};
  h.version = 1;
  h.length = crlf + 2;
  const std::string_view proto = nextField(line);
  if (proto == "UNKNOWN") return ProxyHeaderResult::Done;  // the rest of the line is ignored
  const bool v4 = proto == "TCP4";
  if (!v4 && proto != "TCP6") return ProxyHeaderResult::Invalid;
  // TCP4 takes dotted quads, TCP6 unbracketed IPv6 text.
  auto address = [v4](std::string_view t) -> std::optional<IpAddress> {
    if (t.find('[') != std::string_view::npos || (t.find(':') == std::string_view::npos) != v4) return std::nullopt;
    return parseIpAddress(t);
  };
  const auto src = address(nextField(line)), dst = address(nextField(line));
  const std::string_view sport = nextField(line), dport = nextField(line);
  if (!src || !dst || !line.empty()) return ProxyHeaderResult::Invalid;
  if (!parsePort(sport, h.source_port) || !parsePort(dport, h.destination_port)) return ProxyHeaderResult::Invalid;
  h.source = *src;
  h.destination = *dst;
  h.has_addresses = true;
  return ProxyHeaderResult::Done;
}

ProxyHeaderResult parseV2(std::string_view bytes, ProxyHeader& h) {
  if (bytes.size() < 16) return ProxyHeaderResult::NeedMore;
  const auto* b = reinterpret_cast<const uint8_t*>(bytes.data());
  if ((b[12] >> 4) != 2) return ProxyHeaderResult::Invalid;
  const unsigned command = b[12] & 0x0f;
  if (command > 1) return ProxyHeaderResult::Invalid;
  const size_t len = (size_t{b[14]} << 8) | b[15];
  if (bytes.size() < 16 + len) return ProxyHeaderResult::NeedMore;
  h = {};
  h.version = 2;
  h.length = 16 + len;
  if (command == 0) return ProxyHeaderResult::Done;  // LOCAL: addresses (if any) are ignored
  const unsigned family = b[13] >> 4, transport = b[13] & 0x0f;
  const uint8_t* a = b + 16;
  if (family == 1 && transport == 1) {  // TCP over IPv4
    if (len < 12) return ProxyHeaderResult::Invalid;
    static constexpr uint8_t kMapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
    std::memcpy(h.source.bytes.data(), kMapped, 12);
    std::memcpy(h.destination.bytes.data(), kMapped, 12);
    std::memcpy(h.source.bytes.data() + 12, a, 4);
    std::memcpy(h.destination.bytes.data() + 12, a + 4, 4);
    h.source_port = static_cast<uint16_t>((a[8] << 8) | a[9]);
    h.destination_port = static_cast<uint16_t>((a[10] << 8) | a[11]);
    h.has_addresses = true;
  } else if (family == 2 && transport == 1) {  // TCP over IPv6
    if (len < 36) return ProxyHeaderResult::Invalid;
    std::memcpy(h.source.bytes.data(), a, 16);
    std::memcpy(h.destination.bytes.data(), a + 16, 16);
    h.source_port = static_cast<uint16_t>((a[32] << 8) | a[33]);
    h.destination_port = static_cast<uint16_t>((a[34] << 8) | a[35]);
    h.has_addresses = true;
  }
  // UNSPEC, UDP and UNIX: accepted, the connection's own addresses stay (the spec's advice).
  return ProxyHeaderResult::Done;
}

}  // namespace

ProxyHeaderResult parseProxyHeader(std::string_view bytes, ProxyHeader& header) {
  // Decide the version from what has arrived; a prefix of either signature needs more bytes.
  const size_t v2n = bytes.size() < sizeof kV2Signature ? bytes.size() : sizeof kV2Signature;
  if (v2n > 0 && std::memcmp(bytes.data(), kV2Signature, v2n) == 0) {
    if (bytes.size() < sizeof kV2Signature) return ProxyHeaderResult::NeedMore;
    return parseV2(bytes, header);
  }
  constexpr std::string_view kV1 = "PROXY ";
  const size_t v1n = bytes.size() < kV1.size() ? bytes.size() : kV1.size();
  if (bytes.substr(0, v1n) != kV1.substr(0, v1n)) return ProxyHeaderResult::Invalid;
  if (bytes.size() < kV1.size()) return ProxyHeaderResult::NeedMore;
  return parseV1(bytes, header);
}

}  // namespace edged::proxy
