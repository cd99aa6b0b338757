#include "garden/bundle/bundle.hpp"

#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <catch2/catch.hpp>
#include <cstdlib>
#include <filesystem>
#include <fstream>

using json = nlohmann::json;
using namespace garden;

namespace {

struct TempDir {
  std::string path;
  TempDir() {
    char tmpl[] = "/tmp/crunner-test-garden-unit-XXXXXX";
    path = mkdtemp(tmpl);
  }
  ~TempDir() {
    std::error_code ec;
    std::filesystem::remove_all(path, ec);
  }
};

BundleParams params(const std::string& rootfs) {
  BundleParams p;
  p.handle = "h1";
  p.rootfs = rootfs;
  p.init_path = "/bin/true";
  p.hosts_file = "/etc/hostname";
  p.resolv_file = "/etc/hostname";
  p.cgroup_parent = "garden";
  return p;
}

bool has(const json& arr, const json& v) {
  return std::find(arr.begin(), arr.end(), v) != arr.end();
}

const json* mount_at(const json& config, const std::string& dst) {
  for (auto& m : config["mounts"])
    if (m["destination"] == dst) return &m;
  return nullptr;
}

}  // namespace

TEST_CASE("unprivileged bundle: user namespace, seccomp, masks, hostname, cgroup", "[garden]") {
  std::string err;
  json c = build_config(json::object(), params("/rootfs"), err);
  REQUIRE(err.empty());
  json types = json::array();
  for (auto& n : c["linux"]["namespaces"]) types.push_back(n["type"]);
  for (const char* t : {"network", "pid", "uts", "ipc", "mount", "user"}) CHECK(has(types, t));
  json map = json::parse(
      R"([{"containerID":0,"hostID":4294967294,"size":1},{"containerID":1,"hostID":1,"size":4294967293}])");
  CHECK(c["linux"]["uidMappings"] == map);
  CHECK(c["linux"]["gidMappings"] == map);
  CHECK(c["linux"]["seccomp"]["defaultAction"] == "SCMP_ACT_ERRNO");
  CHECK(has(c["linux"]["seccomp"]["syscalls"][0]["names"], "read"));
  CHECK_FALSE(has(c["linux"]["seccomp"]["syscalls"][0]["names"], "kexec_load"));
  CHECK(c["hostname"] == "h1");
  CHECK(c["linux"]["cgroupsPath"] == "garden/h1");
  for (const char* m : {"/proc/kcore", "/proc/latency_stats", "/proc/sched_debug", "/proc/scsi",
                        "/proc/timer_list", "/proc/timer_stats", "/proc/keys", "/sys/firmware"})
    CHECK(has(c["linux"]["maskedPaths"], m));
  CHECK(c["process"]["args"] == json::array({"/tmp/garden-init"}));
  CHECK(c["root"]["path"] == "/rootfs");
  auto caps = c["process"]["capabilities"]["bounding"];
  CHECK(has(caps, "CAP_CHOWN"));
  CHECK_FALSE(has(caps, "CAP_SYS_ADMIN"));
  // Guardian's mounts (guardiancmd/command_linux.go): no /dev tmpfs, no /dev/mqueue.
  for (const char* d : {"/proc", "/sys", "/dev/pts", "/dev/shm", "/tmp/garden-init", "/etc/hosts",
                        "/etc/resolv.conf", "/sys/fs/cgroup"})
    CHECK(mount_at(c, d) != nullptr);
  CHECK(mount_at(c, "/dev") == nullptr);
  CHECK(mount_at(c, "/dev/mqueue") == nullptr);
  CHECK(has((*mount_at(c, "/sys"))["options"], "ro"));
  CHECK(has((*mount_at(c, "/sys/fs/cgroup"))["options"], "ro"));
  CHECK(c["process"]["env"] == json::array());  // the spec's env only
  CHECK_FALSE(c["linux"].contains("readonlyPaths"));
  CHECK_FALSE(c["linux"]["resources"].contains("devices"));  // the runtime's defaults
}

TEST_CASE("privileged bundle: no user namespace, no seccomp, more caps", "[garden]") {
  std::string err;
  json c = build_config({{"privileged", true}}, params("/rootfs"), err);
  REQUIRE(err.empty());
  for (auto& n : c["linux"]["namespaces"]) CHECK(n["type"] != "user");
  CHECK_FALSE(c["linux"].contains("uidMappings"));
  CHECK_FALSE(c["linux"].contains("seccomp"));
  CHECK(c["process"]["capabilities"]["bounding"].size() > container_caps(false).size());
  CHECK(mount_at(c, "/sys/fs/cgroup") == nullptr);
  CHECK(c["linux"]["devices"][0]["path"] == "/dev/fuse");
  auto& d = c["linux"]["resources"]["devices"];
  CHECK(d[0] == json({{"allow", false}, {"access", "rwm"}}));
  CHECK(has(d, {{"allow", true}, {"type", "c"}, {"major", 10}, {"minor", 229}, {"access", "rwm"}}));
  CHECK(has(d, {{"allow", true}, {"type", "c"}, {"major", 10}, {"minor", 200}, {"access", "rwm"}}));
  // A non-root process gets the unprivileged set plus CAP_SYS_ADMIN.
  auto nonroot = container_caps(true, 1000);
  CHECK(has(nonroot, "CAP_SYS_ADMIN"));
  CHECK_FALSE(has(nonroot, "CAP_NET_ADMIN"));
}

TEST_CASE("limits become linux.resources", "[garden]") {
  std::string err;
  json spec = {{"limits",
                {{"memory_limits", {{"limit_in_bytes", 1 << 26}}},
                 {"cpu_limits", {{"weight", 300}, {"limit_in_shares", 100}}},
                 {"pid_limits", {{"max", 42}}}}}};
  json c = build_config(spec, params("/rootfs"), err);
  REQUIRE(err.empty());
  auto& r = c["linux"]["resources"];
  CHECK(r["memory"]["limit"] == 1 << 26);
  CHECK(r["cpu"]["shares"] == 300);
  CHECK(r["pids"]["limit"] == 42);
  spec["limits"]["cpu_limits"] = {{"limit_in_shares", 100}};
  c = build_config(spec, params("/rootfs"), err);
  CHECK(c["linux"]["resources"]["cpu"]["shares"] == 100);
  c = build_config(json::object(), params("/rootfs"), err);
  CHECK_FALSE(c["linux"]["resources"].contains("memory"));
}

TEST_CASE("bind mounts: mode, origin and errors", "[garden]") {
  TempDir root;
  mkdir((root.path + "/inside").c_str(), 0755);
  std::string err;
  json spec = {{"bind_mounts",
                {{{"src_path", "/etc"}, {"dst_path", "/a"}},
                 {{"src_path", "/etc"}, {"dst_path", "/b"}, {"mode", 1}},
                 {{"src_path", "/inside"}, {"dst_path", "/c"}, {"origin", 1}}}}};
  json c = build_config(spec, params(root.path), err);
  REQUIRE(err.empty());
  CHECK(has((*mount_at(c, "/a"))["options"], "ro"));
  CHECK_FALSE(has((*mount_at(c, "/b"))["options"], "ro"));
  CHECK((*mount_at(c, "/c"))["source"] == root.path + "/inside");
  build_config({{"bind_mounts", {{{"src_path", "/nonexistent-x"}, {"dst_path", "/a"}}}}},
               params(root.path), err);
  CHECK(err.find("does not exist") != std::string::npos);
  err.clear();
  build_config({{"bind_mounts", {{{"src_path", "/etc"}, {"dst_path", "rel"}}}}}, params(root.path),
               err);
  CHECK_FALSE(err.empty());
}

TEST_CASE("env is the spec's, hostname is the handle's last 49 bytes", "[garden]") {
  std::string err;
  auto p = params("/rootfs");
  p.handle = std::string(60, 'x') + std::string(40, 'y');
  json c = build_config({{"env", {"PATH=/x", "A=b"}}}, p, err);
  CHECK(c["process"]["env"] == json::array({"PATH=/x", "A=b"}));
  CHECK(c["hostname"] == std::string(9, 'x') + std::string(40, 'y'));
}

TEST_CASE("prepare_mountpoints creates targets without following symlinks", "[garden]") {
  TempDir root, outside;
  std::string err;
  symlink(outside.path.c_str(), (root.path + "/etc").c_str());
  json c = build_config(json::object(), params(root.path), err);
  REQUIRE(err.empty());
  CHECK(prepare_mountpoints(root.path, c).empty());
  struct stat st;
  CHECK(stat((root.path + "/proc").c_str(), &st) == 0);
  CHECK(S_ISDIR(st.st_mode));
  CHECK(stat((root.path + "/sys").c_str(), &st) == 0);
  // /etc is a symlink out of the rootfs: nothing may be created through it.
  CHECK(access((outside.path + "/hosts").c_str(), F_OK) != 0);
  CHECK(access((outside.path + "/resolv.conf").c_str(), F_OK) != 0);
}
