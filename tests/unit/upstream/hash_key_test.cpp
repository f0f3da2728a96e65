// tests/unit/upstream/hash_key_test.cpp — hash_key names and cookie lookup.
#include <doctest.h>

#include "upstream/upstream.h"

namespace edged::upstream {
namespace {

TEST_SUITE("upstream/hash_key") {

TEST_CASE("the four kinds of key") {
  CHECK(parseHashKey("$remote_addr")->kind == HashKeyKind::RemoteAddr);
  CHECK(parseHashKey("$uri")->kind == HashKeyKind::Uri);
  auto h = parseHashKey("$http_X_User_Id");
  REQUIRE(h);
  CHECK(h->kind == HashKeyKind::Header);
  CHECK(h->name == "x-user-id");
  auto c = parseHashKey("$cookie_session");
  REQUIRE(c);
  CHECK(c->kind == HashKeyKind::Cookie);
  CHECK(c->name == "session");
}

TEST_CASE("anything else is rejected") {
  CHECK_FALSE(parseHashKey(""));
  CHECK_FALSE(parseHashKey("$http_"));
  CHECK_FALSE(parseHashKey("$cookie_"));
  CHECK_FALSE(parseHashKey("$request_uri"));
  CHECK_FALSE(parseHashKey("uri"));
}

TEST_CASE("findCookie") {
  CHECK(findCookie("a=1; session=xyz; b=2", "session") == "xyz");
  CHECK(findCookie("session=xyz", "session") == "xyz");
  CHECK(findCookie("a=1;session=\"q\"", "session") == "q");
  CHECK(findCookie("xsession=1; session_id=2", "session") == "");
  CHECK(findCookie("", "session") == "");
  CHECK(findCookie("a=1; session=", "session") == "");
}

}  // TEST_SUITE
}  // namespace
}  // namespace edged::upstream
