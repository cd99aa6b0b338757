// cgroup v1 writers and stats readers against a fake tree.
#include <catch2/catch.hpp>

#include "cgroups/v1.hpp"
#include "cgroups_fake.hpp"

using namespace crunner;
using namespace crunner::cgroups;
using crunner::cgroups::testing::FakeTree;

namespace {
void memory_files(FakeTree& t, const std::string& limit = "9223372036854771712\n") {
  for (auto f :
       {"memory.soft_limit_in_bytes", "memory.memsw.limit_in_bytes", "memory.kmem.limit_in_bytes",
        "memory.kmem.tcp.limit_in_bytes", "memory.swappiness", "memory.oom_control"})
    t.file(std::string("m/") + f);
  t.file("m/memory.limit_in_bytes", limit);
  t.file("m/memory.usage_in_bytes", "1000000\n");
  t.file("m/memory.max_usage_in_bytes", "2000000\n");
}
}  // namespace

TEST_CASE("v1 memory: every field lands in its file", "[cgroups][v1]") {
  FakeTree t;
  memory_files(t);
  MemoryResources m;
  m.limit = 64 << 20;
  m.swap = 128 << 20;
  m.reservation = 32 << 20;
  m.kernel = 16 << 20;
  m.kernel_tcp = 1 << 20;
  m.swappiness = 10;
  m.disable_oom_killer = true;
  auto& w = t.record();
  REQUIRE(v1::set_memory(t.open("m"), m).ok());
  CHECK(t.read("m/memory.limit_in_bytes") == std::to_string(64 << 20));
  CHECK(t.read("m/memory.memsw.limit_in_bytes") == std::to_string(128 << 20));
  CHECK(t.read("m/memory.soft_limit_in_bytes") == std::to_string(32 << 20));
  CHECK(t.read("m/memory.kmem.limit_in_bytes") == std::to_string(16 << 20));
  CHECK(t.read("m/memory.kmem.tcp.limit_in_bytes") == std::to_string(1 << 20));
  CHECK(t.read("m/memory.swappiness") == "10");
  CHECK(t.read("m/memory.oom_control") == "1");
  // Raising from "unlimited": the current limit is above the new memsw, so limit goes first.
  REQUIRE(w.size() >= 2);
  CHECK(w[0] == "m/memory.limit_in_bytes=67108864");
  CHECK(w[1] == "m/memory.memsw.limit_in_bytes=134217728");
}

TEST_CASE("v1 memory: raising above the current limit writes memsw first", "[cgroups][v1]") {
  FakeTree t;
  memory_files(t, "1048576\n");
  MemoryResources m;
  m.limit = 64 << 20;
  m.swap = 128 << 20;
  auto& w = t.record();
  REQUIRE(v1::set_memory(t.open("m"), m).ok());
  REQUIRE(w.size() == 2);
  CHECK(w[0] == "m/memory.memsw.limit_in_bytes=134217728");
  CHECK(w[1] == "m/memory.limit_in_bytes=67108864");
}

TEST_CASE("v1 memory: -1 limit means unlimited swap too, kernel memory may be absent",
          "[cgroups][v1]") {
  FakeTree t;
  t.file("m/memory.limit_in_bytes", "1048576\n");
  t.file("m/memory.memsw.limit_in_bytes");
  MemoryResources m;
  m.limit = -1;
  m.kernel = 1 << 20;  // no memory.kmem.limit_in_bytes in this tree: ignored
  REQUIRE(v1::set_memory(t.open("m"), m).ok());
  CHECK(t.read("m/memory.limit_in_bytes") == "-1");
  CHECK(t.read("m/memory.memsw.limit_in_bytes") == "-1");
}

TEST_CASE("v1 memory: swap without swap accounting is an error naming the file", "[cgroups][v1]") {
  FakeTree t;
  t.file("m/memory.limit_in_bytes", "1048576\n");
  MemoryResources m;
  m.swap = 1 << 30;
  auto r = v1::set_memory(t.open("m"), m);
  REQUIRE_FALSE(r.ok());
  CHECK(r.error().what().find("memory.memsw.limit_in_bytes") != std::string::npos);
}

TEST_CASE("v1 memory: checkBeforeUpdate refuses a limit below usage", "[cgroups][v1]") {
  FakeTree t;
  memory_files(t);
  MemoryResources m;
  m.limit = 4096;
  m.check_before_update = true;
  auto r = v1::set_memory(t.open("m"), m);
  REQUIRE_FALSE(r.ok());
  CHECK(r.error().what().find("below current usage 1000000") != std::string::npos);
  m.limit = 4 << 20;
  CHECK(v1::set_memory(t.open("m"), m).ok());
}

TEST_CASE("v1 cpu and cpuset", "[cgroups][v1]") {
  FakeTree t;
  for (auto f : {"cpu.shares", "cpu.cfs_period_us", "cpu.cfs_quota_us", "cpu.cfs_burst_us",
                 "cpu.rt_period_us", "cpu.rt_runtime_us", "cpu.idle", "cpuset.cpus", "cpuset.mems"})
    t.file(std::string("c/") + f);
  CpuResources c;
  c.shares = 512;
  c.quota = 50000;
  c.period = 100000;
  c.burst = 1000;
  c.realtime_period = 1000000;
  c.realtime_runtime = 950000;
  c.idle = 0;
  c.cpus = "0";
  c.mems = "0";
  REQUIRE(v1::set_cpu(t.open("c"), c).ok());
  REQUIRE(v1::set_cpuset(t.open("c"), c).ok());
  CHECK(t.read("c/cpu.shares") == "512");
  CHECK(t.read("c/cpu.cfs_period_us") == "100000");
  CHECK(t.read("c/cpu.cfs_quota_us") == "50000");
  CHECK(t.read("c/cpu.cfs_burst_us") == "1000");
  CHECK(t.read("c/cpu.rt_period_us") == "1000000");
  CHECK(t.read("c/cpu.rt_runtime_us") == "950000");
  CHECK(t.read("c/cpu.idle") == "0");
  CHECK(t.read("c/cpuset.cpus") == "0");
  CHECK(t.read("c/cpuset.mems") == "0");
}

TEST_CASE("v1 cpu: a missing file is an error that names it", "[cgroups][v1]") {
  FakeTree t;
  t.dir("c");
  CpuResources c;
  c.quota = 1000;
  auto r = v1::set_cpu(t.open("c"), c);
  REQUIRE_FALSE(r.ok());
  CHECK(r.error().what() ==
        "write `1000` to `" + t.path("c/cpu.cfs_quota_us") + "`: no such file or directory");
}

TEST_CASE("v1 cpuset: new cgroups inherit cpus and mems from the nearest ancestor",
          "[cgroups][v1]") {
  FakeTree t;
  t.file("cpuset/cpuset.cpus", "0-3\n");
  t.file("cpuset/cpuset.mems", "0\n");
  t.file("cpuset/a/cpuset.cpus", "\n");
  t.file("cpuset/a/cpuset.mems", "\n");
  t.file("cpuset/a/b/cpuset.cpus", "\n");
  t.file("cpuset/a/b/cpuset.mems", "\n");
  REQUIRE(v1::cpuset_inherit(t.path("cpuset"), t.path("cpuset/a/b")).ok());
  CHECK(t.read("cpuset/a/cpuset.cpus") == "0-3");
  CHECK(t.read("cpuset/a/b/cpuset.cpus") == "0-3");
  CHECK(t.read("cpuset/a/b/cpuset.mems") == "0");
}

TEST_CASE("v1 pids, hugetlb, net_cls, net_prio, rdma", "[cgroups][v1]") {
  FakeTree t;
  for (auto f : {"pids.max", "hugetlb.2MB.limit_in_bytes", "hugetlb.2MB.rsvd.limit_in_bytes",
                 "net_cls.classid", "net_prio.ifpriomap", "rdma.max"})
    t.file(std::string("x/") + f);
  REQUIRE(v1::set_pids(t.open("x"), 42).ok());
  CHECK(t.read("x/pids.max") == "42");
  REQUIRE(v1::set_pids(t.open("x"), -1).ok());
  CHECK(t.read("x/pids.max") == "max");
  REQUIRE(v1::set_hugetlb(t.open("x"), {{"2MB", 4194304}}).ok());
  CHECK(t.read("x/hugetlb.2MB.limit_in_bytes") == "4194304");
  CHECK(t.read("x/hugetlb.2MB.rsvd.limit_in_bytes") == "4194304");
  CHECK_FALSE(v1::set_hugetlb(t.open("x"), {{"1GB", 1}}).ok());
  NetworkResources n;
  n.class_id = 0x100001;
  n.priorities = {{"eth0", 5}, {"lo", 1}};
  auto& w = t.record();
  REQUIRE(v1::set_net_cls(t.open("x"), n).ok());
  REQUIRE(v1::set_net_prio(t.open("x"), n).ok());
  CHECK(t.read("x/net_cls.classid") == "1048577");
  CHECK(w == std::vector<std::string>{"x/net_cls.classid=1048577", "x/net_prio.ifpriomap=eth0 5",
                                      "x/net_prio.ifpriomap=lo 1"});
  std::map<std::string, RdmaLimit> rd;
  rd["mlx4_0"] = {2, 2000};
  rd["mlx4_1"] = {std::nullopt, 7};
  REQUIRE(v1::set_rdma(t.open("x"), rd).ok());
  CHECK(w[3] == "x/rdma.max=mlx4_0 hca_handle=2 hca_object=2000");
  CHECK(w[4] == "x/rdma.max=mlx4_1 hca_object=7");
}

TEST_CASE("v1 blkio: weights, bfq fallback, throttles", "[cgroups][v1]") {
  FakeTree t;
  for (auto f : {"blkio.bfq.weight", "blkio.bfq.weight_device", "blkio.throttle.read_bps_device",
                 "blkio.throttle.write_bps_device", "blkio.throttle.read_iops_device",
                 "blkio.throttle.write_iops_device"})
    t.file(std::string("b/") + f);
  BlockIoResources b;
  b.weight = 300;
  b.leaf_weight = 200;  // no CFQ blkio.leaf_weight here: ignored
  b.weight_device = {{8, 0, 500, std::nullopt}};
  b.throttle_read_bps = {{8, 0, 1048576}, {8, 16, 2048}};
  b.throttle_write_bps = {{8, 0, 4096}};
  b.throttle_read_iops = {{8, 0, 10}};
  b.throttle_write_iops = {{8, 0, 20}};
  auto& w = t.record();
  REQUIRE(v1::set_blkio(t.open("b"), b).ok());
  CHECK(w == std::vector<std::string>{"b/blkio.bfq.weight=300", "b/blkio.bfq.weight_device=8:0 500",
                                      "b/blkio.throttle.read_bps_device=8:0 1048576",
                                      "b/blkio.throttle.read_bps_device=8:16 2048",
                                      "b/blkio.throttle.write_bps_device=8:0 4096",
                                      "b/blkio.throttle.read_iops_device=8:0 10",
                                      "b/blkio.throttle.write_iops_device=8:0 20"});
  FakeTree cfq;
  cfq.file("b/blkio.weight");
  cfq.file("b/blkio.leaf_weight");
  REQUIRE(v1::set_blkio(cfq.open("b"), b).ok() == false);  // no weight_device file in cfq tree
  CHECK(cfq.read("b/blkio.weight") == "300");
  CHECK(cfq.read("b/blkio.leaf_weight") == "200");
  FakeTree none;
  none.dir("b");
  BlockIoResources only_weight;
  only_weight.weight = 100;
  auto r = v1::set_blkio(none.open("b"), only_weight);
  REQUIRE_FALSE(r.ok());
  CHECK(r.error().kind == ErrorKind::Unsupported);
}

TEST_CASE("v1 devices: rules in order, deny-all first needs no reset", "[cgroups][v1]") {
  FakeTree t;
  t.file("d/devices.allow");
  t.file("d/devices.deny");
  auto& w = t.record();
  std::vector<DeviceRule> rules = {
      {false, 'a', kWildcard, kWildcard, "rwm"}, {true, 'c', 1, 3, "rwm"}, {false, 'c', 1, 3, "w"}};
  REQUIRE(v1::set_devices(t.open("d"), rules).ok());
  CHECK(w == std::vector<std::string>{"d/devices.deny=a *:* rwm", "d/devices.allow=c 1:3 rwm",
                                      "d/devices.deny=c 1:3 w"});
  w.clear();
  REQUIRE(v1::set_devices(t.open("d"), {{false, 'b', 8, kWildcard, "r"}}).ok());
  CHECK(w == std::vector<std::string>{"d/devices.allow=a *:* rwm", "d/devices.deny=b 8:* r"});
}

TEST_CASE("v1 freezer", "[cgroups][v1]") {
  FakeTree t;
  t.file("f/freezer.state", "THAWED\n");
  REQUIRE_FALSE(*v1::is_frozen(t.open("f")));
  REQUIRE(v1::set_freezer(t.open("f"), true).ok());  // the fake file reads back FROZEN
  CHECK(*v1::is_frozen(t.open("f")));
  REQUIRE(v1::set_freezer(t.open("f"), false).ok());
  CHECK(t.read("f/freezer.state") == "THAWED");
}

TEST_CASE("v1 stats readers", "[cgroups][v1]") {
  FakeTree t;
  t.file("m/memory.usage_in_bytes", "1000\n");
  t.file("m/memory.max_usage_in_bytes", "2000\n");
  t.file("m/memory.failcnt", "3\n");
  t.file("m/memory.limit_in_bytes", "4096\n");
  t.file("m/memory.memsw.usage_in_bytes", "1100\n");
  t.file("m/memory.memsw.max_usage_in_bytes", "2100\n");
  t.file("m/memory.memsw.failcnt", "1\n");
  t.file("m/memory.memsw.limit_in_bytes", "8192\n");
  t.file("m/memory.stat", "cache 77\nrss 55\ntotal_cache 77\n");
  t.file("m/memory.oom_control", "oom_kill_disable 0\nunder_oom 0\noom_kill 2\n");
  t.file("c/cpuacct.usage", "123456789\n");
  t.file("c/cpuacct.usage_percpu", "100 200 \n");
  t.file("c/cpuacct.usage_percpu_sys", "10 20 \n");
  t.file("c/cpuacct.usage_percpu_user", "90 180 \n");
  t.file("c/cpuacct.stat", "user 5\nsystem 2\n");
  t.file("c/cpu.stat", "nr_periods 10\nnr_throttled 4\nthrottled_time 9999\n");
  t.file("p/pids.current", "3\n");
  t.file("p/pids.max", "max\n");
  t.file("b/blkio.throttle.io_service_bytes_recursive",
         "8:0 Read 4096\n8:0 Write 8192\n8:0 Sync 0\nTotal 12288\n");
  t.file("b/blkio.throttle.io_serviced_recursive", "8:0 Read 1\n8:0 Write 2\nTotal 3\n");
  t.file("h/hugetlb.2MB.limit_in_bytes", "1\n");
  t.file("h/hugetlb.2MB.rsvd.limit_in_bytes", "1\n");
  t.file("h/hugetlb.2MB.usage_in_bytes", "2097152\n");
  t.file("h/hugetlb.2MB.max_usage_in_bytes", "4194304\n");
  t.file("h/hugetlb.2MB.failcnt", "6\n");
  Stats s;
  REQUIRE(v1::read_memory(t.open("m"), s).ok());
  REQUIRE(v1::read_cpuacct(t.open("c"), s).ok());
  REQUIRE(v1::read_cpu(t.open("c"), s).ok());
  REQUIRE(v1::read_pids(t.open("p"), s).ok());
  REQUIRE(v1::read_blkio(t.open("b"), s).ok());
  REQUIRE(v1::read_hugetlb(t.open("h"), s).ok());
  CHECK(s.memory.usage.usage == 1000);
  CHECK(s.memory.usage.max_usage == 2000);
  CHECK(s.memory.usage.failcnt == 3);
  CHECK(s.memory.usage.limit == 4096);
  CHECK(s.memory.swap.usage == 1100);
  CHECK(s.memory.swap.limit == 8192);
  CHECK(s.memory.kernel.usage == 0);  // no kmem files: left zero
  CHECK(s.memory.cache == 77);
  CHECK(s.memory.raw["rss"] == 55);
  CHECK(s.memory.oom_kill == 2);
  CHECK(s.cpu.total == 123456789);
  CHECK(s.cpu.percpu == std::vector<uint64_t>{100, 200});
  CHECK(s.cpu.percpu_kernel == std::vector<uint64_t>{10, 20});
  CHECK(s.cpu.percpu_user == std::vector<uint64_t>{90, 180});
  CHECK(s.cpu.user == 5 * 1000000000ULL / static_cast<uint64_t>(sysconf(_SC_CLK_TCK)));
  CHECK(s.cpu.throttled_periods == 4);
  CHECK(s.cpu.periods == 10);
  CHECK(s.cpu.throttled_time == 9999);
  CHECK(s.pids.current == 3);
  CHECK(s.pids.limit == 0);
  REQUIRE(s.blkio.io_service_bytes_recursive.size() == 3);
  CHECK(s.blkio.io_service_bytes_recursive[1].op == "Write");
  CHECK(s.blkio.io_service_bytes_recursive[1].value == 8192);
  CHECK(s.blkio.io_serviced_recursive.size() == 2);
  REQUIRE(s.hugetlb.size() == 1);
  CHECK(s.hugetlb["2MB"].usage == 2097152);
  CHECK(s.hugetlb["2MB"].max_usage == 4194304);
  CHECK(s.hugetlb["2MB"].failcnt == 6);
}
