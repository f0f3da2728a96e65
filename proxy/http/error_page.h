// proxy/http/error_page.h — the small complete responses edged answers by itself, and reason phrases.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>

namespace edged::proxy {

// Status line, Server, Content-Type, Content-Length, optional "Connection: close", and a short
// HTML body naming the status, appended to `out`. Returns the body's length.
size_t buildErrorResponse(int status, bool close, std::string& out);
std::string_view reasonPhrase(int status);
// Appends the short HTML body of edged's own error page for `status`; returns its length.
size_t errorPageBody(int status, std::string& out);

}  // namespace edged::proxy
