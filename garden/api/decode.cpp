#include "garden/api/decode.hpp"

#include <arpa/inet.h>

#include <cstdint>
#include <limits>
#include <stdexcept>
#include <vector>

#include "base/text.hpp"

namespace garden {

using json = nlohmann::json;

bool streams_body(const RequestHead& head) {
  if (head.method != "PUT") return false;
  std::vector<std::string_view> parts;
  std::string_view p = head.path;
  while (!p.empty()) {
    auto slash = p.find('/');
    auto part = p.substr(0, slash);
    if (!part.empty()) parts.push_back(part);
    if (slash == std::string_view::npos) break;
    p.remove_prefix(slash + 1);
  }
  return parts.size() == 3 && parts[0] == "containers" && parts[2] == "files";
}

bool valid_id(std::string_view id) {
  if (id.empty() || id.size() > kMaxIdLength || id == "." || id == "..") return false;
  for (char ch : id) {
    auto c = static_cast<unsigned char>(ch);
    bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '_' || c == '+' || c == '.' || c == '-';
    if (!ok) return false;
  }
  return true;
}

namespace {

// A value for a message: printable, bounded.
std::string shown(std::string_view v) {
  std::string out;
  for (char ch : v.substr(0, 64)) {
    auto c = static_cast<unsigned char>(ch);
    if (c < 0x20 || c == 0x7f) {
      static const char* hex = "0123456789abcdef";
      out += "\\x";
      out += hex[c >> 4];
      out += hex[c & 15];
    } else {
      out += ch;
    }
  }
  if (v.size() > 64) out += "... (" + std::to_string(v.size()) + " bytes)";
  return out;
}

std::string shown_json(const json& v) {
  return shown(std::string_view(v.dump(-1, ' ', false, json::error_handler_t::replace)));
}

}  // namespace

std::string check_id(const char* kind, std::string_view id) {
  if (valid_id(id)) return "";
  std::string why;
  if (id.empty())
    why = "empty";
  else if (id.size() > kMaxIdLength)
    why = "longer than " + std::to_string(kMaxIdLength) + " bytes";
  else if (id == "." || id == "..")
    why = "not a name";
  else
    why = "only letters, digits and _ + . - are allowed";
  return std::string("invalid ") + kind + " `" + shown(id) + "`: " + why;
}

std::string decode_handles(const std::map<std::string, std::string>& query,
                           std::vector<std::string>& out) {
  out.clear();
  auto it = query.find("handles");
  if (it == query.end()) return "";
  for (std::string& h : crunner::split(it->second, ',')) {
    if (h.empty()) continue;
    if (auto e = check_id("handle", h); !e.empty()) {
      out.clear();
      return e;
    }
    out.push_back(std::move(h));
  }
  return "";
}

std::string depot_child(const std::string& parent, std::string_view name) {
  if (!valid_id(name))
    throw std::invalid_argument("refusing depot path `" + parent + "/" + shown(name) + "`");
  return parent + "/" + std::string(name);
}

namespace {

enum class T { Str, Bool, U8, U16, U32, U64, I64, IP, StrList, StrMap, Obj, ObjList };

struct Field {
  const char* name;
  T type;
  const std::vector<Field>* sub = nullptr;  // Obj / ObjList
};

std::string expect(const std::string& path, const char* what, const json& v) {
  return path + ": expected " + what + ", got " + shown_json(v);
}

// Go's encoding/json rules: integers only (no fraction or exponent), within the type.
std::string check_uint(const std::string& path, const json& v, std::uint64_t max,
                       const char* what) {
  if (!v.is_number_integer()) return expect(path, what, v);
  if (v.is_number_unsigned()) {
    if (v.get<std::uint64_t>() > max) return expect(path, what, v);
    return "";
  }
  long long n = v.get<long long>();
  if (n < 0 || static_cast<std::uint64_t>(n) > max) return expect(path, what, v);
  return "";
}

std::string check_fields(const json& j, const std::vector<Field>& fields, const std::string& at);

std::string check_value(const std::string& path, const json& v, const Field& f) {
  if (v.is_null()) return "";  // Go leaves the zero value
  switch (f.type) {
    case T::Str:
      return v.is_string() ? "" : expect(path, "a string", v);
    case T::Bool:
      return v.is_boolean() ? "" : expect(path, "true or false", v);
    case T::U8:
      return check_uint(path, v, 0xff, "an integer from 0 to 255");
    case T::U16:
      return check_uint(path, v, 0xffff, "an integer from 0 to 65535");
    case T::U32:
      return check_uint(path, v, 0xffffffffu, "an integer from 0 to 4294967295");
    case T::U64:
      return check_uint(path, v, std::numeric_limits<std::uint64_t>::max(),
                        "an integer from 0 to 18446744073709551615");
    case T::I64:
      if (!v.is_number_integer() ||
          (v.is_number_unsigned() &&
           v.get<std::uint64_t>() > static_cast<std::uint64_t>(INT64_MAX)))
        return expect(path, "an integer (nanoseconds)", v);
      return "";
    case T::IP: {
      if (!v.is_string()) return expect(path, "an IP address", v);
      const std::string& s = v.get_ref<const std::string&>();
      unsigned char buf[16];
      if (s.empty() || inet_pton(AF_INET, s.c_str(), buf) == 1 ||
          inet_pton(AF_INET6, s.c_str(), buf) == 1)
        return "";
      return expect(path, "an IP address", v);
    }
    case T::StrList:
      if (!v.is_array()) return expect(path, "an array of strings", v);
      for (size_t i = 0; i < v.size(); ++i)
        if (!v[i].is_string())
          return expect(path + "[" + std::to_string(i) + "]", "a string", v[i]);
      return "";
    case T::StrMap:
      if (!v.is_object()) return expect(path, "an object of strings", v);
      for (auto& [k, e] : v.items())
        if (!e.is_string()) return expect(path + "." + k, "a string", e);
      return "";
    case T::Obj:
      return check_fields(v, *f.sub, path);
    case T::ObjList:
      if (!v.is_array()) return expect(path, "an array", v);
      for (size_t i = 0; i < v.size(); ++i)
        if (auto e = check_fields(v[i], *f.sub, path + "[" + std::to_string(i) + "]"); !e.empty())
          return e;
      return "";
  }
  return "";
}

std::string check_fields(const json& j, const std::vector<Field>& fields, const std::string& at) {
  if (j.is_null()) return "";
  if (!j.is_object()) return expect(at, "an object", j);
  for (const Field& f : fields) {
    auto it = j.find(f.name);
    if (it == j.end()) continue;  // unknown fields are ignored, as Go does
    std::string path = at.empty() ? f.name : at + "." + f.name;
    if (auto e = check_value(path, *it, f); !e.empty()) return e;
  }
  return "";
}

const std::vector<Field> kImageRef = {{"uri", T::Str}, {"username", T::Str}, {"password", T::Str}};
const std::vector<Field> kBindMount = {
    {"src_path", T::Str}, {"dst_path", T::Str}, {"mode", T::U8}, {"origin", T::U8}};
const std::vector<Field> kBandwidth = {{"rate", T::U64}, {"burst", T::U64}};
const std::vector<Field> kCPU = {{"weight", T::U64}, {"limit_in_shares", T::U64}};
const std::vector<Field> kDisk = {{"inode_soft", T::U64},
                                  {"inode_hard", T::U64},
                                  {"byte_soft", T::U64},
                                  {"byte_hard", T::U64},
                                  {"scope", T::U8}};
const std::vector<Field> kMemory = {{"limit_in_bytes", T::U64}};
const std::vector<Field> kPid = {{"max", T::U64}};
const std::vector<Field> kLimits = {{"bandwidth_limits", T::Obj, &kBandwidth},
                                    {"cpu_limits", T::Obj, &kCPU},
                                    {"disk_limits", T::Obj, &kDisk},
                                    {"memory_limits", T::Obj, &kMemory},
                                    {"pid_limits", T::Obj, &kPid}};
const std::vector<Field> kNetIn = {{"host_port", T::U32}, {"container_port", T::U32}};
const std::vector<Field> kIPRange = {{"start", T::IP}, {"end", T::IP}};
const std::vector<Field> kPortRange = {{"start", T::U16}, {"end", T::U16}};
const std::vector<Field> kICMP = {{"type", T::U8}, {"code", T::U8}};
const std::vector<Field> kNetOut = {{"protocol", T::U8},
                                    {"networks", T::ObjList, &kIPRange},
                                    {"ports", T::ObjList, &kPortRange},
                                    {"icmps", T::Obj, &kICMP},
                                    {"log", T::Bool}};
const std::vector<Field> kContainerSpec = {{"handle", T::Str},
                                           {"grace_time", T::I64},
                                           {"rootfs", T::Str},
                                           {"image", T::Obj, &kImageRef},
                                           {"bind_mounts", T::ObjList, &kBindMount},
                                           {"network", T::Str},
                                           {"properties", T::StrMap},
                                           {"env", T::StrList},
                                           {"privileged", T::Bool},
                                           {"limits", T::Obj, &kLimits},
                                           {"netin", T::ObjList, &kNetIn},
                                           {"netout_rules", T::ObjList, &kNetOut}};
const std::vector<Field> kRlimits = {
    {"as", T::U64},     {"core", T::U64},       {"cpu", T::U64},     {"data", T::U64},
    {"fsize", T::U64},  {"locks", T::U64},      {"memlock", T::U64}, {"msgqueue", T::U64},
    {"nice", T::U64},   {"nofile", T::U64},     {"nproc", T::U64},   {"rss", T::U64},
    {"rtprio", T::U64}, {"sigpending", T::U64}, {"stack", T::U64}};
const std::vector<Field> kProcessLimits = {{"cpu_limits", T::Obj, &kCPU},
                                           {"memory_limits", T::Obj, &kMemory}};
const std::vector<Field> kWindowSize = {{"columns", T::U16}, {"rows", T::U16}};
const std::vector<Field> kTTY = {{"window_size", T::Obj, &kWindowSize}};
const std::vector<Field> kProcessSpec = {{"id", T::Str},
                                         {"path", T::Str},
                                         {"args", T::StrList},
                                         {"env", T::StrList},
                                         {"dir", T::Str},
                                         {"user", T::Str},
                                         {"rlimits", T::Obj, &kRlimits},
                                         {"limits", T::Obj, &kProcessLimits},
                                         {"tty", T::Obj, &kTTY},
                                         {"image", T::Obj, &kImageRef},
                                         {"bind_mounts", T::ObjList, &kBindMount}};

std::string check_spec(const json& spec, const std::vector<Field>& fields, const char* what) {
  if (!spec.is_object()) return std::string("invalid ") + what + ": expected a JSON object";
  if (auto e = check_fields(spec, fields, ""); !e.empty())
    return std::string("invalid ") + what + ": " + e;
  return "";
}

}  // namespace

std::string check_container_spec(const json& spec) {
  if (auto e = check_spec(spec, kContainerSpec, "container spec"); !e.empty()) return e;
  if (spec.contains("handle") && spec["handle"].is_string()) {
    const auto& h = spec["handle"].get_ref<const std::string&>();
    if (!h.empty()) return check_id("handle", h);
  }
  return "";
}

std::string check_process_spec(const json& spec) {
  if (auto e = check_spec(spec, kProcessSpec, "process spec"); !e.empty()) return e;
  if (spec.contains("id") && spec["id"].is_string()) {
    const auto& id = spec["id"].get_ref<const std::string&>();
    if (!id.empty()) return check_id("process id", id);
  }
  return "";
}

std::string check_netout_rule(const json& rule, const std::string& prefix) {
  return check_fields(rule, kNetOut, prefix);
}

void drop_nulls(json& j) {
  if (j.is_object()) {
    for (auto it = j.begin(); it != j.end();) {
      if (it->is_null()) {
        it = j.erase(it);
      } else {
        drop_nulls(*it);
        ++it;
      }
    }
  } else if (j.is_array()) {
    for (auto& e : j) drop_nulls(e);
  }
}

std::string check_grace_time(const json& body) {
  if (!body.is_number_integer() ||
      (body.is_number_unsigned() &&
       body.get<std::uint64_t>() > static_cast<std::uint64_t>(INT64_MAX)) ||
      (!body.is_number_unsigned() && body.get<long long>() < 0))
    return "invalid grace time: expected a number of nanoseconds from 0 to 2^63-1, got " +
           shown_json(body);
  return "";
}

}  // namespace garden
