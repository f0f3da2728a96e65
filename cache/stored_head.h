// cache/stored_head.h — StoredHead and HeadView: the status and header fields of a stored
// response as one blob ("name: value\r\n" lines), owned while built and read back in place as a
// view without allocating; plus FieldView, the (name, value) pair the cache takes from its callers.
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <utility>

namespace edged::cache {

struct FieldView {
  std::string_view name;
  std::string_view value;
};

// A stored head read in place (the status and a blob of "name: value\r\n" lines): what an entry
// hands out, valid while the entry is referenced.
class HeadView {
 public:
  HeadView() = default;
  HeadView(int status, std::string_view blob) : blob_(blob), status_(status) {}

  int status() const { return status_; }
  // Calls f(FieldView) for each field, in order.
  template <typename F>
  void forEach(F&& f) const {
    std::string_view rest = blob_;
    while (!rest.empty()) {
      const size_t colon = rest.find(':');
      const size_t eol = rest.find("\r\n", colon);
      f(FieldView{rest.substr(0, colon), rest.substr(colon + 2, eol - colon - 2)});
      rest.remove_prefix(eol + 2);
    }
  }
  // The first value of `name` (case-insensitive); empty view when absent.
  std::string_view get(std::string_view name) const;
  bool has(std::string_view name) const;
  size_t fieldCount() const;
  // The serialized fields: what the entry's "headers" bytes are.
  std::string_view blob() const { return blob_; }

 private:
  std::string_view blob_;
  int status_ = 0;
};

// A head being built (or merged): owns its blob.
class StoredHead {
 public:
  StoredHead() = default;
  explicit StoredHead(int status) : status_(status) {}
  StoredHead(HeadView v) : blob_(v.blob()), status_(v.status()) {}  // NOLINT: a copy of a view

  operator HeadView() const { return view(); }  // NOLINT: read as a view
  HeadView view() const { return HeadView(status_, blob_); }

  int status() const { return status_; }
  // Appends one field; names keep their case, values are stored as given.
  void add(std::string_view name, std::string_view value);

  template <typename F>
  void forEach(F&& f) const { view().forEach(std::forward<F>(f)); }
  std::string_view get(std::string_view name) const { return view().get(name); }
  bool has(std::string_view name) const { return view().has(name); }
  size_t fieldCount() const { return view().fieldCount(); }
  std::string_view blob() const { return blob_; }
  size_t bytes() const { return blob_.capacity(); }
  void shrink() { blob_.shrink_to_fit(); }

 private:
  std::string blob_;
  int status_ = 0;
};

}  // namespace edged::cache
