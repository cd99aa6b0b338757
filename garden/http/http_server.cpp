#include "garden/http/http_server.hpp"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <iostream>
#include <memory>
#include <thread>

#include "libcontainer/fd.hpp"
#include "libcontainer/utils.hpp"

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

// Serves requests of one connection until it closes; true when fd was answered/closed
// gracefully by answer_and_close (nothing more to do).
void serve_requests(int fd, const ListenConfig& cfg, const Handler& handler,
                    const StreamsBody& streams) {
  Conn conn(fd);
  for (;;) {
    RequestParser rp(kMaxHeader);
    conn.rp = &rp;
    auto deadline = SteadyClock::now() + std::chrono::milliseconds(cfg.header_timeout_ms);
    std::string err;
    bool started = false;  // bytes of this request arrived (Beast may consume them early)
    while (!rp.header_done()) {
      if (!conn.in.empty()) {
        started = true;
        size_t n = rp.put_header(conn.in, err);
        conn.in.erase(0, n);
        if (!err.empty()) {
          bool big = err.find("header limit") != std::string::npos;
          answer_and_close(fd, big ? 431 : 400, "bad request: " + err);
          return;
        }
        if (rp.header_done()) break;
      }
      auto left =
          std::chrono::duration_cast<std::chrono::milliseconds>(deadline - SteadyClock::now());
      Fill f = left.count() > 0 ? conn.fill(static_cast<int>(left.count())) : Fill::timeout;
      if (f == Fill::timeout) {
        // An idle kept-alive connection just ends; a started header is answered.
        if (started || !conn.in.empty())
          answer_and_close(
              fd, 408,
              "request header not received within " + std::to_string(cfg.header_timeout_ms) + "ms");
        return;
      }
      if (f != Fill::ok) return;
    }
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
        return;
      }
      char buf[65536];
      for (;;) {
        long n = conn.read(buf, sizeof buf);
        if (n < 0) {
          answer_and_close(fd, 400, conn.error());
          return;
        }
        if (n == 0) break;
        if (req.body.size() + static_cast<size_t>(n) > kMaxJsonBody) {
          answer_and_close(
              fd, 413,
              "request body exceeds the limit of " + std::to_string(kMaxJsonBody) + " bytes");
          return;
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
      return;
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
      return;
    }
    if (!write_response(fd, resp, !announce_close) || !keep_alive) return;
  }
}

void serve_connection(int fd, const ListenConfig& cfg, const Handler& handler,
                      const StreamsBody& streams) {
  try {
    serve_requests(fd, cfg, handler, streams);
  } catch (const std::exception& e) {
    std::cerr << "garden-shim: connection: " << e.what() << "\n";
    try {
      answer_and_close(fd, 500, std::string("internal error: ") + e.what());
    } catch (...) {
    }
  } catch (...) {
    std::cerr << "garden-shim: connection: unknown exception\n";
  }
  ::shutdown(fd, SHUT_RDWR);
  ::close(fd);
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

}  // namespace

std::string serve(const ListenConfig& cfg, Handler handler, StreamsBody streams,
                  std::function<void()> on_ready) {
  std::string err;
  crunner::UniqueFd ls = listen_socket(cfg, err);
  if (!ls) return err;
  if (on_ready) on_ready();
  auto active = std::make_shared<std::atomic<int>>(0);
  for (;;) {
    int fd = ::accept4(ls.get(), nullptr, nullptr, SOCK_CLOEXEC);
    if (fd < 0) {
      if (errno != EINTR && errno != EAGAIN && errno != ECONNABORTED)
        std::this_thread::sleep_for(std::chrono::milliseconds(10));  // EMFILE and the like
      continue;
    }
    if (active->fetch_add(1) >= cfg.max_connections) {
      active->fetch_sub(1);
      refuse(fd, cfg.max_connections);
      continue;
    }
    try {
      std::thread([fd, active, &cfg, &handler, &streams] {
        serve_connection(fd, cfg, handler, streams);
        active->fetch_sub(1);
      }).detach();
    } catch (const std::exception& e) {
      active->fetch_sub(1);
      std::cerr << "garden-shim: start a connection thread: " << e.what() << "\n";
      refuse(fd, cfg.max_connections);
    }
  }
}

}  // namespace garden
