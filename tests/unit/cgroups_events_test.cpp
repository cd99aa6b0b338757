// run_events on a fake v2 tree: stats lines, an OOM line when memory.events' oom_kill grows
// (inotify), and the end of the stream when the cgroup directory goes away.
#include <fcntl.h>
#include <poll.h>
#include <unistd.h>
#include <catch2/catch.hpp>

#include <thread>

#include "cgroups/manager.hpp"
#include "cgroups_fake.hpp"

using namespace crunner;
using namespace crunner::cgroups;
using crunner::cgroups::testing::FakeTree;

namespace {
std::string line_from(int fd) {
  std::string line;
  char c;
  for (;;) {
    struct pollfd p = {fd, POLLIN, 0};
    if (poll(&p, 1, 60000) <= 0) return "";
    if (read(fd, &c, 1) != 1) return line;
    if (c == '\n') return line;
    line.push_back(c);
  }
}
void v2_files(FakeTree& t, const std::string& d) {
  t.file(d + "/memory.current", "4096\n");
  t.file(d + "/memory.max", "max\n");
  t.file(d + "/memory.events", "low 0\nhigh 0\nmax 0\noom 0\noom_kill 0\n");
  t.file(d + "/memory.stat", "anon 4096\nfile 0\n");
  t.file(d + "/cgroup.events", "populated 1\nfrozen 0\n");
  t.file(d + "/pids.current", "2\n");
  t.file(d + "/pids.max", "max\n");
}
}  // namespace

TEST_CASE("events: --stats prints one stats line", "[cgroups][events]") {
  FakeTree t;
  ManagerOptions o;
  o.root = t.root();
  o.mode = Mode::Unified;
  auto m = make_manager("/c", "c", false, o);
  REQUIRE(m.ok());
  v2_files(t, "c");
  int p[2];
  REQUIRE(pipe2(p, O_CLOEXEC) == 0);
  REQUIRE(run_events(**m, "c", true, std::chrono::milliseconds(0), p[1]).ok());
  close(p[1]);
  std::string line = line_from(p[0]);
  // runc's key order: type, id, data.
  CHECK(line.rfind("{\"type\":\"stats\",\"id\":\"c\",\"data\":{", 0) == 0);
  auto j = nlohmann::json::parse(line);
  CHECK(line_from(p[0]).empty());  // exactly one line
  close(p[0]);
  CHECK(j["type"] == "stats");
  CHECK(j["id"] == "c");
  CHECK(j["data"]["memory"]["usage"]["usage"] == 4096);
  CHECK(j["data"]["pids"]["current"] == 2);
}

TEST_CASE("events: stream with an OOM event, ends when the cgroup is removed",
          "[cgroups][events]") {
  FakeTree t;
  ManagerOptions o;
  o.root = t.root();
  o.mode = Mode::Unified;
  auto m = make_manager("/c", "c", false, o);
  REQUIRE(m.ok());
  v2_files(t, "c");
  int p[2];
  REQUIRE(pipe2(p, O_CLOEXEC) == 0);
  Status st;
  std::thread th([&] {
    st = run_events(**m, "c", false, std::chrono::milliseconds(20), p[1]);
    close(p[1]);
  });
  CHECK(nlohmann::json::parse(line_from(p[0]))["type"] == "stats");  // watch is armed
  t.file("c/memory.events", "low 0\nhigh 0\nmax 3\noom 1\noom_kill 1\n");
  bool oom = false;
  for (int i = 0; i < 1000 && !oom; ++i) {
    auto l = line_from(p[0]);
    REQUIRE_FALSE(l.empty());
    auto j = nlohmann::json::parse(l);
    if (j["type"] == "oom") {
      oom = true;
      CHECK(j == nlohmann::json{{"type", "oom"}, {"id", "c"}});
    }
  }
  CHECK(oom);
  std::filesystem::remove_all(t.path("c"));
  th.join();
  CHECK(st.ok());
  close(p[0]);
}
