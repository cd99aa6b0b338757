// The net-in and net-out routes: request decoding here, the work in garden/net/.
#include "garden/api/server.hpp"

namespace garden {

Response Server::net_in(const std::string& handle, const Request& req) {
  auto c = find(handle);
  if (!c) return unknown_handle(handle);
  ActiveGuard g(c);
  if (!net_->enabled())
    return error_response("", "networking is disabled (--disable-networking)", handle);
  json body = json::parse(req.body.empty() ? "{}" : req.body, nullptr, false);
  if (!body.is_object())
    return error_response("", "invalid net-in request: malformed JSON", handle);
  uint32_t ports[2] = {0, 0};
  const char* keys[2] = {"host_port", "container_port"};
  for (int i = 0; i < 2; ++i)
    if (body.contains(keys[i]) && !body[keys[i]].is_null()) {
      if (!body[keys[i]].is_number_unsigned() || body[keys[i]].get<uint64_t>() > 65535)
        return error_response(
            "",
            std::string("invalid net-in request: ") + keys[i] + ": expected a port number 0-65535",
            handle);
      ports[i] = body[keys[i]].get<uint32_t>();
    }
  std::lock_guard<std::mutex> lk(c->mu);
  json& network = c->meta["network"];
  if (!network.is_object() || network.empty())
    return error_response("", "container has no network", handle);
  std::string err = net_->net_in(network, ports[0], ports[1]);
  if (!err.empty()) return error_response("", "net-in: " + err, handle);
  net::Networker::set_properties(network, c->meta["properties"]);
  save_meta(*c);
  return json_response(
      200, nlohmann::ordered_json{{"host_port", ports[0]}, {"container_port", ports[1]}});
}

Response Server::net_out(const std::string& handle, const Request& req, bool bulk) {
  auto c = find(handle);
  if (!c) return unknown_handle(handle);
  ActiveGuard g(c);
  if (!net_->enabled())
    return error_response("", "networking is disabled (--disable-networking)", handle);
  json body = json::parse(req.body.empty() ? "{}" : req.body, nullptr, false);
  if (body.is_discarded() || (bulk && !body.is_array()) || (!bulk && !body.is_object()))
    return error_response("",
                          std::string("invalid net-out request: expected ") +
                              (bulk ? "an array of rules" : "a rule object"),
                          handle);
  json network;
  {
    std::lock_guard<std::mutex> lk(c->mu);
    network = c->meta.value("network", json::object());
  }
  if (network.empty()) return error_response("", "container has no network", handle);
  std::string err = net_->net_out(network, bulk ? body : json::array({body}), bulk);
  if (!err.empty()) return error_response("", err, handle);
  return json_response(200, json::object());
}

}  // namespace garden
