#include "base/proc.hpp"

#include <string>
#include <vector>

#include "base/file.hpp"
#include "base/text.hpp"

namespace crunner {

// /proc/<pid>/stat: "pid (comm) S ppid ..."; comm may contain spaces and ')'.
static bool stat_fields(pid_t pid, std::vector<std::string>& fields) {
  auto r = read_file("/proc/" + std::to_string(pid) + "/stat");
  if (!r) return false;
  const std::string& s = *r;
  size_t close = s.rfind(')');
  if (close == std::string::npos) return false;
  fields = split(trim(s.substr(close + 2)), ' ');  // fields[0] is field 3 (state)
  return true;
}

unsigned long long process_start_time(pid_t pid) {
  std::vector<std::string> f;
  if (!stat_fields(pid, f) || f.size() < 20) return 0;
  unsigned long long v = 0;
  parse_u64(f[19], v);
  return v;
}

char process_state(pid_t pid) {
  std::vector<std::string> f;
  if (!stat_fields(pid, f) || f.empty() || f[0].empty()) return 0;
  return f[0][0];
}

unsigned long long memory_total() {
  auto text = read_file("/proc/meminfo");
  if (!text) return 0;
  for (const std::string& line : split(*text, '\n')) {
    if (line.rfind("MemTotal:", 0) != 0) continue;
    std::string kb = trim(line.substr(9));
    if (kb.size() > 3 && kb.compare(kb.size() - 3, 3, " kB") == 0) kb.resize(kb.size() - 3);
    unsigned long long v = 0;
    if (!parse_u64(trim(kb), v) || v > ~0ULL / 1024) return 0;
    return v * 1024;
  }
  return 0;
}

bool process_running(pid_t pid) {
  char c = process_state(pid);
  return c != 0 && c != 'Z' && c != 'X';
}

}  // namespace crunner
