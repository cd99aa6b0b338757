// The only translation unit that includes Boost.Beast (its compile time is large).
#include "garden/http/request_parser.hpp"

#include <boost/beast/http/buffer_body.hpp>
#include <boost/beast/http/error.hpp>
#include <boost/beast/http/parser.hpp>
#include <limits>
#include "garden/http/http_io.hpp"

namespace garden {

namespace beast = boost::beast;
namespace http = beast::http;

struct RequestParser::Impl {
  http::request_parser<http::buffer_body> parser;
};

RequestParser::RequestParser(std::size_t header_limit) : impl_(std::make_unique<Impl>()) {
  impl_->parser.header_limit(static_cast<std::uint32_t>(header_limit));
  // Body sizes are the route's business (413 before reading, streaming for stream-in).
  // (Not boost::none: Boost 1.74 compares a Content-Length against none as exceeding it.)
  impl_->parser.body_limit(std::numeric_limits<std::uint64_t>::max());
  impl_->parser.eager(false);
}

RequestParser::~RequestParser() = default;

void split_target(const std::string& target, RequestHead& head) {
  auto q = target.find('?');
  head.path = url_decode(target.substr(0, q), false);
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
      head.query[k] = v;
    }
    pos = amp + 1;
  }
}

std::size_t RequestParser::put_header(std::string_view data, std::string& err) {
  auto& p = impl_->parser;
  if (p.is_header_done()) return 0;
  beast::error_code ec;
  std::size_t n = p.put(boost::asio::buffer(data.data(), data.size()), ec);
  if (ec == http::error::need_more) ec = {};
  if (ec) {
    err = ec.message();
    return n;
  }
  if (p.is_header_done()) {
    const auto& msg = p.get();
    head_.method = std::string(msg.method_string());
    split_target(std::string(msg.target()), head_);
    head_.keep_alive = msg.keep_alive();
    head_.chunked = p.chunked();
    auto len = p.content_length();
    head_.has_length = len.has_value();
    head_.content_length = len ? *len : 0;
  }
  return n;
}

bool RequestParser::header_done() const {
  return impl_->parser.is_header_done();
}

std::size_t RequestParser::put_body(std::string_view data, char* out, std::size_t out_cap,
                                    std::size_t* produced, std::string& err) {
  auto& p = impl_->parser;
  *produced = 0;
  if (p.is_done()) return 0;
  p.eager(true);  // the header is done: take every body piece the input holds
  auto& body = p.get().body();
  body.data = out;
  body.size = out_cap;
  beast::error_code ec;
  std::size_t n = p.put(boost::asio::buffer(data.data(), data.size()), ec);
  *produced = out_cap - body.size;
  body.data = nullptr;
  body.size = 0;
  if (ec == http::error::need_more || ec == http::error::need_buffer) ec = {};
  if (ec) err = ec.message();
  return n;
}

bool RequestParser::body_done() const {
  return impl_->parser.is_done();
}

std::size_t parse_request(std::string_view data, std::size_t body_limit, RequestHead& head,
                          std::string& body, std::string& err) {
  RequestParser rp;
  std::size_t used = rp.put_header(data, err);
  if (!err.empty()) return used;
  // Beast takes a header in one piece only once its end is in the buffer.
  if (!rp.header_done()) {
    err = "incomplete request header";
    return used;
  }
  head = rp.head();
  if (head.has_length && head.content_length > body_limit) {
    err = "request body of " + std::to_string(head.content_length) +
          " bytes exceeds the limit of " + std::to_string(body_limit) + " bytes";
    return used;
  }
  char buf[4096];
  while (!rp.body_done()) {
    std::size_t got = 0;
    std::size_t n = rp.put_body(data.substr(used), buf, sizeof buf, &got, err);
    if (!err.empty()) return used;
    used += n;
    if (body.size() + got > body_limit) {
      err = "request body exceeds the limit of " + std::to_string(body_limit) + " bytes";
      return used;
    }
    body.append(buf, got);
    if (n == 0 && got == 0) {
      err = "incomplete request body";
      return used;
    }
  }
  return used;
}

}  // namespace garden
