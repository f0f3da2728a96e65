// proxy/redis/loop_adapter.h — attachLoop: hiredis's event hooks on a uv loop, instead of hiredis
// 0.14's adapters/libuv.h, which (a) restarts its uv_poll on every hook call (hiredis re-adds
// reading after every read): an epoll_ctl DEL + ADD each time, several per command, and (b) drops
// the poll's error status, so a refused connect is never reported and the context waits forever.
// Here the socket stays registered for reading once connected; commands queued during a loop
// iteration are written together from a prepare handle, before the loop sleeps (the poll is
// asked for writability only while a write is short or the connect is in progress); a poll
// error is handed to hiredis, which reports the failed connect or the lost connection. hiredis
// 0.14 has no connect timeout of its own: a timer here aborts a connect still in progress when
// it fires (shutdown(2) of a socket in SYN_SENT makes its error ECONNRESET), and hiredis then
// reports it as a failed connect.
#pragma once

#include <hiredis/async.h>
#include <uv.h>

#include <cstdint>

namespace edged::redis {

// Attaches `ac` to `loop` (once per context); false when the handles could not be made.
// `connect_timeout_ms` > 0: the connect in progress is aborted after that long.
bool attachLoop(redisAsyncContext* ac, uv_loop_t* loop, uint64_t connect_timeout_ms = 0);

}  // namespace edged::redis
