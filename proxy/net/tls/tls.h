// proxy/net/tls/tls.h — the face of edged_tls: TLS without sockets. Contexts (server per
// listener, client per upstream) make engines; an engine runs one connection over memory, driven
// by the Transport's socket reads and writes. The only OpenSSL user in edged.
#pragma once

#include "proxy/net/tls/first_bytes.h"
#include "proxy/net/tls/ticket_key_ring.h"
#include "proxy/net/tls/tls_certificate.h"
#include "proxy/net/tls/tls_client_context.h"
#include "proxy/net/tls/tls_config_check.h"
#include "proxy/net/tls/tls_engine.h"
#include "proxy/net/tls/tls_server_context.h"
#include "proxy/net/tls/tls_settings.h"
