// proxy/net/tls/ticket_key_ring.h — the session ticket keys every worker thread shares: one
// current key that encrypts new tickets, and the previous ones that still decrypt.
#pragma once

#include <array>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <deque>
#include <functional>
#include <mutex>
#include <optional>

namespace edged::net::tls {

struct TicketKey {
  std::array<uint8_t, 16> name{};
  std::array<uint8_t, 32> aes_key{};   // AES-256-CBC, as RFC 5077 suggests
  std::array<uint8_t, 32> hmac_key{};  // HMAC-SHA256
  std::chrono::steady_clock::time_point created;
};

class TicketKeyRing {
 public:
  using Clock = std::function<std::chrono::steady_clock::time_point()>;

  // Keys are random (RAND_bytes) and never leave the process. A ticket stays decryptable for
  // `keep` rotations, so set rotation * keep >= the session timeout.
  TicketKeyRing(std::chrono::seconds rotation, size_t keep, Clock clock = {});

  // The key for a new ticket; rotates first when the current one is older than the rotation
  // period. Thread-safe.
  TicketKey current();
  // The key named `name` if it is still kept; `is_current` says whether it is the newest (a ticket
  // under an older key gets renewed). Thread-safe.
  std::optional<TicketKey> find(const uint8_t* name, bool* is_current);
  // Starts a new key now (tests; a forced rotation).
  void rotate();
  size_t size() const;

 private:
  void rotateLocked(std::chrono::steady_clock::time_point now);
  std::chrono::steady_clock::time_point now() const;

  const std::chrono::seconds rotation_;
  const size_t keep_;
  const Clock clock_;
  mutable std::mutex mutex_;
  std::deque<TicketKey> keys_;  // newest first
};

}  // namespace edged::net::tls
