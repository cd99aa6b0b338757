#include "garden/http/http_server.hpp"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <iostream>
#include <memory>
#include <thread>
#include <vector>

#include "base/error.hpp"
#include "base/fd.hpp"

namespace garden {

namespace {

using SteadyClock = std::chrono::steady_clock;

// What is discarded of a streamed body its route did not read to the end.
constexpr size_t kMaxDiscard = 256u << 20;

// A body that stopped arriving for this long fails the request.
constexpr int kBodyIdleTimeoutMs = 5 * 60 * 1000;

enum class Fill { ok, eof, error, timeout };

// One connection's input: bytes read but not yet parsed, and the streamed body reader.
class Conn final : public BodySource {
 public:
  explicit Conn(int fd) : fd_(fd) {}
  std::string in;
  RequestParser* rp = nullptr;

  Fill fill(int timeout_ms) {
    pollfd p{fd_, POLLIN, 0};
    int n = ::poll(&p, 1, timeout_ms);
    if (n < 0) return errno == EINTR ? Fill::ok : Fill::error;
    if (n == 0) return Fill::timeout;
    char buf[65536];
    ssize_t r = ::recv(fd_, buf, sizeof buf, 0);
    if (r > 0) {
      in.append(buf, static_cast<size_t>(r));
      return Fill::ok;
    }
    if (r == 0) return Fill::eof;
    return errno == EINTR || errno == EAGAIN ? Fill::ok : Fill::error;
  }

  long read(char* out, size_t cap) override {
    for (;;) {
      if (rp->body_done()) return 0;
      size_t got = 0;
      std::string e;
      size_t n = rp->put_body(in, out, cap, &got, e);
      in.erase(0, n);
      if (!e.empty()) {
        err_ = "read request body: " + e;
        return -1;
      }
      if (got > 0) return static_cast<long>(got);
      if (n > 0) continue;
      Fill f = fill(kBodyIdleTimeoutMs);
      if (f == Fill::eof || f == Fill::error) {
        err_ = "read request body: connection closed";
        return -1;
      }
      if (f == Fill::timeout) {
        err_ = "read request body: no data for " + std::to_string(kBodyIdleTimeoutMs / 1000) + "s";
        return -1;
      }
    }
  }
  const std::string& error() const override { return err_; }

 private:
  int fd_;
  std::string err_;
};

// Answers with status and closes gracefully: the write side first, then what the client is
// still sending is drained for a bounded time and amount, so the answer is not lost to a
// reset (the client may still be sending a body we refused).
void answer_and_close(int fd, int status, const std::string& message) {
  Response r = error_response("", message);
  r.status = status;
  write_response(fd, r, false);
  ::shutdown(fd, SHUT_WR);
  auto until = SteadyClock::now() + std::chrono::seconds(1);
  size_t drained = 0;
  char buf[65536];
  while (drained < (16u << 20)) {
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(until - SteadyClock::now());
    if (left.count() <= 0) break;
    pollfd p{fd, POLLIN, 0};
    if (::poll(&p, 1, static_cast<int>(left.count())) <= 0) break;
    ssize_t n = ::recv(fd, buf, sizeof buf, MSG_DONTWAIT);
    if (n <= 0) break;
    drained += static_cast<size_t>(n);
  }
}

std::string too_large(uint64_t n) {
  return "request body of " + std::to_string(n) + " bytes exceeds the limit of " +
         std::to_string(kMaxJsonBody) + " bytes";
}

// One connection and the state of the request it is reading. The header phase belongs to
// the event loop (serve()); a worker thread takes it over once a header is complete and
// gives it back for the next request of a kept-alive connection. Closing it (the
// destructor) frees its slot under the connection cap.
struct Session {
  Session(int f, std::shared_ptr<std::atomic<int>> a) : fd(f), conn(f), active(std::move(a)) {}
  ~Session() {
    ::shutdown(fd, SHUT_RDWR);
    ::close(fd);
    active->fetch_sub(1);
  }
  Session(const Session&) = delete;
  Session& operator=(const Session&) = delete;

  // Starts the header phase of the next request.
  void next_request(long long timeout_ms) {
    rp = std::make_unique<RequestParser>(kMaxHeader);
    conn.rp = rp.get();
    started = false;
    deadline = SteadyClock::now() + std::chrono::milliseconds(timeout_ms);
  }

  int fd;
  Conn conn;
  std::shared_ptr<std::atomic<int>> active;
  std::unique_ptr<RequestParser> rp;
  bool started = false;  // bytes of this request arrived (Beast may consume them early)
  SteadyClock::time_point deadline;
  // Answered by the loop (400/408/431): what the client still sends is read and dropped
  // until the deadline, then the connection closes.
  bool draining = false;
  size_t drained = 0;
};

// Writes a response whose body is produced while it is sent (Response::produce): a chunked
// body, one chunk per piece. False when the connection cannot carry another request.
bool write_produced(int fd, Response& resp, bool keep_alive) {
  bool head_sent = false, client_ok = true;
  Emit emit = [&](const char* data, size_t len) -> bool {
    if (!client_ok) return false;
    if (!head_sent) {
      head_sent = true;
      client_ok = write_chunked_head(fd, resp.status, resp.content_type, keep_alive);
    }
    if (client_ok && len > 0) client_ok = write_chunk(fd, data, len);
    return client_ok;
  };
  Response failed;
  bool ok = resp.produce(emit, failed);
  if (!head_sent) {
    if (!ok) return write_response(fd, failed, keep_alive) && keep_alive;
    emit(nullptr, 0);
  }
  // A body that failed after its head went out is cut short: the connection closes
  // without the last chunk, so the client sees a truncated body, not a complete one.
  if (!ok || !client_ok) return false;
  return write_all_fd(fd, "0\r\n\r\n", 5) && keep_alive;
}

// Serves the request whose header s.rp holds (body, handler, response); true when the
// connection stays open for another request.
bool serve_request(Session& s, const Handler& handler, const StreamsBody& streams) {
  int fd = s.fd;
  Conn& conn = s.conn;
  RequestParser& rp = *s.rp;
  const RequestHead& head = rp.head();
  Request req;
  req.method = head.method;
  req.path = head.path;
  req.query = head.query;
  req.fd = fd;
  if (streams && streams(head)) {
    req.body_stream = &conn;
  } else {
    if (head.has_length && head.content_length > kMaxJsonBody) {
      answer_and_close(fd, 413, too_large(head.content_length));
      return false;
    }
    char buf[65536];
    for (;;) {
      long n = conn.read(buf, sizeof buf);
      if (n < 0) {
        answer_and_close(fd, 400, conn.error());
        return false;
      }
      if (n == 0) break;
      if (req.body.size() + static_cast<size_t>(n) > kMaxJsonBody) {
        answer_and_close(
            fd, 413,
            "request body exceeds the limit of " + std::to_string(kMaxJsonBody) + " bytes");
        return false;
      }
      req.body.append(buf, static_cast<size_t>(n));
    }
    req.leftover = conn.in;
  }
  Response resp = handler(req);
  if (resp.hijack) {
    if (write_stream_header(fd, resp.status)) {
      // The hijacked input starts after the request's body (run's JSON spec).
      try {
        resp.hijack(fd, std::move(conn.in));
      } catch (const std::exception&) {
        // a malformed client message; the connection just ends
      }
    }
    return false;
  }
  // A streamed body the route stopped reading (stream-in's tar failed) is read on and
  // discarded, up to a bound, so the client that is still sending gets the answer rather
  // than a reset; beyond the bound the connection is answered and closed.
  bool drained = rp.body_done();
  if (!drained) {
    char buf[65536];
    size_t discarded = 0;
    long n = 0;
    while (discarded < kMaxDiscard && (n = conn.read(buf, sizeof buf)) > 0)
      discarded += static_cast<size_t>(n);
    drained = rp.body_done();
  }
  bool keep_alive = head.keep_alive && drained;
  bool announce_close = !keep_alive && !resp.hijack_route;
  if (!drained) {
    if (write_response(fd, resp, false)) ::shutdown(fd, SHUT_WR);
    return false;
  }
  if (resp.produce) return write_produced(fd, resp, keep_alive);
  return write_response(fd, resp, !announce_close) && keep_alive;
}

// serve_request on a worker thread: nothing it throws ends the server.
bool serve_request_caught(Session& s, const Handler& handler, const StreamsBody& streams) {
  try {
    return serve_request(s, handler, streams);
  } catch (const std::exception& e) {
    std::cerr << "garden-shim: connection: " << e.what() << "\n";
    try {
      answer_and_close(s.fd, 500, std::string("internal error: ") + e.what());
    } catch (...) {
    }
  } catch (...) {
    std::cerr << "garden-shim: connection: unknown exception\n";
  }
  return false;
}

// Beyond the connection cap: answered at once from the accepting thread (non-blocking).
void refuse(int fd, int max) {
  Response r = error_response("ServiceUnavailableError",
                              "too many connections (" + std::to_string(max) + ")");
  r.status = 503;
  std::string body = r.body + "\n";
  std::string msg =
      "HTTP/1.1 503 Service Unavailable\r\nContent-Type: application/json\r\n"
      "Content-Length: " +
      std::to_string(body.size()) + "\r\nConnection: close\r\n\r\n" + body;
  (void)::send(fd, msg.data(), msg.size(), MSG_DONTWAIT | MSG_NOSIGNAL);
  ::shutdown(fd, SHUT_WR);
  char buf[4096];
  while (::recv(fd, buf, sizeof buf, MSG_DONTWAIT) > 0) {
  }
  ::close(fd);
}

crunner::UniqueFd listen_socket(const ListenConfig& cfg, std::string& err) {
  if (!cfg.bind_socket.empty()) {
    sockaddr_un sa{};
    sa.sun_family = AF_UNIX;
    if (cfg.bind_socket.size() >= sizeof sa.sun_path) {
      err = "listen on `" + cfg.bind_socket + "`: path too long";
      return {};
    }
    memcpy(sa.sun_path, cfg.bind_socket.c_str(), cfg.bind_socket.size() + 1);
    crunner::UniqueFd s(::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0));
    ::unlink(cfg.bind_socket.c_str());
    if (!s || ::bind(s.get(), reinterpret_cast<sockaddr*>(&sa), sizeof sa) < 0 ||
        ::listen(s.get(), SOMAXCONN) < 0) {
      err = "listen on `" + cfg.bind_socket + "`: " + crunner::errno_text(errno);
      return {};
    }
    ::chmod(cfg.bind_socket.c_str(), 0777);
    return s;
  }
  sockaddr_storage ss{};
  socklen_t len = 0;
  auto* s4 = reinterpret_cast<sockaddr_in*>(&ss);
  auto* s6 = reinterpret_cast<sockaddr_in6*>(&ss);
  if (inet_pton(AF_INET, cfg.bind_ip.c_str(), &s4->sin_addr) == 1) {
    s4->sin_family = AF_INET;
    s4->sin_port = htons(static_cast<uint16_t>(cfg.bind_port));
    len = sizeof *s4;
  } else if (inet_pton(AF_INET6, cfg.bind_ip.c_str(), &s6->sin6_addr) == 1) {
    s6->sin6_family = AF_INET6;
    s6->sin6_port = htons(static_cast<uint16_t>(cfg.bind_port));
    len = sizeof *s6;
  } else {
    err = "parse bind ip `" + cfg.bind_ip + "`: not an IP address";
    return {};
  }
  crunner::UniqueFd s(::socket(ss.ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0));
  int one = 1;
  if (!s || ::setsockopt(s.get(), SOL_SOCKET, SO_REUSEADDR, &one, sizeof one) < 0 ||
      ::bind(s.get(), reinterpret_cast<sockaddr*>(&ss), len) < 0 ||
      ::listen(s.get(), SOMAXCONN) < 0) {
    err = "listen on " + cfg.bind_ip + ":" + std::to_string(cfg.bind_port) + ": " +
          crunner::errno_text(errno);
    return {};
  }
  return s;
}

// Every connection's header phase, in the thread that called serve(): one poll() over the
// listener, a wake-up eventfd and the connections waiting for a request header. An idle or
// half-open connection costs an fd and a Session here, not a thread; a worker thread is
// started only for a request whose header is complete, and a kept-alive connection comes
// back here after its response.
class Loop {
 public:
  Loop(const ListenConfig& cfg, Handler handler, StreamsBody streams)
      : cfg_(cfg),
        handler_(std::move(handler)),
        streams_(std::move(streams)),
        active_(std::make_shared<std::atomic<int>>(0)) {}

  std::string init() {
    wake_.reset(::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK));
    if (!wake_) return "create an eventfd for the connection loop: " + crunner::errno_text(errno);
    return "";
  }

  [[noreturn]] void run(int ls) {
    std::vector<pollfd> pfds;
    for (;;) {
      take_returned();
      pfds.clear();
      pfds.push_back({ls, POLLIN, 0});
      pfds.push_back({wake_.get(), POLLIN, 0});
      auto now = SteadyClock::now();
      auto next = now + std::chrono::hours(1);
      for (auto& s : sessions_) {
        pfds.push_back({s->fd, POLLIN, 0});
        next = std::min(next, s->deadline);
      }
      auto wait = std::chrono::ceil<std::chrono::milliseconds>(next - now).count();
      int n = ::poll(pfds.data(), pfds.size(), static_cast<int>(std::max<long long>(wait, 0)));
      if (n < 0 && errno != EINTR) {
        std::cerr << "garden-shim: poll connections: " << crunner::errno_text(errno) << "\n";
        std::this_thread::sleep_for(std::chrono::milliseconds(10));
        continue;
      }
      if (n > 0 && (pfds[1].revents & POLLIN)) {
        uint64_t v;
        (void)!::read(wake_.get(), &v, sizeof v);
      }
      // Sessions first: pfds[2 + i] is sessions_[i] (accept appends to sessions_).
      size_t polled = sessions_.size();
      for (size_t i = 0; n > 0 && i < polled; ++i)
        if (pfds[2 + i].revents) readable(sessions_[i]);
      if (n > 0 && (pfds[0].revents & POLLIN)) accept_some(ls);
      now = SteadyClock::now();
      for (auto& s : sessions_)
        if (s && s->deadline <= now) expire(s);
      std::erase_if(sessions_, [](const std::unique_ptr<Session>& s) { return !s; });
    }
  }

 private:
  void accept_some(int ls) {
    for (int i = 0; i < 64; ++i) {
      int fd = ::accept4(ls, nullptr, nullptr, SOCK_CLOEXEC);
      if (fd < 0) {
        if (errno != EINTR && errno != EAGAIN && errno != ECONNABORTED)
          std::this_thread::sleep_for(std::chrono::milliseconds(10));  // EMFILE and the like
        return;
      }
      if (active_->fetch_add(1) >= cfg_.max_connections) {
        active_->fetch_sub(1);
        refuse(fd, cfg_.max_connections);
        continue;
      }
      // Every write to the client fails after the send timeout (write_all_fd), so a client
      // that stops reading cannot hold a worker.
      if (cfg_.send_timeout_ms > 0) {
        timeval tv{static_cast<time_t>(cfg_.send_timeout_ms / 1000),
                   static_cast<suseconds_t>(cfg_.send_timeout_ms % 1000 * 1000)};
        ::setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
      }
      auto s = std::make_unique<Session>(fd, active_);
      s->next_request(cfg_.header_timeout_ms);
      sessions_.push_back(std::move(s));
    }
  }

  void readable(std::unique_ptr<Session>& s) {
    char buf[65536];
    ssize_t r = ::recv(s->fd, buf, sizeof buf, MSG_DONTWAIT);
    if (r < 0 && (errno == EINTR || errno == EAGAIN)) return;
    if (r <= 0) {
      s.reset();  // closed (or reset) by the client, answered or not
      return;
    }
    if (s->draining) {
      s->drained += static_cast<size_t>(r);
      if (s->drained >= (16u << 20)) s.reset();
      return;
    }
    s->conn.in.append(buf, static_cast<size_t>(r));
    advance(s);
  }

  // Feeds what s has buffered to its header parser; a complete header goes to a worker,
  // a bad one is answered.
  void advance(std::unique_ptr<Session>& s) {
    if (s->conn.in.empty()) return;
    s->started = true;
    std::string err;
    size_t n = s->rp->put_header(s->conn.in, err);
    s->conn.in.erase(0, n);
    if (!err.empty()) {
      bool big = err.find("header limit") != std::string::npos;
      answer(*s, big ? 431 : 400, "bad request: " + err);
    } else if (s->rp->header_done()) {
      dispatch(std::move(s));
    }
  }

  void expire(std::unique_ptr<Session>& s) {
    // An idle kept-alive connection just ends; a started header is answered.
    if (s->draining || !(s->started || !s->conn.in.empty())) {
      s.reset();
      return;
    }
    answer(*s, 408,
           "request header not received within " + std::to_string(cfg_.header_timeout_ms) + "ms");
  }

  // answer_and_close without blocking the loop: the answer is sent if the socket takes it
  // now, then what the client still sends is dropped for up to a second (draining).
  void answer(Session& s, int status, const std::string& message) {
    Response r = error_response("", message);
    r.status = status;
    std::string bytes = serialize_response(r, false);
    (void)::send(s.fd, bytes.data(), bytes.size(), MSG_DONTWAIT | MSG_NOSIGNAL);
    ::shutdown(s.fd, SHUT_WR);
    s.draining = true;
    s.drained = 0;
    s.deadline = SteadyClock::now() + std::chrono::seconds(1);
  }

  void dispatch(std::unique_ptr<Session> s) {
    Session* raw = s.get();
    try {
      std::thread([this, raw] {
        std::unique_ptr<Session> mine(raw);
        if (serve_request_caught(*mine, handler_, streams_)) give_back(std::move(mine));
      }).detach();
      s.release();
    } catch (const std::exception& e) {
      std::cerr << "garden-shim: start a connection thread: " << e.what() << "\n";
      answer(*s, 503, "start a connection thread: " + std::string(e.what()));
      sessions_.push_back(std::move(s));
    }
  }

  // A worker hands a kept-alive connection back for its next request.
  void give_back(std::unique_ptr<Session> s) {
    {
      std::lock_guard<std::mutex> lk(mu_);
      returned_.push_back(std::move(s));
    }
    uint64_t one = 1;
    (void)!::write(wake_.get(), &one, sizeof one);
  }

  void take_returned() {
    std::vector<std::unique_ptr<Session>> back;
    {
      std::lock_guard<std::mutex> lk(mu_);
      back.swap(returned_);
    }
    for (auto& s : back) {
      s->next_request(cfg_.header_timeout_ms);
      advance(s);  // a pipelined request may be buffered already
      if (s) sessions_.push_back(std::move(s));
    }
  }

  const ListenConfig& cfg_;
  Handler handler_;
  StreamsBody streams_;
  std::shared_ptr<std::atomic<int>> active_;
  crunner::UniqueFd wake_;
  std::vector<std::unique_ptr<Session>> sessions_;  // in their header phase
  std::mutex mu_;
  std::vector<std::unique_ptr<Session>> returned_;  // from workers, for take_returned
};

}  // namespace

std::string serve(const ListenConfig& cfg, Handler handler, StreamsBody streams,
                  std::function<void()> on_ready) {
  std::string err;
  crunner::UniqueFd ls = listen_socket(cfg, err);
  if (!ls) return err;
  if (::fcntl(ls.get(), F_SETFL, ::fcntl(ls.get(), F_GETFL) | O_NONBLOCK) < 0)
    return "make the listening socket non-blocking: " + crunner::errno_text(errno);
  // run() never returns: the workers' pointers to the loop stay valid.
  auto loop = std::make_unique<Loop>(cfg, std::move(handler), std::move(streams));
  if (err = loop->init(); !err.empty()) return err;
  if (on_ready) on_ready();
  loop->run(ls.get());
}

}  // namespace garden
