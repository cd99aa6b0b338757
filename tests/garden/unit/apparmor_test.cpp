// --apparmor against a fake host (a /sys with AppArmor's "enabled" parameter, a mount
// table, the kernel's profile list, apparmor_parser doubles), and the profile reaching
// every process of an unprivileged container: its init, run processes and peas.
#include <sys/stat.h>
#include <unistd.h>

#include <catch2/catch.hpp>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "garden/apparmor/profile.hpp"
#include "garden/bundle/bundle.hpp"
#include "garden/bundle/process_spec.hpp"
#include "garden/image/pea.hpp"

using json = nlohmann::json;
using namespace garden;

namespace {

struct FakeHost {
  std::string dir;
  apparmor::HostPaths paths;
  explicit FakeHost(bool enabled, bool securityfs = true) {
    char tmpl[] = "/tmp/crunner-test-garden-apparmor-XXXXXX";
    dir = mkdtemp(tmpl);
    std::filesystem::create_directories(dir + "/sys/module/apparmor/parameters");
    std::ofstream(dir + "/sys/module/apparmor/parameters/enabled") << (enabled ? "Y\n" : "N\n");
    std::ofstream(dir + "/mountinfo")
        << "22 1 0:21 / /proc rw - proc proc rw\n"
        << (securityfs ? "30 23 0:6 / " + dir + "/security rw - securityfs securityfs rw\n" : "");
    std::filesystem::create_directories(dir + "/security/apparmor");
    std::ofstream(dir + "/security/apparmor/profiles") << "other (enforce)\nlax (complain)\n";
    paths.sys_root = dir + "/sys";
    paths.mountinfo = dir + "/mountinfo";
    paths.parser = dir + "/missing-parser";
  }
  ~FakeHost() {
    std::error_code ec;
    std::filesystem::remove_all(dir, ec);
  }
  // An apparmor_parser double: records its argv and stdin, then runs `body`.
  void parser(const std::string& body) {
    paths.parser = dir + "/apparmor_parser";
    std::ofstream(paths.parser) << "#!/bin/sh\necho \"$@\" > " << dir << "/argv\ncat > " << dir
                                << "/stdin\n"
                                << body << "\n";
    chmod(paths.parser.c_str(), 0755);
  }
  std::string read(const std::string& rel) const {
    std::ifstream f(dir + "/" + rel);
    std::stringstream ss;
    ss << f.rdbuf();
    return ss.str();
  }
  std::string profiles() const { return dir + "/security/apparmor/profiles"; }
};

}  // namespace

TEST_CASE("garden-shim --apparmor on a host without AppArmor", "[garden][apparmor]") {
  FakeHost h(false);
  apparmor::Choice c;
  // The default: a note, containers without a profile.
  REQUIRE(apparmor::choose_profile(std::nullopt, c, h.paths).empty());
  CHECK(c.profile.empty());
  CHECK(c.note.find("AppArmor is not enabled on this host") != std::string::npos);
  // A profile named on purpose cannot be honoured: an error.
  CHECK(apparmor::choose_profile(std::string("garden-default"), c, h.paths) ==
        "--apparmor: apparmor profile \"garden-default\" requested but AppArmor is not enabled "
        "on this host");
  // None asked for: nothing to say.
  REQUIRE(apparmor::choose_profile(std::string(""), c, h.paths).empty());
  CHECK((c.profile.empty() && c.note.empty()));
}

TEST_CASE("garden-shim --apparmor loads garden-default with apparmor_parser",
          "[garden][apparmor]") {
  FakeHost h(true);
  apparmor::Choice c;
  h.parser("echo 'garden-default (enforce)' >> " + h.profiles());
  REQUIRE(apparmor::choose_profile(std::nullopt, c, h.paths).empty());
  CHECK(c.profile == "garden-default");
  CHECK(c.note == "unprivileged containers run under AppArmor profile garden-default");
  CHECK(h.read("argv") == "--replace --skip-cache --quiet\n");
  CHECK(h.read("stdin") == apparmor::kDefaultProfileText);
  CHECK(h.read("stdin").find("profile garden-default flags=") != std::string::npos);
  // Named explicitly, it is ours too: loaded again (replaced).
  std::filesystem::remove(h.dir + "/stdin");
  REQUIRE(apparmor::choose_profile(std::string("garden-default"), c, h.paths).empty());
  CHECK(h.read("stdin") == apparmor::kDefaultProfileText);
}

TEST_CASE("garden-shim --apparmor: garden-default that cannot be loaded is an error",
          "[garden][apparmor]") {
  apparmor::Choice c;
  {
    FakeHost h(true);  // no apparmor_parser
    std::string e = apparmor::choose_profile(std::nullopt, c, h.paths);
    CHECK(e.find("loading AppArmor profile garden-default: apparmor_parser not found") == 0);
    CHECK(c.profile.empty());
  }
  {
    FakeHost h(true);
    h.parser(
        "echo 'Warning: something' >&2\necho 'AppArmor parser error for stdin at line 9: "
        "syntax error' >&2\nexit 1");
    CHECK(apparmor::choose_profile(std::nullopt, c, h.paths) ==
          "loading AppArmor profile garden-default with `" + h.paths.parser +
              "`: AppArmor parser error for stdin at line 9: syntax error: exit status 1");
  }
  {
    FakeHost h(true);
    h.parser("exit 0");  // claims success, loads nothing
    CHECK(apparmor::choose_profile(std::nullopt, c, h.paths) ==
          "loading AppArmor profile garden-default: `" + h.paths.parser + "` succeeded but " +
              h.profiles() + " lists it nowhere");
  }
  {
    FakeHost h(true, false);  // securityfs not mounted
    h.parser("exit 0");
    CHECK(apparmor::choose_profile(std::nullopt, c, h.paths) ==
          "--apparmor: AppArmor is enabled but securityfs is not mounted (mount -t securityfs "
          "securityfs /sys/kernel/security)");
  }
}

TEST_CASE("garden-shim --apparmor NAME must be loaded already", "[garden][apparmor]") {
  FakeHost h(true);
  apparmor::Choice c;
  REQUIRE(apparmor::choose_profile(std::string("other"), c, h.paths).empty());
  CHECK(c.profile == "other");
  REQUIRE(apparmor::choose_profile(std::string("lax"), c, h.paths).empty());
  CHECK(c.profile == "lax");
  CHECK(apparmor::choose_profile(std::string("missing"), c, h.paths) ==
        "--apparmor: apparmor profile \"missing\" is not loaded (" + h.profiles() +
            " does not list it): load it with apparmor_parser first");
  CHECK(c.profile.empty());
  // Never a prefix match.
  CHECK_FALSE(apparmor::choose_profile(std::string("oth"), c, h.paths).empty());
  for (const std::string& bad :
       std::vector<std::string>{"a b", "-x", "tab\t", std::string(256, 'a'), "nl\n"})
    CHECK(apparmor::choose_profile(bad, c, h.paths).find("--apparmor: invalid profile name") == 0);
}

TEST_CASE(
    "the profile reaches an unprivileged container's init and processes, not a "
    "privileged one's",
    "[garden][apparmor]") {
  BundleParams p;
  p.handle = "h1";
  p.rootfs = "/rootfs";
  p.init_path = "/bin/true";
  p.hosts_file = p.resolv_file = "/etc/hostname";
  p.cgroup_parent = "garden";
  p.apparmor_profile = "garden-default";
  std::string err;
  json c = build_config(json::object(), p, err);
  REQUIRE(err.empty());
  CHECK(c["process"]["apparmorProfile"] == "garden-default");
  c = build_config({{"privileged", true}}, p, err);
  CHECK_FALSE(c["process"].contains("apparmorProfile"));
  p.apparmor_profile.clear();
  c = build_config(json::object(), p, err);
  CHECK_FALSE(c["process"].contains("apparmorProfile"));

  User root{"root", 0, 0, "/root"}, user{"user", 1000, 1000, "/home/user"};
  json spec = {{"path", "/bin/sh"}};
  json meta = {{"apparmor_profile", "garden-default"}, {"privileged", false}};
  CHECK(build_process(spec, meta, root)["apparmorProfile"] == "garden-default");
  CHECK(build_process(spec, meta, user)["apparmorProfile"] == "garden-default");
  meta["privileged"] = true;
  CHECK_FALSE(build_process(spec, meta, root).contains("apparmorProfile"));
  // A container of an older shim (no profile recorded) keeps none.
  CHECK_FALSE(build_process(spec, {{"privileged", false}}, root).contains("apparmorProfile"));
}

TEST_CASE("a pea runs under its container's profile", "[garden][apparmor]") {
  image::PeaParams pp;
  pp.handle = "box";
  pp.id = "task-1";
  pp.rootfs = "/tmp";
  pp.init_pid = 4242;
  pp.init_path = "/bin/true";
  pp.hosts_file = pp.resolv_file = "/etc/hostname";
  pp.cgroup_parent = "garden";
  pp.apparmor_profile = "garden-default";
  User u{"root", 0, 0, "/root"};
  std::string err;
  json c = image::pea_config({{"path", "/bin/sh"}}, pp, u, err);
  REQUIRE(err.empty());
  CHECK(c["process"]["apparmorProfile"] == "garden-default");
  pp.privileged = true;
  c = image::pea_config({{"path", "/bin/sh"}}, pp, u, err);
  CHECK_FALSE(c["process"].contains("apparmorProfile"));
}
