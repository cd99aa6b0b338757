// The server-side HTTP model garden-shim's routes see, kept free of Boost so that only
// http_server.cpp pays Beast's compile time. Requests are parsed by Beast; responses are
// written as raw bytes so the framing the Go client insists on is exact.
#pragma once

#include <functional>
#include <map>
#include <string>

#include <nlohmann/json.hpp>

namespace garden {

// The body of a streamed request (stream-in), read as it arrives with bounded memory.
class BodySource {
 public:
  virtual ~BodySource() = default;
  // Up to cap bytes of the body; 0 at its end; -1 on an error (error() says which).
  virtual long read(char* out, size_t cap) = 0;
  virtual const std::string& error() const = 0;
};

struct Request {
  std::string method;                        // "GET", "POST", ...
  std::string path;                          // decoded path, without the query
  std::map<std::string, std::string> query;  // decoded query parameters
  std::string body;                          // de-chunked body (JSON routes: size-capped)
  BodySource* body_stream = nullptr;         // streamed routes: the body, not read yet
  int fd = -1;                               // the connection (for hijacking routes)
  std::string leftover;                      // bytes read past the request (hijacked input)
};

// A hijacking route takes the connection over after its header is written; it owns fd
// until it returns, and the server closes fd afterwards.
using Hijack = std::function<void(int fd, std::string leftover)>;

struct Response {
  int status = 200;
  std::string body;  // JSON text (newline appended when written)
  std::string content_type = "application/json";
  Hijack hijack;  // set: write a streaming header, then call hijack
  // A run/attach/stream route: its errors must not announce "Connection: close" (the Go
  // client treats that as "persistent connection closed").
  bool hijack_route = false;
};

Response json_response(int status, const nlohmann::json& j);
// Keys in the order given: garden's structs marshal their fields in declaration order.
Response json_response(int status, const nlohmann::ordered_json& j);

// Garden's error body {"Type","Message","Handle","ProcessID","Binary"}, with the status
// code that the error type maps to. handle/process_id appear only in the types that carry
// them (ContainerNotFoundError / ProcessNotFoundError), as garden's Error marshals.
Response error_response(const std::string& type, const std::string& message,
                        const std::string& handle = "", const std::string& process_id = "");
Response unknown_handle(const std::string& handle);
// A request the server refuses as malformed (400), in Garden's error shape.
Response bad_request(const std::string& message, const std::string& handle = "");

// Writes a complete response. keep_alive=false adds "Connection: close".
bool write_response(int fd, const Response& r, bool keep_alive);
// The header of a streaming success response: "Transfer-Encoding: chunked" (the bytes that
// follow are raw, as the Go client expects of hijacked connections), no Connection: close.
bool write_stream_header(int fd, int status);
bool write_all_fd(int fd, const void* data, size_t len);
inline bool write_all_fd(int fd, const std::string& s) {
  return write_all_fd(fd, s.data(), s.size());
}
std::string status_text(int status);
std::string url_decode(const std::string& s, bool plus_is_space);

}  // namespace garden
