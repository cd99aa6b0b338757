// `exec --cgroup`: argument parsing (runc's rules) and resolution against a fake tree.
#include <catch2/catch.hpp>

#include "cgroups/v1.hpp"
#include "cgroups_fake.hpp"
#include "libcontainer/exec_cgroup.hpp"

using namespace crunner;
using crunner::cgroups::testing::FakeTree;

using Subs = std::map<std::string, std::string>;

TEST_CASE("exec --cgroup arguments parse like runc's", "[exec][cgroup]") {
  CHECK(parse_sub_cgroups({}).value().empty());
  CHECK(parse_sub_cgroups({"sub"}).value() == Subs{{"", "sub"}});
  CHECK(parse_sub_cgroups({"memory,pids:a", "cpu:b"}).value() ==
        Subs{{"memory", "a"}, {"pids", "a"}, {"cpu", "b"}});
  auto bad = [](std::vector<std::string> a) {
    auto r = parse_sub_cgroups(a);
    return r ? std::string("ok") : r.error().message;
  };
  CHECK(bad({"a:b:c"}) == "invalid --cgroup argument: a:b:c");
  CHECK(bad({"memory:a", "b"}) == "invalid --cgroup argument: b (missing <controller>: prefix)");
  CHECK(bad({":a"}) == "invalid --cgroup argument: :a (empty <controller> prefix)");
  CHECK(bad({"memory,:a"}) == "invalid --cgroup argument: memory,:a (empty <controller> prefix)");
  CHECK(bad({"memory:a", "memory,pids:b"}) ==
        "invalid --cgroup argument(s): controller memory specified multiple times");
}

namespace {
nlohmann::json hybrid_state(FakeTree& t) {
  nlohmann::json j;
  j["mode"] = "hybrid";
  j["root"] = t.root();
  j["path"] = "/c";
  j["paths"] = {{"cpu", t.path("cpu,cpuacct/c")},
                {"cpuacct", t.path("cpu,cpuacct/c")},
                {"memory", t.path("memory/own/c")},
                {"pids", t.path("pids/c")}};
  j["unified"] = t.path("unified/c");
  for (auto d : {"cpu,cpuacct/c/sub", "memory/own/c/sub", "pids/c/sub", "unified/c/sub",
                 "pids/c/only", "cpu,cpuacct/c2"})
    t.dir(d);
  return j;
}
}  // namespace

TEST_CASE("exec --cgroup PATH: every v1 hierarchy and the hybrid unified one", "[exec][cgroup]") {
  FakeTree t;
  auto j = hybrid_state(t);
  auto r = resolve_sub_cgroups(j, {{"", "sub"}});
  REQUIRE(r);
  CHECK(r->v1_dirs == std::vector<std::string>{t.path("cpu,cpuacct/c/sub"),
                                               t.path("memory/own/c/sub"), t.path("pids/c/sub")});
  CHECK(r->unified_dir == t.path("unified/c/sub"));
  CHECK(r->unified_mount == t.path("unified"));
  // a leading slash is still below the container's cgroup; "sub/.." is the cgroup itself
  CHECK(resolve_sub_cgroups(j, {{"", "/sub/"}})->unified_dir == t.path("unified/c/sub"));
  CHECK(resolve_sub_cgroups(j, {{"", "sub/.."}})->unified_dir == t.path("unified/c"));
}

TEST_CASE("no --cgroup: the container's own cgroups", "[exec][cgroup]") {
  FakeTree t;
  auto j = hybrid_state(t);
  auto r = resolve_sub_cgroups(j, {});
  REQUIRE(r);
  CHECK(r->v1_dirs.size() == 3);
  CHECK(r->unified_dir == t.path("unified/c"));
}

TEST_CASE("exec --cgroup CTRL:PATH moves only those controllers", "[exec][cgroup]") {
  FakeTree t;
  auto j = hybrid_state(t);
  auto r = resolve_sub_cgroups(j, {{"pids", "only"}});
  REQUIRE(r);
  CHECK(r->v1_dirs == std::vector<std::string>{t.path("cpu,cpuacct/c"), t.path("memory/own/c"),
                                               t.path("pids/c/only")});
  CHECK(r->unified_dir == t.path("unified/c"));
  // co-mounted: naming one of cpu,cpuacct moves the shared directory
  r = resolve_sub_cgroups(j, {{"cpuacct", "sub"}});
  REQUIRE(r);
  CHECK(r->v1_dirs.front() == t.path("cpu,cpuacct/c/sub"));
  CHECK(r->v1_dirs.size() == 3);
}

TEST_CASE("exec --cgroup errors: escape, missing directory, unknown controller, v2 per-controller",
          "[exec][cgroup]") {
  FakeTree t;
  auto j = hybrid_state(t);
  auto msg = [&](const Subs& s) {
    auto r = resolve_sub_cgroups(j, s);
    return r ? std::string("ok") : r.error().message;
  };
  // ../c2 shares the prefix "c" (runc 1.1.5's prefix check lets it through)
  CHECK(msg({{"", "../c2"}}).find("is not a sub cgroup path") != std::string::npos);
  CHECK(msg({{"", "sub/../../c2"}}).find("is not a sub cgroup path") != std::string::npos);
  CHECK(msg({{"pids", ".."}}).find("is not a sub cgroup path") != std::string::npos);
  CHECK(msg({{"", "nope"}}) ==
        "--cgroup: error adding pid to cgroups: " + t.path("cpu,cpuacct/c/nope") +
            "/cgroup.procs: no such file or directory (the sub-cgroup "
            "does not exist: create it first)");
  CHECK(msg({{"pids", ".."}}).find("--cgroup: .. is not a sub cgroup path") != std::string::npos);
  // only in pids: PATH for all needs it everywhere
  CHECK(msg({{"", "only"}}).find("does not exist") != std::string::npos);
  CHECK(msg({{"blkio", "sub"}}).find("unknown controller `blkio`") != std::string::npos);
  nlohmann::json v2 = {
      {"mode", "unified"}, {"root", t.root()}, {"path", "/c"}, {"unified", t.path("unified/c")}};
  auto r = resolve_sub_cgroups(v2, {{"", "sub"}});
  REQUIRE(r);
  CHECK(r->v1_dirs.empty());
  CHECK(r->unified_dir == t.path("unified/c/sub"));
  CHECK(r->unified_mount == t.root());
  auto e = resolve_sub_cgroups(v2, {{"memory", "sub"}});
  REQUIRE_FALSE(e);
  CHECK(e.error().message.find("per-controller paths need cgroup v1") != std::string::npos);
  CHECK_FALSE(resolve_sub_cgroups(nlohmann::json(), {{"", "sub"}}));
}

TEST_CASE("a v1 freezer in FREEZING is paused (a task joining a frozen cgroup)", "[exec][cgroup]") {
  FakeTree t;
  t.file("f/freezer.state", "FREEZING\n");
  CHECK(*cgroups::v1::is_frozen(t.open("f")));
  t.file("f/freezer.state", "THAWED\n");
  CHECK_FALSE(*cgroups::v1::is_frozen(t.open("f")));
}
