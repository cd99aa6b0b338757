#include <catch2/catch.hpp>

#include "cgroups/resources.hpp"

using namespace crunner;
using namespace crunner::cgroups;
using nlohmann::json;

TEST_CASE("parse_resources reads every LinuxResources field", "[cgroups]") {
  json j = json::parse(R"({
    "devices": [{"allow": false, "access": "rwm"},
                {"allow": true, "type": "c", "major": 1, "minor": 3, "access": "rw"}],
    "memory": {"limit": 536870912, "reservation": 268435456, "swap": 1073741824,
               "kernel": -1, "kernelTCP": 1048576, "swappiness": 30,
               "disableOOMKiller": true, "useHierarchy": true, "checkBeforeUpdate": true},
    "cpu": {"shares": 1024, "quota": 50000, "period": 100000, "burst": 10000,
            "realtimeRuntime": 950000, "realtimePeriod": 1000000, "cpus": "0-1", "mems": "0",
            "idle": 1},
    "pids": {"limit": 32},
    "blockIO": {"weight": 500, "leafWeight": 300,
                "weightDevice": [{"major": 8, "minor": 0, "weight": 600, "leafWeight": 200}],
                "throttleReadBpsDevice": [{"major": 8, "minor": 0, "rate": 1048576}],
                "throttleWriteBpsDevice": [{"major": 8, "minor": 16, "rate": 2097152}],
                "throttleReadIOPSDevice": [{"major": 8, "minor": 0, "rate": 100}],
                "throttleWriteIOPSDevice": [{"major": 8, "minor": 0, "rate": 200}]},
    "hugepageLimits": [{"pageSize": "2MB", "limit": 209715200}],
    "network": {"classID": 1048577, "priorities": [{"name": "eth0", "priority": 500}]},
    "rdma": {"mlx5_1": {"hcaHandles": 3, "hcaObjects": 10000}},
    "unified": {"memory.high": "400M", "io.latency": "8:0 target=10"}
  })");
  auto r = parse_resources(j);
  REQUIRE(r.ok());
  REQUIRE(r->devices->size() == 2);
  CHECK((*r->devices)[0].v1_string() == "a *:* rwm");
  CHECK((*r->devices)[1].v1_string() == "c 1:3 rw");
  CHECK((*r->devices)[1].allow);
  CHECK(*r->memory.limit == 536870912);
  CHECK(*r->memory.reservation == 268435456);
  CHECK(*r->memory.swap == 1073741824);
  CHECK(*r->memory.kernel == -1);
  CHECK(*r->memory.kernel_tcp == 1048576);
  CHECK(*r->memory.swappiness == 30);
  CHECK(*r->memory.disable_oom_killer);
  CHECK(*r->memory.check_before_update);
  CHECK(*r->cpu.shares == 1024);
  CHECK(*r->cpu.quota == 50000);
  CHECK(*r->cpu.period == 100000);
  CHECK(*r->cpu.burst == 10000);
  CHECK(*r->cpu.realtime_runtime == 950000);
  CHECK(*r->cpu.realtime_period == 1000000);
  CHECK(*r->cpu.cpus == "0-1");
  CHECK(*r->cpu.mems == "0");
  CHECK(*r->cpu.idle == 1);
  CHECK(*r->pids_limit == 32);
  CHECK(*r->block_io.weight == 500);
  CHECK(*r->block_io.leaf_weight == 300);
  REQUIRE(r->block_io.weight_device.size() == 1);
  CHECK(*r->block_io.weight_device[0].weight == 600);
  CHECK(*r->block_io.weight_device[0].leaf_weight == 200);
  CHECK(r->block_io.throttle_read_bps[0].rate == 1048576);
  CHECK(r->block_io.throttle_write_bps[0].minor == 16);
  CHECK(r->block_io.throttle_read_iops[0].rate == 100);
  CHECK(r->block_io.throttle_write_iops[0].rate == 200);
  CHECK(r->hugepage_limits[0].page_size == "2MB");
  CHECK(r->hugepage_limits[0].limit == 209715200);
  CHECK(*r->network.class_id == 1048577);
  CHECK(r->network.priorities[0].name == "eth0");
  CHECK(r->network.priorities[0].priority == 500);
  CHECK(*r->rdma["mlx5_1"].hca_handles == 3);
  CHECK(*r->rdma["mlx5_1"].hca_objects == 10000);
  CHECK(r->unified["memory.high"] == "400M");
}

TEST_CASE("parse_resources: absent and null mean unset", "[cgroups]") {
  auto r = parse_resources(json::parse(R"({"memory": {"limit": null}, "devices": null})"));
  REQUIRE(r.ok());
  CHECK_FALSE(r->memory.limit);
  CHECK_FALSE(r->devices);
  CHECK(parse_resources(json()).ok());
}

static std::string parse_err(const char* text) {
  auto r = parse_resources(json::parse(text));
  REQUIRE_FALSE(r.ok());
  CHECK(r.error().kind == ErrorKind::InvalidSpec);
  return r.error().what();
}

TEST_CASE("parse_resources errors name the field path", "[cgroups]") {
  CHECK(parse_err(R"({"memory": {"limit": "1g"}})") ==
        "linux.resources.memory.limit: must be an integer");
  CHECK(parse_err(R"({"memory": {"swappiness": 101}})") ==
        "linux.resources.memory.swappiness: must be between 0 and 100, got 101");
  CHECK(parse_err(R"({"memory": {"limit": -5}})").find("linux.resources.memory.limit") == 0);
  CHECK(parse_err(R"({"cpu": {"shares": -1}})") ==
        "linux.resources.cpu.shares: must not be negative");
  CHECK(parse_err(R"({"cpu": {"cpus": 3}})") == "linux.resources.cpu.cpus: must be a string");
  CHECK(parse_err(R"({"devices": [{"allow": true}, {"allow": true, "type": "x"}]})") ==
        "linux.resources.devices[1].type: must be one of a, c, b, u, got `x`");
  CHECK(parse_err(R"({"devices": [{"allow": true, "access": "rwx"}]})") ==
        "linux.resources.devices[0].access: must contain only r, w, m, got `rwx`");
  CHECK(parse_err(R"({"devices": [{"type": "c"}]})") ==
        "linux.resources.devices[0].allow: is required and must be a boolean");
  CHECK(parse_err(R"({"pids": {}})") == "linux.resources.pids.limit: is required");
  CHECK(parse_err(R"({"blockIO": {"weight": 70000}})") ==
        "linux.resources.blockIO.weight: out of range");
  CHECK(parse_err(R"({"blockIO": {"throttleReadBpsDevice": [{"major": 8, "minor": 0}]}})") ==
        "linux.resources.blockIO.throttleReadBpsDevice[0].rate: is required");
  CHECK(parse_err(R"({"hugepageLimits": [{"pageSize": "../x", "limit": 1}]})") ==
        "linux.resources.hugepageLimits[0].pageSize: invalid page size `../x`");
  CHECK(parse_err(R"({"unified": {"../memory.max": "1"}})") ==
        "linux.resources.unified.../memory.max: invalid cgroup file name `../memory.max`");
  CHECK(parse_err(R"({"unified": {"..": "1"}})").find("invalid cgroup file name") !=
        std::string::npos);
  CHECK(parse_err(R"({"unified": {"memory.max": 1}})") ==
        "linux.resources.unified.memory.max: must be a string");
  CHECK(parse_err(R"({"network": {"priorities": [{"name": "a b", "priority": 1}]}})") ==
        "linux.resources.network.priorities[0].name: must be an interface name");
  auto r = parse_resources(json::parse(R"({"memory": 5})"), "update");
  REQUIRE_FALSE(r.ok());
  CHECK(r.error().what() == "update.memory: must be an object");
}

TEST_CASE("v1 <-> v2 conversions match runc", "[cgroups]") {
  CHECK(cpu_shares_to_weight(2) == 1);
  CHECK(cpu_shares_to_weight(1024) == 39);
  CHECK(cpu_shares_to_weight(262144) == 10000);
  CHECK(cpu_shares_to_weight(0) == 0);
  CHECK(blkio_weight_to_io_weight(10) == 1);
  CHECK(blkio_weight_to_io_weight(500) == 4950);
  CHECK(blkio_weight_to_io_weight(1000) == 10000);
  CHECK(*memory_swap_to_v2(0, 100) == 0);
  CHECK(*memory_swap_to_v2(-1, 100) == -1);
  CHECK(*memory_swap_to_v2(0, -1) == -1);
  CHECK(*memory_swap_to_v2(300, 100) == 200);
  CHECK(*memory_swap_to_v2(100, 100) == 0);
  CHECK_FALSE(memory_swap_to_v2(50, 100).ok());
  CHECK_FALSE(memory_swap_to_v2(300, 0).ok());
}

TEST_CASE("update flags become LinuxResources JSON", "[cgroups]") {
  CHECK(*parse_size("512m") == 512LL << 20);
  CHECK(*parse_size("1G") == 1LL << 30);
  CHECK(*parse_size("1gb") == 1LL << 30);
  CHECK(*parse_size("100k") == 100 * 1024);
  CHECK(*parse_size("4096") == 4096);
  CHECK(*parse_size("-1") == -1);
  CHECK_FALSE(parse_size("lots").ok());
  CHECK_FALSE(parse_size("5q").ok());
  UpdateFlags f;
  f.memory = "256m";
  f.memory_swap = "-1";
  f.cpu_quota = 20000;
  f.cpu_period = 100000;
  f.cpuset_cpus = "0";
  f.pids_limit = 10;
  f.blkio_weight = 300;
  auto j = resources_from_update_flags(f);
  REQUIRE(j.ok());
  CHECK(*j == json::parse(R"({"memory":{"limit":268435456,"swap":-1},
    "cpu":{"quota":20000,"period":100000,"cpus":"0"},"pids":{"limit":10},
    "blockIO":{"weight":300}})"));
  auto back = parse_resources(*j, "update");
  REQUIRE(back.ok());
  CHECK(*back->memory.limit == 268435456);
  UpdateFlags bad;
  bad.memory = "huge";
  auto e = resources_from_update_flags(bad);
  REQUIRE_FALSE(e.ok());
  CHECK(e.error().what().find("--memory: invalid size `huge`") == 0);
  CHECK(resources_from_update_flags(UpdateFlags{})->empty());
}

TEST_CASE("default device rules start with deny all", "[cgroups]") {
  auto d = default_device_rules();
  REQUIRE(d.size() > 5);
  CHECK(d[0].v1_string() == "a *:* rwm");
  CHECK_FALSE(d[0].allow);
  CHECK(d[1].v1_string() == "c *:* m");
  CHECK(d.back().v1_string() == "c 136:* rwm");
}

TEST_CASE("merge_resources: update fields replace saved ones", "[cgroups]") {
  auto base = json::parse(R"({"memory":{"limit":100,"swap":200},"pids":{"limit":5},
                              "devices":[{"allow":false,"access":"rwm"}]})");
  auto upd = json::parse(R"({"memory":{"limit":300},"cpu":{"shares":2},"devices":[]})");
  CHECK(merge_resources(base, upd) == json::parse(R"({"memory":{"limit":300,"swap":200},
        "pids":{"limit":5},"cpu":{"shares":2},"devices":[]})"));
  CHECK(merge_resources(nullptr, upd) == upd);
}

TEST_CASE("update: the saved partner of a value sharing a v2 file is applied too", "[cgroups]") {
  auto saved = json::parse(R"({"cpu":{"quota":20000,"period":100000,"shares":512},
                               "memory":{"limit":100,"swap":200},"pids":{"limit":5}})");
  CHECK(update_with_partners(saved, json::parse(R"({"cpu":{"period":50000}})")) ==
        json::parse(R"({"cpu":{"period":50000,"quota":20000}})"));
  CHECK(update_with_partners(saved, json::parse(R"({"cpu":{"quota":-1}})")) ==
        json::parse(R"({"cpu":{"quota":-1,"period":100000}})"));
  // other fields and groups are not pulled in (memory limit/swap neither, as runc)
  CHECK(update_with_partners(saved, json::parse(R"({"memory":{"limit":150}})")) ==
        json::parse(R"({"memory":{"limit":150}})"));
  CHECK(update_with_partners(saved, json::parse(R"({"cpu":{"shares":2},"pids":{"limit":9}})")) ==
        json::parse(R"({"cpu":{"shares":2},"pids":{"limit":9}})"));
  CHECK(update_with_partners(nullptr, json::parse(R"({"cpu":{"period":7}})")) ==
        json::parse(R"({"cpu":{"period":7}})"));
}

TEST_CASE("container device rules: spec rules, then runc's allowed devices", "[cgroups]") {
  std::vector<DeviceRule> spec = {{false, 'a', kWildcard, kWildcard, "rwm"},
                                  {false, 'c', 1, 3, "rwm"}};
  auto v = container_device_rules(spec);
  REQUIRE(v.size() == 2 + allowed_device_rules().size());
  CHECK(v[1].v1_string() == "c 1:3 rwm");
  CHECK(v[2].v1_string() == "c *:* m");
  CHECK(v.back().v1_string() == allowed_device_rules().back().v1_string());
  auto none = container_device_rules(std::nullopt);
  CHECK(none[0].v1_string() == "a *:* rwm");
  CHECK_FALSE(none[0].allow);
  CHECK(none.size() == default_device_rules().size());
}
