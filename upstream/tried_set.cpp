// upstream/tried_set.cpp — the overflow path of TriedSet for groups with more than 64 servers.
#include <algorithm>

#include "upstream/tried_set.h"

namespace edged::upstream {

void TriedSet::insert(size_t index) {
  if (index < 64) {
    bits_ |= uint64_t{1} << index;
  } else if (!containsSlow(index)) {
    more_.push_back(index);
  }
}

bool TriedSet::containsSlow(size_t index) const {
  return std::find(more_.begin(), more_.end(), index) != more_.end();
}

}  // namespace edged::upstream
