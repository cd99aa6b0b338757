// Real cgroups on this machine (v1/hybrid on the host, v2 in the tests/vm guest): limits bite,
// the freezer freezes, the device policy blocks, kill_all kills, destroy leaves nothing.
// Needs root; each test uses its own /crunner-test-<pid>-<n> cgroup and removes it.
#include <fcntl.h>
#include <linux/sched.h>
#include <poll.h>
#include <signal.h>
#include <sys/inotify.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>
#include <sys/wait.h>
#include <unistd.h>
#include <catch2/catch.hpp>

#include <atomic>
#include <cstring>
#include <ctime>
#include <filesystem>
#include <functional>
#include <thread>

#include "base/file.hpp"
#include "cgroups/cgdir.hpp"
#include "cgroups/device_filter.hpp"
#include "cgroups/manager.hpp"

using namespace crunner;
using namespace crunner::cgroups;

namespace {

void nap_ms(long ms) {
  struct timespec ts = {ms / 1000, (ms % 1000) * 1000000};
  nanosleep(&ts, nullptr);
}

bool can_run_real() {
  if (geteuid() != 0) {
    FAIL("real cgroup tests need root");
    return false;
  }
  if (!detect_mode().ok()) {
    FAIL("no cgroup hierarchy under /sys/fs/cgroup");
    return false;
  }
  return true;
}

// Waits up to ~60 s for cond (a bound against hanging, not a timing assertion).
bool eventually(const std::function<bool()>& cond) {
  for (int i = 0; i < 6000; ++i) {
    if (cond()) return true;
    nap_ms(10);
  }
  return cond();
}

void reap_all() {
  while (waitpid(-1, nullptr, WNOHANG) > 0) {
  }
}

// A real cgroup for one test, killed and removed at the end.
struct RealCgroup {
  std::string id, path;
  std::unique_ptr<Manager> m;
  explicit RealCgroup(const Resources& r = {}) {
    static int n = 0;
    prctl(PR_SET_CHILD_SUBREAPER, 1);  // grandchildren come back to us, and we reap them
    id = "crunner-test-" + std::to_string(getpid()) + "-" + std::to_string(++n);
    path = "/" + id;
    auto mm = make_manager(path, id, false);
    REQUIRE(mm.ok());
    m = std::move(*mm);
    auto c = m->create();
    INFO((c.ok() ? std::string() : c.error().what()));
    REQUIRE(c.ok());
    auto a = m->apply(r);
    INFO((a.ok() ? std::string() : a.error().what()));
    REQUIRE(a.ok());
  }
  ~RealCgroup() {
    if (!m) return;
    (void)m->kill_all(SIGKILL);
    eventually([&] {
      reap_all();
      auto p = m->pids();
      return p.ok() && p->empty();
    });
    auto d = m->destroy();
    if (!d.ok()) WARN("destroy: " << d.error().what());
  }
  // Forks a child that runs body() inside the cgroup (it waits until it has been moved).
  pid_t spawn(const std::function<int()>& body) {
    int p[2];
    REQUIRE(pipe2(p, O_CLOEXEC) == 0);
    pid_t pid = fork();
    REQUIRE(pid >= 0);
    if (pid == 0) {
      // Catch2's fatal-signal handlers must not run in our children.
      for (int sig : {SIGINT, SIGILL, SIGFPE, SIGSEGV, SIGTERM, SIGABRT}) signal(sig, SIG_DFL);
      close(p[1]);
      char c;
      if (read(p[0], &c, 1) != 1) _exit(120);
      _exit(body());
    }
    close(p[0]);
    auto r = m->add_pid(pid);
    if (!r.ok()) {
      kill(pid, SIGKILL);
      waitpid(pid, nullptr, 0);
      close(p[1]);
      FAIL(r.error().what());
    }
    REQUIRE(write(p[1], "x", 1) == 1);
    close(p[1]);
    return pid;
  }
};

int wait_status(pid_t pid) {
  int st = 0;
  while (waitpid(pid, &st, 0) < 0 && errno == EINTR) {
  }
  return st;
}

// Reads one line from fd, waiting up to ~60 s; "" on timeout/EOF.
std::string read_line(int fd) {
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

}  // namespace

TEST_CASE("real: create, join, the cgroup files show the process, destroy leaves nothing",
          "[cgroups][real]") {
  if (!can_run_real()) return;
  RealCgroup cg;
  pid_t pid = cg.spawn([] {
    pause();
    return 0;
  });
  REQUIRE(eventually([&] {
    auto p = cg.m->pids();
    return p.ok() && p->size() == 1 && (*p)[0] == pid;
  }));
  auto own = read_file("/proc/" + std::to_string(pid) + "/cgroup");
  REQUIRE(own.ok());
  if (cg.m->mode() != Mode::Legacy) CHECK(own->find("0::" + cg.path + "\n") != std::string::npos);
  if (cg.m->mode() != Mode::Unified)
    CHECK(own->find(":memory:" + cg.path + "\n") != std::string::npos);
  // events --stats: one line in runc's shape
  int p[2];
  REQUIRE(pipe2(p, O_CLOEXEC) == 0);
  REQUIRE(run_events(*cg.m, cg.id, true, std::chrono::milliseconds(0), p[1]).ok());
  close(p[1]);
  auto j = nlohmann::json::parse(read_line(p[0]));
  close(p[0]);
  CHECK(j["type"] == "stats");
  CHECK(j["id"] == cg.id);
  CHECK(j["data"]["pids"]["current"] == 1);
  CHECK(j["data"]["memory"]["usage"].contains("limit"));
  CHECK(j["data"]["cpu"]["usage"].contains("kernel"));
  auto saved = cg.m->to_json();
  REQUIRE(cg.m->kill_all(SIGKILL).ok());
  CHECK(WTERMSIG(wait_status(pid)) == SIGKILL);
  REQUIRE(cg.m->destroy().ok());
  CHECK_FALSE(cg.m->exists());
  if (saved.contains("paths")) {
    for (auto& v : saved["paths"]) CHECK_FALSE(std::filesystem::exists(v.get<std::string>()));
  }
  if (saved.contains("unified"))
    CHECK_FALSE(std::filesystem::exists(saved["unified"].get<std::string>()));
  CHECK(cg.m->destroy().ok());
}

TEST_CASE("real: memory limit OOM-kills a hog, stats and events report it", "[cgroups][real]") {
  if (!can_run_real()) return;
  Resources r;
  r.memory.limit = 32 << 20;
  r.memory.swap = 32 << 20;  // no swap on top
  RealCgroup cg(r);
  int p[2];
  REQUIRE(pipe2(p, O_CLOEXEC) == 0);
  Status ev_status;
  std::thread events([&] {
    ev_status = run_events(*cg.m, cg.id, false, std::chrono::milliseconds(100), p[1]);
    close(p[1]);
  });
  auto watch = cg.m->watch_oom();
  INFO((watch.ok() ? std::string() : watch.error().what()));
  REQUIRE(watch.ok());
  // The first stats line means the OOM watch of run_events is registered too.
  auto first = nlohmann::json::parse(read_line(p[0]));
  CHECK(first["type"] == "stats");
  pid_t hog = cg.spawn([] {
    size_t len = 256 << 20;
    char* m = static_cast<char*>(
        mmap(nullptr, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0));
    if (m == MAP_FAILED) return 2;
    for (size_t i = 0; i < len; i += 4096) m[i] = 1;
    return 0;  // survived: the limit did not bite
  });
  int st = wait_status(hog);
  CHECK(WIFSIGNALED(st));
  CHECK(WTERMSIG(st) == SIGKILL);
  uint64_t oom_count = 0;
  {
    struct pollfd pf = {(*watch)->fd(), POLLIN, 0};
    CHECK(poll(&pf, 1, 60000) == 1);
    auto n = (*watch)->consume();
    REQUIRE(n.ok());
    oom_count = *n;
  }
  bool saw_oom = false;
  for (int i = 0; i < 200 && !saw_oom; ++i) {
    auto line = read_line(p[0]);
    if (line.empty()) break;
    auto j = nlohmann::json::parse(line);
    if (j["type"] == "oom") {
      saw_oom = true;
      CHECK(j["id"] == cg.id);
    }
  }
  CHECK(saw_oom);
  auto s = cg.m->stats();
  REQUIRE(s.ok());
  CHECK(s->memory.oom_kill >= 1);
  // (this kernel's v1 memory.failcnt stays 0; the peak shows the limit was reached)
  CHECK(s->memory.usage.max_usage >= (30u << 20));
  if (cg.m->mode() == Mode::Unified) CHECK(s->memory.usage.failcnt >= 1);
  CHECK(oom_count >= 1);
  CHECK(s->memory.usage.limit == 32u << 20);
  // The event stream ends when the cgroup goes away.
  REQUIRE(cg.m->destroy().ok());
  events.join();
  CHECK(ev_status.ok());
  while (!read_line(p[0]).empty()) {
  }
  close(p[0]);
}

TEST_CASE("real: pids limit makes fork fail, update raises it", "[cgroups][real]") {
  if (!can_run_real()) return;
  Resources r;
  r.pids_limit = 5;
  RealCgroup cg(r);
  auto forker = [] {
    int ok = 0;
    bool eagain = false;
    std::vector<pid_t> kids;
    for (int i = 0; i < 12; ++i) {
      pid_t k = fork();
      if (k == 0) {
        pause();
        _exit(0);
      }
      if (k > 0) {
        ok++;
        kids.push_back(k);
      } else if (errno == EAGAIN) {
        eagain = true;
      }
    }
    for (pid_t k : kids) kill(k, SIGKILL);
    for (pid_t k : kids) waitpid(k, nullptr, 0);
    return eagain ? ok : 100 + ok;
  };
  int st = wait_status(cg.spawn(forker));
  REQUIRE(WIFEXITED(st));
  CHECK(WEXITSTATUS(st) == 4);  // itself + 4 children = 5
  auto s = cg.m->stats();
  REQUIRE(s.ok());
  CHECK(s->pids.limit == 5);
  Resources up;
  up.pids_limit = 20;
  REQUIRE(cg.m->apply(up).ok());
  CHECK(cg.m->stats()->pids.limit == 20);
  st = wait_status(cg.spawn(forker));
  REQUIRE(WIFEXITED(st));
  CHECK(WEXITSTATUS(st) == 112);  // all 12 forks worked
}

TEST_CASE("real: freeze stops progress, thaw resumes", "[cgroups][real]") {
  if (!can_run_real()) return;
  RealCgroup cg;
  auto* counter = static_cast<std::atomic<uint64_t>*>(
      mmap(nullptr, 4096, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0));
  REQUIRE(counter != MAP_FAILED);
  counter->store(0);
  pid_t pid = cg.spawn([counter] {
    for (;;) counter->fetch_add(1);
    return 0;
  });
  REQUIRE(eventually([&] { return counter->load() > 1000; }));
  REQUIRE(cg.m->freeze(true).ok());
  CHECK(*cg.m->frozen());
  uint64_t c1 = counter->load();
  nap_ms(300);
  CHECK(counter->load() == c1);
  REQUIRE(cg.m->freeze(false).ok());
  CHECK_FALSE(*cg.m->frozen());
  CHECK(eventually([&] { return counter->load() > c1 + 1000; }));
  // kill --all on a paused container: frozen again, then SIGKILL must still kill.
  REQUIRE(cg.m->freeze(true).ok());
  REQUIRE(cg.m->kill_all(SIGKILL).ok());
  CHECK(WTERMSIG(wait_status(pid)) == SIGKILL);
  munmap(counter, 4096);
}

TEST_CASE("real: kill_all signals every process, with SIGKILL and others", "[cgroups][real]") {
  if (!can_run_real()) return;
  RealCgroup cg;
  auto family = [] {
    for (int i = 0; i < 3; ++i)
      if (fork() == 0) {
        pause();
        _exit(0);
      }
    pause();
    return 0;
  };
  pid_t pid = cg.spawn(family);
  REQUIRE(eventually([&] { return cg.m->pids()->size() == 4; }));
  REQUIRE(cg.m->kill_all(SIGTERM).ok());
  CHECK(WTERMSIG(wait_status(pid)) == SIGTERM);
  CHECK(eventually([&] {
    reap_all();
    return cg.m->pids()->empty();
  }));
  CHECK_FALSE(*cg.m->frozen());  // the freezer was released
  pid = cg.spawn(family);
  REQUIRE(eventually([&] { return cg.m->pids()->size() == 4; }));
  REQUIRE(cg.m->kill_all(SIGKILL).ok());
  CHECK(WTERMSIG(wait_status(pid)) == SIGKILL);
  CHECK(eventually([&] {
    reap_all();
    return cg.m->pids()->empty();
  }));
}

TEST_CASE("real: kill_all of an empty cgroup does not touch the freezer", "[cgroups][real]") {
  // Freezing costs ~1.5 ms per write on v1 and an empty cgroup cannot gain members
  // (only a member forks into it): `run`'s teardown skipped it to save 3 ms.
  if (!can_run_real()) return;
  RealCgroup cg;
  std::vector<std::string> writes;
  set_write_observer([&](const std::string& p, std::string_view) { writes.push_back(p); });
  auto r = cg.m->kill_all(SIGKILL);
  set_write_observer({});
  REQUIRE(r.ok());
  for (const auto& w : writes) {
    INFO(w);
    CHECK(w.find("freezer.state") == std::string::npos);
    CHECK(w.find("cgroup.freeze") == std::string::npos);
  }
  CHECK_FALSE(*cg.m->frozen());
}

TEST_CASE("real: device rules block opening a denied node, update allows it",
          "[cgroups][real][devices]") {
  if (!can_run_real()) return;
  char tmpl[] = "/tmp/crunner-test-dev-XXXXXX";
  std::string dir = mkdtemp(tmpl);
  std::string null_node = dir + "/null", zero_node = dir + "/zero";
  REQUIRE(mknod(null_node.c_str(), S_IFCHR | 0666, makedev(1, 3)) == 0);
  REQUIRE(mknod(zero_node.c_str(), S_IFCHR | 0666, makedev(1, 5)) == 0);
  Resources r;
  r.devices =
      std::vector<DeviceRule>{{false, 'a', kWildcard, kWildcard, "rwm"}, {true, 'c', 1, 5, "rwm"}};
  {
    RealCgroup cg(r);
    auto opener = [&] {
      int res = 0;
      int fd = open(null_node.c_str(), O_RDWR);
      if (fd >= 0) {
        res |= 1;
        close(fd);
      } else if (errno == EPERM) {
        res |= 2;
      }
      fd = open(zero_node.c_str(), O_RDONLY);
      if (fd >= 0) {
        res |= 4;
        close(fd);
      }
      return res;
    };
    int st = wait_status(cg.spawn(opener));
    REQUIRE(WIFEXITED(st));
    CHECK(WEXITSTATUS(st) == (2 | 4));  // null denied with EPERM, zero allowed
    Resources up;
    up.devices = default_device_rules();
    REQUIRE(cg.m->apply(up).ok());
    st = wait_status(cg.spawn(opener));
    REQUIRE(WIFEXITED(st));
    CHECK(WEXITSTATUS(st) == (1 | 4));
    if (cg.m->mode() == Mode::Unified) {
      auto fd = cg.m->unified_dir_fd();
      REQUIRE(fd.ok());
      CgDir d{std::move(*fd), cg.path};
      auto ids = attached_device_programs(d);
      REQUIRE(ids.ok());
      CHECK(ids->size() == 1);  // the update replaced the first program
    }
  }
  std::filesystem::remove_all(dir);
}

TEST_CASE("real: cpu quota throttles a spinner", "[cgroups][real]") {
  if (!can_run_real()) return;
  Resources r;
  r.cpu.quota = 10000;
  r.cpu.period = 100000;
  r.cpu.shares = 512;
  RealCgroup cg(r);
  cg.spawn([] {
    for (;;) asm volatile("" ::: "memory");
    return 0;
  });
  CHECK(eventually([&] {
    auto s = cg.m->stats();
    return s.ok() && s->cpu.throttled_periods > 0 && s->cpu.throttled_time > 0;
  }));
  auto s = cg.m->stats();
  REQUIRE(s.ok());
  CHECK(s->cpu.total > 0);
}

TEST_CASE("real: a rejected value is an error naming file and value", "[cgroups][real]") {
  if (!can_run_real()) return;
  RealCgroup cg;
  Resources r;
  r.cpu.cpus = "999";
  auto a = cg.m->apply(r);
  REQUIRE_FALSE(a.ok());
  CHECK(a.error().what().find("write `999` to `") == 0);
  CHECK(a.error().what().find("cpuset.cpus`") != std::string::npos);
}

namespace {

// A child started by clone3 CLONE_INTO_CGROUP in cg (v2), running body().
pid_t clone_into(RealCgroup& cg, const std::function<int()>& body) {
  auto fd = cg.m->unified_dir_fd();
  REQUIRE(fd.ok());
  struct clone_args args;
  std::memset(&args, 0, sizeof args);
  args.flags = CLONE_INTO_CGROUP;
  args.exit_signal = SIGCHLD;
  args.cgroup = static_cast<uint64_t>(fd->get());
  long pid = syscall(SYS_clone3, &args, sizeof args);
  REQUIRE(pid >= 0);
  if (pid == 0) _exit(body());
  return static_cast<pid_t>(pid);
}

}  // namespace

TEST_CASE("real v2: clone3 CLONE_INTO_CGROUP starts the child inside the cgroup",
          "[cgroups][real][v2]") {
  if (!can_run_real()) return;
  RealCgroup cg;
  if (cg.m->mode() != Mode::Unified) {
    CHECK_FALSE(cg.m->unified_dir_fd().ok());
    return;
  }
  std::string want = "0::" + cg.path + "\n";
  pid_t pid = clone_into(cg, [&want] {
    char buf[512] = {};
    int f = open("/proc/self/cgroup", O_RDONLY);
    ssize_t n = f >= 0 ? read(f, buf, sizeof buf - 1) : -1;
    return n > 0 && want == buf ? 0 : 1;
  });
  int st = wait_status(pid);
  REQUIRE(WIFEXITED(st));
  CHECK(WEXITSTATUS(st) == 0);
}

// The write would take the kernel's threadgroup lock (one RCU grace period) for nothing.
TEST_CASE("real v2: add_pid leaves alone a child cloned into the cgroup", "[cgroups][real][v2]") {
  if (!can_run_real()) return;
  RealCgroup cg;
  if (cg.m->mode() != Mode::Unified) {
    CHECK_FALSE(cg.m->unified_dir_fd().ok());
    return;
  }
  std::string procs = cg.m->to_json()["unified"].get<std::string>() + "/cgroup.procs";
  int in = inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
  REQUIRE(in >= 0);
  REQUIRE(inotify_add_watch(in, procs.c_str(), IN_MODIFY) >= 0);
  auto writes = [in] {
    int n = 0;
    alignas(struct inotify_event) char buf[4096];
    for (ssize_t r; (r = read(in, buf, sizeof buf)) > 0;)
      for (char* e = buf; e < buf + r;
           e += sizeof(struct inotify_event) + reinterpret_cast<struct inotify_event*>(e)->len)
        ++n;
    return n;
  };
  pid_t inside = clone_into(cg, [] {
    pause();
    return 0;
  });
  REQUIRE(cg.m->add_pid(inside).ok());
  CHECK(writes() == 0);
  // The watch sees a write: a child outside the cgroup is written.
  pid_t outside = cg.spawn([] {
    pause();
    return 0;
  });
  CHECK(writes() == 1);
  auto pids = cg.m->pids();
  REQUIRE(pids.ok());
  CHECK(pids->size() == 2);
  kill(inside, SIGKILL);
  kill(outside, SIGKILL);
  wait_status(inside);
  wait_status(outside);
  close(in);
}

TEST_CASE("real: nested cgroups made inside the container are listed, killed and removed",
          "[cgroups][real]") {
  if (!can_run_real()) return;
  RealCgroup cg;
  auto j = cg.m->to_json();
  std::string base = cg.m->mode() == Mode::Unified ? j["unified"].get<std::string>()
                                                   : j["paths"]["pids"].get<std::string>();
  std::string nested = base + "/inner/deeper";
  REQUIRE(mkdir_p(nested).ok());
  pid_t pid = cg.spawn([] {
    pause();
    return 0;
  });
  REQUIRE(write_file(nested + "/cgroup.procs", std::to_string(pid)).ok());
  auto pids = cg.m->pids();
  REQUIRE(pids.ok());
  CHECK(*pids == std::vector<pid_t>{pid});
  REQUIRE(cg.m->kill_all(SIGKILL).ok());
  CHECK(WTERMSIG(wait_status(pid)) == SIGKILL);
  REQUIRE(cg.m->destroy().ok());
  CHECK_FALSE(std::filesystem::exists(base));
}
