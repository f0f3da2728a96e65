// tests/fuzz/config.cpp — the YAML configuration loader on arbitrary text: it must return errors
// (FILE:LINE:COL) or a config, never crash, hang or leak.
#include <dlfcn.h>
#include <netdb.h>

#include <cstddef>
#include <cstdint>
#include <string_view>

#include "conf/config.h"

// Host names in a fuzzed config must not reach DNS (slow, and not loopback): names fail at once,
// numeric addresses go to the C library as usual.
extern "C" int getaddrinfo(const char* node, const char* service, const struct addrinfo* hints,
                           struct addrinfo** res) {
  using Fn = int (*)(const char*, const char*, const struct addrinfo*, struct addrinfo**);
  static const Fn real = reinterpret_cast<Fn>(dlsym(RTLD_NEXT, "getaddrinfo"));
  if (!hints || !(hints->ai_flags & AI_NUMERICHOST)) {
    struct addrinfo numeric = hints ? *hints : addrinfo{};
    numeric.ai_flags |= AI_NUMERICHOST;
    return real(node, service, &numeric, res);
  }
  return real(node, service, hints, res);
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  const edged::conf::LoadResult r = edged::conf::loadConfigString(text, "fuzz.yaml");
  for (const auto& e : r.errors) (void)e.str();
  return 0;
}
