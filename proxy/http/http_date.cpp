// proxy/http/http_date.cpp — IMF-fixdate without strftime (no locale, no TZ lookups).
#include "proxy/http/http_date.h"

#include <ctime>

namespace edged::proxy {

namespace {
void put2(char* out, int v) {
  out[0] = static_cast<char>('0' + v / 10 % 10);
  out[1] = static_cast<char>('0' + v % 10);
}
}  // namespace

void formatHttpDate(int64_t unix_seconds, char* out) {
  static constexpr char kDays[] = "ThuFriSatSunMonTueWed";  // 1970-01-01 was a Thursday
  static constexpr char kMonths[] = "JanFebMarAprMayJunJulAugSepOctNovDec";
  int64_t days = unix_seconds / 86400;
  int64_t secs = unix_seconds % 86400;
  if (secs < 0) {
    secs += 86400;
    --days;
  }
  const int64_t weekday = ((days % 7) + 7) % 7;
  // Civil date from days since the epoch (Howard Hinnant's algorithm).
  const int64_t z = days + 719468;
  const int64_t era = (z >= 0 ? z : z - 146096) / 146097;
  const int64_t doe = z - era * 146097;
  const int64_t yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
  const int64_t doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
  const int64_t mp = (5 * doy + 2) / 153;
  const int day = static_cast<int>(doy - (153 * mp + 2) / 5 + 1);
  const int month = static_cast<int>(mp < 10 ? mp + 3 : mp - 9);
  const int year = static_cast<int>(yoe + era * 400 + (month <= 2 ? 1 : 0));
  const int hour = static_cast<int>(secs / 3600), minute = static_cast<int>(secs / 60 % 60),
            second = static_cast<int>(secs % 60);
  char* p = out;
  for (int i = 0; i < 3; ++i) *p++ = kDays[weekday * 3 + i];
  *p++ = ',';
  *p++ = ' ';
  put2(p, day);
  p += 2;
  *p++ = ' ';
  for (int i = 0; i < 3; ++i) *p++ = kMonths[(month - 1) * 3 + i];
  *p++ = ' ';
  put2(p, year / 100);
  put2(p + 2, year % 100);
  p += 4;
  *p++ = ' ';
  put2(p, hour);
  p[2] = ':';
  put2(p + 3, minute);
  p[5] = ':';
  put2(p + 6, second);
  p += 8;
  *p++ = ' ';
  *p++ = 'G';
  *p++ = 'M';
  *p++ = 'T';
}

std::string_view HttpDateCache::at(int64_t unix_seconds) {
  if (unix_seconds != second_) {
    formatHttpDate(unix_seconds, text_);
    second_ = unix_seconds;
  }
  return {text_, kHttpDateLength};
}

std::string_view httpDateNow() {
  static thread_local HttpDateCache cache;
  return cache.at(static_cast<int64_t>(::time(nullptr)));
}

}  // namespace edged::proxy
