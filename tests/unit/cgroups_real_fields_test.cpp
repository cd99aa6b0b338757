// Every resource field this kernel supports, applied to a real cgroup and read back from the
// kernel's files (v1/hybrid on the host, v2 in the guest).
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/wait.h>
#include <unistd.h>
#include <catch2/catch.hpp>

#include "base/file.hpp"
#include "base/text.hpp"
#include "cgroups/manager.hpp"

using namespace crunner;
using namespace crunner::cgroups;

namespace {

struct Cg {
  std::unique_ptr<Manager> m;
  nlohmann::json j;
  Cg() {
    static int n = 0;
    std::string id = "crunner-test-f" + std::to_string(getpid()) + "-" + std::to_string(++n);
    auto mm = make_manager("/" + id, id, false);
    REQUIRE(mm.ok());
    m = std::move(*mm);
    REQUIRE(m->create().ok());
    j = m->to_json();
  }
  ~Cg() {
    // Even after a failed REQUIRE: no process and no directory may stay behind.
    (void)m->kill_all(SIGKILL);
    for (int i = 0; i < 3000; ++i) {
      while (waitpid(-1, nullptr, WNOHANG) > 0) {
      }
      auto p = m->pids();
      if (!p.ok() || p->empty()) break;
      usleep(10000);
    }
    (void)m->destroy();
  }
  // A kernel file of the container's cgroup: v1 controller dir, or the v2 dir.
  std::string read(const std::string& ctrl, const std::string& file) const {
    std::string dir = m->mode() == Mode::Unified ? j["unified"].get<std::string>()
                                                 : j["paths"][ctrl].get<std::string>();
    auto r = read_file(dir + "/" + file);
    REQUIRE(r.ok());
    return trim(*r);
  }
  std::string read_unified(const std::string& file) const {
    auto r = read_file(j["unified"].get<std::string>() + "/" + file);
    REQUIRE(r.ok());
    return trim(*r);
  }
  void apply_ok(const Resources& r) {
    auto s = m->apply(r);
    INFO((s.ok() ? std::string() : s.error().what()));
    REQUIRE(s.ok());
  }
};

bool is_root() {
  return geteuid() == 0 && detect_mode().ok();
}

// A whole-disk block device of this machine ("maj:min"), or none.
bool block_device(int64_t& maj, int64_t& min) {
  for (const char* d : {"/dev/vda", "/dev/sda", "/dev/loop0"}) {
    struct stat st;
    if (stat(d, &st) == 0 && S_ISBLK(st.st_mode)) {
      maj = major(st.st_rdev);
      min = minor(st.st_rdev);
      return true;
    }
  }
  return false;
}

}  // namespace

TEST_CASE("real fields: memory", "[cgroups][real]") {
  if (!is_root()) return;
  Cg cg;
  Resources r;
  r.memory.limit = 64 << 20;
  r.memory.swap = 64 << 20;
  r.memory.reservation = 32 << 20;
  r.memory.swappiness = 10;
  r.memory.disable_oom_killer = false;
  r.memory.kernel_tcp = 8 << 20;
  r.memory.kernel = 8 << 20;
  cg.apply_ok(r);
  if (cg.m->mode() == Mode::Unified) {
    CHECK(cg.read("memory", "memory.max") == std::to_string(64 << 20));
    CHECK(cg.read("memory", "memory.low") == std::to_string(32 << 20));
    if (path_exists(cg.j["unified"].get<std::string>() + "/memory.swap.max"))
      CHECK(cg.read("memory", "memory.swap.max") == "0");
  } else {
    CHECK(cg.read("memory", "memory.limit_in_bytes") == std::to_string(64 << 20));
    CHECK(cg.read("memory", "memory.memsw.limit_in_bytes") == std::to_string(64 << 20));
    CHECK(cg.read("memory", "memory.soft_limit_in_bytes") == std::to_string(32 << 20));
    CHECK(cg.read("memory", "memory.swappiness") == "10");
    CHECK(cg.read("memory", "memory.kmem.tcp.limit_in_bytes") == std::to_string(8 << 20));
    Resources noomk;
    noomk.memory.disable_oom_killer = true;
    cg.apply_ok(noomk);
    CHECK(cg.read("memory", "memory.oom_control").find("oom_kill_disable 1") == 0);
  }
  // update: raise both (memsw must grow first on v1), then lower both
  Resources up;
  up.memory.limit = 256 << 20;
  up.memory.swap = 256 << 20;
  cg.apply_ok(up);
  CHECK(cg.m->stats()->memory.usage.limit == 256u << 20);
  Resources down;
  down.memory.limit = 16 << 20;
  down.memory.swap = 16 << 20;
  cg.apply_ok(down);
  CHECK(cg.m->stats()->memory.usage.limit == 16u << 20);
}

TEST_CASE("real fields: cpu and cpuset", "[cgroups][real]") {
  if (!is_root()) return;
  Cg cg;
  Resources r;
  r.cpu.shares = 512;
  r.cpu.quota = 50000;
  r.cpu.period = 100000;
  r.cpu.burst = 1000;
  r.cpu.idle = 0;
  r.cpu.cpus = "0";
  r.cpu.mems = "0";
  cg.apply_ok(r);
  if (cg.m->mode() == Mode::Unified) {
    CHECK(cg.read("cpu", "cpu.weight") == std::to_string(cpu_shares_to_weight(512)));
    CHECK(cg.read("cpu", "cpu.max") == "50000 100000");
    CHECK(cg.read("cpu", "cpu.max.burst") == "1000");
    CHECK(cg.read("cpu", "cpu.idle") == "0");
    CHECK(cg.read("cpuset", "cpuset.cpus") == "0");
    CHECK(cg.read("cpuset", "cpuset.mems") == "0");
  } else {
    CHECK(cg.read("cpu", "cpu.shares") == "512");
    CHECK(cg.read("cpu", "cpu.cfs_quota_us") == "50000");
    CHECK(cg.read("cpu", "cpu.cfs_period_us") == "100000");
    CHECK(cg.read("cpu", "cpu.cfs_burst_us") == "1000");
    CHECK(cg.read("cpuset", "cpuset.cpus") == "0");
    CHECK(cg.read("cpuset", "cpuset.mems") == "0");
  }
  // a period that conflicts with the old quota/burst needs the other write order
  Resources upd;
  upd.cpu.quota = 2000;
  upd.cpu.period = 10000;
  upd.cpu.burst = 0;
  cg.apply_ok(upd);
  if (cg.m->mode() == Mode::Unified)
    CHECK(cg.read("cpu", "cpu.max") == "2000 10000");
  else
    CHECK(cg.read("cpu", "cpu.cfs_period_us") == "10000");
  Resources toomany;
  toomany.cpu.shares = 1;  // below the kernel minimum (v1 clamps to 2: reported)
  auto s = cg.m->apply(toomany);
  if (cg.m->mode() != Mode::Unified) {
    REQUIRE_FALSE(s.ok());
    CHECK(s.error().what().find("cpu.shares 1 is below the minimum allowed 2") == 0);
  }
}

TEST_CASE("real fields: pids, blockIO, unified", "[cgroups][real]") {
  if (!is_root()) return;
  Cg cg;
  Resources r;
  r.pids_limit = 100;
  int64_t maj = 0, min = 0;
  bool have_dev = block_device(maj, min);
  if (have_dev) {
    r.block_io.throttle_read_bps = {{maj, min, 1048576}};
    r.block_io.throttle_write_iops = {{maj, min, 50}};
  }
  if (cg.m->mode() == Mode::Unified)
    r.unified["memory.high"] = "104857600";
  else if (cg.m->mode() == Mode::Hybrid)
    r.unified["cgroup.max.depth"] = "3";
  cg.apply_ok(r);
  CHECK(cg.read("pids", "pids.max") == "100");
  std::string dev = std::to_string(maj) + ":" + std::to_string(min);
  if (cg.m->mode() == Mode::Unified) {
    CHECK(cg.read_unified("memory.high") == "104857600");
    if (have_dev) {
      auto io = cg.read("io", "io.max");
      CHECK(io.find(dev + " rbps=1048576") == 0);
      CHECK(io.find("wiops=50") != std::string::npos);
    }
  } else {
    if (cg.m->mode() == Mode::Hybrid) CHECK(cg.read_unified("cgroup.max.depth") == "3");
    if (have_dev) {
      CHECK(cg.read("blkio", "blkio.throttle.read_bps_device") == dev + " 1048576");
      CHECK(cg.read("blkio", "blkio.throttle.write_iops_device") == dev + " 50");
    }
  }
  // A device that does not exist: the kernel's refusal names the file and the value.
  Resources bad;
  bad.block_io.throttle_read_bps = {{4095, 4095, 1}};
  auto s = cg.m->apply(bad);
  REQUIRE_FALSE(s.ok());
  CHECK(s.error().what().find("4095:4095") != std::string::npos);
  // unified keys that do not exist are refused before any write
  Resources u;
  u.unified["memory.nosuchfile"] = "1";
  s = cg.m->apply(u);
  REQUIRE_FALSE(s.ok());
  if (cg.m->mode() != Mode::Legacy) CHECK(s.error().kind == ErrorKind::InvalidSpec);
}

TEST_CASE("real fields: controllers this kernel lacks are named in the error", "[cgroups][real]") {
  if (!is_root()) return;
  Cg cg;
  if (cg.m->mode() == Mode::Unified) {
    // network has no v2 controller: accepted and ignored, as runc does
    Resources n;
    n.network.class_id = 42;
    CHECK(cg.m->apply(n).ok());
    Resources h;
    h.hugepage_limits = {{"2MB", 0}};
    cg.apply_ok(h);
    CHECK(cg.read("hugetlb", "hugetlb.2MB.max") == "0");
    return;
  }
  for (auto [ctrl, res] : {std::pair<std::string, Resources>{"net_cls", {}}, {"hugetlb", {}}}) {
    if (cg.j["paths"].contains(ctrl)) continue;
    if (ctrl == "net_cls") res.network.class_id = 42;
    if (ctrl == "hugetlb") res.hugepage_limits = {{"2MB", 0}};
    if (ctrl == "hugetlb" && cg.j.contains("unified") &&
        access((cg.j["unified"].get<std::string>() + "/hugetlb.2MB.max").c_str(), F_OK) == 0) {
      // A hybrid host whose unified root delegates hugetlb: the limit goes there.
      CHECK(cg.m->apply(res).ok());
      continue;
    }
    auto s = cg.m->apply(res);
    REQUIRE_FALSE(s.ok());
    CHECK(s.error().kind == ErrorKind::Unsupported);
    CHECK(s.error().what().find("the " + ctrl + " controller is not mounted") != std::string::npos);
  }
}

TEST_CASE("real: disableOOMKiller (v1) leaves the hog waiting under OOM, with an event",
          "[cgroups][real]") {
  if (!is_root()) return;
  Cg cg;
  if (cg.m->mode() == Mode::Unified) return;  // no such knob on v2
  Resources r;
  r.memory.limit = 16 << 20;
  r.memory.swap = 16 << 20;
  r.memory.disable_oom_killer = true;
  cg.apply_ok(r);
  auto watch = cg.m->watch_oom();
  REQUIRE(watch.ok());
  int p[2];
  REQUIRE(pipe2(p, O_CLOEXEC) == 0);
  pid_t pid = fork();
  REQUIRE(pid >= 0);
  if (pid == 0) {
    for (int sig : {SIGINT, SIGILL, SIGFPE, SIGSEGV, SIGTERM, SIGABRT}) signal(sig, SIG_DFL);
    close(p[1]);
    char c;
    if (read(p[0], &c, 1) != 1) _exit(120);
    size_t len = 64 << 20;
    char* m = static_cast<char*>(
        mmap(nullptr, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0));
    for (size_t i = 0; i < len; i += 4096) m[i] = 1;
    _exit(0);
  }
  close(p[0]);
  REQUIRE(cg.m->add_pid(pid).ok());
  REQUIRE(write(p[1], "x", 1) == 1);
  close(p[1]);
  struct pollfd pf = {(*watch)->fd(), POLLIN, 0};
  REQUIRE(poll(&pf, 1, 60000) == 1);
  auto n = (*watch)->consume();
  REQUIRE(n.ok());
  CHECK(*n >= 1);
  auto s = cg.m->stats();
  REQUIRE(s.ok());
  CHECK(s->memory.under_oom);
  CHECK(s->memory.oom_kill == 0);
  REQUIRE(cg.m->kill_all(SIGKILL).ok());
  int st = 0;
  waitpid(pid, &st, 0);
  CHECK(WTERMSIG(st) == SIGKILL);
}
