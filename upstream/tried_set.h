// upstream/tried_set.h — the servers one request has already tried.
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

namespace edged::upstream {

// Server indexes a request has tried: never picked again for that request. The first 64 are
// bits; larger groups spill into a vector.
class TriedSet {
 public:
  bool contains(size_t index) const { return index < 64 ? (bits_ >> index) & 1u : containsSlow(index); }
  void insert(size_t index);
  void clear() { bits_ = 0; more_.clear(); }
  bool empty() const { return bits_ == 0 && more_.empty(); }

 private:
  bool containsSlow(size_t index) const;
  uint64_t bits_ = 0;
  std::vector<size_t> more_;
};

}  // namespace edged::upstream
