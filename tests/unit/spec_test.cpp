#include <sys/resource.h>

#include <catch2/catch.hpp>

#include "base/file.hpp"
#include "libcontainer/spec.hpp"

using namespace crunner;
using namespace crunner::spec;
using json = nlohmann::json;

static json base() {
  auto t = read_file(std::string(FIXTURES_DIR) + "/specs/runc-default.json");
  REQUIRE(t.ok());
  return json::parse(*t);
}

static std::string err_of(const json& j) {
  auto r = parse_spec(j.dump());
  if (r.ok()) {
    auto v = validate(*r);
    return v.ok() ? "" : v.error().what();
  }
  return r.error().what();
}

TEST_CASE("the runc default config parses", "[spec]") {
  auto r = parse_spec(base().dump());
  REQUIRE(r.ok());
  REQUIRE(validate(*r).ok());
  const Spec& s = *r;
  REQUIRE(s.process->args == std::vector<std::string>{"sh"});
  REQUIRE(s.root.path == "rootfs");
  REQUIRE(s.root.readonly);
  REQUIRE(s.mounts.size() == 7);
  REQUIRE(s.mounts[1].options[2] == "mode=755");
  REQUIRE(s.linux_->namespaces.size() == 6);
  REQUIRE(s.linux_->has_ns(NsType::Pid));
  REQUIRE_FALSE(s.linux_->has_ns(NsType::User));
  REQUIRE(s.process->rlimits[0].resource == RLIMIT_NOFILE);
  REQUIRE(s.process->capabilities->bounding.size() == 3);
}

TEST_CASE("errors name the field path", "[spec]") {
  json j = base();
  j["process"]["args"] = json::array();
  REQUIRE(err_of(j) == "process.args: must not be empty");

  j = base();
  j["linux"]["namespaces"][2]["type"] = "foo";
  REQUIRE(err_of(j) == "linux.namespaces[2].type: unknown namespace \"foo\"");

  j = base();
  j["process"]["user"]["uid"] = "root";
  REQUIRE(err_of(j) == "process.user.uid: must be a non-negative integer");

  j = base();
  j["process"]["capabilities"]["bounding"][1] = "CAP_FLY";  // ignored later, as runc does
  REQUIRE(err_of(j) == "");

  j = base();
  j["process"]["rlimits"][0]["soft"] = 2048;
  REQUIRE(err_of(j) == "process.rlimits[0]: soft limit 2048 is greater than hard limit 1024");

  j = base();
  j["mounts"][3].erase("destination");
  REQUIRE(err_of(j) == "mounts[3].destination: is required");

  j = base();
  j["hooks"] = {{"prestart", {{{"path", "relative"}}}}};
  REQUIRE(err_of(j) == "hooks.prestart[0].path: must be an absolute path, got \"relative\"");

  j = base();
  j["ociVersion"] = "2.0.0";  // runc runs it: accepted, with a warning
  REQUIRE(err_of(j) == "");
  REQUIRE(warnings(*parse_spec(j.dump())) ==
          std::vector<std::string>{
              "ociVersion \"2.0.0\" is not a runtime-spec 1.x version: read as 1.x"});
  j.erase("ociVersion");
  REQUIRE(err_of(j) == "");

  j = base();
  j["linux"]["namespaces"] = json::array({{{"type", "pid"}}});
  REQUIRE(err_of(j) == "hostname: requires a uts namespace (linux.namespaces type \"uts\")");

  j = base();  // a uts namespace joined by path is the container's too: set there, as runc
  j["linux"]["namespaces"] = json::array({{{"type", "uts"}, {"path", "/proc/1/ns/uts"}}});
  REQUIRE(err_of(j) == "");

  j = base();
  j["linux"]["namespaces"].push_back({{"type", "user"}});
  REQUIRE(err_of(j) == "linux.uidMappings: required with a new user namespace");

  j = base();
  j["linux"]["sysctl"] = {{"kernel.panic", "1"}};
  REQUIRE(err_of(j) == "linux.sysctl.kernel.panic: not namespaced; refusing to change the host");
}

TEST_CASE("unknown fields and any 1.x version are accepted", "[spec]") {
  json j = base();
  j["ociVersion"] = "1.2.0";
  j["somethingNew"] = {{"x", 1}};
  j["process"]["futureField"] = true;
  j["annotations"] = {{"org.example.key", "value"}};
  auto r = parse_spec(j.dump());
  REQUIRE(r.ok());
  REQUIRE(r->annotations.at("org.example.key") == "value");
}

TEST_CASE("malformed JSON reports line and column", "[spec]") {
  auto r = parse_spec("{\n  \"ociVersion\": \"1.0.2\",\n  \"root\": {,}\n}");
  REQUIRE_FALSE(r.ok());
  INFO(r.error().what());
  REQUIRE(r.error().what().find("line 3, column 12") != std::string::npos);
}

TEST_CASE("process.scheduler and process.ioPriority parse, bad values name the field", "[spec]") {
  auto j = base();
  j["process"]["scheduler"] = {
      {"policy", "SCHED_FIFO"}, {"priority", 10}, {"flags", {"SCHED_FLAG_RESET_ON_FORK"}}};
  j["process"]["ioPriority"] = {{"class", "IOPRIO_CLASS_IDLE"}, {"priority", 7}};
  auto r = parse_spec(j.dump());
  REQUIRE(r);
  REQUIRE(r->process->scheduler);
  CHECK(r->process->scheduler->policy_num == 1);
  CHECK(r->process->scheduler->priority == 10);
  CHECK(r->process->scheduler->flags == 0x01);
  REQUIRE(r->process->io_priority);
  CHECK(r->process->io_priority->class_num == 3);
  CHECK(r->process->io_priority->priority == 7);

  auto with = [](const char* key, json v) {
    auto k = base();
    k["process"][key] = std::move(v);
    return err_of(k);
  };
  CHECK_THAT(with("scheduler", {{"policy", "SCHED_NOPE"}}),
             Catch::Contains("process.scheduler.policy: unknown policy \"SCHED_NOPE\""));
  CHECK_THAT(with("scheduler", {{"nice", 1}}), Catch::Contains("process.scheduler.policy"));
  CHECK_THAT(with("scheduler", {{"policy", "SCHED_OTHER"}, {"nice", 20}}),
             Catch::Contains("process.scheduler.nice"));
  CHECK_THAT(with("scheduler", {{"policy", "SCHED_RR"}, {"priority", 0}}),
             Catch::Contains("process.scheduler.priority"));
  CHECK_THAT(with("scheduler", {{"policy", "SCHED_BATCH"}, {"flags", {"SCHED_FLAG_X"}}}),
             Catch::Contains("process.scheduler.flags: unknown flag"));
  CHECK_THAT(with("ioPriority", {{"class", "IOPRIO_CLASS_NONE"}}),
             Catch::Contains("process.ioPriority.class: unknown class"));
  CHECK_THAT(with("ioPriority", {{"class", "IOPRIO_CLASS_BE"}, {"priority", 8}}),
             Catch::Contains("process.ioPriority.priority: must be between 0 and 7"));
}
