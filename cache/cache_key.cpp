// cache/cache_key.cpp — primary and secondary cache keys.
#include "cache/cache_key.h"

#include "cache/field_text.h"

namespace edged::cache {

using namespace text;

bool globMatch(std::string_view p, std::string_view t) {
  // Iterative matcher with one backtrack point: linear enough for short parameter names.
  size_t pi = 0, ti = 0, star = std::string_view::npos, mark = 0;
  while (ti < t.size()) {
    if (pi < p.size() && (p[pi] == '?' || p[pi] == t[ti])) { ++pi; ++ti; }
    else if (pi < p.size() && p[pi] == '*') { star = pi++; mark = ti; }
    else if (star != std::string_view::npos) { pi = star + 1; ti = ++mark; }
    else return false;
  }
  while (pi < p.size() && p[pi] == '*') ++pi;
  return pi == p.size();
}

namespace {

// Appended lower-cased in place (no temporary: a host longer than the small-string buffer would
// cost an allocation per request).
void appendHost(std::string& out, std::string_view default_port, std::string_view host) {
  const size_t at = out.size();
  out += host;
  for (size_t i = at; i < out.size(); ++i) out[i] = lower(out[i]);
  // Drop the default port; "[v6]:80" keeps its brackets.
  const std::string_view lowered = std::string_view(out).substr(at);
  const size_t colon = lowered.rfind(':');
  if (colon != std::string::npos && lowered.find(']', colon) == std::string::npos) {
    const std::string_view port = lowered.substr(colon + 1);
    if (port.empty() || port == default_port)
      out.resize(at + colon);
  }
}

// The path with its percent-encoding normalised (RFC 3986 §6.2.2.1, §6.2.2.2; RFC 9110 §4.2.3):
// hex digits upper case, encoded unreserved characters decoded. Equivalent URIs share a key, for
// hits and for invalidation alike.
void appendPath(std::string& out, std::string_view path) {
  size_t i = 0;
  while (i < path.size()) {
    const size_t pct = path.find('%', i);  // most paths have none: appended in one piece
    out.append(path.substr(i, pct == std::string_view::npos ? std::string_view::npos : pct - i));
    if (pct == std::string_view::npos) return;
    i = pct;
    const int hi = i + 2 < path.size() ? proxy::fields::hexValue(path[i + 1]) : -1;
    const int lo = hi >= 0 ? proxy::fields::hexValue(path[i + 2]) : -1;
    if (lo < 0) {  // not an escape: the '%' as it is
      out += '%';
      ++i;
      continue;
    }
    const int c = hi * 16 + lo;
    if (proxy::fields::isUnreserved(static_cast<unsigned char>(c))) {
      out += static_cast<char>(c);
    } else {
      constexpr char kHex[] = "0123456789ABCDEF";
      const char escape[3] = {'%', kHex[hi], kHex[lo]};
      out.append(escape, 3);
    }
    i += 3;
  }
}

void appendTarget(std::string& out, std::string_view target, const KeyOptions& options) {
  target = target.substr(0, target.find('#'));
  const size_t q = target.find('?');
  const std::string_view path = target.substr(0, q);
  if (path.empty()) out += '/';
  else appendPath(out, path);
  if (q == std::string_view::npos) return;
  std::string_view query = target.substr(q + 1);
  bool first = true;
  while (true) {
    const size_t amp = query.find('&');
    const std::string_view param = query.substr(0, amp);
    const std::string_view name = param.substr(0, param.find('='));
    bool drop = param.empty();
    for (const std::string& g : options.ignore_query)
      if (!drop && globMatch(g, name)) drop = true;
    if (!drop) {
      out += first ? '?' : '&';
      out += param;
      first = false;
    }
    if (amp == std::string_view::npos) break;
    query.remove_prefix(amp + 1);
  }
}

}  // namespace

void appendPrimaryKey(std::string& key, std::string_view scheme, std::string_view host, std::string_view target,
                      const KeyOptions& options) {
  key.reserve(key.size() + scheme.size() + 3 + host.size() + target.size());
  const size_t at = key.size();
  key += scheme;
  for (size_t i = at; i < key.size(); ++i) key[i] = lower(key[i]);
  const std::string_view s = std::string_view(key).substr(at);
  const std::string_view default_port = s == "http" ? "80" : s == "https" ? "443" : "";
  key += "://";
  appendHost(key, default_port, host);
  appendTarget(key, target, options);
}

std::string primaryKey(std::string_view scheme, std::string_view host, std::string_view target,
                       const KeyOptions& options) {
  std::string key;
  appendPrimaryKey(key, scheme, host, target, options);
  return key;
}

std::string sameOriginKey(std::string_view scheme, std::string_view host, std::string_view request_target,
                          std::string_view location, const KeyOptions& options) {
  location = trim(location);
  if (location.empty()) return {};
  const size_t sep = location.find("://");
  if (sep != std::string_view::npos && location.find('/') > sep) {
    const std::string_view rest = location.substr(sep + 3);
    const size_t slash = rest.find_first_of("/?#");
    const std::string other = primaryKey(location.substr(0, sep), rest.substr(0, slash), "/", options);
    const std::string mine = primaryKey(scheme, host, "/", options);
    if (other != mine) return {};  // another origin: never invalidated (RFC 9111 §4.4)
    return primaryKey(scheme, host, slash == std::string_view::npos ? "/" : rest.substr(slash), options);
  }
  if (location.starts_with("//")) return {};  // network-path reference: treated as another origin
  if (location.front() == '/') return primaryKey(scheme, host, location, options);
  // A relative path: resolve against the directory of the request path (no dot segments).
  std::string_view dir = request_target.substr(0, request_target.find_first_of("?#"));
  dir = dir.substr(0, dir.rfind('/') + 1);
  if (dir.empty()) dir = "/";
  if (location.front() == '?') return primaryKey(scheme, host, std::string(request_target.substr(0, request_target.find_first_of("?#"))) + std::string(location), options);
  return primaryKey(scheme, host, std::string(dir) + std::string(location), options);
}

namespace {

// q in thousandths; -1 when malformed (RFC 9110 §12.4.2).
int qValue(std::string_view s) {
  s = trim(s);
  if (s.empty() || (s[0] != '0' && s[0] != '1')) return -1;
  int v = (s[0] - '0') * 1000;
  if (s.size() == 1) return v;
  if (s[1] != '.' || s.size() > 5) return -1;
  int scale = 100;
  for (size_t i = 2; i < s.size(); ++i, scale /= 10) {
    if (!isDigit(s[i])) return -1;
    v += (s[i] - '0') * scale;
  }
  return v > 1000 ? -1 : v;
}

}  // namespace

std::string_view negotiatedEncoding(std::span<const std::string_view> accept_encoding,
                                    std::span<const std::string> encodings) {
  std::string_view best = "identity";
  int best_q = 0;
  for (const std::string& coding : encodings) {
    int q = -1, star = -1;
    for (std::string_view line : accept_encoding)
      forEachElement(line, [&](std::string_view e) {
        const size_t semi = e.find(';');
        std::string_view name = trim(e.substr(0, semi));
        int element_q = 1000;
        if (semi != std::string_view::npos) {
          std::string_view params = e.substr(semi + 1);
          const size_t eq = params.find('=');
          if (eq != std::string_view::npos && iequals(trim(params.substr(0, eq)), "q")) element_q = qValue(params.substr(eq + 1));
          if (element_q < 0) element_q = 0;
        }
        if (iequals(name, "x-gzip")) name = "gzip";
        if (iequals(name, coding)) q = element_q;
        else if (name == "*") star = element_q;
      });
    const int effective = q >= 0 ? q : (star >= 0 ? star : 0);
    if (effective > best_q) {
      best_q = effective;
      best = coding;
    }
  }
  return best;
}

void appendSecondaryKey(std::string& key, const VaryList& vary, std::span<const FieldView> request_fields,
                        const KeyOptions& options) {
  for (const std::string& name : vary.names) {  // already sorted: listing order does not matter
    key += name;
    key += '=';
    if (name == "accept-encoding") {
      // The request's Accept-Encoding lines: a few on the stack, more (rare) in a vector.
      constexpr size_t kFew = 8;
      std::string_view few[kFew];
      size_t count = 0;
      std::vector<std::string_view> many;
      for (const FieldView& f : request_fields) {
        if (!iequals(f.name, name)) continue;
        if (count < kFew) {
          few[count++] = f.value;
          continue;
        }
        if (many.empty()) many.assign(few, few + kFew);
        many.push_back(f.value);
      }
      key += negotiatedEncoding(many.empty() ? std::span<const std::string_view>(few, count)
                                             : std::span<const std::string_view>(many),
                                options.encodings);
    } else {
      bool first_value = true;
      for (const FieldView& f : request_fields) {
        if (!iequals(f.name, name)) continue;
        if (!first_value) key += ',';
        first_value = false;
        bool space = false;
        bool started = false;
        for (char c : trim(f.value)) {
          if (isOws(c)) { space = true; continue; }
          if (c == ',') { key += ','; space = false; started = false; continue; }  // ", " == ","
          if (space && started) key += ' ';
          key += c;
          space = false;
          started = true;
        }
      }
    }
    key += '\n';
  }
}

std::string secondaryKey(const VaryList& vary, std::span<const FieldView> request_fields, const KeyOptions& options) {
  std::string key;
  appendSecondaryKey(key, vary, request_fields, options);
  return key;
}

bool secondaryKeyMatches(const VaryList& vary, std::span<const FieldView> request_fields, const KeyOptions& options,
                         std::string_view stored) {
  thread_local std::string scratch;
  scratch.clear();
  appendSecondaryKey(scratch, vary, request_fields, options);
  return scratch == stored;
}

}  // namespace edged::cache
