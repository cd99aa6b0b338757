#include "garden/http/http_io.hpp"

#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>

namespace garden {

std::string status_text(int status) {
  switch (status) {
    case 200:
      return "OK";
    case 201:
      return "Created";
    case 204:
      return "No Content";
    case 400:
      return "Bad Request";
    case 404:
      return "Not Found";
    case 405:
      return "Method Not Allowed";
    case 408:
      return "Request Timeout";
    case 409:
      return "Conflict";
    case 413:
      return "Payload Too Large";
    case 431:
      return "Request Header Fields Too Large";
    case 500:
      return "Internal Server Error";
    case 503:
      return "Service Unavailable";
    default:
      return "Status";
  }
}

Response json_response(int status, const nlohmann::json& j) {
  Response r;
  r.status = status;
  r.body = j.dump();
  return r;
}

Response json_response(int status, const nlohmann::ordered_json& j) {
  Response r;
  r.status = status;
  r.body = j.dump();
  return r;
}

Response error_response(const std::string& type, const std::string& message,
                        const std::string& handle, const std::string& process_id) {
  int status = 500;
  if (type == "ContainerNotFoundError" || type == "ProcessNotFoundError") status = 404;
  // As garden's Error marshals: Handle only for ContainerNotFoundError, ProcessID only for
  // ProcessNotFoundError, Binary always empty.
  nlohmann::ordered_json j = {{"Type", type},
                              {"Message", message},
                              {"Handle", type == "ContainerNotFoundError" ? handle : ""},
                              {"ProcessID", type == "ProcessNotFoundError" ? process_id : ""},
                              {"Binary", ""}};
  return json_response(status, j);
}

Response unknown_handle(const std::string& handle) {
  return error_response("ContainerNotFoundError", "unknown handle: " + handle, handle);
}

Response bad_request(const std::string& message, const std::string& handle) {
  Response r = error_response("", message, handle);
  r.status = 400;
  return r;
}

bool write_all_fd(int fd, const void* data, size_t len) {
  const char* p = static_cast<const char*>(data);
  while (len > 0) {
    ssize_t n = ::send(fd, p, len, MSG_NOSIGNAL);
    if (n < 0) {
      if (errno == EINTR) continue;
      if (errno == EAGAIN) {
        pollfd pfd{fd, POLLOUT, 0};
        ::poll(&pfd, 1, 1000);
        continue;
      }
      return false;
    }
    p += n;
    len -= static_cast<size_t>(n);
  }
  return true;
}

bool write_response(int fd, const Response& r, bool keep_alive) {
  std::string body = r.body;
  if (r.content_type == "application/json") body += "\n";
  std::string head = "HTTP/1.1 " + std::to_string(r.status) + " " + status_text(r.status) +
                     "\r\nContent-Type: " + r.content_type +
                     "\r\nContent-Length: " + std::to_string(body.size()) + "\r\n";
  if (!keep_alive) head += "Connection: close\r\n";
  head += "\r\n";
  head += body;
  return write_all_fd(fd, head.data(), head.size());
}

bool write_stream_header(int fd, int status) {
  std::string head = "HTTP/1.1 " + std::to_string(status) + " " + status_text(status) +
                     "\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n";
  return write_all_fd(fd, head.data(), head.size());
}

std::string url_decode(const std::string& s, bool plus_is_space) {
  std::string out;
  for (size_t i = 0; i < s.size(); ++i) {
    if (s[i] == '%' && i + 2 < s.size()) {
      unsigned v = 0;
      if (sscanf(s.substr(i + 1, 2).c_str(), "%2x", &v) == 1) {
        out += static_cast<char>(v);
        i += 2;
        continue;
      }
    }
    out += (plus_is_space && s[i] == '+') ? ' ' : s[i];
  }
  return out;
}

}  // namespace garden
