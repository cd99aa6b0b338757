#include "cmd/garden-shim/server.hpp"
namespace garden {
Response Server::metrics(const std::string& handle) {
  return unknown_handle(handle);
}
Response Server::bulk_metrics(const Request&) {
  return json_response(200, json::object());
}
}  // namespace garden
