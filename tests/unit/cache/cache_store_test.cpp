// tests/unit/cache/cache_store_test.cpp — the shared store: fills, waiters, Vary variants,
// purges, byte budget, S3-FIFO, and several threads at once.
#include <doctest.h>

#include <atomic>
#include <deque>
#include <mutex>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "cache/cache.h"

namespace edged::cache {
namespace {

using Fields = std::vector<FieldView>;

EntryBuilder builder(std::string_view body, std::vector<std::string> tags = {}, VaryList vary = {},
                     std::string vary_key = {}, uint64_t max_object = 1 << 20, StoreGauges* gauges = nullptr) {
  CacheEntry::Parts p;
  p.gauges = gauges;
  p.head = makeStoredHead(200, Fields{{"Content-Type", "text/plain"}});
  p.facts.freshness_lifetime = 60;
  p.tags = std::move(tags);
  p.vary = std::move(vary);
  p.vary_key = std::move(vary_key);
  EntryBuilder b(std::move(p), max_object);
  b.append(body);
  b.finish();
  return b;
}

std::string bodyOf(const EntryRef& e) {
  std::string s;
  for (size_t i = 0; i < e->chunkCount(); ++i) s.append(e->chunk(i));
  return s;
}

BypassReason fill(CacheStore& store, std::string_view key, EntryBuilder&& b) {
  CacheStore::Begin begin = store.beginFill(key, nullptr);
  REQUIRE(begin.kind == CacheStore::Begin::Kind::Fill);
  return begin.permit.commit(std::move(b));
}

// A Waker that records wake-ups, as a worker's mailbox would, and runs them when drained.
struct MailboxWaker : Waker {
  std::mutex mutex;
  std::deque<std::pair<Waiter*, FillOutcome>> box;
  void wake(Waiter* w, FillOutcome o) override {
    std::lock_guard lock(mutex);
    box.emplace_back(w, o);
  }
  size_t drain() {
    std::deque<std::pair<Waiter*, FillOutcome>> mine;
    {
      std::lock_guard lock(mutex);
      mine.swap(box);
    }
    for (auto& [w, o] : mine) w->onFillOutcome(o);
    return mine.size();
  }
};

struct RecordingWaiter : Waiter {
  using Waiter::Waiter;
  std::vector<FillOutcome> outcomes;
  void onFillOutcome(FillOutcome o) override { outcomes.push_back(o); }
};

TEST_SUITE("cache/store") {

TEST_CASE("a committed fill is a hit, with its body as shared buffers") {
  CacheStore store(StoreConfig{});
  KeyOptions o;
  CHECK_FALSE(store.lookup("http://a/x", {}, o));
  CHECK(fill(store, "http://a/x", builder("hello")) == BypassReason::None);
  EntryRef e = store.lookup("http://a/x", {}, o);
  REQUIRE(e);
  CHECK(bodyOf(e) == "hello");
  CHECK(e->bodySize() == 5);
  CHECK(e->head().get("content-type") == "text/plain");
  CHECK(e->facts().freshness_lifetime == 60);
  CHECK_FALSE(store.lookup("http://a/y", {}, o));
  const StoreStats st = store.stats();
  CHECK(st.keys == 1);
  CHECK(st.entries == 1);
  CHECK(st.hits == 1);
  CHECK(st.misses == 2);
  CHECK(st.used_bytes >= e->bytes());
  // A second commit replaces the first.
  CHECK(fill(store, "http://a/x", builder("again")) == BypassReason::None);
  CHECK(bodyOf(store.lookup("http://a/x", {}, o)) == "again");
  CHECK(bodyOf(e) == "hello");  // a hit in flight keeps its buffers
  CHECK(store.stats().entries == 1);
}

TEST_CASE("an entry's head: what a hit sends as it is (hitFields), Content-Length and Age last") {
  auto entryWith = [](Fields fields) {
    CacheEntry::Parts p;
    p.head = StoredHead(200);
    for (const FieldView& f : fields) p.head.add(f.name, f.value);  // as a decoded copy would
    p.small_body = "x";
    return CacheEntry::create(std::move(p));
  };
  std::string_view lines;
  bool has_date = true;
  const EntryRef e = entryWith({{"Age", "7"}, {"Date", "Sun, 06 Nov 1994 08:49:37 GMT"}, {"content-length", "1"},
                                {"X-A", "1"}, {"Age", "8"}, {"X-A", "2"}});
  REQUIRE(e->hitFields(lines, has_date));
  CHECK(lines == "Date: Sun, 06 Nov 1994 08:49:37 GMT\r\nX-A: 1\r\nX-A: 2\r\n");
  CHECK(has_date);
  // The whole head is still there, the dropped lines after the others in their own order.
  CHECK(e->head().blob() == std::string(lines) + "Age: 7\r\ncontent-length: 1\r\nAge: 8\r\n");
  CHECK(e->head().get("age") == "7");

  const EntryRef no_date = entryWith({{"X-B", "b"}});
  REQUIRE(no_date->hitFields(lines, has_date));
  CHECK(lines == "X-B: b\r\n");
  CHECK_FALSE(has_date);
  // A hop-by-hop field (a foreign second-tier copy): the caller must filter field by field.
  CHECK_FALSE(entryWith({{"X-B", "b"}, {"Connection", "close"}})->hitFields(lines, has_date));
  CHECK_FALSE(entryWith({{"Transfer-Encoding", "chunked"}})->hitFields(lines, has_date));
}

TEST_CASE("only a body that ended cleanly and fits max_object is stored") {
  CacheStore store(StoreConfig{});
  CacheEntry::Parts p;
  EntryBuilder unfinished(std::move(p), 100);
  unfinished.append("abc");
  CHECK(fill(store, "k1", std::move(unfinished)) == BypassReason::Incomplete);
  EntryBuilder big = builder(std::string(101, 'x'), {}, {}, {}, 100);
  CHECK(big.tooLarge());
  CHECK(fill(store, "k2", std::move(big)) == BypassReason::TooLarge);
  CHECK(store.stats().keys == 0);
  // Chunks of any size add up to one body.
  CacheEntry::Parts q;
  EntryBuilder chunks(std::move(q), 1 << 20);
  std::string expected;
  for (int i = 0; i < 50; ++i) {
    const std::string chunk(static_cast<size_t>(i * 700), static_cast<char>('a' + i % 26));
    chunks.append(chunk);
    expected += chunk;
  }
  chunks.finish();
  CHECK(fill(store, "k3", std::move(chunks)) == BypassReason::None);
  CHECK(bodyOf(store.lookup("k3", {}, KeyOptions{})) == expected);
}

TEST_CASE("Vary variants under one primary key (RFC 9111 §4.1)") {
  CacheStore store(StoreConfig{});
  KeyOptions o;
  o.encodings = {"gzip"};
  const VaryList vary = parseVary(std::vector<std::string_view>{"Accept-Language"});
  const Fields en{{"Accept-Language", "en"}}, fr{{"Accept-Language", "fr"}}, de{{"Accept-Language", "de"}};
  CHECK(fill(store, "k", builder("EN", {}, vary, secondaryKey(vary, en, o))) == BypassReason::None);
  CHECK(fill(store, "k", builder("FR", {}, vary, secondaryKey(vary, fr, o))) == BypassReason::None);
  CHECK(bodyOf(store.lookup("k", en, o)) == "EN");
  CHECK(bodyOf(store.lookup("k", fr, o)) == "FR");
  CHECK_FALSE(store.lookup("k", de, o));
  CHECK(store.stats().entries == 2);
  CHECK(store.stats().keys == 1);
  // The origin stops varying: the old variants go.
  CHECK(fill(store, "k", builder("ALL")) == BypassReason::None);
  CHECK(bodyOf(store.lookup("k", de, o)) == "ALL");
  CHECK(store.stats().entries == 1);
}

TEST_CASE("one filler per key; waiters are woken with the outcome") {
  CacheStore store(StoreConfig{});
  KeyOptions o;
  MailboxWaker waker;
  RecordingWaiter w1(waker), w2(waker), w3(waker);
  CacheStore::Begin first = store.lookupOrFill("k", {}, o, &w1);
  REQUIRE(first.kind == CacheStore::Begin::Kind::Fill);
  CHECK(store.lookupOrFill("k", {}, o, &w1).kind == CacheStore::Begin::Kind::Wait);
  CHECK(store.lookupOrFill("k", {}, o, &w2).kind == CacheStore::Begin::Kind::Wait);
  CHECK(store.lookupOrFill("k", {}, o, &w3).kind == CacheStore::Begin::Kind::Wait);
  CHECK(store.lookupOrFill("k", {}, o, nullptr).kind == CacheStore::Begin::Kind::Busy);
  CHECK(store.cancelWait(&w3));        // left before the fill ended: never woken
  CHECK_FALSE(store.cancelWait(&w3));
  CHECK(waker.drain() == 0);
  CHECK(first.permit.commit(builder("v")) == BypassReason::None);
  CHECK_FALSE(store.cancelWait(&w1));  // its wake-up is already in the mailbox
  CHECK(waker.drain() == 2);
  CHECK(w1.outcomes == std::vector<FillOutcome>{FillOutcome::Committed});
  CHECK(w2.outcomes == std::vector<FillOutcome>{FillOutcome::Committed});
  CHECK(w3.outcomes.empty());
  CacheStore::Begin hit = store.lookupOrFill("k", {}, o, &w1);
  CHECK(hit.kind == CacheStore::Begin::Kind::Hit);
  CHECK(bodyOf(hit.entry) == "v");
}

TEST_CASE("a permit dropped without commit wakes the waiters with Abandoned") {
  CacheStore store(StoreConfig{});
  MailboxWaker waker;
  RecordingWaiter w(waker);
  {
    CacheStore::Begin first = store.beginFill("k", nullptr);
    REQUIRE(first.permit);
    CHECK(store.beginFill("k", &w).kind == CacheStore::Begin::Kind::Wait);
    FillPermit moved = std::move(first.permit);  // moving does not abandon
    CHECK(waker.drain() == 0);
  }
  CHECK(waker.drain() == 1);
  CHECK(w.outcomes == std::vector<FillOutcome>{FillOutcome::Abandoned});
  // The key is free again.
  CacheStore::Begin again = store.beginFill("k", nullptr);
  CHECK(again.kind == CacheStore::Begin::Kind::Fill);
}

TEST_CASE("a refused commit wakes the waiters with Abandoned") {
  CacheStore store(StoreConfig{});
  MailboxWaker waker;
  RecordingWaiter w(waker);
  CacheStore::Begin first = store.beginFill("k", nullptr);
  CHECK(store.beginFill("k", &w).kind == CacheStore::Begin::Kind::Wait);
  CacheEntry::Parts p;
  CHECK(first.permit.commit(EntryBuilder(std::move(p), 10)) == BypassReason::Incomplete);
  waker.drain();
  CHECK(w.outcomes == std::vector<FillOutcome>{FillOutcome::Abandoned});
}

TEST_CASE("a purge during a fill is not undone by the fill (generation)") {
  struct Row { const char* name; std::string key; std::vector<std::string> tags; int purge; };
  const Row rows[] = {
      {"purge by key", "http://a/x", {}, 0},
      {"purge by prefix", "http://a/x", {}, 1},
      {"purge by tag", "http://a/x", {"t1"}, 2},
  };
  for (const Row& r : rows) {
    INFO(r.name);
    CacheStore store(StoreConfig{});
    CHECK(fill(store, r.key, builder("old", r.tags)) == BypassReason::None);
    CacheStore::Begin b = store.beginFill(r.key, nullptr);
    REQUIRE(b.permit);
    size_t purged = r.purge == 0 ? store.purgeKey(r.key) : r.purge == 1 ? store.purgePrefix("http://a/") : store.purgeTag("t1");
    CHECK(purged == 1);
    CHECK(b.permit.commit(builder("new", r.tags)) == BypassReason::Purged);
    CHECK_FALSE(store.lookup(r.key, {}, KeyOptions{}));
    // The next fill stores again.
    CHECK(fill(store, r.key, builder("newer", r.tags)) == BypassReason::None);
  }
  // An untagged fill is not refused by a tag purge.
  CacheStore store(StoreConfig{});
  CacheStore::Begin b = store.beginFill("k", nullptr);
  store.purgeTag("t1");
  CHECK(b.permit.commit(builder("x")) == BypassReason::None);
}

TEST_CASE("purge counts: by key, by prefix, by tag") {
  CacheStore store(StoreConfig{});
  KeyOptions o;
  const VaryList vary = parseVary(std::vector<std::string_view>{"X-V"});
  const Fields v1{{"X-V", "1"}}, v2{{"X-V", "2"}};
  CHECK(fill(store, "http://a/p/1", builder("1", {"red"}, vary, secondaryKey(vary, v1, o))) == BypassReason::None);
  CHECK(fill(store, "http://a/p/1", builder("1b", {"red", "blue"}, vary, secondaryKey(vary, v2, o))) == BypassReason::None);
  CHECK(fill(store, "http://a/p/2", builder("2", {"blue"})) == BypassReason::None);
  CHECK(fill(store, "http://a/q/3", builder("3", {"red"})) == BypassReason::None);
  CHECK(fill(store, "http://b/p/4", builder("4")) == BypassReason::None);
  CHECK(store.stats().entries == 5);
  CHECK(store.purgeKey("http://nothing") == 0);
  CHECK(store.purgePrefix("http://a/p/") == 3);  // two variants + one
  CHECK(store.purgeTag("red") == 1);             // http://a/q/3 (the others are gone)
  CHECK(store.purgeTag("red") == 0);
  CHECK(store.purgeKey("http://b/p/4") == 1);
  CHECK(store.stats().entries == 0);
  CHECK(store.stats().keys == 0);
  CHECK(store.stats().used_bytes == 0);
}

TEST_CASE("store gauges per route: entries and bytes held, evictions; they add up to the store's") {
  StoreConfig c;
  c.budget_bytes = 64 * 1024;
  c.shards = 1;
  CacheStore store(c);
  StoreGauges a, b;
  const std::string body(1000, 'x');
  auto sum = [&] { return a.bytes.load() + b.bytes.load(); };
  REQUIRE(fill(store, "a1", builder(body, {}, {}, {}, 1 << 20, &a)) == BypassReason::None);
  REQUIRE(fill(store, "a2", builder(body, {}, {}, {}, 1 << 20, &a)) == BypassReason::None);
  REQUIRE(fill(store, "b1", builder(std::string(20000, 'y'), {}, {}, {}, 1 << 20, &b)) == BypassReason::None);
  CHECK(a.entries == 2);
  CHECK(b.entries == 1);
  CHECK(a.bytes > 2000);
  CHECK(b.bytes > 20000);
  CHECK(sum() == static_cast<int64_t>(store.stats().used_bytes));
  // Vary variants count apart; a replaced variant leaves.
  VaryList lang;
  lang.names = {"accept-language"};
  REQUIRE(fill(store, "a1", builder("en", {}, lang, "en", 1 << 20, &a)) == BypassReason::None);
  REQUIRE(fill(store, "a1", builder("fr", {}, lang, "fr", 1 << 20, &a)) == BypassReason::None);
  CHECK(a.entries == 3);
  REQUIRE(fill(store, "a1", builder("fr2", {}, lang, "fr", 1 << 20, &a)) == BypassReason::None);
  CHECK(a.entries == 3);
  CHECK(sum() == static_cast<int64_t>(store.stats().used_bytes));
  CHECK(store.purgeKey("b1") == 1);
  CHECK(b.entries == 0);
  CHECK(b.bytes == 0);
  // Over the budget: route a's keys are evicted and counted.
  for (int i = 0; i < 100; ++i) REQUIRE(fill(store, "e" + std::to_string(i), builder(body, {}, {}, {}, 1 << 20, &a)) == BypassReason::None);
  CHECK(a.evictions > 0);
  CHECK(b.evictions == 0);
  CHECK(sum() == static_cast<int64_t>(store.stats().used_bytes));
  CHECK(a.entries == static_cast<int64_t>(store.stats().entries));
  store.purgePrefix("");
  CHECK(a.entries == 0);
  CHECK(a.bytes == 0);
}

TEST_CASE("compressed variants attach after the fact and are accounted") {
  CacheStore store(StoreConfig{});
  KeyOptions o;
  CHECK(fill(store, "k", builder("plain body")) == BypassReason::None);
  EntryRef e = store.lookup("k", {}, o);
  const uint64_t before = store.stats().used_bytes;
  EncodedBody gz;
  gz.encoding = "gzip";
  gz.chunks.push_back(BodyBuffer::copyOf(std::string(1000, 'z')));
  gz.size = 1000;
  CHECK(store.attachEncoding("k", e, gz));
  CHECK_FALSE(store.attachEncoding("k", e, gz));  // first one wins
  CHECK(store.stats().used_bytes >= before + 1000);
  auto got = store.lookup("k", {}, o)->encoded("gzip");
  REQUIRE(got);
  CHECK(got->chunks.front().size() == 1000);
  CHECK_FALSE(e->encoded("br"));
  store.purgeKey("k");
  CHECK_FALSE(store.attachEncoding("k", e, gz));  // no longer stored
  CHECK(store.stats().used_bytes == 0);
}

TEST_CASE("the budget holds, and a budget change applies by evicting") {
  StoreConfig c;
  c.budget_bytes = 256 * 1024;
  c.shards = 8;
  CacheStore store(c);
  const std::string body(1000, 'b');
  for (int i = 0; i < 2000; ++i) {
    REQUIRE(fill(store, "k" + std::to_string(i), builder(body)) == BypassReason::None);
    REQUIRE(store.stats().used_bytes <= c.budget_bytes);
  }
  CHECK(store.stats().evictions > 1500);
  CHECK(store.stats().keys > 150);
  store.setBudget(64 * 1024);
  CHECK(store.stats().used_bytes <= 64 * 1024);
  CHECK(store.stats().keys < 64);
  // An entry bigger than the whole budget is refused, not stored and then evicted.
  CHECK(fill(store, "huge", builder(std::string(100 * 1024, 'h'))) == BypassReason::TooLarge);
}

TEST_CASE("S3-FIFO: a key read often survives a scan of keys read once") {
  StoreConfig c;
  c.budget_bytes = 200 * 1024;
  c.shards = 1;
  CacheStore store(c);
  KeyOptions o;
  const std::string body(1000, 'b');
  for (int i = 0; i < 20; ++i) REQUIRE(fill(store, "hot" + std::to_string(i), builder(body)) == BypassReason::None);
  for (int round = 0; round < 50; ++round) {
    for (int i = 0; i < 20; ++i) store.lookup("hot" + std::to_string(i), {}, o);
    for (int i = 0; i < 40; ++i)
      REQUIRE(fill(store, "scan" + std::to_string(round * 40 + i), builder(body)) == BypassReason::None);
  }
  int hot_left = 0;
  for (int i = 0; i < 20; ++i) hot_left += store.lookup("hot" + std::to_string(i), {}, o) ? 1 : 0;
  CHECK(hot_left == 20);
}

TEST_CASE("threads hammering one store: fills, waits, hits, purges, budget") {
  StoreConfig c;
  c.budget_bytes = 512 * 1024;
  c.shards = 16;
  CacheStore store(c);
  constexpr int kThreads = 4, kOps = 4000, kKeys = 300;
  std::atomic<uint64_t> over_budget{0}, woken{0}, hits{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t)
    threads.emplace_back([&, t] {
      std::mt19937 rng(static_cast<uint32_t>(t + 1));
      MailboxWaker waker;
      KeyOptions o;
      std::vector<std::unique_ptr<RecordingWaiter>> waiting;
      std::vector<FillPermit> permits;
      for (int i = 0; i < kOps; ++i) {
        const std::string key = "http://h/" + std::to_string(rng() % kKeys);
        const unsigned op = rng() % 100;
        if (op < 3) {
          store.purgeKey(key);
        } else if (op < 4) {
          store.purgeTag("tag" + std::to_string(rng() % 4));
        } else if (op == 4) {
          store.purgePrefix("http://h/1");
        } else {
          auto w = std::make_unique<RecordingWaiter>(waker);
          CacheStore::Begin b = store.lookupOrFill(key, {}, o, w.get());
          if (b.kind == CacheStore::Begin::Kind::Hit) {
            hits.fetch_add(1);
            if (bodyOf(b.entry).size() != 1500) over_budget.fetch_add(1000000);  // corrupt body
          } else if (b.kind == CacheStore::Begin::Kind::Wait) {
            if (rng() % 4 == 0 && store.cancelWait(w.get())) {
            } else {
              waiting.push_back(std::move(w));
            }
          } else if (b.kind == CacheStore::Begin::Kind::Fill) {
            permits.push_back(std::move(b.permit));
          }
        }
        // Finish some fills out of order: commit most, abandon a few.
        while (permits.size() > 3) {
          FillPermit p = std::move(permits.front());
          permits.erase(permits.begin());
          if (rng() % 10 == 0) p.abandon();
          else p.commit(builder(std::string(1500, 'x'), {"tag" + std::to_string(rng() % 4)}));
        }
        woken.fetch_add(waker.drain());
        if (store.stats().used_bytes > c.budget_bytes + c.budget_bytes / 10) over_budget.fetch_add(1);
      }
      permits.clear();  // abandons the rest
      // Every registered waiter gets exactly one wake-up: all fills have ended by now on this
      // thread, but other threads' fills may still run, so wait for them with a bound.
      for (int spin = 0; spin < 2000; ++spin) {
        woken.fetch_add(waker.drain());
        bool all = true;
        for (auto& w : waiting) all = all && !w->outcomes.empty();
        if (all) break;
        std::this_thread::sleep_for(std::chrono::milliseconds(1));
      }
      for (auto& w : waiting) {
        if (w->outcomes.empty()) store.cancelWait(w.get());  // a fill on another thread still runs
        if (w->outcomes.size() > 1) over_budget.fetch_add(1000000);
      }
      // Nothing may arrive for a waiter after it is destroyed: cancelled ones never are woken,
      // woken ones are done.
      waker.drain();
    });
  for (auto& th : threads) th.join();
  CHECK(over_budget.load() == 0);
  CHECK(hits.load() > 0);
  CHECK(woken.load() > 0);
  const StoreStats st = store.stats();
  CHECK(st.used_bytes <= c.budget_bytes);
  CHECK(st.inserts > 100);
}

}  // TEST_SUITE

}  // namespace
}  // namespace edged::cache
