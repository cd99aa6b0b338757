#include "cgroups/dbus.hpp"

#include <poll.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <cstring>

#include "base/eintr.hpp"
#include "base/file.hpp"
#include "base/text.hpp"

namespace crunner::cgroups::dbus {

namespace {

constexpr size_t kMaxMessage = 16 << 20;  // far above anything systemd sends us

Error proto_error(const std::string& what) {
  return make_error(ErrorKind::Internal, "d-bus: " + what);
}

}  // namespace

void Writer::align(size_t n) {
  while (buf_.size() % n) buf_.push_back('\0');
}
void Writer::u32(uint32_t v) {
  align(4);
  char b[4];
  memcpy(b, &v, 4);  // little-endian host (x86_64, aarch64): the 'l' we announce
  buf_.append(b, 4);
}
void Writer::u64(uint64_t v) {
  align(8);
  char b[8];
  memcpy(b, &v, 8);
  buf_.append(b, 8);
}
void Writer::str(std::string_view v) {
  u32(static_cast<uint32_t>(v.size()));
  buf_.append(v);
  buf_.push_back('\0');
}
void Writer::sig(std::string_view v) {
  byte(static_cast<uint8_t>(v.size()));
  buf_.append(v);
  buf_.push_back('\0');
}
size_t Writer::array_begin(size_t elem_align) {
  u32(0);
  size_t at = buf_.size() - 4;
  align(elem_align);
  starts_.push_back(buf_.size());
  return at;
}
void Writer::array_end(size_t token) {
  size_t start = starts_.back();
  starts_.pop_back();
  uint32_t len = static_cast<uint32_t>(buf_.size() - start);
  memcpy(&buf_[token], &len, 4);
}

std::string signature_of(const PropValue& v) {
  switch (v.index()) {
    case 0:
      return "s";
    case 1:
      return "b";
    case 2:
      return "t";
    case 3:
      return "au";
    case 4:
      return "ay";
    default:
      return "a(ss)";
  }
}

void write_property(Writer& w, const Property& p) {
  w.struct_begin();
  w.str(p.name);
  w.sig(signature_of(p.value));
  std::visit(
      [&](auto&& v) {
        using T = std::decay_t<decltype(v)>;
        if constexpr (std::is_same_v<T, std::string>) {
          w.str(v);
        } else if constexpr (std::is_same_v<T, bool>) {
          w.boolean(v);
        } else if constexpr (std::is_same_v<T, uint64_t>) {
          w.u64(v);
        } else if constexpr (std::is_same_v<T, std::vector<uint32_t>>) {
          size_t a = w.array_begin(4);
          for (uint32_t x : v) w.u32(x);
          w.array_end(a);
        } else if constexpr (std::is_same_v<T, std::vector<uint8_t>>) {
          size_t a = w.array_begin(1);
          for (uint8_t x : v) w.byte(x);
          w.array_end(a);
        } else {
          size_t a = w.array_begin(8);
          for (auto& [path, perms] : v) {
            w.struct_begin();
            w.str(path);
            w.str(perms);
          }
          w.array_end(a);
        }
      },
      p.value);
}

void write_properties(Writer& w, const std::vector<Property>& props) {
  size_t a = w.array_begin(8);
  for (auto& p : props) write_property(w, p);
  w.array_end(a);
}

Status Reader::align(size_t n) {
  size_t to = (pos_ + n - 1) / n * n;
  if (to > d_.size()) return proto_error("message truncated");
  pos_ = to;
  return {};
}
Result<uint8_t> Reader::byte() {
  if (pos_ + 1 > d_.size()) return proto_error("message truncated");
  return static_cast<uint8_t>(d_[pos_++]);
}
Result<uint32_t> Reader::u32() {
  CR_TRY(align(4));
  if (pos_ + 4 > d_.size()) return proto_error("message truncated");
  uint32_t v;
  memcpy(&v, d_.data() + pos_, 4);
  pos_ += 4;
  return v;
}
Result<uint64_t> Reader::u64() {
  CR_TRY(align(8));
  if (pos_ + 8 > d_.size()) return proto_error("message truncated");
  uint64_t v;
  memcpy(&v, d_.data() + pos_, 8);
  pos_ += 8;
  return v;
}
Result<std::string> Reader::str() {
  CR_ASSIGN(uint32_t n, u32());
  if (n > d_.size() || pos_ + n + 1 > d_.size()) return proto_error("string overruns the message");
  std::string s(d_.substr(pos_, n));
  pos_ += n + 1;
  return s;
}
Result<std::string> Reader::sig() {
  CR_ASSIGN(uint8_t n, byte());
  if (pos_ + n + 1 > d_.size()) return proto_error("signature overruns the message");
  std::string s(d_.substr(pos_, n));
  pos_ += n + 1;
  return s;
}

Result<size_t> message_length(std::string_view raw) {
  if (raw.size() < 16) return size_t{0};
  if (raw[0] != 'l') return proto_error("big-endian messages are not supported");
  uint32_t body, fields;
  memcpy(&body, raw.data() + 4, 4);
  memcpy(&fields, raw.data() + 12, 4);
  size_t total = 16 + ((static_cast<size_t>(fields) + 7) / 8 * 8) + body;
  if (body > kMaxMessage || fields > kMaxMessage || total > kMaxMessage)
    return proto_error("message of " + std::to_string(total) + " bytes is too large");
  return total;
}

Result<Message> parse_message(std::string_view raw) {
  CR_ASSIGN(size_t total, message_length(raw));
  if (total == 0 || raw.size() < total) return proto_error("message truncated");
  Message m;
  m.type = static_cast<uint8_t>(raw[1]);
  uint32_t body_len, fields_len;
  memcpy(&body_len, raw.data() + 4, 4);
  memcpy(&m.serial, raw.data() + 8, 4);
  memcpy(&fields_len, raw.data() + 12, 4);
  // Header fields: a(yv), parsed with offsets relative to the message start.
  Reader r(raw.substr(0, 16 + fields_len), 16);
  while (r.pos() < 16 + fields_len) {
    CR_TRY(r.align(8));
    CR_ASSIGN(uint8_t code, r.byte());
    auto vs = r.sig();
    if (!vs) return std::move(vs).error();
    const std::string vsig = *vs;
    if (vsig == "s" || vsig == "o") {
      CR_ASSIGN(std::string v, r.str());
      if (code == 1) m.path = v;
      if (code == 2) m.interface = v;
      if (code == 3) m.member = v;
      if (code == 4) m.error_name = v;
    } else if (vsig == "u") {
      CR_ASSIGN(uint32_t v, r.u32());
      if (code == 5) m.reply_serial = v;
    } else if (vsig == "g") {
      CR_ASSIGN(std::string v, r.sig());
      if (code == 8) m.signature = v;
    } else {
      return proto_error("unexpected header field type `" + vsig + "`");
    }
  }
  m.body = std::string(raw.substr(total - body_len, body_len));
  return m;
}

std::string build_call(uint32_t serial, const std::string& dest, const std::string& path,
                       const std::string& iface, const std::string& member,
                       const std::string& signature, const std::string& body) {
  Writer h;
  h.byte('l');
  h.byte(1);  // method call
  h.byte(0);
  h.byte(1);  // protocol version
  h.u32(static_cast<uint32_t>(body.size()));
  h.u32(serial);
  size_t a = h.array_begin(8);
  auto field = [&](uint8_t code, const char* vsig, const std::string& v) {
    h.struct_begin();
    h.byte(code);
    h.sig(vsig);
    if (vsig[0] == 'g')
      h.sig(v);
    else
      h.str(v);
  };
  field(1, "o", path);
  if (!iface.empty()) field(2, "s", iface);
  field(3, "s", member);
  if (!dest.empty()) field(6, "s", dest);
  if (!signature.empty()) field(8, "g", signature);
  h.array_end(a);
  h.align(8);
  return h.data() + body;
}

Result<Connection> Connection::open(const std::string& socket_path, bool bus,
                                    std::chrono::milliseconds timeout) {
  Connection c;
  c.path_ = socket_path;
  c.timeout_ = timeout;
  sockaddr_un sa{};
  sa.sun_family = AF_UNIX;
  if (socket_path.size() >= sizeof sa.sun_path)
    return invalid_spec("d-bus socket path `" + socket_path + "` is too long");
  memcpy(sa.sun_path, socket_path.c_str(), socket_path.size() + 1);
  int fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return sys_error("socket for d-bus");
  c.fd_ = UniqueFd(fd);
  if (CR_RETRY(::connect(fd, reinterpret_cast<sockaddr*>(&sa), sizeof sa)) < 0)
    return sys_error("connect to `" + socket_path + "`");
  // SASL EXTERNAL with our uid in hex-encoded decimal, then BEGIN.
  std::string uid = std::to_string(::geteuid()), hex;
  static const char* digits = "0123456789abcdef";
  for (unsigned char ch : uid) {
    hex += digits[ch >> 4];
    hex += digits[ch & 15];
  }
  // AUTH and BEGIN in one write, as sd-bus clients do, so the server consumes BEGIN in the
  // same read as AUTH, before our first message exists. Sending BEGIN after OK let it arrive
  // together with the first call: sd-bus (systemd 252) then finished the handshake with the
  // call's bytes already buffered and waited for more input instead of handling them; in the
  // slow v2 guest that stalled about one call in ten until the 30 s timeout.
  std::string auth = std::string(1, '\0') + "AUTH EXTERNAL " + hex + "\r\nBEGIN\r\n";
  CR_TRY_CTX(write_all(fd, auth.data(), auth.size()), "d-bus auth on `" + socket_path + "`");
  std::string line;
  auto deadline = std::chrono::steady_clock::now() + timeout;
  while (line.find("\r\n") == std::string::npos) {
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
        deadline - std::chrono::steady_clock::now());
    pollfd p{fd, POLLIN, 0};
    int n = left.count() > 0 ? CR_RETRY(::poll(&p, 1, static_cast<int>(left.count()))) : 0;
    if (n <= 0)
      return make_error(ErrorKind::Syscall,
                        "d-bus auth on `" + socket_path + "`: no answer in time");
    char buf[256];
    ssize_t got = CR_RETRY(::read(fd, buf, sizeof buf));
    if (got <= 0) return sys_error("d-bus auth on `" + socket_path + "`: connection closed");
    line.append(buf, static_cast<size_t>(got));
    if (line.size() > 4096) return proto_error("auth answer too long");
  }
  if (line.compare(0, 3, "OK ") != 0)
    return make_error(ErrorKind::Permission, "d-bus auth on `" + socket_path + "` refused: " +
                                                 trim(line.substr(0, line.find('\r'))));
  // Nothing follows the OK line: the server sends no message before we do.
  if (bus) {
    CR_ASSIGN(Message hello, c.call("org.freedesktop.DBus", "/org/freedesktop/DBus",
                                    "org.freedesktop.DBus", "Hello"));
    if (hello.is_error())
      return make_error(ErrorKind::Syscall,
                        "d-bus Hello on `" + socket_path + "` failed: " + hello.error_name);
  }
  return c;
}

Result<Message> Connection::next() {
  auto deadline = std::chrono::steady_clock::now() + timeout_;
  for (;;) {
    CR_ASSIGN(size_t total, message_length(inbuf_));
    if (total != 0 && inbuf_.size() >= total) {
      auto m = parse_message(std::string_view(inbuf_).substr(0, total));
      inbuf_.erase(0, total);
      return m;
    }
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
        deadline - std::chrono::steady_clock::now());
    pollfd p{fd_.get(), POLLIN, 0};
    int n = left.count() > 0 ? CR_RETRY(::poll(&p, 1, static_cast<int>(left.count()))) : 0;
    if (n < 0) return sys_error("poll d-bus `" + path_ + "`");
    if (n == 0)
      return make_error(ErrorKind::Syscall, "d-bus `" + path_ + "`: no answer within " +
                                                std::to_string(timeout_.count() / 1000) + " s");
    char buf[16384];
    ssize_t got = CR_RETRY(::read(fd_.get(), buf, sizeof buf));
    if (got < 0) return sys_error("read d-bus `" + path_ + "`");
    if (got == 0) return make_error(ErrorKind::Syscall, "d-bus `" + path_ + "`: connection closed");
    inbuf_.append(buf, static_cast<size_t>(got));
  }
}

Result<Message> Connection::call(const std::string& dest, const std::string& path,
                                 const std::string& iface, const std::string& member,
                                 const std::string& signature, const std::string& body) {
  uint32_t serial = ++serial_;
  std::string msg = build_call(serial, dest, path, iface, member, signature, body);
  CR_TRY_CTX(write_all(fd_.get(), msg.data(), msg.size()), "d-bus call " + member);
  for (;;) {
    CR_ASSIGN(Message m, next());
    if ((m.type == 2 || m.type == 3) && m.reply_serial == serial) return m;
    if (m.type == 4) keep(std::move(m));
  }
}

void Connection::keep(Message m) {
  if (signals_.size() >= 1024) signals_.erase(signals_.begin());
  signals_.push_back(std::move(m));
}

}  // namespace crunner::cgroups::dbus
