#include "cmd/garden-shim/server.hpp"
namespace garden {
Response Server::stream_in(const std::string& handle, const Request&) {
  return unknown_handle(handle);
}
Response Server::stream_out(const std::string& handle, const Request&) {
  return unknown_handle(handle);
}
}  // namespace garden
