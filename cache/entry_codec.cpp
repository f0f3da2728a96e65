// cache/entry_codec.cpp — the second tier's format. Integers little-endian, strings as a u32
// length then bytes; the checksum (64 bits, eight bytes a step) covers every byte after the header,
// so a flipped bit anywhere is a miss, never a served response. Not a defence against someone who
// can write to Redis on purpose: they could write a valid entry.
#include "cache/entry_codec.h"

#include <algorithm>
#include <array>
#include <bit>
#include <cstring>

#include "cache/cache_policy.h"
#include "cache/field_text.h"

namespace edged::cache {

namespace {

constexpr char kMagic[4] = {'E', 'D', 'G', 'C'};
// 3: the checksum below, four independent lanes of eight bytes (2 was one lane: every step
// waited for the multiply before it; 1 was FNV-1a a byte at a time). An older copy is a miss,
// replaced by the next fill.
constexpr uint8_t kVersion = 3;
constexpr size_t kHeader = 4 + 4 + 8;  // magic, version + 3 reserved, checksum

uint64_t word(const char* q, size_t len = 8) {
  uint64_t w = 0;
  std::memcpy(&w, q, len);
  if constexpr (std::endian::native == std::endian::big) w = __builtin_bswap64(w);
  return w;
}

// One lane's step: a bijection of the state for a given word (an odd multiply, then an
// xor-shift that carries the high bits down), so a changed word always changes the lane.
constexpr uint64_t kMul = 0xff51afd7ed558ccdull;
inline uint64_t step(uint64_t h, uint64_t w) {
  h = (h ^ w) * kMul;
  return h ^ (h >> 32);
}

// 32 bytes a round in four lanes (little-endian words), then the tail eight bytes at a time, then
// the lanes folded one into the next (each fold a bijection of the lane folded in), with the
// length. Detects corruption, not forgery.
uint64_t checksum(std::string_view bytes) {
  const char* p = bytes.data();
  size_t n = bytes.size();
  const uint64_t seed = 0x9e3779b97f4a7c15ull ^ (n * kMul);
  uint64_t a = seed, b = seed + 1, c = seed + 2, d = seed + 3;
  while (n >= 32) {
    a = step(a, word(p));
    b = step(b, word(p + 8));
    c = step(c, word(p + 16));
    d = step(d, word(p + 24));
    p += 32;
    n -= 32;
  }
  while (n >= 8) {
    a = step(a, word(p));
    p += 8;
    n -= 8;
  }
  a = step(a, word(p, n) ^ (uint64_t{n} << 56));
  uint64_t h = step(step(step(a, b), c), d);
  h *= 0xc4ceb9fe1a85ec53ull;
  return h ^ (h >> 29);
}

class Writer {
 public:
  explicit Writer(std::string& out) : out_(out) {}
  template <typename T>
  void num(T v) {
    char b[sizeof(T)];
    std::memcpy(b, &v, sizeof(T));  // little-endian hosts only (x86-64, arm64)
    out_.append(b, sizeof(T));
  }
  void str(std::string_view s) {
    num<uint32_t>(static_cast<uint32_t>(s.size()));
    out_.append(s);
  }

 private:
  std::string& out_;
};

class Reader {
 public:
  explicit Reader(std::string_view in) : in_(in) {}
  template <typename T>
  bool num(T& v) {
    if (in_.size() < sizeof(T)) return false;
    std::memcpy(&v, in_.data(), sizeof(T));
    in_.remove_prefix(sizeof(T));
    return true;
  }
  bool str(std::string_view& s) {
    uint32_t n = 0;
    if (!num(n) || in_.size() < n) return false;
    s = in_.substr(0, n);
    in_.remove_prefix(n);
    return true;
  }
  bool done() const { return in_.empty(); }

 private:
  std::string_view in_;
};

constexpr int64_t kNone = -1;

// Byte classes of a stored head line "name: value\r\n": a tchar (RFC 9110 §5.6.2) may be in a
// name; a value holds no control but HTAB (no CR, LF or NUL: a bare LF would split the response
// for some clients).
constexpr uint8_t kNameByte = 1, kValueByte = 2;
constexpr auto kLineBytes = [] {
  std::array<uint8_t, 256> t{};
  for (int c = 0; c < 256; ++c) {
    if (text::isTchar(static_cast<char>(c))) t[c] |= kNameByte;
    if ((c >= 0x20 && c != 0x7f) || c == '\t') t[c] |= kValueByte;
  }
  return t;
}();

// Every line of the blob is a valid field line, in one pass.
bool validHeadLines(std::string_view blob) {
  const auto* b = reinterpret_cast<const unsigned char*>(blob.data());
  const size_t n = blob.size();
  size_t i = 0;
  while (i < n) {
    const size_t start = i;
    while (i < n && (kLineBytes[b[i]] & kNameByte)) ++i;
    if (i == start || i + 1 >= n || b[i] != ':' || b[i + 1] != ' ') return false;
    i += 2;
    while (i < n && (kLineBytes[b[i]] & kValueByte)) ++i;
    if (i + 1 >= n || b[i] != '\r' || b[i + 1] != '\n') return false;
    i += 2;
  }
  return true;
}

}  // namespace

std::string encodeEntry(std::string_view key, const CacheEntry& entry) {
  std::string out;
  out.reserve(kHeader + key.size() + entry.head().blob().size() + entry.bodySize() + 128);
  out.append(kMagic, 4);
  out.push_back(static_cast<char>(kVersion));
  out.append(3, '\0');
  out.append(8, '\0');  // checksum, filled in below
  Writer w(out);
  w.str(key);
  const StoredFacts f = entry.facts();
  w.num<int64_t>(f.response_time);
  w.num<int64_t>(f.initial_age);
  w.num<int64_t>(f.freshness_lifetime);
  w.num<int64_t>(f.stale_while_revalidate ? *f.stale_while_revalidate : kNone);
  w.num<int64_t>(f.stale_if_error ? *f.stale_if_error : kNone);
  w.num<uint8_t>(static_cast<uint8_t>((f.no_cache ? 1 : 0) | (f.never_stale ? 2 : 0) | (f.has_validator ? 4 : 0)));
  w.num<uint16_t>(static_cast<uint16_t>(entry.head().status()));
  w.str(entry.head().blob());
  const VaryList& vary = entry.vary();
  w.num<uint32_t>(static_cast<uint32_t>(vary.names.size()));
  for (const std::string& n : vary.names) w.str(n);
  w.str(entry.varyKey());
  w.num<uint32_t>(static_cast<uint32_t>(entry.tags().size()));
  for (const std::string& t : entry.tags()) w.str(t);
  w.num<uint32_t>(static_cast<uint32_t>(entry.bodySize()));
  for (size_t i = 0; i < entry.chunkCount(); ++i) out.append(entry.chunk(i));
  const uint64_t sum = checksum(std::string_view(out).substr(kHeader));
  std::memcpy(out.data() + 8, &sum, 8);
  return out;
}

std::optional<CacheEntry::Parts> decodeEntry(std::string_view key, std::string_view bytes) {
  if (bytes.size() < kHeader || std::memcmp(bytes.data(), kMagic, 4) != 0 ||
      static_cast<uint8_t>(bytes[4]) != kVersion || bytes[5] != 0 || bytes[6] != 0 || bytes[7] != 0)
    return std::nullopt;
  uint64_t sum = 0;
  std::memcpy(&sum, bytes.data() + 8, 8);
  const std::string_view payload = bytes.substr(kHeader);
  if (checksum(payload) != sum) return std::nullopt;
  Reader r(payload);
  std::string_view stored_key, blob, s;
  if (!r.str(stored_key) || stored_key != key) return std::nullopt;
  int64_t response_time = 0, initial_age = 0, lifetime = 0, swr = 0, sie = 0;
  uint8_t flags = 0;
  uint16_t status = 0;
  if (!r.num(response_time) || !r.num(initial_age) || !r.num(lifetime) || !r.num(swr) || !r.num(sie) ||
      !r.num(flags) || !r.num(status) || !r.str(blob))
    return std::nullopt;
  // Only what an entry can hold (CacheEntry keeps these in 32 bits): anything else was not
  // written by encodeEntry.
  constexpr int64_t kMaxSeconds = int64_t{UINT32_MAX} - 1;
  const auto seconds = [](int64_t v, bool optional) { return (optional && v == kNone) || (v >= 0 && v <= kMaxSeconds); };
  if (status < 100 || status > 999 || flags > 7 || response_time < 0 || response_time > int64_t{UINT32_MAX} ||
      !seconds(initial_age, false) || !seconds(lifetime, false) || !seconds(swr, true) || !seconds(sie, true))
    return std::nullopt;
  CacheEntry::Parts p;
  p.facts.response_time = response_time;
  p.facts.initial_age = initial_age;
  p.facts.freshness_lifetime = lifetime;
  if (swr != kNone) p.facts.stale_while_revalidate = swr;
  if (sie != kNone) p.facts.stale_if_error = sie;
  p.facts.no_cache = flags & 1;
  p.facts.never_stale = flags & 2;
  p.facts.has_validator = flags & 4;
  // The head blob is "name: value\r\n" lines, each checked so a malformed blob is refused, then
  // taken whole (the bytes StoredHead::add would write, line by line).
  if (!validHeadLines(blob)) return std::nullopt;
  p.head = StoredHead(HeadView(status, blob));
  uint32_t n = 0;
  if (!r.num(n) || n > 64) return std::nullopt;
  for (uint32_t i = 0; i < n; ++i) {
    if (!r.str(s)) return std::nullopt;
    p.vary.names.emplace_back(s);
  }
  if (!r.str(s)) return std::nullopt;
  p.vary_key = s;
  if (!r.num(n) || n > 4096) return std::nullopt;
  for (uint32_t i = 0; i < n; ++i) {
    if (!r.str(s)) return std::nullopt;
    p.tags.emplace_back(s);
  }
  std::string_view body;
  if (!r.str(body) || !r.done()) return std::nullopt;
  if (body.size() <= CacheEntry::kInlineBody) p.small_body.assign(body);
  else p.body.push_back(BodyBuffer::copyOf(body));
  return p;
}

std::string sealEntryPayload(std::string_view payload) {
  std::string out;
  out.reserve(kHeader + payload.size());
  out.append(kMagic, 4);
  out.push_back(static_cast<char>(kVersion));
  out.append(3, '\0');
  const uint64_t sum = checksum(payload);
  out.append(reinterpret_cast<const char*>(&sum), 8);
  out.append(payload);
  return out;
}

uint64_t tierTtl(const CacheEntry& entry, int64_t now) {
  const StoredFacts f = entry.facts();
  const Seconds age = currentAge(f.initial_age, f.response_time, now);
  Seconds allowance = 0;
  if (!f.never_stale) {
    if (f.stale_while_revalidate) allowance = std::max<Seconds>(allowance, *f.stale_while_revalidate);
    if (f.stale_if_error) allowance = std::max<Seconds>(allowance, *f.stale_if_error);
  }
  const Seconds left = f.freshness_lifetime + allowance - age;
  return left > 0 ? static_cast<uint64_t>(left) : 0;
}

}  // namespace edged::cache
