#include "base/mountinfo.hpp"

#include "base/file.hpp"
#include "base/text.hpp"

namespace crunner {

namespace {

// mountinfo escapes space, tab, newline and backslash as \ooo.
std::string unescape(const std::string& s) {
  std::string out;
  for (size_t i = 0; i < s.size(); ++i) {
    auto oct = [](char c) { return c >= '0' && c <= '7'; };
    if (s[i] == '\\' && i + 3 < s.size() && oct(s[i + 1]) && oct(s[i + 2]) && oct(s[i + 3])) {
      out += static_cast<char>((s[i + 1] - '0') * 64 + (s[i + 2] - '0') * 8 + (s[i + 3] - '0'));
      i += 3;
      continue;
    }
    out += s[i];
  }
  return out;
}

}  // namespace

std::vector<MountInfo> parse_mountinfo(const std::string& text) {
  std::vector<MountInfo> out;
  for (const std::string& line : split(text, '\n')) {
    std::vector<std::string> f;
    for (std::string& w : split(line, ' '))
      if (!w.empty()) f.push_back(std::move(w));
    size_t dash = 0;
    for (size_t i = 6; i < f.size(); ++i)
      if (f[i] == "-") {
        dash = i;
        break;
      }
    if (dash == 0 || dash + 3 > f.size()) continue;
    MountInfo m;
    long long id = 0, parent = 0;
    if (!parse_i64(f[0], id) || !parse_i64(f[1], parent)) continue;
    m.id = static_cast<int>(id);
    m.parent = static_cast<int>(parent);
    m.root = unescape(f[3]);
    m.mountpoint = unescape(f[4]);
    m.options = f[5];
    for (size_t i = 6; i < dash; ++i) m.optional += (i > 6 ? " " : "") + f[i];
    m.fstype = f[dash + 1];
    m.source = unescape(f[dash + 2]);
    if (dash + 3 < f.size()) m.super_options = f[dash + 3];
    out.push_back(std::move(m));
  }
  return out;
}

Result<std::vector<MountInfo>> read_mountinfo(const std::string& path) {
  CR_ASSIGN(std::string text, read_file(path));
  return parse_mountinfo(text);
}

const MountInfo* find_mount_of(const std::vector<MountInfo>& mounts, const std::string& path) {
  const MountInfo* best = nullptr;
  for (const MountInfo& m : mounts) {
    const std::string& mp = m.mountpoint;
    bool under =
        path == mp || mp == "/" ||
        (path.size() > mp.size() && path.compare(0, mp.size(), mp) == 0 && path[mp.size()] == '/');
    // The last match wins among equal mountpoints: it is the one on top.
    if (under && (!best || mp.size() >= best->mountpoint.size())) best = &m;
  }
  return best;
}

}  // namespace crunner
