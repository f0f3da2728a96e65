// proxy/redis/connect.h — connectAsync: one asynchronous hiredis connection on a uv loop (edged's
// adapter), with its connect and disconnect callbacks set and `data` in ac->data.
#pragma once

#include <hiredis/async.h>
#include <uv.h>

#include <cstdint>

namespace edged::redis {

// Null when no connection could even be started (bad address, no memory, connect(2) refused at
// once): the caller counts that as a failed attempt. Otherwise the connect's outcome comes to
// `on_connect` (a refused connect too, as REDIS_ERR; hiredis frees the context after it), and a
// lost connection to `on_disconnect`. hiredis writes nothing before a command is queued.
// `connect_timeout_ms` (0: none): a connect not done by then (a blackholed address, lost SYNs) is
// aborted and reported to `on_connect` as REDIS_ERR, like a refused one.
redisAsyncContext* connectAsync(uv_loop_t* loop, const char* host, int port, void* data,
                                redisConnectCallback* on_connect, redisDisconnectCallback* on_disconnect,
                                uint64_t connect_timeout_ms = 0);

}  // namespace edged::redis
