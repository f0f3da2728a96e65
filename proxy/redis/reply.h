// proxy/redis/reply.h — reading a redisReply: null (the connection went away before the answer)
// and error replies are failures; a bulk or status string is text.
#pragma once

#include <hiredis/hiredis.h>

#include <string_view>

namespace edged::redis {

inline bool failed(const redisReply* r) { return !r || r->type == REDIS_REPLY_ERROR; }
inline bool isString(const redisReply* r) { return r && r->type == REDIS_REPLY_STRING; }
// The text of a string, status or error reply; empty for anything else.
inline std::string_view text(const redisReply* r) {
  if (!r || (r->type != REDIS_REPLY_STRING && r->type != REDIS_REPLY_STATUS && r->type != REDIS_REPLY_ERROR)) return {};
  return std::string_view(r->str, r->len);
}

}  // namespace edged::redis
