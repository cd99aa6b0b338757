// The mount table crunner builds compared with the one runc builds from the same
// config.json (runc is installed on this machine; skipped when it is not).
#include <sched.h>
#include <unistd.h>

#include <algorithm>
#include <catch2/catch.hpp>
#include <cstdlib>
#include <map>

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
    out[f[4]] = f[dash + 1] + " " + join(opts, ",");
  }
  return out;
}

}  // namespace

TEST_CASE("the mount table matches what runc builds from the same config", "[rootfs][root][runc]") {
  if (geteuid() != 0 || std::system("command -v runc >/dev/null 2>&1") != 0) return;
  Bundle b;
  // The same extras for both runtimes, then the fixture's defaults.
  b.file(b.hostdir + "/ro/hello", "hi\n");
  b.file(b.rootfs + "/etc/secret", "secret\n");
  b.file(b.rootfs + "/data/ro/file", "ro\n");
  b.mount("/mnt/tmp", "tmpfs", "tmpfs", {"nosuid", "nodev", "size=1m", "mode=700"});
  b.mount("/mnt/hostro", "bind", b.hostdir + "/ro", {"rbind", "ro", "nosuid"});
  b.spec.linux_->masked_paths.push_back("/etc/secret");
  b.spec.linux_->readonly_paths.push_back("/data/ro");
  std::string id = "crunner-test-rootfs-" + std::to_string(getpid());
  nlohmann::json j = b.spec.raw;
  j["process"]["args"] = {"cat", "/proc/self/mountinfo"};
  j["linux"]["cgroupsPath"] = "/" + id;
  for (const auto& m : std::vector<spec::Mount>(b.spec.mounts.end() - 2, b.spec.mounts.end()))
    j["mounts"].push_back({{"destination", m.destination},
                           {"type", m.type},
                           {"source", m.source},
                           {"options", m.options}});
  j["linux"]["maskedPaths"].push_back("/etc/secret");
  j["linux"]["readonlyPaths"].push_back("/data/ro");
  REQUIRE(write_file(b.dir + "/config.json", j.dump(2), O_WRONLY | O_TRUNC).ok());
  std::string out = b.dir + "/runc.out";
  std::string cmd = "runc --root '" + b.dir + "/runc-root' run --bundle '" + b.dir + "' " + id +
                    " >'" + out + "' 2>'" + b.dir + "/runc.err' </dev/null";
  int rc = std::system(cmd.c_str());
  INFO("runc: " << read_or(b.dir + "/runc.err"));
  REQUIRE(rc == 0);
  auto runc_table = mount_table(read_or(out));
  REQUIRE(runc_table.size() > 10);

  RootfsConfig cfg = b.config();
  Outcome o = run_isolated(kNs | CLONE_NEWCGROUP, [&](Checker& c) {
    auto r = prepare_rootfs(cfg);
    if (r) r = finalize_rootfs(cfg);
    c.check(r.ok(), "setup", r.ok() ? "" : r.error().what());
    c.note("mountinfo", read_or("/proc/self/mountinfo"));
  });
  REQUIRE(o.failed.empty());
  std::string ours_text;
  bool in = false;
  for (const std::string& l : o.lines) {
    if (l.rfind("NOTE mountinfo=", 0) == 0) {
      ours_text = l.substr(15) + "\n";
      in = true;
    } else if (in) {
      ours_text += l + "\n";
    }
  }
  auto ours = mount_table(ours_text);
  std::vector<std::string> diffs;
  for (const auto& [mp, v] : runc_table) {
    auto it = ours.find(mp);
    if (it == ours.end())
      diffs.push_back("only runc: " + mp + " " + v);
    else if (it->second != v)
      diffs.push_back("differs: " + mp + " runc `" + v + "` ours `" + it->second + "`");
  }
  for (const auto& [mp, v] : ours)
    if (!runc_table.count(mp)) diffs.push_back("only ours: " + mp + " " + v);
  for (const std::string& d : diffs) UNSCOPED_INFO(d);
  REQUIRE(diffs.empty());
}
