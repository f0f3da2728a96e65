// proxy/redis/redis.h — the face of edged_redis: hiredis's async client on a libuv loop, as the
// cache's Redis tier and the reference backend both use it. connectAsync() makes a connection on
// edged's loop adapter (attachLoop); the reply helpers read a redisReply; CircuitBreaker decides
// when to stop calling a Redis that fails and when to probe it again.
#pragma once

#include "proxy/redis/circuit_breaker.h"
#include "proxy/redis/connect.h"
#include "proxy/redis/loop_adapter.h"
#include "proxy/redis/reply.h"
