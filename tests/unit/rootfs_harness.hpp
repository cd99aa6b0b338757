// Harness for the real rootfs tests: a busybox bundle in a temp dir, a forked
// child with its own namespaces that runs prepare_rootfs + finalize_rootfs and
// reports checks over a pipe. Nothing is mounted on the host: every mount lives
// in the child's mount namespace and dies with it.
#pragma once
#include <fcntl.h>
#include <linux/magic.h>
#include <sched.h>
#include <sys/ioctl.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/statvfs.h>
#include <sys/sysmacros.h>
#include <sys/wait.h>
#include <termios.h>
#include <unistd.h>

#include <catch2/catch.hpp>
#include <climits>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <map>
#include <string>
#include <vector>

#include "base/file.hpp"
#include "base/text.hpp"
#include "libcontainer/rootfs.hpp"
#include "libcontainer/spec.hpp"

namespace rootfs_test {

using namespace crunner;

// Collects PASS/FAIL lines in the child; the parent turns them into assertions.
struct Checker {
  int fd;
  void check(bool ok, const std::string& name, const std::string& detail = "") {
    std::string line = (ok ? "PASS " : "FAIL ") + name;
    if (!ok && !detail.empty()) line += ": " + detail;
    line += "\n";
    (void)write_all(fd, line.data(), line.size());
  }
  void note(const std::string& name, const std::string& value) {
    std::string line = "NOTE " + name + "=" + value + "\n";
    (void)write_all(fd, line.data(), line.size());
  }
};

struct Outcome {
  int status = -1;
  std::vector<std::string> lines;
  int passed = 0;
  std::vector<std::string> failed;
  std::string note(const std::string& name) const {
    for (const std::string& l : lines)
      if (l.rfind("NOTE " + name + "=", 0) == 0) return l.substr(6 + name.size());
    return "";
  }
};

// fork; the child unshares `flags` but the mount namespace (first a user namespace
// with an identity map written by us when `userns`) and forks again so that the
// grandchild is pid 1 of the new pid namespace (procfs mounts cleanly); the
// grandchild unshares the mount namespace and runs `body`.
// `pre` runs in the child before anything is unshared except a private mount
// namespace of its own (so it may mount things that the user namespace then sees locked);
// `post` in the child once the grandchild is gone (to look at what propagated to it).
inline Outcome run_isolated(int flags, const std::function<void(Checker&)>& body,
                            bool userns = false, const std::function<void(Checker&)>& pre = nullptr,
                            const std::function<void(Checker&)>& post = nullptr) {
  int p[2], sync_up[2], sync_down[2];
  REQUIRE(pipe2(p, O_CLOEXEC) == 0);
  REQUIRE(pipe2(sync_up, O_CLOEXEC) == 0);
  REQUIRE(pipe2(sync_down, O_CLOEXEC) == 0);
  pid_t pid = fork();
  REQUIRE(pid >= 0);
  if (pid == 0) {
    close(p[0]);
    Checker c{p[1]};
    if (pre) {
      if (unshare(CLONE_NEWNS) < 0 || mount("", "/", "", MS_REC | MS_PRIVATE, nullptr) < 0) {
        c.check(false, "unshare for pre", strerror(errno));
        _exit(1);
      }
      pre(c);
    }
    if (userns) {
      char b = 0;
      if (unshare(CLONE_NEWUSER) < 0) {
        c.check(false, "unshare user", strerror(errno));
        _exit(1);
      }
      if (write(sync_up[1], "u", 1) != 1 || read(sync_down[0], &b, 1) != 1 || b != 'm') {
        c.check(false, "id maps", "parent did not map us");
        _exit(1);
      }
    }
    // The mount namespace is the grandchild's alone (as the container init's is):
    // pivot_root moves the root of every process in the namespace.
    if (unshare(flags & ~CLONE_NEWNS) < 0) {
      c.check(false, "unshare", strerror(errno));
      _exit(1);
    }
    pid_t g = fork();
    if (g == 0) {
      if ((flags & CLONE_NEWNS) && unshare(CLONE_NEWNS) < 0) {
        c.check(false, "unshare mount namespace", strerror(errno));
        _exit(1);
      }
      body(c);
      _exit(0);
    }
    int st = 0;
    if (g < 0 || waitpid(g, &st, 0) < 0) _exit(1);
    if (post) post(c);
    _exit(WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st));
  }
  close(p[1]);
  close(sync_up[1]);
  close(sync_down[0]);
  if (userns) {
    char b = 0;
    if (read(sync_up[0], &b, 1) == 1) {
      std::string proc = "/proc/" + std::to_string(pid);
      bool ok = write_file(proc + "/uid_map", "0 0 4294967295").ok() &&
                write_file(proc + "/gid_map", "0 0 4294967295").ok();
      (void)!write(sync_down[1], ok ? "m" : "x", 1);
    }
  }
  close(sync_up[0]);
  close(sync_down[1]);
  UniqueFd rd(p[0]);
  auto text = read_fd(rd.get());
  Outcome out;
  int st = 0;
  REQUIRE(waitpid(pid, &st, 0) == pid);
  out.status = WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
  REQUIRE(text.ok());
  for (std::string& l : split(*text, '\n')) {
    if (l.empty()) continue;
    if (l.rfind("PASS ", 0) == 0) out.passed++;
    if (l.rfind("FAIL ", 0) == 0) out.failed.push_back(l);
    out.lines.push_back(std::move(l));
  }
  return out;
}

// A bundle from tests/fixtures/make-bundle.sh in a temp dir, plus host-side data.
struct Bundle {
  std::string dir, rootfs, hostdir;
  spec::Spec spec;
  Bundle() {
    char tmpl[] = "/tmp/crunner-rootfs-test-XXXXXX";
    REQUIRE(mkdtemp(tmpl) != nullptr);
    dir = tmpl;
    std::string cmd = std::string(FIXTURES_DIR) + "/make-bundle.sh '" + dir + "' >/dev/null";
    REQUIRE(std::system(cmd.c_str()) == 0);
    char buf[PATH_MAX];
    REQUIRE(realpath((dir + "/rootfs").c_str(), buf) != nullptr);
    rootfs = buf;
    hostdir = dir + "/host";
    REQUIRE(mkdir(hostdir.c_str(), 0755) == 0);
    auto s = spec::load_spec(dir);
    REQUIRE(s.ok());
    spec = std::move(*s);
  }
  ~Bundle() {
    std::string cmd = "rm -rf '" + dir + "'";
    (void)std::system(cmd.c_str());
  }
  void file(const std::string& path, const std::string& content) {
    REQUIRE(mkdir_p(path.substr(0, path.rfind('/'))).ok());
    REQUIRE(write_file(path, content, O_WRONLY | O_CREAT | O_TRUNC).ok());
  }
  void mount(const std::string& dest, const std::string& type, const std::string& source,
             std::vector<std::string> options) {
    spec.mounts.push_back(spec::Mount{dest, type, source, std::move(options)});
  }
  RootfsConfig config() const {
    RootfsConfig c;
    c.spec = &spec;
    c.rootfs = rootfs;
    c.bundle = dir;
    return c;
  }
};

inline bool write_fails_with(const std::string& path, int err) {
  int fd = open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd >= 0) {
    close(fd);
    return false;
  }
  return errno == err;
}

inline long fs_type(const std::string& path) {
  struct statfs sf;
  if (statfs(path.c_str(), &sf) < 0) return -1;
  return static_cast<long>(sf.f_type);
}

inline bool is_ro(const std::string& path) {
  struct statvfs sv;
  return statvfs(path.c_str(), &sv) == 0 && (sv.f_flag & ST_RDONLY);
}

inline std::string read_or(const std::string& path, const std::string& dflt = "<unreadable>") {
  auto r = read_file(path);
  return r ? *r : dflt;
}

inline std::string link_of(const std::string& path) {
  char buf[PATH_MAX];
  ssize_t n = readlink(path.c_str(), buf, sizeof buf);
  return n < 0 ? "" : std::string(buf, static_cast<size_t>(n));
}

inline constexpr int kNs = CLONE_NEWNS | CLONE_NEWPID | CLONE_NEWNET | CLONE_NEWIPC | CLONE_NEWUTS;

}  // namespace rootfs_test
