// conf/units.h — conf/-internal variants of the unit parsers that also say why input was rejected.
#pragma once

#include <optional>
#include <string>
#include <string_view>

#include "conf/config.h"

namespace edged::conf {

// As parseAddress(text), and on failure sets *why (when non-null) to a short human reason.
std::optional<Address> parseAddress(std::string_view text, std::string* why);

}  // namespace edged::conf
