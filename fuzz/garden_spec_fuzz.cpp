// libFuzzer target: Garden's JSON decoding (ContainerSpec, ProcessSpec, NetOutRule, grace
// time) and what consumes a spec that passed it: the bundle builder (config.json) and the
// process builder (process.json). Invariant: a spec the checks accept builds without
// throwing (the server would answer 500 to it), and nothing crashes whatever the checks say.
#include <cstddef>
#include <cstdint>
#include <string>

#include "garden/api/decode.hpp"
#include "garden/bundle/bundle.hpp"
#include "garden/bundle/process_spec.hpp"

using json = nlohmann::json;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  json j = json::parse(data, data + size, nullptr, false);
  if (j.is_discarded()) return 0;
  (void)garden::check_grace_time(j);
  if (j.is_object() && j.contains("netout_rules") && j["netout_rules"].is_array())
    for (auto& r : j["netout_rules"]) (void)garden::check_netout_rule(r, "netout_rules[]");
  if (garden::check_container_spec(j).empty()) {
    json spec = j;
    garden::drop_nulls(spec);
    garden::BundleParams bp;
    bp.handle = spec.value("handle", "fuzz");
    if (bp.handle.empty()) bp.handle = "fuzz";
    bp.rootfs = "/nonexistent/garden-fuzz/rootfs";
    bp.init_path = "/nonexistent/garden-init";
    bp.hosts_file = "/nonexistent/hosts";
    bp.resolv_file = "/nonexistent/resolv.conf";
    bp.cgroup_parent = "garden";
    std::string err;
    json config = garden::build_config(spec, bp, err);
    if (err.empty() && !config.is_object()) abort();
    if (err.empty()) (void)config.dump();
  }
  if (garden::check_process_spec(j).empty()) {
    json spec = j;
    garden::drop_nulls(spec);
    json meta = {{"env", {"A=1"}}, {"privileged", false}, {"rootfs", "/nonexistent"}};
    garden::User u{"root", 0, 0, "/root"};
    json p = garden::build_process(spec, meta, u);
    (void)p.dump();
  }
  return 0;
}
