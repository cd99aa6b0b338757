// The only translation unit that includes Boost.Beast (its compile time is large).
#include "garden/http/http_server.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <boost/asio/basic_socket_acceptor.hpp>
#include <boost/asio/generic/stream_protocol.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/local/stream_protocol.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/http/parser.hpp>
#include <boost/beast/http/read.hpp>
#include <boost/beast/http/string_body.hpp>
#include <limits>
#include <memory>
#include <thread>

namespace garden {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using Proto = asio::generic::stream_protocol;

namespace {

void split_target(const std::string& target, Request& req) {
  auto q = target.find('?');
  req.path = url_decode(target.substr(0, q), false);
  if (q == std::string::npos) return;
  std::string qs = target.substr(q + 1);
  size_t pos = 0;
  while (pos <= qs.size()) {
    size_t amp = qs.find('&', pos);
    if (amp == std::string::npos) amp = qs.size();
    std::string kv = qs.substr(pos, amp - pos);
    if (!kv.empty()) {
      auto eq = kv.find('=');
      std::string k = url_decode(kv.substr(0, eq), true);
      std::string v = eq == std::string::npos ? "" : url_decode(kv.substr(eq + 1), true);
      req.query[k] = v;
    }
    pos = amp + 1;
  }
}

void serve_connection(std::shared_ptr<Proto::socket> sock, const Handler& handler) {
  beast::flat_buffer buf;
  for (;;) {
    http::request_parser<http::string_body> parser;
    parser.body_limit(std::numeric_limits<std::uint64_t>::max());
    parser.header_limit(64 * 1024);
    beast::error_code ec;
    http::read(*sock, buf, parser, ec);
    if (ec) {
      if (ec != http::error::end_of_stream && ec != asio::error::eof &&
          ec != asio::error::connection_reset) {
        Response r = error_response("", "bad request: " + ec.message());
        r.status = 400;
        write_response(sock->native_handle(), r, false);
      }
      break;
    }
    auto msg = parser.release();
    Request req;
    req.method = std::string(msg.method_string());
    split_target(std::string(msg.target()), req);
    req.body = std::move(msg.body());
    req.fd = sock->native_handle();
    auto data = buf.data();
    req.leftover.assign(static_cast<const char*>(data.data()), data.size());
    bool keep_alive = msg.keep_alive();
    Response resp = handler(req);
    if (resp.hijack) {
      int fd = sock->native_handle();
      int fl = fcntl(fd, F_GETFL);
      if (fl >= 0) fcntl(fd, F_SETFL, fl & ~O_NONBLOCK);
      try {
        if (write_stream_header(fd, resp.status)) resp.hijack(fd, std::move(req.leftover));
      } catch (const std::exception&) {
        // a malformed client message; the connection just ends
      }
      break;
    }
    bool announce_close = !keep_alive && !resp.hijack_route;
    if (!write_response(sock->native_handle(), resp, !announce_close) || !keep_alive) break;
  }
  beast::error_code ignored;
  sock->shutdown(Proto::socket::shutdown_both, ignored);
  sock->close(ignored);
}

}  // namespace

std::string serve(const ListenConfig& cfg, Handler handler, std::function<void()> on_ready) {
  asio::io_context ioc;
  asio::basic_socket_acceptor<Proto> acceptor(ioc);
  beast::error_code ec;
  if (!cfg.bind_socket.empty()) {
    ::unlink(cfg.bind_socket.c_str());
    asio::local::stream_protocol::endpoint ep(cfg.bind_socket);
    Proto::endpoint gep(ep);
    acceptor.open(gep.protocol(), ec);
    if (!ec) acceptor.bind(gep, ec);
    if (!ec) ::chmod(cfg.bind_socket.c_str(), 0777);
  } else {
    auto addr = asio::ip::make_address(cfg.bind_ip, ec);
    if (ec) return "parse bind ip `" + cfg.bind_ip + "`: " + ec.message();
    asio::ip::tcp::endpoint ep(addr, static_cast<unsigned short>(cfg.bind_port));
    Proto::endpoint gep(ep);
    acceptor.open(gep.protocol(), ec);
    if (!ec) acceptor.set_option(asio::socket_base::reuse_address(true), ec);
    if (!ec) acceptor.bind(gep, ec);
  }
  if (!ec) acceptor.listen(asio::socket_base::max_listen_connections, ec);
  if (ec) return "listen: " + ec.message();
  if (on_ready) on_ready();
  for (;;) {
    auto sock = std::make_shared<Proto::socket>(ioc);
    acceptor.accept(*sock, ec);
    if (ec) {
      if (ec == asio::error::interrupted || ec == asio::error::would_block) continue;
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
      continue;
    }
    std::thread([sock, &handler] { serve_connection(sock, handler); }).detach();
  }
}

}  // namespace garden
