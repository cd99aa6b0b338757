// Incremental HTTP/1.1 request parsing over byte buffers: Beast's parser behind a Boost-free
// face (only request_parser.cpp pays Beast's compile time). It never reads a socket, so the
// server drives it with bounded reads and timeouts, and the fuzz target drives it with bytes.
#pragma once

#include <cstddef>
#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <string_view>

namespace garden {

struct RequestHead {
  std::string method;                        // "GET", "POST", ...
  std::string path;                          // decoded path, without the query
  std::map<std::string, std::string> query;  // decoded query parameters
  bool keep_alive = true;
  bool chunked = false;
  bool has_length = false;
  std::uint64_t content_length = 0;
};

class RequestParser {
 public:
  explicit RequestParser(std::size_t header_limit = 64 * 1024);
  ~RequestParser();
  RequestParser(const RequestParser&) = delete;
  RequestParser& operator=(const RequestParser&) = delete;

  // Header phase: consumes what it can of data; returns the bytes consumed. err is set (and
  // the request is unusable) on a malformed or oversized header; header_done() once whole.
  std::size_t put_header(std::string_view data, std::string& err);
  bool header_done() const;
  // Valid once header_done().
  const RequestHead& head() const { return head_; }

  // Body phase: consumes input, writing up to out_cap decoded body bytes to out (*produced
  // says how many). Returns the input bytes consumed; body_done() once the body ended.
  std::size_t put_body(std::string_view data, char* out, std::size_t out_cap, std::size_t* produced,
                       std::string& err);
  bool body_done() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
  RequestHead head_;
};

// Splits a request target into the decoded path and query parameters.
void split_target(const std::string& target, RequestHead& head);

// The whole request in data, parsed as the server does (header, then a body of at most
// body_limit bytes); returns the bytes consumed, or sets err (413-style errors start with
// "request body"). For tests and fuzzing.
std::size_t parse_request(std::string_view data, std::size_t body_limit, RequestHead& head,
                          std::string& body, std::string& err);

}  // namespace garden
