// tests/fuzz/header_tokens.cpp — the one field-list token matcher (Connection, Upgrade, TE...):
// the first byte splits the input into the token and the field value.
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "proxy/http/http.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  const size_t cut = data[0] % size;
  const std::string_view all(reinterpret_cast<const char*>(data) + 1, size - 1);
  const std::string_view token = all.substr(0, cut < all.size() ? cut : all.size());
  const std::string_view list = all.substr(token.size());
  const bool has = edged::proxy::headerHasToken(list, token);
  // An empty token is never a member of a list.
  if (token.empty() && has) __builtin_trap();
  return 0;
}
