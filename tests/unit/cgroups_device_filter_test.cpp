// The eBPF device program, run in a small interpreter and compared with the rule semantics.
#include <catch2/catch.hpp>

#include "cgroups/device_filter.hpp"

using namespace crunner;
using namespace crunner::cgroups;

static bool prog_allows(const std::vector<DeviceRule>& rules, char type, uint32_t maj, uint32_t min,
                        const char* access) {
  auto prog = build_device_program(rules);
  auto r = run_device_program(prog, {type, maj, min, access});
  REQUIRE(r.ok());
  return *r;
}

TEST_CASE("device program: the default rules", "[cgroups][devices]") {
  auto rules = default_device_rules();
  CHECK(prog_allows(rules, 'c', 1, 3, "rw"));    // /dev/null
  CHECK(prog_allows(rules, 'c', 1, 9, "r"));     // urandom
  CHECK(prog_allows(rules, 'c', 136, 4, "rw"));  // pts/4
  CHECK(prog_allows(rules, 'c', 99, 1, "m"));    // mknod any char
  CHECK(prog_allows(rules, 'b', 8, 0, "m"));     // mknod any block
  CHECK_FALSE(prog_allows(rules, 'b', 8, 0, "r"));
  CHECK_FALSE(prog_allows(rules, 'c', 1, 4, "r"));  // /dev/port
  CHECK_FALSE(prog_allows(rules, 'c', 10, 200, "rw"));
  CHECK_FALSE(prog_allows(rules, 'c', 1, 1, "rw"));  // /dev/mem
}

TEST_CASE("device program: last match wins, partial access", "[cgroups][devices]") {
  std::vector<DeviceRule> rules = {{false, 'a', kWildcard, kWildcard, "rwm"},
                                   {true, 'c', 1, kWildcard, "rw"},
                                   {false, 'c', 1, 3, "w"}};
  CHECK(prog_allows(rules, 'c', 1, 3, "r"));
  CHECK_FALSE(prog_allows(rules, 'c', 1, 3, "w"));
  CHECK_FALSE(prog_allows(rules, 'c', 1, 3, "rw"));
  CHECK(prog_allows(rules, 'c', 1, 5, "rw"));
  CHECK_FALSE(prog_allows(rules, 'c', 1, 5, "m"));
  CHECK_FALSE(prog_allows(rules, 'b', 1, 5, "r"));
  // No rules at all: the parent's policy (allow).
  CHECK(prog_allows({}, 'b', 8, 0, "rwm"));
}

TEST_CASE("device program agrees with the reference semantics everywhere", "[cgroups][devices]") {
  std::vector<std::vector<DeviceRule>> lists = {
      default_device_rules(),
      {{true, 'a', kWildcard, kWildcard, "rwm"}, {false, 'b', 8, kWildcard, "w"}},
      {{false, 'a', kWildcard, kWildcard, "rwm"},
       {true, 'b', kWildcard, 0, "r"},
       {true, 'c', 5, kWildcard, "m"},
       {false, 'c', 5, 1, "rwm"}},
  };
  const char* accesses[] = {"r", "w", "m", "rw", "rm", "wm", "rwm"};
  for (auto& rules : lists) {
    auto prog = build_device_program(rules);
    for (char type : {'c', 'b'})
      for (uint32_t maj : {1u, 5u, 8u, 136u})
        for (uint32_t min : {0u, 1u, 3u, 9u})
          for (auto* a : accesses) {
            auto got = run_device_program(prog, {type, maj, min, a});
            REQUIRE(got.ok());
            INFO(type << " " << maj << ":" << min << " " << a);
            CHECK(*got == device_rules_allow(rules, {type, maj, min, a}));
          }
  }
}

TEST_CASE("device program: no unreachable instructions after an unconditional rule",
          "[cgroups][devices]") {
  auto prog =
      build_device_program({{true, 'c', 1, 3, "rw"}, {false, 'a', kWildcard, kWildcard, "rwm"}});
  // prologue (6) + the deny-all block (2): the allow rule before it can never match.
  CHECK(prog.size() == 8);
  CHECK(prog.back().code == (BPF_JMP | BPF_EXIT));
  auto r = run_device_program(prog, {'c', 1, 3, "r"});
  REQUIRE(r.ok());
  CHECK_FALSE(*r);
}
