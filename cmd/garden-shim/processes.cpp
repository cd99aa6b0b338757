#include "cmd/garden-shim/server.hpp"
namespace garden {
Response Server::run(const std::string& handle, const Request&) {
  return unknown_handle(handle);
}
Response Server::attach(const std::string& handle, const std::string&) {
  return unknown_handle(handle);
}
Response Server::attach_stream(const std::string& handle, const std::string&, const std::string&,
                               const std::string&) {
  return unknown_handle(handle);
}
void Server::load_processes(Container&) {}
std::vector<std::string> Server::running_process_ids(Container&) {
  return {};
}
}  // namespace garden
