// proxy/http1/chunk_extension_fix.h — works around llhttp 8.1.0 (Debian 12) refusing a chunk
// extension that follows an unquoted one ("5;a=b;c=d" or "5;a=;c": HPE_INVALID_CHUNK_SIZE).
// Its state machine steps over the ';' that ends the unquoted value and then expects ';' or CR
// again. RFC 9112 §7.1.1 makes such lists valid and says a recipient MUST ignore extensions it
// does not know. The value callbacks spot that case and pause the parser (HPE_PAUSED), which then
// waits in the state after the value; the owner resumes it and hands it the bytes again from the
// ';' (its error position minus one), which puts the parser back on the normal path.
#pragma once

#include <llhttp.h>

#include <cstddef>

namespace edged::proxy::http1 {

class ChunkExtensionFix {
 public:
  // on_chunk_extension_value: a piece of the value (a value split over two reads comes in two).
  void onValue(const char* at, size_t n) {
    if (n > 0) quoted_ = at[n - 1] == '"';  // a quoted value's span ends with its closing quote
    end_ = at + n;
  }
  // on_chunk_extension_value_complete. An unquoted value's end is always the byte llhttp stopped
  // at (CR or ';'), inside the bytes it is parsing, so reading it is safe; a quoted one's may not
  // be, and it is never read.
  int onValueComplete() {
    const bool stepped_over_semicolon = !quoted_ && end_ != nullptr && *end_ == ';';
    end_ = nullptr;
    quoted_ = false;
    if (!stepped_over_semicolon) return 0;
    refeed_ = true;
    return HPE_PAUSED;
  }
  // After llhttp_execute returned HPE_PAUSED: true (once) when the pause is this fix's; the owner
  // then calls llhttp_resume and executes again from llhttp_get_error_pos() - 1.
  bool takeRefeed() {
    const bool r = refeed_;
    refeed_ = false;
    return r;
  }
  void reset() { *this = ChunkExtensionFix(); }

 private:
  const char* end_ = nullptr;
  bool quoted_ = false;
  bool refeed_ = false;
};

}  // namespace edged::proxy::http1
