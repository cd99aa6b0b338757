// Real filters loaded into forked children; every result is observed from inside.
#include <fcntl.h>
#include <linux/reboot.h>
#include <sched.h>
#include <signal.h>
#include <sys/capability.h>
#include <sys/mount.h>
#include <sys/personality.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>

#include <catch2/catch.hpp>

#include "base/file.hpp"
#include "filtered_child.hpp"
#include "seccomp/seccomp.hpp"
#include "temp_dir.hpp"

using namespace crunner;
using namespace crunner::testing;
using json = nlohmann::json;

namespace {

seccomp::Program must_compile(const json& j) {
  std::vector<std::string> warnings;
  auto r = seccomp::compile(j, &warnings);
  if (!r) FAIL(r.error().what());
  return std::move(r).value();
}

long do_mkdirat(const std::string& path) {
  return syscall(SYS_mkdirat, AT_FDCWD, path.c_str(), 0755);
}

json allow_with(json rules) {
  return json{{"defaultAction", "SCMP_ACT_ALLOW"}, {"syscalls", std::move(rules)}};
}

volatile sig_atomic_t g_trap_syscall = -1;
void on_sigsys(int, siginfo_t* si, void*) {
  // si_code SYS_SECCOMP (1) and the trapped syscall number.
  if (si->si_code == 1 && si->si_syscall == SYS_mkdirat) _exit(42);
  _exit(43);
}

}  // namespace

TEST_CASE("seccomp ERRNO returns EPERM by default and errnoRet when given", "[seccomp]") {
  TempDir tmp;
  auto p = must_compile(allow_with(json::parse(R"([
      {"names": ["mkdirat", "mkdir"], "action": "SCMP_ACT_ERRNO"},
      {"names": ["rmdir"], "action": "SCMP_ACT_ERRNO", "errnoRet": 38}])")));
  auto e = run_filtered(p, [&] { return err_of(do_mkdirat(tmp.path + "/a")); });
  REQUIRE(e.exited);
  REQUIRE(e.code == EPERM);
  REQUIRE_FALSE(path_exists(tmp.path + "/a"));
  e = run_filtered(p, [&] { return err_of(syscall(SYS_rmdir, tmp.path.c_str())); });
  REQUIRE(e.exited);
  REQUIRE(e.code == 38);
  REQUIRE(path_exists(tmp.path));
  // Exactly one filter, in filter mode (2), as /proc/self/status shows it.
  e = run_filtered(p, [] {
    auto st = read_file("/proc/self/status");
    if (!st) return 1;
    bool mode = st->find("\nSeccomp:\t2\n") != std::string::npos;
    bool one = st->find("\nSeccomp_filters:\t1\n") != std::string::npos;
    return mode && one ? 0 : 2;
  });
  REQUIRE(e.code == 0);
  // An unfiltered syscall still works.
  e = run_filtered(p, [&] { return err_of(syscall(SYS_getpid)); });
  REQUIRE(e.code == 0);
}

TEST_CASE("seccomp KILL, KILL_THREAD and KILL_PROCESS end the child with SIGSYS", "[seccomp]") {
  TempDir tmp;
  for (const char* act : {"SCMP_ACT_KILL", "SCMP_ACT_KILL_THREAD", "SCMP_ACT_KILL_PROCESS"}) {
    INFO(act);
    auto p = must_compile(allow_with(json::array({{{"names", {"mkdirat"}}, {"action", act}}})));
    auto e = run_filtered(p, [&] {
      do_mkdirat(tmp.path + "/k");
      return 0;
    });
    REQUIRE_FALSE(e.exited);
    REQUIRE(e.signal == SIGSYS);
    REQUIRE_FALSE(path_exists(tmp.path + "/k"));
  }
}

TEST_CASE("seccomp TRAP delivers SIGSYS to the handler with the syscall number", "[seccomp]") {
  TempDir tmp;
  auto p = must_compile(
      allow_with(json::array({{{"names", {"mkdirat"}}, {"action", "SCMP_ACT_TRAP"}}})));
  auto e = run_filtered(p, [&] {
    struct sigaction sa {};
    sa.sa_sigaction = on_sigsys;
    sa.sa_flags = SA_SIGINFO;
    sigaction(SIGSYS, &sa, nullptr);
    do_mkdirat(tmp.path + "/t");
    return 1;  // not reached: the handler exits
  });
  REQUIRE(e.exited);
  REQUIRE(e.code == 42);
  REQUIRE_FALSE(path_exists(tmp.path + "/t"));
}

TEST_CASE("seccomp LOG lets the syscall through", "[seccomp]") {
  TempDir tmp;
  auto p =
      must_compile(allow_with(json::array({{{"names", {"mkdirat"}}, {"action", "SCMP_ACT_LOG"}}})));
  auto e = run_filtered(p, [&] { return err_of(do_mkdirat(tmp.path + "/l")); });
  REQUIRE(e.exited);
  REQUIRE(e.code == 0);
  REQUIRE(path_exists(tmp.path + "/l"));
}

TEST_CASE("seccomp TRACE without a tracer fails the syscall with ENOSYS", "[seccomp]") {
  TempDir tmp;
  auto p = must_compile(
      allow_with(json::array({{{"names", {"mkdirat"}}, {"action", "SCMP_ACT_TRACE"}}})));
  auto e = run_filtered(p, [&] { return err_of(do_mkdirat(tmp.path + "/r")); });
  REQUIRE(e.exited);
  REQUIRE(e.code == ENOSYS);
  REQUIRE_FALSE(path_exists(tmp.path + "/r"));
}

TEST_CASE("seccomp argument conditions: personality(8) denied, 0xffffffff allowed", "[seccomp]") {
  auto p = must_compile(allow_with(json::parse(R"([{"names": ["personality"],
      "action": "SCMP_ACT_ERRNO", "args": [{"index": 0, "value": 8, "op": "SCMP_CMP_EQ"}]}])")));
  auto e = run_filtered(p, [] { return err_of(syscall(SYS_personality, 8UL)); });
  REQUIRE(e.code == EPERM);
  e = run_filtered(p, [] { return err_of(syscall(SYS_personality, 0xffffffffUL)); });
  REQUIRE(e.code == 0);
}

TEST_CASE("seccomp: several conditions on one argument are separate rules (OR)", "[seccomp]") {
  // libseccomp refuses two conditions on one argument in a rule; runc splits them.
  auto p = must_compile(allow_with(json::parse(R"([{"names": ["personality"],
      "action": "SCMP_ACT_ERRNO", "errnoRet": 13, "args": [
        {"index": 0, "value": 8, "op": "SCMP_CMP_EQ"},
        {"index": 0, "value": 131080, "op": "SCMP_CMP_EQ"}]}])")));
  REQUIRE(run_filtered(p, [] { return err_of(syscall(SYS_personality, 8UL)); }).code == EACCES);
  REQUIRE(run_filtered(p, [] { return err_of(syscall(SYS_personality, 0x20008UL)); }).code ==
          EACCES);
  REQUIRE(run_filtered(p, [] { return err_of(syscall(SYS_personality, 0xffffffffUL)); }).code == 0);
}

TEST_CASE("seccomp: conditions on different arguments are ANDed, MASKED_EQ", "[seccomp]") {
  // socket(AF_INET, SOCK_DGRAM | any flags) denied; other domains and types are not.
  auto p = must_compile(allow_with(json::parse(R"([{"names": ["socket"],
      "action": "SCMP_ACT_ERRNO", "errnoRet": 97, "args": [
        {"index": 0, "value": 2, "op": "SCMP_CMP_EQ"},
        {"index": 1, "value": 15, "valueTwo": 2, "op": "SCMP_CMP_MASKED_EQ"}]}])")));
  auto sock = [&](int dom, int type) {
    return run_filtered(p, [=] {
      int fd = socket(dom, type, 0);
      int r = fd < 0 ? errno : 0;
      if (fd >= 0) close(fd);
      return r;
    });
  };
  REQUIRE(sock(AF_INET, SOCK_DGRAM).code == 97);
  REQUIRE(sock(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC).code == 97);
  REQUIRE(sock(AF_INET, SOCK_STREAM).code == 0);
  REQUIRE(sock(AF_UNIX, SOCK_DGRAM).code == 0);
}

TEST_CASE("seccomp: MASKED_EQ on open flags denies only O_CREAT", "[seccomp]") {
  TempDir tmp;
  REQUIRE(write_file(tmp.path + "/f", "x", O_WRONLY | O_CREAT | O_TRUNC).ok());
  auto p = must_compile(allow_with(json::array({{{"names", {"openat", "open"}},
                                                 {"action", "SCMP_ACT_ERRNO"},
                                                 {"errnoRet", EROFS},
                                                 {"args",
                                                  {{{"index", 2},
                                                    {"value", O_CREAT},
                                                    {"valueTwo", O_CREAT},
                                                    {"op", "SCMP_CMP_MASKED_EQ"}}}}}})));
  auto open_with = [&](const std::string& path, int flags) {
    return run_filtered(p, [=] {
      int fd = static_cast<int>(syscall(SYS_openat, AT_FDCWD, path.c_str(), flags, 0644));
      return fd < 0 ? errno : 0;
    });
  };
  REQUIRE(open_with(tmp.path + "/f", O_RDONLY).code == 0);
  REQUIRE(open_with(tmp.path + "/f", O_WRONLY | O_APPEND).code == 0);
  REQUIRE(open_with(tmp.path + "/new", O_WRONLY | O_CREAT).code == EROFS);
  REQUIRE_FALSE(path_exists(tmp.path + "/new"));
}

TEST_CASE("seccomp: every comparison operator", "[seccomp]") {
  // dup(fd) on closed fds: EBADF when allowed, errnoRet 99 when the rule matches.
  struct Case {
    const char* op;
    bool deny5, deny10, deny15;
  };
  const Case cases[] = {
      {"SCMP_CMP_NE", true, false, true}, {"SCMP_CMP_LT", true, false, false},
      {"SCMP_CMP_LE", true, true, false}, {"SCMP_CMP_EQ", false, true, false},
      {"SCMP_CMP_GE", false, true, true}, {"SCMP_CMP_GT", false, false, true},
  };
  for (auto& c : cases) {
    INFO(c.op);
    auto p = must_compile(
        allow_with(json::array({{{"names", {"dup"}},
                                 {"action", "SCMP_ACT_ERRNO"},
                                 {"errnoRet", 99},
                                 {"args", {{{"index", 0}, {"value", 10}, {"op", c.op}}}}}})));
    auto dup_of = [&](int fd) {
      return run_filtered(p, [=] {
        close(fd);
        return err_of(syscall(SYS_dup, fd));
      });
    };
    REQUIRE(dup_of(5).code == (c.deny5 ? 99 : EBADF));
    REQUIRE(dup_of(10).code == (c.deny10 ? 99 : EBADF));
    REQUIRE(dup_of(15).code == (c.deny15 ? 99 : EBADF));
  }
}

TEST_CASE("seccomp: the default action applies to unlisted syscalls", "[seccomp]") {
  // Allowlist just what the child needs; defaultErrnoRet picks the errno.
  json j = json::parse(R"({"defaultAction": "SCMP_ACT_ERRNO", "defaultErrnoRet": 5,
      "syscalls": [{"names": ["exit_group", "exit", "getpid", "mkdirat"],
                    "action": "SCMP_ACT_ALLOW"}]})");
  auto p = must_compile(j);
  REQUIRE(run_filtered(p, [] { return err_of(syscall(SYS_getpid)); }).code == 0);
  REQUIRE(run_filtered(p, [] { return err_of(syscall(SYS_getppid)); }).code == EIO);
}

TEST_CASE("seccomp ENOSYS stub: syscalls newer than the profile get ENOSYS", "[seccomp]") {
  // Largest listed syscall on x86_64 is mkdirat (258): 259+ is "unknown to the
  // profile" -> ENOSYS; unlisted older ones get the default action.
  json j = json::parse(R"({"defaultAction": "SCMP_ACT_ERRNO",
      "syscalls": [{"names": ["exit_group", "exit"], "action": "SCMP_ACT_ALLOW"},
                   {"names": ["mkdirat"], "action": "SCMP_ACT_ERRNO", "errnoRet": 5}]})");
  auto p = must_compile(j);
  long max_nr = SYS_mkdirat;
  REQUIRE(run_filtered(p, [] { return err_of(syscall(SYS_getppid)); }).code == EPERM);
  REQUIRE(run_filtered(p, [] { return err_of(do_mkdirat("/nonexistent/x")); }).code == EIO);
  REQUIRE(run_filtered(p, [=] { return err_of(syscall(max_nr + 1)); }).code == ENOSYS);
  REQUIRE(run_filtered(p, [] { return err_of(syscall(1000)); }).code == ENOSYS);

  // A permissive default has no stub: gettid (186) is newer than getppid (110), the
  // only syscall listed, and still runs.
  p = must_compile(allow_with(
      json::parse(R"([{"names": ["getppid"], "action": "SCMP_ACT_ERRNO", "errnoRet": 5}])")));
  REQUIRE(run_filtered(p, [] { return err_of(syscall(SYS_getppid)); }).code == EIO);
  REQUIRE(run_filtered(p, [] { return err_of(syscall(SYS_gettid)); }).code == 0);
}

#if defined(__x86_64__)
namespace {
// A 32-bit (i386 ABI) syscall from a 64-bit process.
long int80(long nr, long a1, long a2) {
  long ret;
  asm volatile("int $0x80"
               : "=a"(ret)
               : "a"(nr), "b"(a1), "c"(a2)
               : "memory", "r8", "r9", "r10", "r11");
  return ret;
}
constexpr long kI386Mkdir = 39, kI386Getpid = 20;

bool have_ia32() {
  pid_t pid = fork();
  if (pid == 0) {
    signal(SIGSEGV, SIG_DFL);  // without ia32 emulation int 0x80 faults: die quietly (ASan)
    _exit(int80(kI386Getpid, 0, 0) == getpid() ? 0 : 1);
  }
  return wait_child(pid).code == 0;
}
}  // namespace

TEST_CASE("seccomp: multiple architectures (x86_64 + i386 ABI)", "[seccomp]") {
  if (!have_ia32()) {
    WARN("ia32 emulation disabled: skipping the i386 ABI checks");
    return;
  }
  json rules = json::parse(R"([{"names": ["mkdir", "mkdirat"], "action": "SCMP_ACT_ERRNO"}])");
  json j = allow_with(rules);
  j["architectures"] = {"SCMP_ARCH_X86_64", "SCMP_ARCH_X86", "SCMP_ARCH_X32", "SCMP_ARCH_AARCH64",
                        "SCMP_ARCH_ARM"};
  auto p = must_compile(j);
  // i386 mkdir (nr 39, NULL path): EPERM from the filter, not EFAULT from the kernel.
  REQUIRE(run_filtered(p, [] { return static_cast<int>(-int80(kI386Mkdir, 0, 0755)); }).code ==
          EPERM);
  REQUIRE(run_filtered(p, [] { return err_of(do_mkdirat("/nonexistent/x")); }).code == EPERM);
  REQUIRE(run_filtered(p, [] { return static_cast<int>(-int80(kI386Getpid, 0, 0)) > 0; }).code ==
          0);

  // The ENOSYS stub covers the i386 table too: its largest listed syscall is
  // mkdirat (296); i386 getppid (64) gets the default action, 297+ ENOSYS.
  json k = json::parse(R"({"defaultAction": "SCMP_ACT_ERRNO",
      "architectures": ["SCMP_ARCH_X86_64", "SCMP_ARCH_X86"],
      "syscalls": [{"names": ["exit_group", "exit"], "action": "SCMP_ACT_ALLOW"},
                   {"names": ["mkdirat"], "action": "SCMP_ACT_ERRNO", "errnoRet": 5}]})");
  auto ps = must_compile(k);
  REQUIRE(run_filtered(ps, [] { return static_cast<int>(-int80(64, 0, 0)); }).code == EPERM);
  REQUIRE(run_filtered(ps, [] { return static_cast<int>(-int80(296, 0, 0)); }).code == EIO);
  REQUIRE(run_filtered(ps, [] { return static_cast<int>(-int80(297, 0, 0)); }).code == ENOSYS);
  REQUIRE(run_filtered(ps, [] { return static_cast<int>(-int80(1000, 0, 0)); }).code == ENOSYS);

  // Without SCMP_ARCH_X86 an i386 syscall is a bad architecture: killed.
  j["architectures"] = {"SCMP_ARCH_X86_64"};
  p = must_compile(j);
  auto e = run_filtered(p, [] { return static_cast<int>(-int80(kI386Getpid, 0, 0)); });
  REQUIRE_FALSE(e.exited);
  REQUIRE(e.signal == SIGSYS);
}
#endif

TEST_CASE("seccomp default profile runs a busybox shell and denies dangerous calls", "[seccomp]") {
  if (!path_exists("/bin/busybox")) FAIL("/bin/busybox missing (busybox-static)");
  std::vector<std::string> warnings;
  auto r = seccomp::compile(seccomp::default_profile(), &warnings);
  REQUIRE(r.ok());
  const auto& p = *r;
  TempDir tmp;
  // Everyday busybox applets, glibc's dynamic /bin/ls, and threads (glibc tries
  // clone3 first and must fall back to clone on ENOSYS).
  std::string script =
      "set -e; cd " + tmp.path +
      "; ls / >/dev/null; ps >/dev/null; grep -q '^Seccomp:.*2' /proc/self/status;"
      "(sleep 0; echo sub) | grep -q sub; echo hi > f; cp f g; mv g h; ln -s h s;"
      "readlink s >/dev/null; chmod 600 h; mkdir -p a/b; rmdir a/b a; tar cf x.tar f;"
      "gzip x.tar; gunzip x.tar.gz; seq 1 50 | sort -r | head -1 >/dev/null; id >/dev/null;"
      "date >/dev/null; sleep 0.01 & wait; timeout 1 true; top -bn1 >/dev/null;"
      "/bin/ls -la >/dev/null;"
      "if [ -x /usr/bin/python3 ]; then /usr/bin/python3 -c "
      "'import threading; t = threading.Thread(target=print, args=(\"\",)); t.start(); "
      "t.join()' >/dev/null; fi; exit 7";
  auto e = run_filtered(p, [&] {
    execl("/bin/busybox", "sh", "-c", script.c_str(), static_cast<char*>(nullptr));
    return 99;
  });
  REQUIRE(e.exited);
  REQUIRE(e.code == 7);

  // Each denied call uses arguments that would fail differently if it got through.
  auto err = [&](std::function<long()> f) { return run_filtered(p, [&] { return err_of(f()); }); };
  REQUIRE(err([] { return syscall(SYS_reboot, 0, 0, 0, nullptr); }).code == EPERM);
  REQUIRE(err([] { return syscall(SYS_kexec_load, 0, 0, nullptr, 0xdead0000UL); }).code == EPERM);
  REQUIRE(err([] { return mount("none", "/nonexistent", "tmpfs", 0, nullptr); }).code == EPERM);
  REQUIRE(err([] { return unshare(CLONE_NEWUSER); }).code == EPERM);
  REQUIRE(err([] { return syscall(SYS_swapoff, "/nonexistent"); }).code == EPERM);
  REQUIRE(err([] { return syscall(SYS_personality, 0x0040000UL); }).code == EPERM);
  REQUIRE(err([] { return syscall(SYS_personality, 0xffffffffUL); }).code == 0);
  REQUIRE(err([] { return socket(40 /* AF_VSOCK */, SOCK_STREAM, 0); }).code == EPERM);
  // clone3 -> ENOSYS (libc falls back to clone); clone with CLONE_NEWNS -> EPERM.
  REQUIRE(err([] { return syscall(SYS_clone3, nullptr, 0); }).code == ENOSYS);
  REQUIRE(err([] {
            return syscall(SYS_clone, CLONE_NEWNS | SIGCHLD, nullptr, nullptr, nullptr, 0);
          }).code == EPERM);
  REQUIRE(err([] { return syscall(1000); }).code == ENOSYS);
}

TEST_CASE("seccomp load without no_new_privs needs CAP_SYS_ADMIN", "[seccomp]") {
  // The caller's ordering rule: without no_new_privs, load() before dropping
  // CAP_SYS_ADMIN (runc does the same); with it, load() can be the very last step.
  auto p = must_compile(allow_with(json::parse(R"([{"names": ["mkdirat"],
      "action": "SCMP_ACT_ERRNO"}])")));
  auto in_child = [&](bool drop_admin) {
    pid_t pid = fork();
    if (pid == 0) {
      if (drop_admin) {
        cap_t caps = cap_get_proc();
        cap_value_t admin = CAP_SYS_ADMIN;
        if (!caps || cap_set_flag(caps, CAP_EFFECTIVE, 1, &admin, CAP_CLEAR) != 0 ||
            cap_set_proc(caps) != 0)
          _exit(200);
      }
      int rc = seccomp::load(p, nullptr);
      if (rc < 0) _exit(-rc);
      _exit(err_of(do_mkdirat("/nonexistent/x")));
    }
    return wait_child(pid);
  };
  REQUIRE(in_child(false).code == EPERM);  // loaded: mkdirat denied by the filter
  REQUIRE(in_child(true).code == EACCES);  // refused by the kernel
}
