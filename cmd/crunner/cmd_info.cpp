// state, list, spec, features.
#include <sys/stat.h>
#include <unistd.h>

#include <cstdio>

#include "apparmor/apparmor.hpp"
#include "base/file.hpp"
#include "base/text.hpp"
#include "cmd/crunner/cli.hpp"
#include "libcontainer/container.hpp"
#include "libcontainer/default_spec.hpp"
#include "libcontainer/rootfs.hpp"
#include "libcontainer/spec.hpp"
#include "seccomp/seccomp.hpp"
#include "selinux/selinux.hpp"

namespace crunner::cli {

namespace {

// The owner's name from /etc/passwd, as runc (Go, static) looks it up: crunner is a static
// binary, so no NSS (getpwuid would need glibc's shared NSS modules at run time).
std::string owner_of(const std::string& path) {
  struct stat st;
  if (stat(path.c_str(), &st) < 0) return "";
  if (auto text = read_file("/etc/passwd")) {
    for (auto& line : split(*text, '\n')) {
      auto f = split(line, ':');
      unsigned long long uid;
      if (f.size() >= 3 && !f[0].empty() && parse_u64(f[2], uid) && uid == st.st_uid) return f[0];
    }
  }
  return std::to_string(st.st_uid);
}

// Go's tabwriter with minwidth 12, padding 3 (what runc's list uses).
void print_table(const std::vector<std::vector<std::string>>& rows) {
  std::vector<size_t> w;
  for (auto& r : rows)
    for (size_t i = 0; i + 1 < r.size(); i++) {
      if (w.size() <= i) w.push_back(0);
      w[i] = std::max(w[i], std::max<size_t>(12, r[i].size() + 3));
    }
  for (auto& r : rows) {
    std::string line;
    for (size_t i = 0; i < r.size(); i++) {
      line += r[i];
      if (i + 1 < r.size()) line += std::string(w[i] - r[i].size(), ' ');
    }
    printf("%s\n", line.c_str());
  }
}

nlohmann::ordered_json features() {
  using oj = nlohmann::ordered_json;
  oj f;
  f["ociVersionMin"] = "1.0.0";
  f["ociVersionMax"] = "1.2.0";
  f["hooks"] = oj::array(
      {"prestart", "createRuntime", "createContainer", "startContainer", "poststart", "poststop"});
  f["mountOptions"] = known_mount_options();
  oj lx;
  lx["namespaces"] = oj::array({"cgroup", "ipc", "mount", "network", "pid", "time", "user", "uts"});
  lx["capabilities"] = spec::known_capabilities();
  lx["cgroup"] = {{"v1", true}, {"v2", true}, {"systemd", true}, {"systemdUser", false}};
  lx["seccomp"] = seccomp::features();
  lx["apparmor"] = {{"enabled", apparmor::is_enabled()}};
  lx["selinux"] = {{"enabled", selinux::is_enabled()}};
  f["linux"] = lx;
  f["annotations"] = {{"org.opencontainers.runc.version", CRUNNER_VERSION},
                      {"run.crunner.commit", CRUNNER_COMMIT},
                      {"io.github.seccomp.libseccomp.version", seccomp::libseccomp_version()}};
  return f;
}

}  // namespace

void register_info(CLI::App& app, Globals& g, Handler* out) {
  static std::string id, format = "table", bundle;
  static bool quiet = false, rootless = false, with_seccomp = false;

  if (auto* state = add_command(app, g, "state", "print the container's state as JSON")) {
    add_id(state, &id);
    on_run(state, out, [&g] {
      auto r = container_status(g.store(), id);
      if (!r) return report(g, r.error());
      printf("%s\n", oci_state(r->first, r->second).dump(2).c_str());
      return 0;
    });
  }

  if (auto* list = add_command(app, g, "list", "list containers")) {
    list->add_option("-f,--format", format, "table or json")
        ->check(CLI::IsMember({"table", "json"}));
    list->add_flag("-q,--quiet", quiet, "print only the IDs");
    on_run(list, out, [&g] {
      StateStore store = g.store();
      auto ids = store.list();
      if (!ids) return report(g, ids.error());
      if (quiet) {
        for (auto& i : *ids) printf("%s\n", i.c_str());
        return 0;
      }
      nlohmann::ordered_json arr = nlohmann::ordered_json::array();
      std::vector<std::vector<std::string>> rows = {
          {"ID", "PID", "STATUS", "BUNDLE", "CREATED", "OWNER"}};
      for (auto& i : *ids) {
        auto r = container_status(store, i);
        if (!r) continue;
        auto st = oci_state(r->first, r->second);
        std::string owner = owner_of(store.dir(i));
        st["owner"] = owner;
        rows.push_back({i, std::to_string(st["pid"].get<long>()), st["status"], r->first.bundle,
                        r->first.created, owner});
        arr.push_back(st);
      }
      if (format == "json")
        printf("%s\n", arr.empty() ? "null" : arr.dump().c_str());
      else
        print_table(rows);
      return 0;
    });
  }

  if (auto* sp = add_command(app, g, "spec", "write a default config.json")) {
    sp->add_option("-b,--bundle", bundle, "bundle directory to write config.json into");
    sp->add_flag("--rootless", rootless, "a config for a rootless container");
    sp->add_flag("--seccomp", with_seccomp,
                 "add crunner's default seccomp allowlist profile (runc's spec writes none)");
    on_run(sp, out, [&g] {
      std::string path = (bundle.empty() ? std::string(".") : bundle) + "/config.json";
      if (path_exists(path))
        return report(g,
                      make_error(ErrorKind::Exists, "file `" + path + "` exists: remove it first"));
      // As runc writes it (Go's MarshalIndent with a tab, no final newline).
      auto r = write_file(path, default_spec(rootless, with_seccomp).dump(1, '\t'),
                          O_WRONLY | O_CREAT | O_EXCL, 0666);
      return r ? 0 : report(g, r.error());
    });
  }

  if (auto* feat = add_command(app, g, "features", "print what this runtime supports as JSON")) {
    on_run(feat, out, [] {
      printf("%s\n", features().dump(4).c_str());
      return 0;
    });
  }
}

}  // namespace crunner::cli
