// cache/entry_codec.h — a CacheEntry as bytes for the second tier: magic, version, the key it was
// stored under (echoed, so a value copied under another key is refused), the facts that keep its
// age and freshness, head, Vary, tags, body, and a checksum over all of it. Pure functions.
#pragma once

#include <optional>
#include <string>
#include <string_view>

#include "cache/cache_entry.h"

namespace edged::cache {

// The serialized entry. `key` is the tier key it is stored under.
std::string encodeEntry(std::string_view key, const CacheEntry& entry);

// The parts of an entry (the body in small_body when small, else as one buffer), or nullopt when
// `bytes` is not an entry this version wrote under `key`: wrong magic or version, another key,
// truncated, checksum mismatch.
std::optional<CacheEntry::Parts> decodeEntry(std::string_view key, std::string_view bytes);

// The whole value for a payload (what follows the header: the key onwards), with a valid header
// and checksum: what encodeEntry writes, for tests and the fuzz target that build payloads.
std::string sealEntryPayload(std::string_view payload);

// Seconds the tier should keep the entry: what is left of its freshness lifetime plus the
// longest stale allowance (stale-while-revalidate, stale-if-error); 0 when nothing is left.
uint64_t tierTtl(const CacheEntry& entry, int64_t now);

}  // namespace edged::cache
