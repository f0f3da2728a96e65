// proxy/net/write_queue.h — the bytes waiting to go out on one Transport, written as one iovec
// batch per write. Pieces are either borrowed from IoBufs (held by reference until written) or small
// owned bytes (heads, chunk framing) copied into the batch's arena.
#pragma once

#include <uv.h>

#include <cstddef>
#include <string>
#include <string_view>
#include <vector>

#include "proxy/net/io_buffer.h"
#include "proxy/net/transport.h"

namespace edged::net {

class WriteQueue {
 public:
  // Called after each completed write: status 0 or a libuv error (UV_ECANCELED after close).
  using DoneFn = void (*)(void* owner, int status);

  WriteQueue(void* owner, DoneFn done) : owner_(owner), done_(done) { req_.data = this; }
  WriteQueue(const WriteQueue&) = delete;
  WriteQueue& operator=(const WriteQueue&) = delete;
  ~WriteQueue();

  // Queue bytes that live in `buf` (a reference is taken).
  void append(IoBuf* buf, const char* p, size_t n);
  // Queue a copy of small bytes.
  void appendCopy(std::string_view bytes);
  // Space for building owned bytes in place: returns a pointer to `n` writable bytes.
  char* reserveCopy(size_t n);
  // Queues the bytes `build(std::string& s)` appends to `s`, built in place in the batch's arena
  // (no copy). `build` must only append to `s`, and not touch this queue.
  template <typename Build>
  void appendBuilt(Build&& build) {
    std::string& arena = batches_[pending_].arena;
    const size_t at = arena.size();
    build(arena);
    commitBuilt(at);
  }

  // Start writing what is queued to `transport`, unless a write is already in flight (it
  // continues when done, to the same transport). Returns a libuv error if writing failed at once.
  int flush(Transport& transport);

  size_t queuedBytes() const { return pending_bytes_ + inflight_bytes_; }
  // Every byte ever queued on this queue (for byte counters: take the difference).
  uint64_t appendedTotal() const { return appended_total_; }
  bool idle() const { return pending_bytes_ == 0 && inflight_bytes_ == 0 && !inflight_; }
  bool writing() const { return inflight_; }
  // Drops what is queued and not yet handed to libuv.
  void discardPending();
  // Back to a new queue's state for another transport (no write in flight). Keeps the batches'
  // storage up to `keep` bytes each, so a recycled queue allocates nothing for usual responses.
  void reset(size_t keep);

 private:
  struct Piece {
    IoBuf* buf;        // null: bytes live in the batch arena at `offset`
    const char* p;
    size_t offset;
    size_t n;
  };
  struct Batch {
    std::vector<Piece> pieces;
    std::string arena;
    std::vector<uv_buf_t> iov;
    void clear();
    void releaseExcess(size_t keep);
  };
  static void onWrite(uv_write_t* req, int status);
  // Makes the arena bytes from `at` to its end the next piece.
  void commitBuilt(size_t at);

  void* owner_;
  DoneFn done_;
  Transport* transport_ = nullptr;
  uv_write_t req_{};
  Batch batches_[2];
  int pending_ = 0;  // index of the batch being filled; the other one is in flight
  bool inflight_ = false;
  size_t pending_bytes_ = 0;
  size_t inflight_bytes_ = 0;
  uint64_t appended_total_ = 0;
};

}  // namespace edged::net
