// proxy/http/framing.h — how a message body is delimited, and HTTP/1 chunk framing.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string_view>

namespace edged::proxy {

enum class BodyFraming : uint8_t { None, ContentLength, Chunked, UntilClose };

// Writes "<hex size>\r\n" into `out` (at least 18 bytes) and returns its length.
size_t writeChunkHeader(uint64_t size, char* out);
inline constexpr std::string_view kChunkTrailer = "\r\n";
inline constexpr std::string_view kLastChunk = "0\r\n\r\n";

}  // namespace edged::proxy
