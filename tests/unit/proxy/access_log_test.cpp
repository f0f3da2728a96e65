// tests/unit/proxy/access_log_test.cpp — the access log's formats (JSON escaping and line shape,
// the combined format against nginx's regex) and its sink (lines reach the fd through the
// writer thread, nothing is lost at stop, a file is reopened at its path).
#include <doctest.h>
#include <fcntl.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <regex>
#include <string>

#include "proxy/access_log.h"

namespace edged::proxy {
namespace {

std::string json(std::string_view v) {
  std::string out;
  AccessLog::appendJsonString(out, v);
  return out;
}

AccessRecord sample() {
  AccessRecord r;
  r.client_ip = "192.0.2.7";
  r.method = "GET";
  r.target = "/a/b?x=1&y=\"2\"";
  r.status = 502;
  r.body_bytes_sent = 157;
  r.referer = "http://example.com/";
  r.user_agent = "curl/8.0 \"quoted\"";
  r.upstream = "127.0.0.1:9000";
  r.upstream_seconds = 0.25;
  r.request_seconds = 0.5;
  r.termination = "upstream_reset";
  return r;
}

timespec at(time_t sec, long ms) {
  timespec ts{};
  ts.tv_sec = sec;
  ts.tv_nsec = ms * 1000000;
  return ts;
}

std::string readFile(const std::string& path) {
  std::string out;
  FILE* f = fopen(path.c_str(), "rb");
  if (!f) return out;
  char buf[4096];
  size_t n;
  while ((n = fread(buf, 1, sizeof buf, f)) > 0) out.append(buf, n);
  fclose(f);
  return out;
}

// Every key in order, with a value of the expected JSON kind ("s" string, "n" number, "0" null).
void checkKeys(const std::string& line, const std::vector<std::pair<std::string, std::string>>& keys) {
  size_t pos = 0;
  for (const auto& [key, kind] : keys) {
    const std::string k = "\"" + key + "\":";
    const size_t at = line.find(k, pos);
    REQUIRE_MESSAGE(at != std::string::npos, "missing key " << key << " in " << line);
    const char c = line[at + k.size()];
    if (kind == "s") CHECK_MESSAGE(c == '"', key);
    if (kind == "n") CHECK_MESSAGE(((c >= '0' && c <= '9') || c == '-'), key);
    if (kind == "0") CHECK_MESSAGE(line.compare(at + k.size(), 4, "null") == 0, key);
    pos = at + k.size();
  }
}

}  // namespace

TEST_CASE("AccessLog json: strings are escaped per RFC 8259") {
  CHECK(json("") == "\"\"");
  CHECK(json("plain /path?q=1") == "\"plain /path?q=1\"");
  CHECK(json("a\"b\\c") == "\"a\\\"b\\\\c\"");
  CHECK(json(std::string_view("\n\r\t\x01\x1f\x7f", 6)) == "\"\\u000a\\u000d\\u0009\\u0001\\u001f\\u007f\"");
  CHECK(json(std::string_view("a\0b", 3)) == "\"a\\u0000b\"");
  // valid UTF-8 stays as it is (2, 3 and 4 byte sequences)
  CHECK(json("caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80") == "\"caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80\"");
  // bytes that are not UTF-8 become U+00XX
  CHECK(json("\xff") == "\"\\u00ff\"");
  CHECK(json("\xc3") == "\"\\u00c3\"");                      // truncated sequence
  CHECK(json("\xc3(") == "\"\\u00c3(\"");                    // bad continuation
  CHECK(json("\xc0\xaf") == "\"\\u00c0\\u00af\"");           // overlong '/'
  CHECK(json("\xe0\x80\xaf") == "\"\\u00e0\\u0080\\u00af\"");  // overlong
  CHECK(json("\xed\xa0\x80") == "\"\\u00ed\\u00a0\\u0080\"");  // UTF-16 surrogate
  CHECK(json("\xf4\x90\x80\x80") == "\"\\u00f4\\u0090\\u0080\\u0080\"");  // above U+10FFFF
  CHECK(json("\x80x") == "\"\\u0080x\"");                    // lone continuation byte
}

TEST_CASE("AccessLog json: one object per line with every key") {
  AccessLog log(nullptr, conf::AccessLogFormat::Json);
  std::string out;
  log.format(sample(), at(1700000000, 42), out);
  REQUIRE(out.size() > 2);
  CHECK(out.back() == '\n');
  CHECK(out.find('\n') == out.size() - 1);
  CHECK(out.front() == '{');
  CHECK(out[out.size() - 2] == '}');
  checkKeys(out, {{"time", "s"}, {"client", "s"}, {"method", "s"}, {"path", "s"}, {"protocol", "s"},
                  {"status", "n"}, {"bytes", "n"}, {"duration", "n"}, {"upstream", "s"},
                  {"upstream_time", "n"}, {"termination", "s"}, {"phase", "0"}, {"request_id", "0"},
                  {"referer", "s"}, {"user_agent", "s"}});
  CHECK(out.find("\"client\":\"192.0.2.7\"") != std::string::npos);
  CHECK(out.find("\"method\":\"GET\"") != std::string::npos);
  CHECK(out.find("\"path\":\"/a/b?x=1&y=\\\"2\\\"\"") != std::string::npos);
  CHECK(out.find("\"protocol\":\"HTTP/1.1\"") != std::string::npos);
  CHECK(out.find("\"status\":502,\"bytes\":157,\"duration\":0.500000") != std::string::npos);
  CHECK(out.find("\"upstream\":\"127.0.0.1:9000\",\"upstream_time\":0.250000") != std::string::npos);
  CHECK(out.find("\"termination\":\"upstream_reset\"") != std::string::npos);
  CHECK(out.find("\"user_agent\":\"curl/8.0 \\\"quoted\\\"\"") != std::string::npos);
  // ISO 8601 with milliseconds and a ±hh:mm offset
  const std::regex time_re(R"re(^\{"time":"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.042[+-]\d{2}:\d{2}",)re");
  CHECK(std::regex_search(out, time_re));
}

TEST_CASE("AccessLog json: unknown values are null, request id and phase when known") {
  AccessLog log(nullptr, conf::AccessLogFormat::Json);
  AccessRecord r;
  r.client_ip = "::1";
  r.method = "POST";
  r.target = "/";
  r.status = 404;
  r.request_id = "abc-123";
  r.phase = "upstream_connect";
  std::string out;
  log.format(r, at(1700000000, 999), out);
  checkKeys(out, {{"time", "s"}, {"client", "s"}, {"method", "s"}, {"path", "s"}, {"protocol", "s"},
                  {"status", "n"}, {"bytes", "n"}, {"duration", "n"}, {"upstream", "0"},
                  {"upstream_time", "0"}, {"termination", "0"}, {"phase", "s"}, {"request_id", "s"},
                  {"referer", "0"}, {"user_agent", "0"}});
  CHECK(out.find("\"phase\":\"upstream_connect\",\"request_id\":\"abc-123\"") != std::string::npos);
  CHECK(out.find(".999") != std::string::npos);
  // a request that never parsed has no protocol
  AccessRecord bad;
  bad.client_ip = "::1";
  bad.method = "-";
  bad.http_major = bad.http_minor = 0;
  bad.status = 400;
  out.clear();
  log.format(bad, at(1700000000, 0), out);
  CHECK(out.find("\"protocol\":null") != std::string::npos);
  CHECK(out.find("\"path\":\"\"") != std::string::npos);
}

TEST_CASE("AccessLog combined: nginx's format, then the upstream fields") {
  AccessLog log(nullptr, conf::AccessLogFormat::Combined);
  const std::regex nginx(R"re(^(\S+) - (\S+) \[([^\]]+)\] "([^"]*)" (\d{3}) (\d+) "([^"]*)" "([^"]*)")re");
  std::string out;
  log.format(sample(), at(1700000000, 0), out);
  std::smatch m;
  REQUIRE(std::regex_search(out, m, nginx));
  CHECK(m[1] == "192.0.2.7");
  CHECK(m[2] == "-");
  CHECK(std::regex_match(m[3].str(), std::regex(R"(\d{2}/[A-Z][a-z]{2}/\d{4}:\d{2}:\d{2}:\d{2} [+-]\d{4})")));
  CHECK(m[4] == "GET /a/b?x=1&y='2' HTTP/1.1");
  CHECK(m[5] == "502");
  CHECK(m[6] == "157");
  CHECK(m[7] == "http://example.com/");
  CHECK(m[8] == "curl/8.0 \\x22quoted\\x22");
  CHECK(out.substr(m[0].length()) == " upstream=127.0.0.1:9000 upstream_time=0.250 request_time=0.500 termination=upstream_reset\n");

  AccessRecord r;
  r.client_ip = "10.0.0.1";
  r.method = "GET";
  r.target = "/x";
  r.status = 404;
  out.clear();
  log.format(r, at(1700000000, 0), out);
  REQUIRE(std::regex_search(out, m, nginx));
  CHECK(m[7] == "-");
  CHECK(m[8] == "-");
  CHECK(out.substr(m[0].length()) == " upstream=- upstream_time=- request_time=0.000\n");
}

TEST_CASE("AccessLog: TLS connections add version, cipher, SNI and client certificate; plain lines do not") {
  AccessRecord r = sample();
  std::string plain_combined, plain_json;
  AccessLog(nullptr, conf::AccessLogFormat::Combined).format(r, at(1700000000, 0), plain_combined);
  AccessLog(nullptr, conf::AccessLogFormat::Json).format(r, at(1700000000, 0), plain_json);
  CHECK(plain_combined.find(" tls=") == std::string::npos);
  CHECK(plain_json.find("tls_version") == std::string::npos);

  r.tls_version = "TLSv1.3";
  r.tls_cipher = "TLS_AES_128_GCM_SHA256";
  r.tls_server_name = "example.com";
  std::string combined, json_line;
  AccessLog(nullptr, conf::AccessLogFormat::Combined).format(r, at(1700000000, 0), combined);
  CHECK(combined.find(" tls=TLSv1.3 cipher=TLS_AES_128_GCM_SHA256 sni=\"example.com\"\n") != std::string::npos);
  AccessLog(nullptr, conf::AccessLogFormat::Json).format(r, at(1700000000, 0), json_line);
  CHECK(json_line.find(",\"tls_version\":\"TLSv1.3\",\"tls_cipher\":\"TLS_AES_128_GCM_SHA256\",\"sni\":\"example.com\","
                       "\"client_cert\":null}\n") != std::string::npos);

  r.tls_server_name = {};
  r.tls_client_subject = "CN=client one,O=\"x\"";
  combined.clear();
  AccessLog(nullptr, conf::AccessLogFormat::Combined).format(r, at(1700000000, 0), combined);
  CHECK(combined.find(" sni=\"-\" client_cert=\"CN=client one,O=\\x22x\\x22\"\n") != std::string::npos);
}

TEST_CASE("AccessLog: a cached route's lines add the cache state, its detail and a background mark") {
  AccessRecord r = sample();
  std::string plain_combined, plain_json;
  AccessLog(nullptr, conf::AccessLogFormat::Combined).format(r, at(1700000000, 0), plain_combined);
  AccessLog(nullptr, conf::AccessLogFormat::Json).format(r, at(1700000000, 0), plain_json);
  CHECK(plain_combined.find(" cache=") == std::string::npos);
  CHECK(plain_json.find("\"cache\"") == std::string::npos);

  r.cache = "MISS";
  r.cache_detail = "no-store-response";
  std::string combined, json_line;
  AccessLog(nullptr, conf::AccessLogFormat::Combined).format(r, at(1700000000, 0), combined);
  CHECK(combined.find(" cache=MISS cache_detail=no-store-response\n") != std::string::npos);
  AccessLog(nullptr, conf::AccessLogFormat::Json).format(r, at(1700000000, 0), json_line);
  CHECK(json_line.find(",\"cache\":\"MISS\",\"cache_detail\":\"no-store-response\"}\n") != std::string::npos);

  r.cache = "EXPIRED";
  r.cache_detail = {};
  r.background = true;
  combined.clear();
  json_line.clear();
  AccessLog(nullptr, conf::AccessLogFormat::Combined).format(r, at(1700000000, 0), combined);
  CHECK(combined.find(" cache=EXPIRED background=1\n") != std::string::npos);
  AccessLog(nullptr, conf::AccessLogFormat::Json).format(r, at(1700000000, 0), json_line);
  CHECK(json_line.find(",\"cache\":\"EXPIRED\",\"cache_detail\":null,\"background\":true}\n") != std::string::npos);
}

TEST_CASE("AccessLogSink: lines reach the fd through the writer thread; none lost at stop") {
  char path[] = "/tmp/edged-al-lines-XXXXXX";
  const int fd = mkstemp(path);
  REQUIRE(fd >= 0);
  {
    AccessLogSink sink(fd, "", false);
    {
      AccessLog log(&sink, conf::AccessLogFormat::Json);
      AccessRecord r = sample();
      for (int i = 0; i < 1000; ++i) log.write(r);  // > 32 KiB: some flushes happen on the way
      log.flush();
      log.write(r);
    }  // the destructor flushes the last line
    sink.stop();
    CHECK_FALSE(sink.requestReopen());  // no path: nothing to reopen
    CHECK(sink.droppedLines() == 0);
  }
  ::close(fd);
  const std::string got = readFile(path);
  std::remove(path);
  size_t lines = 0;
  for (char c : got) lines += c == '\n';
  CHECK(lines == 1001);
}

TEST_CASE("AccessLogSink: a reopen after a rename writes to a new file at the path") {
  char dir[] = "/tmp/edged-al-XXXXXX";
  REQUIRE(mkdtemp(dir) != nullptr);
  const std::string path = std::string(dir) + "/access.log";
  const std::string rotated = path + ".1";
  const int fd = ::open(path.c_str(), O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0644);
  REQUIRE(fd >= 0);
  {
    AccessLogSink sink(fd, path, true);
    AccessLog log(&sink, conf::AccessLogFormat::Combined);
    AccessRecord r = sample();
    r.target = "/before";
    log.write(r);
    log.flush();
    for (int i = 0; i < 200 && readFile(path).empty(); ++i) usleep(10000);
    REQUIRE(std::rename(path.c_str(), rotated.c_str()) == 0);
    CHECK(sink.requestReopen());
    for (int i = 0; i < 200 && sink.reopens() == 0; ++i) usleep(10000);
    CHECK(sink.reopens() == 1);
    r.target = "/after";
    log.write(r);
    log.flush();
    sink.stop();
  }
  const std::string old_text = readFile(rotated), new_text = readFile(path);
  CHECK(old_text.find("/before") != std::string::npos);
  CHECK(old_text.find("/after") == std::string::npos);
  CHECK(new_text.find("/after") != std::string::npos);
  CHECK(new_text.find("/before") == std::string::npos);
  std::remove(path.c_str());
  std::remove(rotated.c_str());
  rmdir(dir);
}

TEST_CASE("AccessLogSink: beyond the pending bound lines are dropped and counted, not queued") {
  int p[2];
  REQUIRE(pipe(p) == 0);  // nobody reads: the writer blocks once the pipe is full
  {
    AccessLogSink sink(p[1], "", false);
    std::string chunk(1024 * 1024 - 1, 'x');
    chunk.push_back('\n');
    for (int i = 0; i < 12; ++i) {
      std::string b = chunk;
      sink.submit(b);
      CHECK(b.empty());
    }
    CHECK(sink.droppedLines() >= 3);  // 12 MiB offered, at most 8 MiB pending
    // let the writer finish: drain the pipe from here
    fcntl(p[0], F_SETFL, O_NONBLOCK);
    std::thread reader([fd = p[0]] {
      char buf[65536];
      for (int idle = 0; idle < 100;) {
        if (read(fd, buf, sizeof buf) > 0) idle = 0;
        else { ++idle; usleep(10000); }
      }
    });
    sink.stop();
    reader.join();
  }
  ::close(p[0]);
  ::close(p[1]);
}

}  // namespace edged::proxy
