// The mount table crunner builds compared with the one runc builds from the same
// config.json (runc is installed by scripts/setup-deps.sh; without it these cases fail).
#include <fcntl.h>
#include <sched.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <catch2/catch.hpp>
#include <cstdlib>
#include <functional>
#include <map>
#include <string>
#include <vector>

#include "tests/unit/rootfs_harness.hpp"

using namespace crunner;
using namespace rootfs_test;

namespace {

// mountpoint -> "fstype per-mount-options(sorted)" from mountinfo text.
std::map<std::string, std::string> mount_table(const std::string& text) {
  std::map<std::string, std::string> out;
  for (const std::string& line : split(text, '\n')) {
    std::vector<std::string> f = split(line, ' ');
    size_t dash = 0;
    for (size_t i = 6; i < f.size(); ++i)
      if (f[i] == "-") {
        dash = i;
        break;
      }
    if (dash == 0 || dash + 1 >= f.size()) continue;
    std::vector<std::string> opts = split(f[5], ',');
    std::sort(opts.begin(), opts.end());
    std::vector<std::string> prop;  // "shared", "master", "unbindable" (no group numbers)
    for (size_t i = 6; i < dash; ++i) prop.push_back(f[i].substr(0, f[i].find(':')));
    std::sort(prop.begin(), prop.end());
    out[f[4]] = f[dash + 1] + " " + join(opts, ",") + " [" + join(prop, " ") + "]";
  }
  return out;
}

// What both runtimes print from inside the container: the mount table, then /dev.
const char* kScript =
    "cat /proc/self/mountinfo; echo ===; stat -c '%N %F %t:%T %u:%g %a' /dev/* | sort";

std::string run_script_here() {
  int p[2];
  if (pipe2(p, O_CLOEXEC) < 0) return "";
  pid_t pid = fork();
  if (pid == 0) {
    dup2(p[1], 1);
    execl("/bin/sh", "sh", "-c", kScript, static_cast<char*>(nullptr));
    _exit(127);
  }
  close(p[1]);
  auto out = read_fd(p[0]);
  close(p[0]);
  int st = 0;
  waitpid(pid, &st, 0);
  return out ? *out : "";
}

struct Views {
  std::map<std::string, std::string> mounts;
  std::string dev;
};

Views views_of(const std::string& text) {
  size_t sep = text.find("===\n");
  Views v;
  v.mounts = mount_table(text.substr(0, sep));
  if (sep != std::string::npos) v.dev = text.substr(sep + 4);
  return v;
}

// The fixture's config edited by `edit`, run by runc and by us; the differences.
std::vector<std::string> diff_with_runc(const std::function<void(nlohmann::json&, Bundle&)>& edit,
                                        bool no_pivot = false) {
  Bundle b;
  std::string id = "crunner-test-rootfs-" + std::to_string(getpid());
  nlohmann::json j = b.spec.raw;
  edit(j, b);
  j["process"]["args"] = {"sh", "-c", kScript};
  j["linux"]["cgroupsPath"] = "/" + id;
  REQUIRE(write_file(b.dir + "/config.json", j.dump(2), O_WRONLY | O_TRUNC).ok());
  auto reloaded = spec::load_spec(b.dir);
  REQUIRE(reloaded.ok());
  b.spec = std::move(*reloaded);

  std::string out = b.dir + "/runc.out";
  std::string cmd = "runc --root '" + b.dir + "/runc-root' run " + (no_pivot ? "--no-pivot " : "") +
                    "--bundle '" + b.dir + "' " + id + " >'" + out + "' 2>'" + b.dir +
                    "/runc.err' </dev/null";
  int rc = std::system(cmd.c_str());
  INFO("runc: " << read_or(b.dir + "/runc.err"));
  REQUIRE(rc == 0);
  Views runc = views_of(read_or(out));
  REQUIRE(runc.mounts.size() > 10);
  REQUIRE(runc.dev.find("/dev/null character special file 1:3") != std::string::npos);

  RootfsConfig cfg = b.config();
  cfg.no_pivot = no_pivot;
  cfg.in_userns = b.spec.linux_or_empty().has_ns(spec::NsType::User);
  bool cgroupns = b.spec.linux_or_empty().has_ns(spec::NsType::Cgroup);
  Outcome o = run_isolated(
      kNs | (cgroupns ? CLONE_NEWCGROUP : 0),
      [&](Checker& c) {
        auto r = prepare_rootfs(cfg);
        if (r) r = finalize_rootfs(cfg);
        c.check(r.ok(), "setup", r.ok() ? "" : r.error().what());
        if (r) c.note("view", run_script_here());
      },
      cfg.in_userns);
  REQUIRE(o.failed.empty());
  std::string text;
  bool in = false;
  for (const std::string& l : o.lines) {
    if (l.rfind("NOTE view=", 0) == 0) {
      text = l.substr(10) + "\n";
      in = true;
    } else if (in) {
      text += l + "\n";
    }
  }
  Views ours = views_of(text);
  REQUIRE(ours.mounts.size() > 10);
  std::vector<std::string> diffs;
  for (const auto& [mp, v] : runc.mounts) {
    auto it = ours.mounts.find(mp);
    if (it == ours.mounts.end())
      diffs.push_back("only runc: " + mp + " " + v);
    else if (it->second != v)
      diffs.push_back("differs: " + mp + " runc `" + v + "` ours `" + it->second + "`");
  }
  for (const auto& [mp, v] : ours.mounts)
    if (!runc.mounts.count(mp)) diffs.push_back("only ours: " + mp + " " + v);
  if (ours.dev != runc.dev)
    diffs.push_back("/dev differs:\nrunc:\n" + runc.dev + "ours:\n" + ours.dev);
  for (const std::string& d : diffs) UNSCOPED_INFO(d);
  return diffs;
}

void add_mount(nlohmann::json& j, const std::string& dest, const std::string& type,
               const std::string& source, const std::vector<std::string>& options) {
  j["mounts"].push_back(
      {{"destination", dest}, {"type", type}, {"source", source}, {"options", options}});
}

// These cases compare with runc itself: without root or runc they fail (setup-deps.sh
// installs runc); they never pass by returning early.
void require_root_and_runc() {
  if (geteuid() != 0) FAIL("comparing mount tables with runc needs root");
  if (std::system("command -v runc >/dev/null 2>&1") != 0) FAIL("runc is not on PATH");
}

}  // namespace

TEST_CASE("same mount table and /dev as runc: the fixture config plus extras",
          "[rootfs][root][runc]") {
  require_root_and_runc();
  auto diffs = diff_with_runc([](nlohmann::json& j, Bundle& b) {
    b.file(b.hostdir + "/ro/hello", "hi\n");
    b.file(b.rootfs + "/etc/secret", "secret\n");
    b.file(b.rootfs + "/data/ro/file", "ro\n");
    add_mount(j, "/mnt/tmp", "tmpfs", "tmpfs", {"nosuid", "nodev", "size=1m", "mode=700"});
    add_mount(j, "/mnt/hostro", "bind", b.hostdir + "/ro", {"rbind", "ro", "nosuid"});
    j["linux"]["maskedPaths"].push_back("/etc/secret");
    j["linux"]["readonlyPaths"].push_back("/data/ro");
  });
  REQUIRE(diffs.empty());
}

TEST_CASE("same mount table and /dev as runc: no cgroup namespace and no-pivot",
          "[rootfs][root][runc]") {
  require_root_and_runc();
  auto drop_cgroupns = [](nlohmann::json& j, Bundle&) {
    auto& ns = j["linux"]["namespaces"];
    for (size_t i = 0; i < ns.size(); ++i)
      if (ns[i]["type"] == "cgroup") ns.erase(i--);
  };
  REQUIRE(diff_with_runc(drop_cgroupns).empty());
  REQUIRE(diff_with_runc(drop_cgroupns, /*no_pivot=*/true).empty());
}

TEST_CASE("same mount table and /dev as runc: options and devices and tmpcopyup",
          "[rootfs][root][runc]") {
  require_root_and_runc();
  auto diffs = diff_with_runc([](nlohmann::json& j, Bundle& b) {
    b.file(b.hostdir + "/data/x", "x\n");
    b.file(b.rootfs + "/opt/seed/file", "seed\n");
    REQUIRE(j["mounts"][1]["destination"] == "/dev");
    j["mounts"][1]["options"].push_back("ro");  // filled first, read-only at the end
    add_mount(j, "/mnt/rro", "bind", b.hostdir, {"rbind", "rro", "rnosuid", "rnoatime"});
    add_mount(j, "/mnt/atime", "tmpfs", "tmpfs", {"strictatime", "nodiratime", "sync"});
    add_mount(j, "/mnt/noatime", "tmpfs", "tmpfs", {"noatime", "ro", "dirsync"});
    add_mount(j, "/opt/seed", "tmpfs", "tmpfs", {"tmpcopyup", "nosuid"});
    add_mount(j, "/mnt/file", "bind", b.hostdir + "/data/x", {"bind", "ro", "noexec"});
    add_mount(j, "/mnt/priv", "bind", b.hostdir + "/data", {"rbind", "rprivate", "nodev"});
    j["linux"]["devices"] = nlohmann::json::array(
        {{{"type", "c"},
          {"path", "/dev/fuse"},
          {"major", 10},
          {"minor", 229},
          {"fileMode", 0600},
          {"uid", 1000},
          {"gid", 1001}},
         {{"type", "c"}, {"path", "/dev/null"}, {"major", 1}, {"minor", 3}, {"fileMode", 0640}}});
    j["linux"]["resources"]["devices"] =
        nlohmann::json::array({{{"allow", true}, {"access", "rwm"}}});
  });
  REQUIRE(diffs.empty());
}

TEST_CASE("same mount table and /dev as runc: a user namespace", "[rootfs][root][runc]") {
  require_root_and_runc();
  auto diffs = diff_with_runc([](nlohmann::json& j, Bundle& b) {
    b.file(b.hostdir + "/ro/hello", "hi\n");
    add_mount(j, "/mnt/hostro", "bind", b.hostdir + "/ro", {"rbind", "ro"});
    j["linux"]["namespaces"].push_back({{"type", "user"}});
    // The identity map the harness writes for our side.
    j["linux"]["uidMappings"] = {{{"containerID", 0}, {"hostID", 0}, {"size", 4294967295u}}};
    j["linux"]["gidMappings"] = {{{"containerID", 0}, {"hostID", 0}, {"size", 4294967295u}}};
    j["linux"]["devices"] = nlohmann::json::array(
        {{{"type", "c"}, {"path", "/dev/fuse"}, {"major", 10}, {"minor", 229}}});
  });
  REQUIRE(diffs.empty());
}

TEST_CASE("same mount table and /dev as runc: rootfsPropagation values", "[rootfs][root][runc]") {
  require_root_and_runc();
  for (const char* prop : {"rprivate", "rslave", "rshared", "private", "shared", "slave"}) {
    INFO(prop);
    auto diffs = diff_with_runc([&](nlohmann::json& j, Bundle& b) {
      b.file(b.hostdir + "/data/x", "x\n");
      add_mount(j, "/mnt/shared", "bind", b.hostdir + "/data", {"rbind", "rshared"});
      j["linux"]["rootfsPropagation"] = prop;
    });
    // Deliberate difference: with "shared" we also make the container's "/"
    // shared (config-linux.md); runc 1.1 leaves it private.
    if (std::string(prop).find("shared") != std::string::npos)
      diffs.erase(
          std::remove_if(diffs.begin(), diffs.end(),
                         [](const std::string& d) { return d.rfind("differs: / ", 0) == 0; }),
          diffs.end());
    REQUIRE(diffs.empty());
  }
}
