// proxy/http/http_date.h — the Date field value (IMF-fixdate, RFC 9110 §5.6.7), formatted at most
// once a second per thread: each worker is one thread, so each worker keeps its own copy.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string_view>

namespace edged::proxy {

inline constexpr size_t kHttpDateLength = 29;  // "Sun, 06 Nov 1994 08:49:37 GMT"

// Writes exactly kHttpDateLength characters (no terminator).
void formatHttpDate(int64_t unix_seconds, char* out);

// The last formatted second; at() formats again only when the second changes.
class HttpDateCache {
 public:
  std::string_view at(int64_t unix_seconds);

 private:
  int64_t second_ = -1;
  char text_[kHttpDateLength] = {};
};

// The calling thread's cache at the wall clock's current second. The view stays valid until
// the same thread calls again.
std::string_view httpDateNow();

}  // namespace edged::proxy
