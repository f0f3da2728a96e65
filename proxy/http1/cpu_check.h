// proxy/http1/cpu_check.h — llhttp may be compiled for SSE4.2 (CMake EDGED_LLHTTP_SSE42, on by
// default when the build machine has it). A binary copied to a CPU without it would die of an
// illegal instruction at its first request; this check says so at start instead.
#pragma once

namespace edged::proxy::http1 {

// True when this CPU runs the llhttp this binary was built with. Otherwise prints why (naming
// `program` and the CMake setting that avoids it) to stderr and returns false.
bool cpuRunsLlhttp(const char* program);

}  // namespace edged::proxy::http1
