// proxy/net_names.h — the proxy folder's names for proxy/net's types, so its code says IoBuf or
// Transport as before the types moved into their own library.
#pragma once

#include "proxy/net/net.h"

namespace edged::proxy {

using net::BufferPool;
using net::BufRef;
using net::DeadlineHeap;
using net::DeadlineNode;
using net::IoBuf;
using net::Listener;
using net::PostedFlushes;
using net::Transport;
using net::WriteQueue;

}  // namespace edged::proxy
