// The listening side of garden-shim: accepts on TCP or a unix socket (every fd CLOEXEC) and
// runs one thread per connection, up to a cap; requests are parsed incrementally
// (request_parser.hpp) with a header-read timeout and size-capped bodies, and handed to a
// handler. One request can never end the server: every connection catches what it throws.
#pragma once

#include <cstddef>
#include <functional>
#include <string>

#include "garden/http/http_io.hpp"
#include "garden/http/request_parser.hpp"

namespace garden {

// Bodies of the JSON routes are read whole up to this size; larger ones get 413.
constexpr std::size_t kMaxJsonBody = 4 << 20;
constexpr std::size_t kMaxHeader = 64 << 10;

struct ListenConfig {
  std::string bind_ip = "127.0.0.1";
  int bind_port = 7777;
  std::string bind_socket;  // non-empty: listen on this unix socket instead
  // Connections served at once (run/attach/stream connections included); beyond it a
  // connection is answered 503 at once and closed (no queue).
  int max_connections = 4096;
  // A request header (or the next request of a kept-alive connection) must arrive in this
  // time; a partial one is answered 408. Hijacked process connections are not affected.
  long long header_timeout_ms = 60000;
};

using Handler = std::function<Response(Request&)>;
// Whether a request's body is streamed to the handler (req.body_stream) instead of read.
using StreamsBody = std::function<bool(const RequestHead&)>;

// Blocks serving forever; returns an error text when the listener cannot be set up.
std::string serve(const ListenConfig& cfg, Handler handler, StreamsBody streams,
                  std::function<void()> on_ready);

}  // namespace garden
