// AppArmor against a fake /proc and /sys in a temp dir (this kernel has no AppArmor).
#include <catch2/catch.hpp>

#include "apparmor/apparmor.hpp"
#include "base/file.hpp"
#include "temp_dir.hpp"

using namespace crunner;
using namespace crunner::testing;

namespace {

struct FakeRoots {
  TempDir tmp;
  std::string sys = tmp.path + "/sys", proc = tmp.path + "/proc";
  std::string enabled_file = sys + "/module/apparmor/parameters/enabled";
  std::string lsm_exec = proc + "/thread-self/attr/apparmor/exec";
  std::string shared_exec = proc + "/self/attr/exec";

  void set_enabled(const std::string& v) {
    REQUIRE(mkdir_p(sys + "/module/apparmor/parameters").ok());
    REQUIRE(write_file(enabled_file, v, O_WRONLY | O_CREAT | O_TRUNC).ok());
  }
  void make_attr(const std::string& path) {
    REQUIRE(mkdir_p(path.substr(0, path.rfind('/'))).ok());
    REQUIRE(write_file(path, "", O_WRONLY | O_CREAT | O_TRUNC).ok());
  }
};

}  // namespace

TEST_CASE("apparmor detection reads module/apparmor/parameters/enabled", "[apparmor]") {
  FakeRoots f;
  REQUIRE_FALSE(apparmor::is_enabled(f.sys));  // no module at all
  f.set_enabled("N\n");
  REQUIRE_FALSE(apparmor::is_enabled(f.sys));
  f.set_enabled("");
  REQUIRE_FALSE(apparmor::is_enabled(f.sys));
  f.set_enabled("Y\n");
  REQUIRE(apparmor::is_enabled(f.sys));
  // The real host agrees with its own file.
  auto real = read_file("/sys/module/apparmor/parameters/enabled");
  REQUIRE(apparmor::is_enabled() == (real.ok() && !real->empty() && (*real)[0] == 'Y'));
}

TEST_CASE("apparmor exec profile is written to the per-LSM attr file", "[apparmor]") {
  FakeRoots f;
  f.set_enabled("Y\n");
  f.make_attr(f.lsm_exec);
  f.make_attr(f.shared_exec);
  auto st = apparmor::apply_exec_profile("garden-default", f.proc, f.sys);
  REQUIRE(st.ok());
  REQUIRE(*read_file(f.lsm_exec) == "exec garden-default");
  REQUIRE(read_file(f.shared_exec)->empty());  // the fallback is not touched
}

TEST_CASE("apparmor falls back to /proc/self/attr/exec on older kernels", "[apparmor]") {
  FakeRoots f;
  f.set_enabled("Y\n");
  f.make_attr(f.shared_exec);
  auto st = apparmor::apply_exec_profile("docker-default", f.proc, f.sys);
  REQUIRE(st.ok());
  REQUIRE(*read_file(f.shared_exec) == "exec docker-default");
  REQUIRE_FALSE(path_exists(f.lsm_exec));
}

TEST_CASE("apparmor: clear errors", "[apparmor]") {
  FakeRoots f;
  // Not enabled: the error names the profile; nothing is written.
  f.make_attr(f.lsm_exec);
  auto st = apparmor::apply_exec_profile("x", f.proc, f.sys);
  REQUIRE_FALSE(st.ok());
  REQUIRE(st.error().what() ==
          "apparmor profile \"x\" requested but AppArmor is not enabled on this host");
  REQUIRE(st.error().kind == ErrorKind::Unsupported);
  REQUIRE(read_file(f.lsm_exec)->empty());
  REQUIRE_FALSE(apparmor::check_profile("x", f.sys).ok());

  // No profile asked for: fine everywhere, nothing written.
  REQUIRE(apparmor::check_profile("", f.sys).ok());
  REQUIRE(apparmor::apply_exec_profile("", f.proc, f.sys).ok());
  REQUIRE(read_file(f.lsm_exec)->empty());

  // Enabled, but neither attr file exists: the error names the fallback path.
  FakeRoots g;
  g.set_enabled("Y\n");
  st = apparmor::apply_exec_profile("p", g.proc, g.sys);
  REQUIRE_FALSE(st.ok());
  REQUIRE(st.error().what() ==
          "apply apparmor profile \"p\": write `" + g.shared_exec + "`: no such file or directory");
}

TEST_CASE("apparmor on this host: a requested profile is refused when absent", "[apparmor]") {
  if (apparmor::is_enabled()) {
    WARN("AppArmor is enabled here; the absent-host check does not apply");
    return;
  }
  auto st = apparmor::check_profile("crunner-default");
  REQUIRE_FALSE(st.ok());
  REQUIRE(st.error().message.find("not enabled on this host") != std::string::npos);
}

TEST_CASE("apparmor: a profile that is not loaded is refused, from securityfs's list",
          "[apparmor]") {
  FakeRoots f;
  f.set_enabled("Y\n");
  std::string dir = f.sys + "/kernel/security/apparmor";
  // No list (securityfs not mounted): nothing can be told; the kernel decides at exec.
  REQUIRE_FALSE(apparmor::loaded_profiles(f.sys));
  REQUIRE(apparmor::check_profile("absent", f.sys).ok());

  REQUIRE(mkdir_p(dir).ok());
  REQUIRE(write_file(dir + "/profiles",
                     "garden-default (enforce)\nnamed with spaces (complain)\n"
                     "parent//hat (enforce)\n",
                     O_WRONLY | O_CREAT | O_TRUNC)
              .ok());
  auto names = apparmor::loaded_profiles(f.sys);
  REQUIRE(names);
  REQUIRE(*names == std::vector<std::string>{"garden-default", "named with spaces", "parent//hat"});
  for (auto* p : {"garden-default", "named with spaces", "parent//hat", "unconfined",
                  ":ns:other-namespace", "a//&b"})
    REQUIRE(apparmor::check_profile(p, f.sys).ok());
  for (auto* p : {"absent", "garden", "garden-default (enforce)", "parent"}) {
    auto st = apparmor::check_profile(p, f.sys);
    REQUIRE_FALSE(st.ok());
    REQUIRE(st.error().what() == "apparmor profile \"" + std::string(p) + "\" is not loaded");
  }
  // Not enabled wins over the list.
  f.set_enabled("N\n");
  REQUIRE(apparmor::check_profile("garden-default", f.sys).error().what() ==
          "apparmor profile \"garden-default\" requested but AppArmor is not enabled on this "
          "host");
}
