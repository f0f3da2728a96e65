// upstream/upstream.h — the upstream module's one public header: server pools shared by all
// workers (Server state, atomic), the Balancer interface and its algorithms, UpstreamGroup and the
// per-worker UpstreamPicker, active-health state, hash keys, and the retry decision. Knows nothing
// of sockets or libuv: the proxy module owns connections, timers and the health checker.
#pragma once

#include "upstream/balancer.h"
#include "upstream/clock.h"
#include "upstream/consistent_hash_balancer.h"
#include "upstream/hash_key.h"
#include "upstream/hash_ring.h"
#include "upstream/health_state.h"
#include "upstream/least_conn_balancer.h"
#include "upstream/random_two_balancer.h"
#include "upstream/retry_policy.h"
#include "upstream/rng.h"
#include "upstream/server.h"
#include "upstream/smooth_weighted_round_robin.h"
#include "upstream/tried_set.h"
#include "upstream/upstream_group.h"
#include "upstream/upstream_picker.h"
