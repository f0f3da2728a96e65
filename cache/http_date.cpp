// cache/http_date.cpp — HTTP-date in its three historical forms, without the C library's
// locale- and time-zone-dependent functions. Names (day, month, GMT) are matched in any case: the
// grammar is case-sensitive, but recipients are encouraged to be robust (RFC 9110 §5.6.7).
#include "cache/http_date.h"

#include "cache/field_text.h"

namespace edged::cache {
namespace {

constexpr std::string_view kMonths[] = {"Jan", "Feb", "Mar", "Apr", "May", "Jun",
                                        "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};
constexpr std::string_view kDays[] = {"Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"};
constexpr std::string_view kLongDays[] = {"Sunday", "Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday"};

// Howard Hinnant's days_from_civil: exact for the proleptic Gregorian calendar.
constexpr int64_t daysFromCivil(int64_t y, unsigned m, unsigned d) {
  y -= m <= 2;
  const int64_t era = (y >= 0 ? y : y - 399) / 400;
  const unsigned yoe = static_cast<unsigned>(y - era * 400);
  const unsigned doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
  const unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
  return era * 146097 + static_cast<int64_t>(doe) - 719468;
}

constexpr bool leap(int64_t y) { return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0; }
constexpr unsigned daysIn(int64_t y, unsigned m) {
  constexpr unsigned kDaysIn[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
  return m == 2 && leap(y) ? 29 : kDaysIn[m - 1];
}

int month(std::string_view s) {
  for (int i = 0; i < 12; ++i)
    if (text::iequals(s, kMonths[i])) return i + 1;
  return 0;
}

bool digits(std::string_view s, size_t n, int& out) {
  if (s.size() != n) return false;
  out = 0;
  for (char c : s) {
    if (!text::isDigit(c)) return false;
    out = out * 10 + (c - '0');
  }
  return true;
}

// "HH:MM:SS"
bool timeOfDay(std::string_view s, int& h, int& m, int& sec) {
  return s.size() == 8 && s[2] == ':' && s[5] == ':' && digits(s.substr(0, 2), 2, h) &&
         digits(s.substr(3, 2), 2, m) && digits(s.substr(6, 2), 2, sec) && h < 24 && m < 60 && sec <= 60;
}

std::optional<int64_t> assemble(int64_t y, int mon, int d, int h, int m, int s) {
  if (mon < 1 || mon > 12 || d < 1 || static_cast<unsigned>(d) > daysIn(y, static_cast<unsigned>(mon))) return std::nullopt;
  return daysFromCivil(y, static_cast<unsigned>(mon), static_cast<unsigned>(d)) * 86400 + h * 3600 + m * 60 + s;
}

bool oneOf(std::string_view s, const std::string_view* names) {
  for (int i = 0; i < 7; ++i)
    if (text::iequals(s, names[i])) return true;
  return false;
}

}  // namespace

std::optional<int64_t> parseHttpDate(std::string_view t, int64_t now) {
  int d = 0, y = 0, h = 0, mi = 0, s = 0;
  // IMF-fixdate: "Sun, 06 Nov 1994 08:49:37 GMT" (29 bytes)
  if (t.size() == 29 && t[3] == ',' && t[4] == ' ' && t[7] == ' ' && t[11] == ' ' && t[16] == ' ' &&
      t[25] == ' ' && text::iequals(t.substr(26), "GMT")) {
    if (!oneOf(t.substr(0, 3), kDays) || !digits(t.substr(5, 2), 2, d) || !digits(t.substr(12, 4), 4, y) ||
        !timeOfDay(t.substr(17, 8), h, mi, s))
      return std::nullopt;
    return assemble(y, month(t.substr(8, 3)), d, h, mi, s);
  }
  // asctime: "Sun Nov  6 08:49:37 1994" (24 bytes; the day is space-padded)
  if (t.size() == 24 && t[3] == ' ' && t[7] == ' ' && t[10] == ' ' && t[19] == ' ') {
    if (!oneOf(t.substr(0, 3), kDays)) return std::nullopt;
    std::string_view day = t.substr(8, 2);
    if (day[0] == ' ') day.remove_prefix(1);
    if (!digits(day, day.size(), d) || !digits(t.substr(20, 4), 4, y) || !timeOfDay(t.substr(11, 8), h, mi, s))
      return std::nullopt;
    return assemble(y, month(t.substr(4, 3)), d, h, mi, s);
  }
  // rfc850: "Sunday, 06-Nov-94 08:49:37 GMT"
  const size_t comma = t.find(',');
  if (comma == std::string_view::npos || !oneOf(t.substr(0, comma), kLongDays)) return std::nullopt;
  std::string_view r = t.substr(comma + 1);
  if (r.size() != 23 || r[0] != ' ' || r[3] != '-' || r[7] != '-' || r[10] != ' ' || r[19] != ' ' ||
      !text::iequals(r.substr(20), "GMT"))
    return std::nullopt;
  int yy = 0;
  if (!digits(r.substr(1, 2), 2, d) || !digits(r.substr(8, 2), 2, yy) || !timeOfDay(r.substr(11, 8), h, mi, s))
    return std::nullopt;
  const int64_t now_year = 1970 + now / 31556952;  // mean Gregorian year: close enough for a pivot
  int64_t full = now_year / 100 * 100 + yy;
  if (full > now_year + 50) full -= 100;
  if (full < now_year - 50) full += 100;
  return assemble(full, month(r.substr(4, 3)), d, h, mi, s);
}

std::optional<int64_t> parseHttpDate(std::string_view t) { return parseHttpDate(t, 1767225600 /* 2026-01-01 */); }

std::string_view formatHttpDate(int64_t unix_seconds, char (&out)[29]) {
  int64_t days = unix_seconds >= 0 ? unix_seconds / 86400 : (unix_seconds - 86399) / 86400;
  int64_t rem = unix_seconds - days * 86400;
  const int wday = static_cast<int>(((days % 7) + 11) % 7);  // 1970-01-01 was a Thursday
  // civil_from_days (Hinnant)
  const int64_t z = days + 719468;
  const int64_t era = (z >= 0 ? z : z - 146096) / 146097;
  const unsigned doe = static_cast<unsigned>(z - era * 146097);
  const unsigned yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
  int64_t y = static_cast<int64_t>(yoe) + era * 400;
  const unsigned doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
  const unsigned mp = (5 * doy + 2) / 153;
  const unsigned d = doy - (153 * mp + 2) / 5 + 1;
  const unsigned m = mp < 10 ? mp + 3 : mp - 9;
  y += m <= 2;
  auto put2 = [&](size_t at, int64_t v) { out[at] = static_cast<char>('0' + v / 10 % 10); out[at + 1] = static_cast<char>('0' + v % 10); };
  for (int i = 0; i < 3; ++i) out[i] = kDays[wday][i];
  out[3] = ',';
  out[4] = ' ';
  put2(5, d);
  out[7] = ' ';
  for (int i = 0; i < 3; ++i) out[8 + i] = kMonths[m - 1][i];
  out[11] = ' ';
  put2(12, y / 100);
  put2(14, y % 100);
  out[16] = ' ';
  put2(17, rem / 3600);
  out[19] = ':';
  put2(20, rem / 60 % 60);
  out[22] = ':';
  put2(23, rem % 60);
  out[25] = ' ';
  out[26] = 'G';
  out[27] = 'M';
  out[28] = 'T';
  return {out, 29};
}

std::string formatHttpDate(int64_t unix_seconds) {
  char buf[29];
  return std::string(formatHttpDate(unix_seconds, buf));
}

}  // namespace edged::cache
