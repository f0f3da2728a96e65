// proxy/net/write_queue.cpp — double-buffered iovec batches: one in flight, one filling.
#include "proxy/net/write_queue.h"

#include <cassert>
#include <cstring>

namespace edged::net {

void WriteQueue::Batch::clear() {
  for (Piece& p : pieces)
    if (p.buf) release(p.buf);
  pieces.clear();
  arena.clear();
  iov.clear();
}

void WriteQueue::Batch::releaseExcess(size_t keep) {
  if (pieces.capacity() * sizeof(Piece) > keep) std::vector<Piece>().swap(pieces);
  if (arena.capacity() > keep) std::string().swap(arena);
  if (iov.capacity() * sizeof(uv_buf_t) > keep) std::vector<uv_buf_t>().swap(iov);
}

void WriteQueue::reset(size_t keep) {
  assert(!inflight_);  // libuv still holds the in-flight batch's iovecs
  for (Batch& b : batches_) {
    b.clear();
    b.releaseExcess(keep);
  }
  transport_ = nullptr;
  pending_ = 0;
  inflight_ = false;
  pending_bytes_ = 0;
  inflight_bytes_ = 0;
  appended_total_ = 0;
}

WriteQueue::~WriteQueue() {
  batches_[0].clear();
  batches_[1].clear();
}

void WriteQueue::append(IoBuf* buf, const char* p, size_t n) {
  if (n == 0) return;
  appended_total_ += n;
  Batch& b = batches_[pending_];
  // Contiguous with the previous piece of the same buffer: extend it (one iovec, one reference).
  if (!b.pieces.empty()) {
    Piece& last = b.pieces.back();
    if (last.buf == buf && last.p + last.n == p) {
      last.n += n;
      pending_bytes_ += n;
      return;
    }
  }
  retain(buf);
  b.pieces.push_back({buf, p, 0, n});
  pending_bytes_ += n;
}

char* WriteQueue::reserveCopy(size_t n) {
  std::string& arena = batches_[pending_].arena;
  const size_t at = arena.size();
  arena.resize(at + n);
  commitBuilt(at);
  return arena.data() + at;
}

void WriteQueue::commitBuilt(size_t at) {
  Batch& b = batches_[pending_];
  const size_t n = b.arena.size() - at;
  if (n == 0) return;
  if (!b.pieces.empty() && b.pieces.back().buf == nullptr && b.pieces.back().offset + b.pieces.back().n == at)
    b.pieces.back().n += n;
  else
    b.pieces.push_back({nullptr, nullptr, at, n});
  pending_bytes_ += n;
  appended_total_ += n;
}

void WriteQueue::appendCopy(std::string_view bytes) {
  if (bytes.empty()) return;
  std::memcpy(reserveCopy(bytes.size()), bytes.data(), bytes.size());
}

void WriteQueue::discardPending() {
  batches_[pending_].clear();
  pending_bytes_ = 0;
}

int WriteQueue::flush(Transport& transport) {
  transport_ = &transport;
  if (inflight_ || pending_bytes_ == 0) return 0;
  Batch& b = batches_[pending_];
  b.iov.reserve(b.pieces.size());
  for (const Piece& p : b.pieces) {
    char* base = p.buf ? const_cast<char*>(p.p) : b.arena.data() + p.offset;
    b.iov.push_back(uv_buf_init(base, static_cast<unsigned>(p.n)));
  }
  // Write at once when the socket takes it all (the usual case): no write request, no deferred
  // callback, and no epoll_ctl, which libuv issues after every completed uv_write.
  const int tried = transport.tryWrite(b.iov.data(), static_cast<unsigned>(b.iov.size()));
  size_t skip = 0;
  if (tried > 0) {
    if (static_cast<size_t>(tried) == pending_bytes_) {
      b.clear();
      pending_bytes_ = 0;
      return 0;
    }
    // Partial: hand the rest to uv_write.
    size_t left = static_cast<size_t>(tried);
    while (left >= b.iov[skip].len) left -= b.iov[skip++].len;
    b.iov[skip].base += left;
    b.iov[skip].len -= static_cast<unsigned>(left);
  } else if (tried != UV_EAGAIN && tried != UV_ENOSYS) {
    b.clear();
    pending_bytes_ = 0;
    return tried;
  }
  inflight_ = true;
  inflight_bytes_ = pending_bytes_ - (tried > 0 ? static_cast<size_t>(tried) : 0);
  pending_bytes_ = 0;
  pending_ ^= 1;
  int rc = transport.write(&req_, b.iov.data() + skip, static_cast<unsigned>(b.iov.size() - skip), onWrite);
  if (rc != 0) {
    inflight_ = false;
    inflight_bytes_ = 0;
    b.clear();
  }
  return rc;
}

void WriteQueue::onWrite(uv_write_t* req, int status) {
  auto* q = static_cast<WriteQueue*>(req->data);
  q->batches_[q->pending_ ^ 1].clear();
  q->inflight_ = false;
  q->inflight_bytes_ = 0;
  if (status == 0 && q->pending_bytes_ > 0) {
    int rc = q->flush(*q->transport_);
    if (rc != 0) status = rc;
  }
  q->done_(q->owner_, status);
}

}  // namespace edged::net
