// proxy/redis/connect.h — connectAsync: one asynchronous hiredis connection on a uv loop (edged's
// adapter), with its connect and disconnect callbacks set and `data` in ac->data.
#pragma once

#include <hiredis/async.h>
#include <uv.h>

namespace edged::redis {

// Null when no connection could even be started (bad address, no memory, connect(2) refused at
// once): the caller counts that as a failed attempt. Otherwise the connect's outcome comes to
// `on_connect` (a refused connect too, as REDIS_ERR; hiredis frees the context after it), and a
// lost connection to `on_disconnect`. hiredis writes nothing before a command is queued.
redisAsyncContext* connectAsync(uv_loop_t* loop, const char* host, int port, void* data,
                                redisConnectCallback* on_connect, redisDisconnectCallback* on_disconnect);

}  // namespace edged::redis
