// proxy/http1/cpu_check.cpp — see cpu_check.h.
#include "proxy/http1/cpu_check.h"

#include <cstdio>

namespace edged::proxy::http1 {

bool cpuRunsLlhttp(const char* program) {
#if defined(EDGED_LLHTTP_SSE42) && (defined(__x86_64__) || defined(__i386__))
  __builtin_cpu_init();
  if (!__builtin_cpu_supports("sse4.2")) {
    std::fprintf(stderr,
                 "%s: built with llhttp for SSE4.2, which this CPU lacks; rebuild with "
                 "-DEDGED_LLHTTP_SSE42=OFF\n",
                 program);
    return false;
  }
#else
  (void)program;
#endif
  return true;
}

}  // namespace edged::proxy::http1
