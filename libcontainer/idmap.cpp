#include "libcontainer/idmap.hpp"

#include <unistd.h>

#include <string>
#include <vector>

#include "base/file.hpp"
#include "libcontainer/hooks.hpp"
#include "libcontainer/process_setup.hpp"

namespace crunner {

namespace {

Status write_id_map(pid_t pid, const char* file, const std::vector<spec::IdMapping>& m) {
  std::string text;
  for (auto& e : m)
    text += std::to_string(e.container_id) + " " + std::to_string(e.host_id) + " " +
            std::to_string(e.size) + "\n";
  return write_file("/proc/" + std::to_string(pid) + "/" + file, text);
}

// One mapping of the caller's own id: what an unprivileged process may write itself.
bool own_id_only(const std::vector<spec::IdMapping>& m, unsigned own) {
  return m.size() == 1 && m[0].size == 1 && m[0].host_id == own;
}

// newuidmap/newgidmap (shadow's setuid helpers, checked against /etc/subuid and /etc/subgid):
// how a non-root caller maps more than its own id, as runc does when writing the map fails.
Status run_id_map_tool(const char* tool, pid_t pid, const std::vector<spec::IdMapping>& m) {
  // The system's own directories only: the helper is setuid root.
  const std::vector<std::string> env = {"PATH=/usr/bin:/bin:/usr/sbin:/sbin"};
  auto path = find_executable(tool, env);
  std::string ctx = std::string(tool) + " for pid " + std::to_string(pid);
  if (!path)
    return make_error(ErrorKind::Unsupported,
                      ctx +
                          ": not installed (apt-get install uidmap): a non-root caller needs "
                          "it to map more than its own id");
  spec::Hook h;
  h.path = *path;
  h.args = {tool, std::to_string(pid)};
  for (auto& e : m) {
    h.args.push_back(std::to_string(e.container_id));
    h.args.push_back(std::to_string(e.host_id));
    h.args.push_back(std::to_string(e.size));
  }
  h.env = env;
  h.timeout = 30;
  return run_program(h, "", ctx);
}

// One map: written directly, or (rootless, refused) by the setuid tool.
Status write_one(pid_t pid, const char* file, const char* tool,
                 const std::vector<spec::IdMapping>& m, const char* field) {
  auto r = write_id_map(pid, file, m);
  if (r) return {};
  if (geteuid() == 0 || r.error().err != EPERM) return r.error().context(field);
  CR_TRY_CTX(run_id_map_tool(tool, pid, m), field);
  return {};
}

}  // namespace

Status write_id_maps(pid_t pid, const spec::Linux& lx) {
  if (geteuid() != 0 && own_id_only(lx.gid_mappings, getegid())) {
    if (auto r = write_file("/proc/" + std::to_string(pid) + "/setgroups", "deny"); !r)
      return r.error().context("linux.gidMappings (rootless)");
  }
  CR_TRY(write_one(pid, "gid_map", "newgidmap", lx.gid_mappings, "linux.gidMappings"));
  return write_one(pid, "uid_map", "newuidmap", lx.uid_mappings, "linux.uidMappings");
}

}  // namespace crunner
