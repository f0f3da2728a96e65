// proxy/net/tls/ticket_key_ring.cpp — key generation and rotation under one mutex; a handshake
// holds it only to copy 96 bytes.
#include "proxy/net/tls/ticket_key_ring.h"

#include <openssl/rand.h>

#include <cstring>
#include <cstdlib>
#include <utility>

namespace edged::net::tls {

namespace {

TicketKey freshKey(std::chrono::steady_clock::time_point now) {
  TicketKey key;
  // RAND_bytes fails only when the system has no entropy source at all; there is no safe way on.
  if (RAND_bytes(key.name.data(), key.name.size()) != 1 ||
      RAND_bytes(key.aes_key.data(), key.aes_key.size()) != 1 ||
      RAND_bytes(key.hmac_key.data(), key.hmac_key.size()) != 1) {
    std::abort();
  }
  key.created = now;
  return key;
}

}  // namespace

TicketKeyRing::TicketKeyRing(std::chrono::seconds rotation, size_t keep, Clock clock)
    : rotation_(rotation), keep_(keep == 0 ? 1 : keep), clock_(std::move(clock)) {
  keys_.push_front(freshKey(now()));
}

std::chrono::steady_clock::time_point TicketKeyRing::now() const {
  return clock_ ? clock_() : std::chrono::steady_clock::now();
}

void TicketKeyRing::rotateLocked(std::chrono::steady_clock::time_point now) {
  keys_.push_front(freshKey(now));
  while (keys_.size() > keep_) keys_.pop_back();
}

TicketKey TicketKeyRing::current() {
  const auto t = now();
  std::lock_guard lock(mutex_);
  if (rotation_.count() > 0 && t - keys_.front().created >= rotation_) rotateLocked(t);
  return keys_.front();
}

std::optional<TicketKey> TicketKeyRing::find(const uint8_t* name, bool* is_current) {
  std::lock_guard lock(mutex_);
  for (size_t i = 0; i < keys_.size(); ++i) {
    if (std::memcmp(keys_[i].name.data(), name, keys_[i].name.size()) == 0) {
      if (is_current) *is_current = i == 0;
      return keys_[i];
    }
  }
  return std::nullopt;
}

void TicketKeyRing::rotate() {
  const auto t = now();
  std::lock_guard lock(mutex_);
  rotateLocked(t);
}

size_t TicketKeyRing::size() const {
  std::lock_guard lock(mutex_);
  return keys_.size();
}

}  // namespace edged::net::tls
