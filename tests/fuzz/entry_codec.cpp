// tests/fuzz/entry_codec.cpp — decoding a second-tier value (cache/entry_codec), the bytes edged
// reads back from Redis. The input is the payload after the header; the target writes a header
// with a valid checksum so the fuzzer reaches the field parsing instead of stopping at the sum,
// and uses the key the payload names. A value that decodes must build an entry whose head holds
// only valid field lines (the same lines, Content-Length and Age possibly moved last), and must
// encode and decode again to the same bytes.
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <string>
#include <string_view>
#include <vector>
#include <algorithm>
#include <cctype>

#include "cache/cache_entry.h"
#include "cache/entry_codec.h"

namespace {

bool tchar(unsigned char c) {
  return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
         std::strchr("!#$%&'*+-.^_`|~", c) != nullptr;
}

// Every line of the stored head is `token ": " field-value CRLF`.
void checkHead(std::string_view blob) {
  while (!blob.empty()) {
    const size_t eol = blob.find("\r\n");
    if (eol == std::string_view::npos) __builtin_trap();
    const std::string_view line = blob.substr(0, eol);
    const size_t colon = line.find(": ");
    if (colon == std::string_view::npos || colon == 0) __builtin_trap();
    for (unsigned char c : line.substr(0, colon))
      if (!tchar(c)) __builtin_trap();
    for (unsigned char c : line.substr(colon + 2))
      if (c == '\r' || c == '\n' || c == 0 || c == 0x7f || (c < 0x20 && c != '\t')) __builtin_trap();
    blob.remove_prefix(eol + 2);
  }
}

// The lines of a head grouped by name (case-insensitive), each name's lines in their order:
// CacheEntry::create() may move Content-Length and Age lines last, nothing else.
std::vector<std::string_view> byName(std::string_view blob) {
  std::vector<std::string_view> lines;
  while (!blob.empty()) {
    const size_t eol = blob.find("\r\n");
    lines.push_back(blob.substr(0, eol));
    blob.remove_prefix(eol + 2);
  }
  auto name = [](std::string_view line) {
    std::string n(line.substr(0, line.find(':')));
    for (char& c : n) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    return n;
  };
  std::stable_sort(lines.begin(), lines.end(), [&](std::string_view a, std::string_view b) { return name(a) < name(b); });
  return lines;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace edged::cache;
  const std::string_view payload(reinterpret_cast<const char*>(data), size);
  std::string_view key;
  if (payload.size() >= 4) {
    uint32_t n = 0;
    std::memcpy(&n, payload.data(), 4);
    if (n <= payload.size() - 4) key = payload.substr(4, n);
  }
  const std::string value = sealEntryPayload(payload);
  auto parts = decodeEntry(key, value);
  if (!parts) return 0;
  const std::string decoded_blob(parts->head.blob());
  const EntryRef ref = CacheEntry::create(std::move(*parts));
  const CacheEntry& entry = *ref;
  checkHead(entry.head().blob());
  if (byName(entry.head().blob()) != byName(decoded_blob)) __builtin_trap();
  // Encoding gives the same bytes but for that order of the head's lines, and is stable from there.
  const std::string again = encodeEntry(key, entry);
  if (entry.head().blob() == decoded_blob && again != value) __builtin_trap();
  auto reparts = decodeEntry(key, again);
  if (!reparts) __builtin_trap();
  if (encodeEntry(key, *CacheEntry::create(std::move(*reparts))) != again) __builtin_trap();
  return 0;
}
