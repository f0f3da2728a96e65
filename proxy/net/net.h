// proxy/net/net.h — the face of proxy/net: sockets and the bytes that go through them.
// Transport (one connected socket, TCP; TLS next), Listener (accepting), WriteQueue (iovec
// batches toward a Transport), IoBuf/BufRef/BufferPool (pooled read buffers), PostedFlushes
// (work for the end of a loop iteration's I/O), DeadlineHeap (timeouts without a timer each).
// The only code that sees uv_tcp_t.
#pragma once

#include "proxy/net/deadline_heap.h"
#include "proxy/net/io_buffer.h"
#include "proxy/net/listener.h"
#include "proxy/net/posted_flushes.h"
#include "proxy/net/tls_counters.h"
#include "proxy/net/transport.h"
#include "proxy/net/write_queue.h"
