// proxy/client_connection.h — one accepted client socket: reads and parses requests (llhttp,
// strict), writes responses in request order, applies the client-side timeouts, and drives one
// Session at a time (pipelined requests wait, parsed later, in order).
//
// Kept small for the idle keep-alive case: while busy, everything a request needs (parser, head,
// Session, write queue, input buffer, deadlines) lives in an ActiveClient borrowed from the
// worker's ActiveClientPool; once idle (after a grace of a few milliseconds, so a connection in
// steady use keeps it) the connection is only its Transport (the socket handle and a byte), its
// links in the worker's lists and the peer address, and its keep-alive timeout is its place in
// the worker's ClientTimers FIFO (no timer handle of its own).
#pragma once

#include <cstdint>
#include <string_view>

#include "proxy/active_client.h"
#include "proxy/http/cidr_set.h"

namespace edged::proxy {

class Worker;

class ClientConnection {
 public:
  ClientConnection(Worker& worker, size_t listener);
  ClientConnection(const ClientConnection&) = delete;
  ClientConnection& operator=(const ClientConnection&) = delete;

  // Accepts from `listener`; returns false (and closes) on failure.
  bool accept(Listener& listener);
  // Same, for a socket already accepted (the accept queue drained at shutdown).
  bool adopt(int fd);
  void close();
  // Worker is draining: close now when idle, else after the current response.
  void drain();

  Worker& worker() { return worker_; }
  size_t listenerSlot() const { return listener_; }
  // Before accept(): the connection must begin with a PROXY v1/v2 header (listen.proxy_protocol);
  // its source address becomes the client's. A connection that sends anything else is closed.
  void expectProxyHeader() { proxy_pending_ = true; }
  bool overConnectionLimit() const { return over_limit_; }

  // TransportHandler: called by transport_ only.
  void onTransportAlloc(uv_buf_t* buf);
  void onTransportRead(ssize_t nread, const uv_buf_t* buf);
  void onTransportClosed();

  // Called by its ActiveClient: what the Session asks of the connection, passed on.
  void flush();
  void pauseBodyReading();
  void resumeBodyReading();
  void sessionFinished(bool keep_alive);
  void resumeRequest();
  void closeAfterWrite();
  void startTunnel();
  std::string_view localAddress(char* buf, size_t len);  // formatted once into `buf`
  // `subject` holds the verified client certificate's subject (mutual TLS) for the facts.
  Downstream::TlsFacts tlsFacts(std::string& subject) const;
  bool redirectHttps();
  bool secure() const;  // a TLS connection: its requests' scheme is https
  void onWriteDone(int status);

  // Called by ClientTimers when the busy connection's deadline, its quiet grace or (idle) its
  // keep-alive timeout expires.
  void onDeadline();
  void onQuietExpired();
  void onKeepaliveExpired();

  ClientConnection* prev = nullptr;  // Worker's intrusive list
  ClientConnection* next = nullptr;
  TimerFifoLink<ClientConnection> idle;  // ClientTimers' keep-alive list (since: idle or accepted)

 private:
  using Phase = ClientPhase;

  // Marks the ActiveClient as used by a frame of this class: settle() leaves it attached until
  // the outermost such frame ends, so no frame finds its object recycled under it.
  struct InUse {
    explicit InUse(ActiveClient* a) : x(a) { ++x->state.depth; }
    ~InUse() { --x->state.depth; }
    InUse(const InUse&) = delete;
    InUse& operator=(const InUse&) = delete;
    ActiveClient* x;
  };

  bool setUp();
  bool setUpTls();  // true: a TLS listener (closing_ set if no engine could be made)
  // Borrow an ActiveClient (a request's first bytes are coming) / give it back.
  void attach();
  void detach();
  // Where nothing up the stack still uses the ActiveClient: when the connection has nothing in
  // progress, starts its short quiet grace (ClientTimers::kQuietMs), after which park() gives
  // the ActiveClient back and the connection waits on the keep-alive list.
  void settle();
  void park();
  bool quiet() const;  // busy, but nothing in progress (the condition settle() looks for)

  void processInput();
  void forwardTunnelInput();
  void handleEof();
  void rejectRequest(int status, Termination why = Termination::BadRequest);  // answer, close
  void armTimer();
  void startReading();
  void stopReading();
  void updateReading();
  void clientIpText(char* out, size_t len) const;  // what clientIp() shows, into the ActiveClient
  // limits.per_client.connections, by the connection's address (not for trusted proxies, whose
  // clients are known per request).
  void acquireClientSlot();
  bool peerAddress(IpAddress& out) const;
  // The PROXY header at the start of the input: false while it is incomplete, or when it was
  // invalid (the connection is closed then).
  bool takeProxyHeader();

  // The small fields fill the padding after the Transport: an idle connection costs no more than
  // with a bare socket handle.
  [[no_unique_address]] Transport transport_;
  uint16_t listener_;
  uint8_t peer_family_ = 0;                 // AF_INET, AF_INET6, 0: unknown
  bool counted_ : 1 = false;
  bool closing_ : 1 = false;
  bool draining_ : 1 = false;
  bool served_ : 1 = false;                 // finished at least one exchange
  bool nodelay_ : 1 = false;
  bool flushed_ : 1 = false;                // wrote once already (Nagle matters from the second write)
  bool proxy_pending_ : 1 = false;          // a PROXY header is still to be read
  bool client_slot_ : 1 = false;            // holds a place in the ClientLimiter
  bool over_limit_ : 1 = false;             // refused a place: every request gets 429
  Worker& worker_;
  ActiveClient* x_ = nullptr;               // the busy part; null while idle
  // The client's address: IPv4 as text (at most 15 characters and a NUL), IPv6 in binary
  // (formatted into the ActiveClient when busy). A 48-byte string would cost every idle connection.
  char peer_[16] = {};
};

// An idle keep-alive connection costs this much (x86-64): keep it from growing unnoticed.
static_assert(sizeof(void*) != 8 || sizeof(ClientConnection) == 328);

}  // namespace edged::proxy
