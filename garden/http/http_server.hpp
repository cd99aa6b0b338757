// The listening side of garden-shim: accepts on TCP or a unix socket and runs one thread
// per connection; requests are parsed with Boost.Beast and handed to a handler.
#pragma once

#include <functional>
#include <string>

#include "garden/http/http_io.hpp"

namespace garden {

struct ListenConfig {
  std::string bind_ip = "127.0.0.1";
  int bind_port = 7777;
  std::string bind_socket;  // non-empty: listen on this unix socket instead
};

using Handler = std::function<Response(Request&)>;

// Blocks serving forever; returns an error text when the listener cannot be set up.
std::string serve(const ListenConfig& cfg, Handler handler, std::function<void()> on_ready);

}  // namespace garden
