// proxy/http1/http1.h — the face of proxy/http1: the HTTP/1.x wire glue. llhttp parser callbacks
// that fill a RequestHead or a ResponseHead and hand the result to their owner through a handler
// resolved at compile time (no virtual call on the parse path). Links edged_http and llhttp.
#pragma once

#include "proxy/http1/chunk_extension_fix.h"
#include "proxy/http1/cpu_check.h"
#include "proxy/http1/head_repair.h"
#include "proxy/http1/request_parser.h"
#include "proxy/http1/response_parser.h"
