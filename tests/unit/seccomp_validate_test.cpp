// linux.seccomp validation: each bad field gives an error naming its path.
#include <catch2/catch.hpp>

#include "seccomp/seccomp.hpp"

using namespace crunner;
using json = nlohmann::json;

namespace {

json good() {
  return json::parse(R"({
    "defaultAction": "SCMP_ACT_ERRNO",
    "defaultErrnoRet": 1,
    "architectures": ["SCMP_ARCH_X86_64", "SCMP_ARCH_X86", "SCMP_ARCH_X32"],
    "flags": ["SECCOMP_FILTER_FLAG_LOG"],
    "listenerPath": "/run/agent.sock",
    "listenerMetadata": "meta",
    "syscalls": [
      {"names": ["read", "write"], "action": "SCMP_ACT_ALLOW"},
      {"names": ["personality"], "action": "SCMP_ACT_ALLOW",
       "args": [{"index": 0, "value": 8, "op": "SCMP_CMP_EQ"}]},
      {"names": ["mkdir"], "action": "SCMP_ACT_NOTIFY"},
      {"names": ["clone"], "action": "SCMP_ACT_ALLOW",
       "args": [{"index": 0, "value": 2114060288, "valueTwo": 0, "op": "SCMP_CMP_MASKED_EQ"}]}
    ]})");
}

std::string err(const json& j) {
  auto s = seccomp::validate(j);
  return s.ok() ? "" : s.error().what();
}

}  // namespace

TEST_CASE("a complete linux.seccomp validates", "[seccomp][validate]") {
  REQUIRE(err(good()) == "");
  REQUIRE(err(seccomp::default_profile()) == "");
  REQUIRE(err(json::parse(R"({"defaultAction": "SCMP_ACT_ALLOW"})")) == "");
  // null members are absent members
  REQUIRE(err(json::parse(R"({"defaultAction": "SCMP_ACT_KILL", "syscalls": null,
                              "architectures": null})")) == "");
  // every action and operator name is accepted (features() kept in a local: a range-for over
  // a member of the temporary would use it after its destruction)
  const json features = seccomp::features();
  for (auto& a : features["actions"]) {
    if (a == "SCMP_ACT_NOTIFY") continue;
    REQUIRE(err(json{{"defaultAction", a}}) == "");
  }
  for (auto& op : features["operators"]) {
    json j = good();
    j["syscalls"][1]["args"][0]["op"] = op;
    REQUIRE(err(j) == "");
  }
  // the largest unsigned values
  json j = good();
  j["syscalls"][1]["args"][0]["value"] = 18446744073709551615ull;
  j["syscalls"][1]["args"][0]["valueTwo"] = 18446744073709551615ull;
  REQUIRE(err(j) == "");
}

TEST_CASE("linux.seccomp errors name the field path", "[seccomp][validate]") {
  struct Case {
    std::function<void(json&)> mutate;
    std::string message;
  };
  const std::vector<Case> cases = {
      {[](json& j) { j = json::array(); }, "linux.seccomp: must be an object"},
      {[](json& j) { j.erase("defaultAction"); }, "linux.seccomp.defaultAction: is required"},
      {[](json& j) { j["defaultAction"] = 3; }, "linux.seccomp.defaultAction: must be a string"},
      {[](json& j) { j["defaultAction"] = "SCMP_ACT_FOO"; },
       "linux.seccomp.defaultAction: unknown action \"SCMP_ACT_FOO\""},
      {[](json& j) { j["defaultAction"] = "SCMP_ACT_NOTIFY"; },
       "linux.seccomp.defaultAction: SCMP_ACT_NOTIFY cannot be used as default action"},
      {[](json& j) { j["defaultErrnoRet"] = -1; },
       "linux.seccomp.defaultErrnoRet: must be an unsigned integer"},
      {[](json& j) { j["defaultErrnoRet"] = 70000; },
       "linux.seccomp.defaultErrnoRet: must be at most 65535"},
      {[](json& j) { j["architectures"] = "SCMP_ARCH_X86"; },
       "linux.seccomp.architectures: must be an array"},
      {[](json& j) { j["architectures"][1] = "SCMP_ARCH_Z80"; },
       "linux.seccomp.architectures[1]: unknown architecture \"SCMP_ARCH_Z80\""},
      {[](json& j) { j["flags"][0] = "SECCOMP_FILTER_FLAG_BOGUS"; },
       "linux.seccomp.flags[0]: unknown flag \"SECCOMP_FILTER_FLAG_BOGUS\""},
      {[](json& j) { j["listenerPath"] = 1; }, "linux.seccomp.listenerPath: must be a string"},
      {[](json& j) { j.erase("listenerPath"); },
       "linux.seccomp.listenerPath: is required when SCMP_ACT_NOTIFY is used"},
      {[](json& j) { j["listenerMetadata"] = json::object(); },
       "linux.seccomp.listenerMetadata: must be a string"},
      {[](json& j) {
         j.erase("listenerPath");
         j["syscalls"].erase(2);
       },
       "linux.seccomp.listenerMetadata: is set without listenerPath"},
      {[](json& j) { j["defaultAction"] = "SCMP_ACT_KILL"; },
       "linux.seccomp.defaultErrnoRet: is not supported by SCMP_ACT_KILL (only SCMP_ACT_ERRNO "
       "and SCMP_ACT_TRACE)"},
      {[](json& j) { j["syscalls"][0]["errnoRet"] = 5; },
       "linux.seccomp.syscalls[0].errnoRet: is not supported by SCMP_ACT_ALLOW (only "
       "SCMP_ACT_ERRNO and SCMP_ACT_TRACE)"},
      {[](json& j) { j["syscalls"] = json::object(); }, "linux.seccomp.syscalls: must be an array"},
      {[](json& j) { j["syscalls"][2] = "mkdir"; }, "linux.seccomp.syscalls[2]: must be an object"},
      {[](json& j) { j["syscalls"][0].erase("names"); },
       "linux.seccomp.syscalls[0].names: is required"},
      {[](json& j) { j["syscalls"][0]["names"] = json::array(); },
       "linux.seccomp.syscalls[0].names: must not be empty"},
      {[](json& j) { j["syscalls"][0]["names"][1] = ""; },
       "linux.seccomp.syscalls[0].names[1]: must not be empty"},
      {[](json& j) { j["syscalls"][0]["names"][1] = 1; },
       "linux.seccomp.syscalls[0].names[1]: must be a string"},
      {[](json& j) { j["syscalls"][3]["action"] = "SCMP_ACT_FOO"; },
       "linux.seccomp.syscalls[3].action: unknown action \"SCMP_ACT_FOO\""},
      {[](json& j) { j["syscalls"][0].erase("action"); },
       "linux.seccomp.syscalls[0].action: is required"},
      {[](json& j) { j["syscalls"][0]["errnoRet"] = "1"; },
       "linux.seccomp.syscalls[0].errnoRet: must be an unsigned integer"},
      {[](json& j) {
         j["syscalls"][2]["names"] = {"mkdir", "write"};
       },
       "linux.seccomp.syscalls[2].names[1]: SCMP_ACT_NOTIFY cannot be used for the write "
       "syscall"},
      {[](json& j) { j["syscalls"][2]["names"] = {"sendmsg"}; },
       "linux.seccomp.syscalls[2].names[0]: SCMP_ACT_NOTIFY cannot be used for the sendmsg "
       "syscall"},
      {[](json& j) { j["syscalls"][1]["args"] = 1; },
       "linux.seccomp.syscalls[1].args: must be an array"},
      {[](json& j) { j["syscalls"][1]["args"][0] = 1; },
       "linux.seccomp.syscalls[1].args[0]: must be an object"},
      {[](json& j) { j["syscalls"][1]["args"][0].erase("index"); },
       "linux.seccomp.syscalls[1].args[0].index: is required"},
      {[](json& j) { j["syscalls"][1]["args"][0]["index"] = 6; },
       "linux.seccomp.syscalls[1].args[0].index: must be between 0 and 5"},
      {[](json& j) { j["syscalls"][1]["args"][0].erase("value"); },
       "linux.seccomp.syscalls[1].args[0].value: is required"},
      {[](json& j) { j["syscalls"][1]["args"][0]["value"] = -8; },
       "linux.seccomp.syscalls[1].args[0].value: must be an unsigned integer"},
      {[](json& j) { j["syscalls"][1]["args"][0]["value"] = 1.5; },
       "linux.seccomp.syscalls[1].args[0].value: must be an unsigned integer"},
      {[](json& j) { j["syscalls"][3]["args"][0]["valueTwo"] = "0"; },
       "linux.seccomp.syscalls[3].args[0].valueTwo: must be an unsigned integer"},
      {[](json& j) { j["syscalls"][1]["args"][0].erase("op"); },
       "linux.seccomp.syscalls[1].args[0].op: is required"},
      {[](json& j) { j["syscalls"][1]["args"][0]["op"] = "SCMP_CMP_MAYBE"; },
       "linux.seccomp.syscalls[1].args[0].op: unknown operator \"SCMP_CMP_MAYBE\""},
  };
  for (auto& c : cases) {
    json j = good();
    c.mutate(j);
    INFO(j.dump());
    REQUIRE(err(j) == c.message);
  }
}

TEST_CASE("validate uses the caller's path prefix", "[seccomp][validate]") {
  auto s = seccomp::validate(json::object(), "config.linux.seccomp");
  REQUIRE_FALSE(s.ok());
  REQUIRE(s.error().what() == "config.linux.seccomp.defaultAction: is required");
  REQUIRE(s.error().kind == ErrorKind::InvalidSpec);
}
