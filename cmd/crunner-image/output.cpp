#include "output.hpp"

#include <cstdio>

namespace crunner::image {

std::string go_json_string(const std::string& s) {
  std::string o = "\"";
  for (size_t i = 0; i < s.size(); i++) {
    unsigned char c = static_cast<unsigned char>(s[i]);
    char buf[8];
    switch (c) {
      case '"':
        o += "\\\"";
        break;
      case '\\':
        o += "\\\\";
        break;
      case '\n':
        o += "\\n";
        break;
      case '\r':
        o += "\\r";
        break;
      case '\t':
        o += "\\t";
        break;
      case '<':
      case '>':
      case '&':
        snprintf(buf, sizeof buf, "\\u%04x", c);
        o += buf;
        break;
      default:
        if (c < 0x20) {
          snprintf(buf, sizeof buf, "\\u%04x", c);
          o += buf;
        } else if (c == 0xe2 && i + 2 < s.size() && static_cast<unsigned char>(s[i + 1]) == 0x80 &&
                   (static_cast<unsigned char>(s[i + 2]) == 0xa8 ||
                    static_cast<unsigned char>(s[i + 2]) == 0xa9)) {
          o += static_cast<unsigned char>(s[i + 2]) == 0xa8 ? "\\u2028" : "\\u2029";
          i += 2;
        } else {
          o += static_cast<char>(c);
        }
    }
  }
  return o + "\"";
}

namespace {
std::string array(const std::vector<std::string>& v) {
  std::string o = "[";
  for (size_t i = 0; i < v.size(); i++) o += (i ? "," : "") + go_json_string(v[i]);
  return o + "]";
}
}  // namespace

std::string create_output(const CreatedImage& img) {
  std::string o = "{\"ociVersion\":\"\",\"process\":{\"user\":{\"uid\":0,\"gid\":0},";
  if (!img.env.empty()) o += "\"env\":" + array(img.env) + ",";
  o += "\"cwd\":\"\"},\"root\":{\"path\":" + go_json_string(img.rootfs) + "}";
  if (!img.options.empty())
    o += ",\"mounts\":[{\"destination\":\"/"
         "\",\"type\":\"overlay\",\"source\":\"overlay\",\"options\":" +
         array(img.options) + "}]";
  return o + "}";
}

std::string stats_output(const DiskUsage& u) {
  return "{\"disk_usage\":{\"total_bytes_used\":" + std::to_string(u.total) +
         ",\"exclusive_bytes_used\":" + std::to_string(u.exclusive) + "}}";
}

}  // namespace crunner::image
