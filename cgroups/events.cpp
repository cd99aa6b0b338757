// `events`: stats once or on an interval, and OOM notifications, one JSON line each.
#include <poll.h>

#include "base/file.hpp"
#include "cgroups/manager.hpp"

namespace crunner::cgroups {

namespace {

// One event line with runc's key order: type, id, then data (when there is any).
Status emit(int fd, const std::string& type, const std::string& id,
            const nlohmann::json* data = nullptr) {
  nlohmann::ordered_json j;
  j["type"] = type;
  j["id"] = id;
  if (data) j["data"] = nlohmann::ordered_json::parse(data->dump());
  std::string line = j.dump() + "\n";
  return write_all(fd, line.data(), line.size());
}

Status emit_stats(Manager& m, const std::string& id, int fd) {
  CR_ASSIGN(Stats s, m.stats());
  nlohmann::json data = stats_to_json(s);
  return emit(fd, "stats", id, &data);
}

}  // namespace

Status run_events(Manager& m, const std::string& id, bool stats_once,
                  std::chrono::milliseconds interval, int out_fd) {
  if (stats_once) return emit_stats(m, id, out_fd);
  std::unique_ptr<OomWatch> oom;
  if (auto w = m.watch_oom()) oom = std::move(*w);
  auto next = std::chrono::steady_clock::now() + interval;
  for (;;) {
    if (!m.exists()) return {};
    auto now = std::chrono::steady_clock::now();
    if (now >= next) {
      auto r = emit_stats(m, id, out_fd);
      if (!r) {
        if (!m.exists()) return {};
        return r;
      }
      next = now + interval;
      continue;
    }
    auto wait = std::chrono::duration_cast<std::chrono::milliseconds>(next - now).count();
    // Wake at least every 200ms to notice that the cgroup is gone.
    int timeout = static_cast<int>(std::min<long long>(wait, 200));
    struct pollfd p = {oom ? oom->fd() : -1, POLLIN, 0};
    int n = ::poll(&p, 1, timeout);
    if (n < 0 && errno != EINTR) return sys_error("poll oom notification");
    if (n > 0 && oom) {
      CR_ASSIGN(uint64_t count, oom->consume());
      for (uint64_t i = 0; i < count; ++i) CR_TRY(emit(out_fd, "oom", id));
    }
  }
}

}  // namespace crunner::cgroups
