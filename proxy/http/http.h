// proxy/http/http.h — the face of proxy/http: protocol-neutral HTTP (fields and their ids, the one
// list parser, request/response heads, head builders, framing, error pages), the filter API, and
// IP addresses with CIDR sets (access rules, trusted proxies, the cache's purge_allow).
// Links nothing but the standard library.
#pragma once

#include "proxy/http/cidr_set.h"
#include "proxy/http/error_page.h"
#include "proxy/http/field_list.h"
#include "proxy/http/filter.h"
#include "proxy/http/framing.h"
#include "proxy/http/head_builder.h"
#include "proxy/http/header.h"
#include "proxy/http/http_date.h"
#include "proxy/http/message.h"
#include "proxy/http/parsed_head.h"
#include "proxy/http/termination.h"
