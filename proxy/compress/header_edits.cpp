// proxy/compress/header_edits.cpp
#include "proxy/compress/header_edits.h"

#include "proxy/http/http.h"

namespace edged::compress {

const HeaderEdit* HeaderEdits::find(std::string_view name) const {
  for (const HeaderEdit& e : edits_)
    if (proxy::fields::iequals(e.name, name)) return &e;
  return nullptr;
}

std::vector<Header> HeaderEdits::apply(std::span<const Header> headers) const {
  std::vector<Header> out;
  out.reserve(headers.size() + edits_.size());
  std::vector<bool> placed(edits_.size(), false);
  for (const Header& h : headers) {
    const HeaderEdit* edit = find(h.name);
    if (!edit) {
      out.push_back(h);
      continue;
    }
    const size_t index = static_cast<size_t>(edit - edits_.data());
    if (edit->value && !placed[index]) out.push_back({h.name, *edit->value});
    placed[index] = true;
  }
  for (size_t i = 0; i < edits_.size(); ++i)
    if (edits_[i].value && !placed[i]) out.push_back({edits_[i].name, *edits_[i].value});
  return out;
}

}  // namespace edged::compress
