// Decoding of what clients send: handles and process ids (they become depot paths and
// runtime ids) and the JSON bodies (ContainerSpec, ProcessSpec, NetOutRule, limits,
// properties, grace time), checked field by field with the types and ranges of garden's Go
// structs. Each check returns "" or a message naming the field; the routes answer it 400.
#pragma once

#include <map>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "garden/http/request_parser.hpp"

namespace garden {

// Handles and process ids: 1 to 255 bytes of [A-Za-z0-9_+.-] (runc's container id rule,
// bounded by a directory name's length), never "." or "..".
constexpr size_t kMaxIdLength = 255;
bool valid_id(std::string_view id);
// "" or "invalid <kind> `<id>`: <why>" (kind: "handle", "process id").
std::string check_id(const char* kind, std::string_view id);
// The handles a bulk route is asked about: `query`'s "handles", comma-separated, empty
// entries skipped, in order (none without it). "" or check_id's message for the first invalid
// one, which fails the whole request.
std::string decode_handles(const std::map<std::string, std::string>& query,
                           std::vector<std::string>& out);
// parent + "/" + name, for a name that valid_id accepts; throws std::invalid_argument
// otherwise (defence in depth: a depot path never leaves its parent).
std::string depot_child(const std::string& parent, std::string_view name);

// Whether a request's body is streamed to its route rather than read whole and size-capped:
// PUT /containers/:handle/files (stream-in), whose tar goes to the container as it arrives.
bool streams_body(const RequestHead& head);

std::string check_container_spec(const nlohmann::json& spec);
std::string check_process_spec(const nlohmann::json& spec);
// One NetOutRule (protocol, networks, ports, icmps, log); prefix names it in messages.
std::string check_netout_rule(const nlohmann::json& rule, const std::string& prefix);
// Removes null members, recursively through objects: Go decodes null as the zero value, so
// a checked spec's null fields mean "absent" to the code that reads them.
void drop_nulls(nlohmann::json& j);
// The body of PUT grace_time: a bare number of nanoseconds, 0 to 2^63-1.
std::string check_grace_time(const nlohmann::json& body);

}  // namespace garden
