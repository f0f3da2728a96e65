// tests/unit/cache/entry_codec_test.cpp — the second tier's format: a round trip keeps head,
// facts (so Age keeps counting from the original response), Vary, tags and body; anything that
// is not this version's entry for this key (foreign bytes, another key, a flipped bit, a cut
// value) decodes to nothing; the TTL is what is left of freshness plus the stale allowance.
#include <doctest.h>

#include <string>

#include "cache/cache.h"

namespace edged::cache {
namespace {

EntryRef sample() {
  CacheEntry::Parts p;
  p.head = StoredHead(200);
  p.head.add("Content-Type", "text/plain");
  p.head.add("Date", "Thu, 03 Dec 2026 04:00:00 GMT");
  p.body.push_back(BodyBuffer::copyOf("hello, "));
  p.body.push_back(BodyBuffer::copyOf("world"));
  p.facts.response_time = 1000;
  p.facts.initial_age = 7;
  p.facts.freshness_lifetime = 60;
  p.facts.has_validator = true;
  p.facts.stale_if_error = 30;
  p.vary.names = {"x-lang"};
  p.vary_key = "x-lang=de";
  p.tags = {"all", "user:42"};
  return CacheEntry::create(std::move(p));
}

TEST_SUITE("cache/entry_codec") {

TEST_CASE("a round trip keeps everything a hit needs") {
  const EntryRef entry = sample();
  const CacheEntry& e = *entry;
  const std::string bytes = encodeEntry("http://a/x#identity", e);
  auto p = decodeEntry("http://a/x#identity", bytes);
  REQUIRE(p);
  CHECK(p->small_body == "hello, world");  // a small body comes back to be stored inline
  const EntryRef decoded = CacheEntry::create(std::move(*p));
  const CacheEntry& d = *decoded;
  CHECK(d.head().status() == 200);
  CHECK(d.head().blob() == e.head().blob());
  CHECK(d.bodySize() == 12);
  CHECK(d.chunkCount() == 1);
  CHECK(d.chunk(0) == "hello, world");
  const StoredFacts f = d.facts();
  CHECK(f.response_time == 1000);
  CHECK(f.initial_age == 7);
  CHECK(f.freshness_lifetime == 60);
  CHECK(f.has_validator);
  CHECK_FALSE(f.no_cache);
  CHECK_FALSE(f.stale_while_revalidate);
  CHECK(f.stale_if_error == 30);
  CHECK(d.vary().names == std::vector<std::string>{"x-lang"});
  CHECK(d.varyKey() == "x-lang=de");
  CHECK(d.tags().size() == 2);
  CHECK(d.tags()[1] == "user:42");
}

TEST_CASE("what is not this version's entry for this key decodes to nothing") {
  const std::string bytes = encodeEntry("k#identity", *sample());
  CHECK_FALSE(decodeEntry("other#identity", bytes));  // copied under another key
  CHECK_FALSE(decodeEntry("k#identity", "<html>foreign</html>"));
  CHECK_FALSE(decodeEntry("k#identity", ""));
  CHECK_FALSE(decodeEntry("k#identity", bytes.substr(0, bytes.size() - 1)));
  for (size_t i = 0; i < bytes.size(); ++i) {  // every single flipped bit is caught
    std::string b = bytes;
    b[i] = static_cast<char>(b[i] ^ 0x04);
    CHECK_FALSE(decodeEntry("k#identity", b));
  }
  // Two flips that an odd multiply alone carries only upward (the top bit of two words of one
  // lane, or of consecutive lanes) are caught too.
  for (size_t i = 16 + 7; i + 32 < bytes.size(); i += 8) {
    for (size_t apart : {8, 32}) {
      std::string b = bytes;
      b[i] = static_cast<char>(b[i] ^ 0x80);
      b[i + apart] = static_cast<char>(b[i + apart] ^ 0x80);
      CHECK_FALSE(decodeEntry("k#identity", b));
    }
  }
  for (char version : {1, 2, 4}) {  // 1, 2: earlier formats (other checksums); 4: a later one
    std::string other = bytes;
    other[4] = version;
    CHECK_FALSE(decodeEntry("k#identity", other));
  }
}

TEST_CASE("a head that is not valid field lines decodes to nothing (never served)") {
  for (const auto& [name, value] : {std::pair<const char*, const char*>{"Bad Name", "v"}, {"X-A", "a\x01b"},
                                    {"X-B", "a\x7f"}, {"", "v"}, {"X:E", "v"}}) {
    CacheEntry::Parts p;
    p.head = StoredHead(200);
    p.head.add(name, value);
    const std::string bytes = encodeEntry("k", *CacheEntry::create(std::move(p)));
    CHECK_FALSE(decodeEntry("k", bytes));
  }
  // A CR or LF inside a value (StoredHead::add drops them: put in the payload, sealed again).
  for (char c : {'\n', '\r', '\0'}) {
    CacheEntry::Parts p;
    p.head = StoredHead(200);
    p.head.add("X-C", "a~b");
    std::string payload = encodeEntry("k", *CacheEntry::create(std::move(p))).substr(16);
    const size_t at = payload.find("a~b");
    REQUIRE(at != std::string::npos);
    CHECK(decodeEntry("k", sealEntryPayload(payload)));  // resealed as it is: still an entry
    payload[at + 1] = c;
    CHECK_FALSE(decodeEntry("k", sealEntryPayload(payload)));
  }
  CacheEntry::Parts ok;
  ok.head = StoredHead(200);
  ok.head.add("X-Tab", "a\tb c");
  CHECK(decodeEntry("k", encodeEntry("k", *CacheEntry::create(std::move(ok)))));
}

TEST_CASE("tier TTL: freshness left plus the longest stale allowance") {
  const EntryRef entry = sample();  // age 7 at 1000, lifetime 60, stale-if-error 30
  CHECK(tierTtl(*entry, 1000) == 60 + 30 - 7);
  CHECK(tierTtl(*entry, 1050) == 60 + 30 - 57);
  CHECK(tierTtl(*entry, 2000) == 0);
}

}  // TEST_SUITE
}  // namespace
}  // namespace edged::cache
