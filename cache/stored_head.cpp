// cache/stored_head.cpp — StoredHead and HeadView.
#include "cache/stored_head.h"

#include "cache/field_text.h"

namespace edged::cache {

void StoredHead::add(std::string_view name, std::string_view value) {
  blob_.append(name);
  blob_.append(": ");
  // A CR or LF inside a value would split the blob's lines; field values from a parser never hold
  // them (RFC 9110 §5.5), so drop them rather than corrupt the entry.
  for (char c : value)
    if (c != '\r' && c != '\n') blob_.push_back(c);
  blob_.append("\r\n");
}

std::string_view HeadView::get(std::string_view name) const {
  std::string_view found;
  bool done = false;
  forEach([&](FieldView f) {
    if (!done && text::iequals(f.name, name)) {
      found = f.value;
      done = true;
    }
  });
  return found;
}

bool HeadView::has(std::string_view name) const {
  bool found = false;
  forEach([&](FieldView f) { found = found || text::iequals(f.name, name); });
  return found;
}

size_t HeadView::fieldCount() const {
  size_t n = 0;
  forEach([&](FieldView) { ++n; });
  return n;
}

}  // namespace edged::cache
