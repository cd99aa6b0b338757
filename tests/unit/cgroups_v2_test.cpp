// cgroup v2 writers and stats readers against a fake tree.
#include <catch2/catch.hpp>

#include "cgroups/v2.hpp"
#include "cgroups_fake.hpp"

using namespace crunner;
using namespace crunner::cgroups;
using crunner::cgroups::testing::FakeTree;

TEST_CASE("v2 memory: limit, swap conversion, reservation", "[cgroups][v2]") {
  FakeTree t;
  for (auto f : {"memory.max", "memory.swap.max", "memory.low"}) t.file(std::string("c/") + f);
  t.file("c/memory.current", "5000\n");
  MemoryResources m;
  m.limit = 100 << 20;
  m.swap = 300 << 20;  // v1 semantics: memory+swap
  m.reservation = 50 << 20;
  m.swappiness = 10;            // no v2 file: ignored
  m.disable_oom_killer = true;  // ignored
  m.kernel = 1 << 20;           // ignored
  auto& w = t.record();
  REQUIRE(v2::set_memory(t.open("c"), m).ok());
  CHECK(t.read("c/memory.max") == std::to_string(100 << 20));
  CHECK(t.read("c/memory.swap.max") == std::to_string(200 << 20));
  CHECK(t.read("c/memory.low") == std::to_string(50 << 20));
  CHECK(w.size() == 3);
  MemoryResources same;
  same.limit = 64 << 20;
  same.swap = 64 << 20;
  REQUIRE(v2::set_memory(t.open("c"), same).ok());
  CHECK(t.read("c/memory.swap.max") == "0");
  MemoryResources unlimited;
  unlimited.limit = -1;
  REQUIRE(v2::set_memory(t.open("c"), unlimited).ok());
  CHECK(t.read("c/memory.max") == "max");
  CHECK(t.read("c/memory.swap.max") == "max");
  MemoryResources bad;
  bad.limit = 100;
  bad.swap = 50;
  auto r = v2::set_memory(t.open("c"), bad);
  REQUIRE_FALSE(r.ok());
  CHECK(r.error().what().find("must be >= memory.limit") != std::string::npos);
  MemoryResources check;
  check.limit = 4096;
  check.check_before_update = true;
  r = v2::set_memory(t.open("c"), check);
  REQUIRE_FALSE(r.ok());
  CHECK(r.error().what().find("below current usage 5000") != std::string::npos);
}

TEST_CASE("v2 cpu: weight from shares, cpu.max, burst, idle, no realtime", "[cgroups][v2]") {
  FakeTree t;
  for (auto f :
       {"cpu.weight", "cpu.max", "cpu.max.burst", "cpu.idle", "cpuset.cpus", "cpuset.mems"})
    t.file(std::string("c/") + f);
  CpuResources c;
  c.shares = 1024;
  c.quota = 20000;
  c.period = 100000;
  c.burst = 5000;
  c.idle = 1;
  c.cpus = "0-1";
  c.mems = "0";
  REQUIRE(v2::set_cpu(t.open("c"), c).ok());
  REQUIRE(v2::set_cpuset(t.open("c"), c).ok());
  CHECK(t.read("c/cpu.weight") == "39");
  CHECK(t.read("c/cpu.max") == "20000 100000");
  CHECK(t.read("c/cpu.max.burst") == "5000");
  CHECK(t.read("c/cpu.idle") == "1");
  CHECK(t.read("c/cpuset.cpus") == "0-1");
  CHECK(t.read("c/cpuset.mems") == "0");
  CpuResources unlimited;
  unlimited.quota = -1;
  REQUIRE(v2::set_cpu(t.open("c"), unlimited).ok());
  CHECK(t.read("c/cpu.max") == "max");
  CpuResources period_only;
  period_only.period = 50000;
  REQUIRE(v2::set_cpu(t.open("c"), period_only).ok());
  CHECK(t.read("c/cpu.max") == "max 50000");
  CpuResources rt;
  rt.realtime_runtime = 1000;
  auto r = v2::set_cpu(t.open("c"), rt);
  REQUIRE_FALSE(r.ok());
  CHECK(r.error().kind == ErrorKind::Unsupported);
}

TEST_CASE("v2 io: weight conversion or bfq, io.max throttles", "[cgroups][v2]") {
  FakeTree t;
  t.file("c/io.weight");
  t.file("c/io.max");
  BlockIoResources b;
  b.weight = 500;
  b.leaf_weight = 10;  // ignored on v2
  b.weight_device = {{8, 0, 1000, std::nullopt}};
  b.throttle_read_bps = {{8, 0, 1048576}};
  b.throttle_write_bps = {{8, 0, 0}};
  b.throttle_read_iops = {{8, 16, 100}};
  b.throttle_write_iops = {{8, 16, 200}};
  auto& w = t.record();
  REQUIRE(v2::set_io(t.open("c"), b).ok());
  CHECK(w == std::vector<std::string>{"c/io.weight=4950", "c/io.weight=8:0 10000",
                                      "c/io.max=8:0 rbps=1048576", "c/io.max=8:0 wbps=max",
                                      "c/io.max=8:16 riops=100", "c/io.max=8:16 wiops=200"});
  FakeTree bfq;
  bfq.file("c/io.bfq.weight");
  BlockIoResources bw;
  bw.weight = 500;
  REQUIRE(v2::set_io(bfq.open("c"), bw).ok());
  CHECK(bfq.read("c/io.bfq.weight") == "500");
}

TEST_CASE("v2 pids, hugetlb", "[cgroups][v2]") {
  FakeTree t;
  t.file("c/pids.max");
  t.file("c/hugetlb.2MB.max");
  REQUIRE(v2::set_pids(t.open("c"), 7).ok());
  CHECK(t.read("c/pids.max") == "7");
  REQUIRE(v2::set_pids(t.open("c"), 0).ok());
  CHECK(t.read("c/pids.max") == "max");
  REQUIRE(v2::set_hugetlb(t.open("c"), {{"2MB", 2097152}}).ok());
  CHECK(t.read("c/hugetlb.2MB.max") == "2097152");
}

TEST_CASE("v2 unified: validated, written last", "[cgroups][v2]") {
  FakeTree t;
  t.file("c/cgroup.controllers", "cpu memory pids\n");
  t.file("c/memory.high");
  t.file("c/cgroup.max.depth");
  REQUIRE(v2::set_unified(t.open("c"), {{"memory.high", "400M"}, {"cgroup.max.depth", "3"}}).ok());
  CHECK(t.read("c/memory.high") == "400M");
  CHECK(t.read("c/cgroup.max.depth") == "3");
  auto r = v2::set_unified(t.open("c"), {{"memory.nosuch", "1"}});
  REQUIRE_FALSE(r.ok());
  CHECK(r.error().what() == "linux.resources.unified.memory.nosuch: no such cgroup file `" +
                                t.path("c/memory.nosuch") + "`");
  r = v2::set_unified(t.open("c"), {{"io.max", "8:0 rbps=1"}});
  REQUIRE_FALSE(r.ok());
  CHECK(r.error().what().find("controller `io` is not available") != std::string::npos);
  r = v2::set_unified(t.open("c"), {{"../memory.high", "1"}});
  REQUIRE_FALSE(r.ok());
  CHECK(r.error().kind == ErrorKind::InvalidSpec);
}

TEST_CASE("v2 controllers and subtree_control", "[cgroups][v2]") {
  FakeTree t;
  t.file("c/cgroup.controllers", "cpuset cpu io memory pids\n");
  t.file("c/cgroup.subtree_control");
  auto c = v2::controllers(t.open("c"));
  REQUIRE(c.ok());
  CHECK(c->size() == 5);
  REQUIRE(v2::enable_subtree_controllers(t.open("c")).ok());
  CHECK(t.read("c/cgroup.subtree_control") == "+cpuset +cpu +io +memory +pids");
}

TEST_CASE("v2 freeze reads cgroup.events", "[cgroups][v2]") {
  FakeTree t;
  t.file("c/cgroup.freeze");
  t.file("c/cgroup.events", "populated 1\nfrozen 1\n");
  REQUIRE(v2::set_freeze(t.open("c"), true).ok());
  CHECK(t.read("c/cgroup.freeze") == "1");
  CHECK(*v2::is_frozen(t.open("c")));
  t.file("c/cgroup.events", "populated 1\nfrozen 0\n");
  REQUIRE(v2::set_freeze(t.open("c"), false).ok());
  CHECK(t.read("c/cgroup.freeze") == "0");
}

TEST_CASE("v2 stats readers", "[cgroups][v2]") {
  FakeTree t;
  t.file("c/memory.current", "1000\n");
  t.file("c/memory.peak", "3000\n");
  t.file("c/memory.max", "max\n");
  t.file("c/memory.events", "low 0\nhigh 0\nmax 7\noom 2\noom_kill 1\n");
  t.file("c/memory.swap.current", "100\n");
  t.file("c/memory.swap.max", "max\n");
  t.file("c/memory.stat", "anon 500\nfile 400\n");
  t.file("c/cpu.stat",
         "usage_usec 1500\nuser_usec 1000\nsystem_usec 500\nnr_periods 9\nnr_throttled 3\n"
         "throttled_usec 77\n");
  t.file("c/pids.current", "4\n");
  t.file("c/pids.max", "10\n");
  t.file("c/io.stat", "8:0 rbytes=4096 wbytes=8192 rios=1 wios=2 dbytes=0 dios=0\n");
  t.file("c/hugetlb.2MB.current", "2097152\n");
  t.file("c/hugetlb.2MB.events", "max 5\n");
  t.file("c/hugetlb.2MB.rsvd.current", "0\n");
  Stats s;
  REQUIRE(v2::read_memory(t.open("c"), s).ok());
  REQUIRE(v2::read_cpu(t.open("c"), s).ok());
  REQUIRE(v2::read_pids(t.open("c"), s).ok());
  REQUIRE(v2::read_io(t.open("c"), s).ok());
  REQUIRE(v2::read_hugetlb(t.open("c"), s).ok());
  CHECK(s.memory.usage.usage == 1000);
  CHECK(s.memory.usage.max_usage == 3000);
  CHECK(s.memory.usage.limit == UINT64_MAX);
  CHECK(s.memory.usage.failcnt == 7);
  CHECK(s.memory.oom_kill == 1);
  CHECK(s.memory.swap.usage == 1100);
  CHECK(s.memory.swap.limit == UINT64_MAX);
  CHECK(s.memory.cache == 400);
  CHECK(s.memory.raw["anon"] == 500);
  CHECK(s.cpu.total == 1500000);
  CHECK(s.cpu.user == 1000000);
  CHECK(s.cpu.kernel == 500000);
  CHECK(s.cpu.periods == 9);
  CHECK(s.cpu.throttled_periods == 3);
  CHECK(s.cpu.throttled_time == 77000);
  CHECK(s.pids.current == 4);
  CHECK(s.pids.limit == 10);
  REQUIRE(s.blkio.io_service_bytes_recursive.size() == 2);
  CHECK(s.blkio.io_service_bytes_recursive[0].op == "Read");
  CHECK(s.blkio.io_service_bytes_recursive[0].value == 4096);
  CHECK(s.blkio.io_serviced_recursive[1].value == 2);
  REQUIRE(s.hugetlb.size() == 1);
  CHECK(s.hugetlb["2MB"].usage == 2097152);
  CHECK(s.hugetlb["2MB"].failcnt == 5);
}

TEST_CASE("stats_to_json has runc's events shape", "[cgroups]") {
  Stats s;
  s.cpu.total = 10;
  s.cpu.percpu = {4, 6};
  s.cpu.throttled_periods = 2;
  s.memory.usage = {100, 200, 1, 4096};
  s.memory.cache = 5;
  s.memory.raw["rss"] = 9;
  s.pids.current = 3;
  s.blkio.io_service_bytes_recursive = {{8, 0, "Read", 4096}};
  s.hugetlb["2MB"] = {1, 0, 0};
  auto j = stats_to_json(s);
  CHECK(j["cpu"]["usage"]["total"] == 10);
  CHECK(j["cpu"]["usage"]["percpu"] == nlohmann::json::array({4, 6}));
  CHECK(j["cpu"]["usage"]["kernel"] == 0);
  CHECK(j["cpu"]["throttling"] == nlohmann::json{{"throttledPeriods", 2}});
  CHECK(j["memory"]["usage"] ==
        nlohmann::json{{"limit", 4096}, {"usage", 100}, {"max", 200}, {"failcnt", 1}});
  CHECK(j["memory"]["swap"] == nlohmann::json{{"limit", 0}, {"failcnt", 0}});
  CHECK(j["memory"]["cache"] == 5);
  CHECK(j["memory"]["raw"]["rss"] == 9);
  CHECK(j["pids"] == nlohmann::json{{"current", 3}});
  CHECK(j["blkio"]["ioServiceBytesRecursive"][0] ==
        nlohmann::json{{"major", 8}, {"op", "Read"}, {"value", 4096}});
  CHECK(j["hugetlb"]["2MB"] == nlohmann::json{{"usage", 1}, {"failcnt", 0}});
  CHECK(j.contains("intel_rdt"));
}
