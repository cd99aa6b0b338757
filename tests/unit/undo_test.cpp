#include <string>

#include <catch2/catch.hpp>

#include "base/undo.hpp"

using crunner::Undo;

TEST_CASE("undo: a failed operation undoes every step, last first", "[undo]") {
  std::string log;
  {
    Undo u;
    u.add([&] { log += "state-dir "; });
    u.add([&] { log += "cgroup "; });
    u.add([&] { log += "init "; });
  }
  REQUIRE(log == "init cgroup state-dir ");
}

TEST_CASE("undo: a dismissed undo runs nothing", "[undo]") {
  std::string log;
  {
    Undo u;
    u.add([&] { log += "state-dir "; });
    u.add([&] { log += "init "; });
    u.dismiss();
  }
  REQUIRE(log.empty());
}

TEST_CASE("undo: a step added later sees what earlier steps changed", "[undo]") {
  // create's init entry reads the pid when it runs: a two-stage create replaces it, a reaped
  // init clears it.
  int pid = 10;
  std::string log;
  {
    Undo u;
    u.add([&] {
      if (pid > 0) log += "kill " + std::to_string(pid);
    });
    pid = 11;
  }
  REQUIRE(log == "kill 11");
}
