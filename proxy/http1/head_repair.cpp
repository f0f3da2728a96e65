// proxy/http1/head_repair.cpp — see head_repair.h.
#include "proxy/http1/head_repair.h"

namespace edged::proxy::http1 {

size_t repairResponseHead(std::string_view raw, std::string& out) {
  const size_t start = out.size();
  size_t pos = 0;
  bool first = true;
  for (;;) {
    const size_t lf = raw.find('\n', pos);
    if (lf == std::string_view::npos) {
      out.resize(start);
      return 0;
    }
    const size_t end = lf > pos && raw[lf - 1] == '\r' ? lf - 1 : lf;
    std::string_view line = raw.substr(pos, end - pos);
    pos = lf + 1;
    if (line.empty() && !first) {
      out.append("\r\n");
      return pos;
    }
    // A field line (not the status line, not an obs-fold continuation): "name  :" loses the
    // whitespace. Only trailing whitespace of the name goes; "na me:" stays for llhttp to refuse.
    if (!first && line.front() != ' ' && line.front() != '\t') {
      const size_t colon = line.find(':');
      size_t name_end = colon;
      while (colon != std::string_view::npos && name_end > 0 && (line[name_end - 1] == ' ' || line[name_end - 1] == '\t'))
        --name_end;
      if (colon != std::string_view::npos && name_end > 0 && name_end < colon) {
        out.append(line.substr(0, name_end));
        line.remove_prefix(colon);
      }
    }
    out.append(line);
    out.append("\r\n");
    first = false;
  }
}

}  // namespace edged::proxy::http1
