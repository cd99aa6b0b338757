// A minimal D-Bus client: just what the systemd cgroup driver needs (method calls to
// org.freedesktop.systemd1 and its JobRemoved signal), over a unix socket with EXTERNAL auth.
//
// Why not sd-bus: crunner is a static-pie binary (no loader at each start, see
// docs/DESIGN.md) and Debian ships libsystemd only as a shared object (no libsystemd.a), so
// sd-bus cannot be linked in. The wire protocol used here is small: little-endian messages,
// the basic types y b u t s o g, arrays, structs and variants.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <cstdint>
#include <string>
#include <utility>
#include <variant>
#include <vector>

#include "base/error.hpp"
#include "base/fd.hpp"

namespace crunner::cgroups::dbus {

// Marshals values with D-Bus alignment (relative to the start of the body, which is
// 8-aligned in the message).
class Writer {
 public:
  void align(size_t n);
  void byte(uint8_t v) { buf_.push_back(static_cast<char>(v)); }
  void boolean(bool v) { u32(v ? 1 : 0); }
  void u32(uint32_t v);
  void u64(uint64_t v);
  void str(std::string_view v);  // s and o
  void sig(std::string_view v);  // g
  // array: begin returns a token for end(); elem_align is the element type's alignment.
  size_t array_begin(size_t elem_align);
  void array_end(size_t token);
  void struct_begin() { align(8); }
  const std::string& data() const { return buf_; }

 private:
  std::string buf_;
  std::vector<size_t> starts_;
};

// A property value of a systemd unit (a(sv) entry): the types the driver sends.
using DeviceAllow = std::vector<std::pair<std::string, std::string>>;  // a(ss)
using PropValue = std::variant<std::string, bool, uint64_t, std::vector<uint32_t>,
                               std::vector<uint8_t>, DeviceAllow>;
struct Property {
  std::string name;
  PropValue value;
};
std::string signature_of(const PropValue& v);
void write_property(Writer& w, const Property& p);                     // (sv)
void write_properties(Writer& w, const std::vector<Property>& props);  // a(sv)

// A received message.
struct Message {
  uint8_t type = 0;  // 1 call, 2 return, 3 error, 4 signal
  uint32_t serial = 0, reply_serial = 0;
  std::string path, interface, member, error_name, signature, body;
  bool is_error() const { return type == 3; }
};

// Reads body values (the types above) with alignment; any overrun is an error.
class Reader {
 public:
  explicit Reader(std::string_view data, size_t pos = 0) : d_(data), pos_(pos) {}
  Result<uint8_t> byte();
  Result<uint32_t> u32();
  Result<uint64_t> u64();
  Result<std::string> str();  // s, o
  Result<std::string> sig();  // g
  Status align(size_t n);
  size_t pos() const { return pos_; }

 private:
  std::string_view d_;
  size_t pos_ = 0;
};

// Parses one complete message (header + body); exposed for the unit tests.
Result<Message> parse_message(std::string_view raw);
// The whole length of the message starting at raw (at least 16 bytes), or 0 if unknown yet.
Result<size_t> message_length(std::string_view raw);
// A method call, serialized.
std::string build_call(uint32_t serial, const std::string& dest, const std::string& path,
                       const std::string& iface, const std::string& member,
                       const std::string& signature, const std::string& body);

class Connection {
 public:
  // A unix socket address: a path. `bus` = a message bus (dbus-daemon: Hello first);
  // otherwise a direct connection to systemd (/run/systemd/private).
  static Result<Connection> open(const std::string& socket_path, bool bus,
                                 std::chrono::milliseconds timeout);
  // Calls a method and waits for its reply (an error reply is returned, not an Error).
  // Signals that arrive meanwhile are kept for wait_signal.
  Result<Message> call(const std::string& dest, const std::string& path, const std::string& iface,
                       const std::string& member, const std::string& signature = "",
                       const std::string& body = "");
  // Waits for a signal for which match(msg) is true (kept ones first).
  template <class F>
  Result<Message> wait_signal(F match) {
    for (;;) {
      for (size_t i = 0; i < signals_.size(); i++) {
        if (match(signals_[i])) {
          Message m = std::move(signals_[i]);
          signals_.erase(signals_.begin() + static_cast<long>(i));
          return m;
        }
      }
      CR_ASSIGN(Message m, next());
      if (m.type == 4) keep(std::move(m));
    }
  }
  const std::string& address() const { return path_; }

 private:
  Result<Message> next();  // the next message, within the deadline
  void keep(Message m);    // a signal for later (the oldest dropped beyond a bound)
  UniqueFd fd_;
  std::string path_, inbuf_;
  uint32_t serial_ = 0;
  std::chrono::milliseconds timeout_{30000};
  std::vector<Message> signals_;
};

}  // namespace crunner::cgroups::dbus
