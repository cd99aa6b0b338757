#include <signal.h>
#include <sys/sysinfo.h>
#include <sys/wait.h>
#include <unistd.h>

#include <catch2/catch.hpp>

#include "base/proc.hpp"

using namespace crunner;

TEST_CASE("process_running: a live process yes, a zombie and a reaped one no", "[proc]") {
  REQUIRE(process_running(getpid()));
  REQUIRE(process_start_time(getpid()) > 0);
  pid_t child = fork();
  REQUIRE(child >= 0);
  if (child == 0) {
    pause();
    _exit(0);
  }
  CHECK(process_running(child));  // not REQUIRE: the child must still be killed
  REQUIRE(kill(child, SIGKILL) == 0);
  // Dead but not reaped (WNOWAIT): a zombie.
  siginfo_t si{};
  REQUIRE(waitid(P_PID, static_cast<id_t>(child), &si, WEXITED | WNOWAIT) == 0);
  REQUIRE(process_state(child) == 'Z');
  REQUIRE_FALSE(process_running(child));
  REQUIRE(waitpid(child, nullptr, 0) == child);
  REQUIRE_FALSE(process_running(child));
}

TEST_CASE("memory_total is the kernel's total RAM, as sysinfo reports it", "[proc]") {
  struct sysinfo si {};
  REQUIRE(sysinfo(&si) == 0);
  REQUIRE(memory_total() == static_cast<unsigned long long>(si.totalram) * si.mem_unit);
}
