// proxy/compress/header_edits.h — HeaderEdits: a small owned list of changes to a response head
// (remove every field of a name, or set a field), for heads the proxy keeps as string_views.
#pragma once

#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "proxy/http/http.h"

namespace edged::compress {

using proxy::Header;

struct HeaderEdit {
  std::string_view name;             // a literal or a view into the original head
  std::optional<std::string> value;  // nullopt: remove every field of this name
};

class HeaderEdits {
 public:
  // Removes every field named `name` (case-insensitive).
  void remove(std::string_view name) { edits_.push_back({name, std::nullopt}); }
  // The first field named `name` takes `value` in place; later fields of that name are removed;
  // appended at the end when there is none.
  void set(std::string_view name, std::string value) { edits_.push_back({name, std::move(value)}); }

  bool empty() const { return edits_.empty(); }
  const std::vector<HeaderEdit>& edits() const { return edits_; }
  // The edit for `name`, or nullptr. At most one edit per name is expected.
  const HeaderEdit* find(std::string_view name) const;

  // The edited head: views into `headers` and into this object (which must outlive the result).
  // Order of untouched fields is kept.
  std::vector<Header> apply(std::span<const Header> headers) const;

 private:
  std::vector<HeaderEdit> edits_;
};

}  // namespace edged::compress
