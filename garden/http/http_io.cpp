#include "garden/http/http_io.hpp"

#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>

#include <algorithm>
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
      return false;  // EAGAIN included: the send timeout passed
    }
    p += n;
    len -= static_cast<size_t>(n);
  }
  return true;
}

std::string serialize_response(const Response& r, bool keep_alive) {
  std::string body = r.body;
  if (r.content_type == "application/json") body += "\n";
  std::string head = "HTTP/1.1 " + std::to_string(r.status) + " " + status_text(r.status) +
                     "\r\nContent-Type: " + r.content_type +
                     "\r\nContent-Length: " + std::to_string(body.size()) + "\r\n";
  if (!keep_alive) head += "Connection: close\r\n";
  head += "\r\n";
  head += body;
  return head;
}

bool write_response(int fd, const Response& r, bool keep_alive) {
  return write_all_fd(fd, serialize_response(r, keep_alive));
}

bool write_chunked_head(int fd, int status, const std::string& content_type, bool keep_alive) {
  std::string head = "HTTP/1.1 " + std::to_string(status) + " " + status_text(status) +
                     "\r\nContent-Type: " + content_type + "\r\nTransfer-Encoding: chunked\r\n";
  if (!keep_alive) head += "Connection: close\r\n";
  head += "\r\n";
  return write_all_fd(fd, head);
}

bool write_chunk(int fd, const char* data, size_t len) {
  char size[32];
  int n = snprintf(size, sizeof size, "%zx\r\n", len);
  iovec iov[3] = {{size, static_cast<size_t>(n)},
                  {const_cast<char*>(data), len},
                  {const_cast<char*>("\r\n"), 2}};
  // One sendmsg for the common case; what it leaves goes through write_all_fd.
  msghdr m{};
  m.msg_iov = iov;
  m.msg_iovlen = 3;
  ssize_t w;
  do {
    w = ::sendmsg(fd, &m, MSG_NOSIGNAL);
  } while (w < 0 && errno == EINTR);
  if (w < 0) return false;
  size_t done = static_cast<size_t>(w);
  for (auto& v : iov) {
    size_t skip = std::min(done, v.iov_len);
    done -= skip;
    if (skip < v.iov_len &&
        !write_all_fd(fd, static_cast<char*>(v.iov_base) + skip, v.iov_len - skip))
      return false;
  }
  return true;
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
