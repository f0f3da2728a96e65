// cache/cache.h — the face of edged_cache: the RFC 9111 shared cache (field parsers, policy
// decisions, keys, the shared store with request collapsing) and its exchange filter. The policy
// and store take field values as string_views and plain structs; only the filter speaks the
// filter API of proxy/http (and uses a libuv timer for lock_timeout).
#pragma once

#include "cache/body_buffer.h"
#include "cache/cache_control.h"
#include "cache/cache_entry.h"
#include "cache/cache_filter.h"
#include "cache/cache_key.h"
#include "cache/cache_policy.h"
#include "cache/cache_store.h"
#include "cache/entry_builder.h"
#include "cache/entry_codec.h"
#include "cache/field_values.h"
#include "cache/fill_permit.h"
#include "cache/http_date.h"
#include "cache/second_tier.h"
#include "cache/stored_head.h"
#include "cache/waiter.h"
