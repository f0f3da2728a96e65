// proxy/compress/accept_encoding.h — AcceptEncoding: a request's Accept-Encoding field parsed per
// RFC 9110 §12.5.3, and the choice of a coding from it.
#pragma once

#include <cstdint>
#include <span>
#include <string_view>

#include "proxy/compress/algorithm.h"

namespace edged::compress {

class AcceptEncoding {
 public:
  // q-values in thousandths: 0 = "not acceptable", 1000 = q=1; kUnlisted = not in the field.
  static constexpr int kUnlisted = -1;

  // Adds one Accept-Encoding field line; call once per line when a request repeats the field.
  // Never fails: a malformed q-value makes its element q=0, unknown codings and parameters are
  // ignored, tokens compare case-insensitively, "x-gzip" counts as "gzip".
  void add(std::string_view field_value);

  bool present() const { return present_; }
  // The q a coding gets: its own element, else "*", else 0 (listed nothing acceptable). With no
  // field at all every coding gets 0 — edged compresses only for clients that ask (as nginx and
  // h2o do), although RFC 9110 would allow any coding then.
  int quality(Algorithm a) const;
  // identity: its own element, else "*", else acceptable at the lowest preference (q=0.001).
  int identityQuality() const;

  // The coding to send: the highest q among `preference` (which lists what the server offers,
  // in its order — the order breaks ties); None when nothing offered has q > 0 or when identity
  // has a strictly higher q than the best coding.
  Algorithm choose(std::span<const Algorithm> preference) const;

 private:
  bool present_ = false;
  int gzip_ = kUnlisted;
  int br_ = kUnlisted;
  int zstd_ = kUnlisted;
  int identity_ = kUnlisted;
  int star_ = kUnlisted;
};

// Parses a q-value ("0", "0.5", "1.000"; RFC 9110 §12.4.2) into thousandths; -1 when malformed.
int parseQValue(std::string_view text);

}  // namespace edged::compress
