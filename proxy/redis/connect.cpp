// proxy/redis/connect.cpp — connectAsync.
#include "proxy/redis/connect.h"

#include "proxy/redis/loop_adapter.h"

namespace edged::redis {

redisAsyncContext* connectAsync(uv_loop_t* loop, const char* host, int port, void* data,
                                redisConnectCallback* on_connect, redisDisconnectCallback* on_disconnect,
                                uint64_t connect_timeout_ms) {
  redisAsyncContext* c = redisAsyncConnect(host, port);
  if (!c) return nullptr;
  if (c->err || !attachLoop(c, loop, connect_timeout_ms)) {
    redisAsyncFree(c);
    return nullptr;
  }
  c->data = data;
  redisAsyncSetConnectCallback(c, on_connect);
  redisAsyncSetDisconnectCallback(c, on_disconnect);
  return c;
}

}  // namespace edged::redis
