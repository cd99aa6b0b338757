// Real rootfs setup from inside the new root: the full busybox config plus every
// kind of extra mount, in plain, --no-pivot, cgroup-namespace and user-namespace
// variants; error texts; propagation.
#include <fcntl.h>
#include <linux/magic.h>
#include <sched.h>
#include <sys/ioctl.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/statvfs.h>
#include <sys/sysmacros.h>
#include <termios.h>
#include <unistd.h>

#include <catch2/catch.hpp>

#include "tests/unit/rootfs_harness.hpp"

using namespace crunner;
using namespace rootfs_test;

namespace {
// Everything a full container needs, added to the fixture's config.json.
void add_everything(Bundle& b) {
  b.file(b.hostdir + "/ro/hello", "hello from the host\n");
  b.file(b.dir + "/reldata/rel", "relative source\n");
  b.file(b.dir + "/hostfile", "a single file\n");
  b.file(b.hostdir + "/rro/top", "top\n");
  REQUIRE(mkdir((b.hostdir + "/rro/sub").c_str(), 0755) == 0);
  b.file(b.rootfs + "/etc/secret", "secret\n");
  b.file(b.rootfs + "/data/maskdir/inside", "hidden\n");
  b.file(b.rootfs + "/data/ro/file", "ro\n");
  b.file(b.rootfs + "/etc/copied/seed", "seed\n");
  // Symlinks that would point out of the rootfs if followed on the host.
  REQUIRE(symlink(("/../../" + b.hostdir + "/escape-abs").c_str(),
                  (b.rootfs + "/escape-abs").c_str()) == 0);
  REQUIRE(symlink(("../../../../../../../../" + b.hostdir + "/escape-rel").c_str(),
                  (b.rootfs + "/escape-rel").c_str()) == 0);

  b.mount("/mnt/tmp", "tmpfs", "tmpfs", {"nosuid", "nodev", "size=1m", "mode=700"});
  b.mount("/mnt/hostro", "bind", b.hostdir + "/ro", {"rbind", "ro", "nosuid"});
  b.mount("/mnt/rel", "none", "reldata", {"bind"});
  b.mount("/etc/hostfile", "bind", "hostfile", {"bind", "ro"});
  b.mount("/mnt/rro", "bind", b.hostdir + "/rro", {"rbind", "rro"});
  b.mount("/etc/copied", "tmpfs", "tmpfs", {"tmpcopyup", "mode=755"});
  // A file bind whose destination is a symlink to a host file.
  b.file(b.hostdir + "/victim", "host file\n");
  REQUIRE(symlink(("/../../../" + b.hostdir + "/victim").c_str(),
                  (b.rootfs + "/etc/hosts").c_str()) == 0);
  b.mount("/etc/hosts", "bind", "hostfile", {"bind", "ro"});
  b.mount("/escape-abs", "tmpfs", "tmpfs", {"size=64k"});
  b.mount("/escape-rel/sub", "tmpfs", "tmpfs", {"size=64k"});
  b.mount("/mnt/private", "tmpfs", "tmpfs", {"rprivate"});
  REQUIRE(mkdir((b.rootfs + "/var/tmp").c_str(), 01777) == 0);
  REQUIRE(chmod((b.rootfs + "/var/tmp").c_str(), 01777) == 0);
  b.mount("/var/tmp", "tmpfs", "tmpfs", {"nosuid", "size=1m"});
  b.mount("/mnt/rotmp", "tmpfs", "tmpfs", {"ro", "tmpcopyup"});
  REQUIRE(mkdir((b.rootfs + "/mnt").c_str(), 0755) == 0);
  b.file(b.rootfs + "/mnt/rotmp/seed", "seed\n");
  REQUIRE(chmod((b.rootfs + "/mnt/rotmp").c_str(), 0750) == 0);

  spec::Linux& lin = *b.spec.linux_;
  lin.masked_paths.push_back("/etc/secret");
  lin.masked_paths.push_back("/data/maskdir");
  lin.masked_paths.push_back("/does/not/exist");
  lin.readonly_paths.push_back("/data/ro");
  lin.readonly_paths.push_back("/does/not/exist/either");
  lin.sysctl["net.ipv4.ip_forward"] = "1";
  spec::Device fuse;
  fuse.type = "c";
  fuse.path = "/dev/fuse";
  fuse.major = 10;
  fuse.minor = 229;
  fuse.file_mode = 0600;
  fuse.uid = 1000;
  fuse.gid = 1001;
  lin.devices.push_back(fuse);
  spec::Device fifo;
  fifo.type = "p";
  fifo.path = "/dev/deep/fifo";
  fifo.file_mode = 0640;
  lin.devices.push_back(fifo);
}

// Run in the grandchild: submount for the rro check (in our mount ns only),
// prepare, escape checks, finalize, then checks from inside the new root.
void setup_and_check(Checker& c, const Bundle& b, const RootfsConfig& cfg) {
  if (mount("tmpfs", (b.hostdir + "/rro/sub").c_str(), "tmpfs", 0, "size=64k") < 0)
    c.check(false, "rro submount", strerror(errno));
  auto r = prepare_rootfs(cfg);
  c.check(r.ok(), "prepare_rootfs", r.ok() ? "" : r.error().what());
  if (!r) return;
  // The symlinked destinations were created inside the rootfs; the host dirs stay untouched.
  c.check(!path_exists(b.hostdir + "/escape-abs") && !path_exists(b.hostdir + "/escape-rel"),
          "escaping symlinks did not create host dirs");
  c.check(fs_type(b.rootfs + b.hostdir + "/escape-abs") == TMPFS_MAGIC,
          "absolute /../.. symlink destination mounted inside the rootfs");
  c.check(fs_type(b.rootfs + b.hostdir + "/escape-rel/sub") == TMPFS_MAGIC,
          "relative ../.. symlink destination mounted inside the rootfs");
  auto mi = read_file("/proc/self/mountinfo");
  c.check(mi && mi->find(" " + b.hostdir + "/victim ") == std::string::npos &&
              mi->find(" " + b.rootfs + b.hostdir + "/victim ") != std::string::npos,
          "file bind through a symlinked destination lands inside the rootfs");

  // The console the way runc does it: a pty of the container's devpts, before finalize.
  int master = open((b.rootfs + "/dev/ptmx").c_str(), O_RDWR | O_NOCTTY | O_CLOEXEC);
  c.check(master >= 0 && unlockpt(master) == 0, "open the container's /dev/ptmx");
  int slave = master < 0 ? -1 : ioctl(master, TIOCGPTPEER, O_RDWR | O_NOCTTY | O_CLOEXEC);
  c.check(slave >= 0, "TIOCGPTPEER");
  auto cons = mount_console(b.rootfs, slave);
  c.check(cons.ok(), "mount_console", cons.ok() ? "" : cons.error().what());

  r = finalize_rootfs(cfg);
  c.check(r.ok(), "finalize_rootfs", r.ok() ? "" : r.error().what());
  if (!r) return;
  char cwd[PATH_MAX];
  c.check(getcwd(cwd, sizeof cwd) && std::string(cwd) == "/", "cwd is /");
  c.check(access("/bin/busybox", X_OK) == 0, "busybox visible at /bin/busybox");
  c.check(access("/proc/self", F_OK) == 0, "/proc/self exists");
  c.check(link_of("/proc/self") == "1", "/proc shows our pid namespace", link_of("/proc/self"));
  c.check(!path_exists(b.dir + "/config.json"), "host paths are gone");
  struct stat st;
  c.check(stat("/dev/null", &st) == 0 && S_ISCHR(st.st_mode) && major(st.st_rdev) == 1 &&
              minor(st.st_rdev) == 3 && (st.st_mode & 07777) == 0666,
          "/dev/null is char 1:3 0666");
  c.check(stat("/dev/tty", &st) == 0 && S_ISCHR(st.st_mode) && major(st.st_rdev) == 5, "/dev/tty");
  for (const char* d : {"/dev/zero", "/dev/full", "/dev/random", "/dev/urandom"})
    c.check(stat(d, &st) == 0 && S_ISCHR(st.st_mode) && major(st.st_rdev) == 1, d);
  c.check(stat("/dev/fuse", &st) == 0 && S_ISCHR(st.st_mode) && major(st.st_rdev) == 10 &&
              minor(st.st_rdev) == 229 && (st.st_mode & 07777) == 0600,
          "linux.devices /dev/fuse");
  if (cfg.in_userns)  // the host's node, bind-mounted: the host's owner
    c.check(st.st_uid == 0 && st.st_gid == 0, "bound /dev/fuse keeps the host owner");
  else
    c.check(st.st_uid == 1000 && st.st_gid == 1001, "mknod'ed /dev/fuse gets uid/gid");
  c.check(lstat("/dev/deep/fifo", &st) == 0 && S_ISFIFO(st.st_mode) && (st.st_mode & 07777) == 0640,
          "linux.devices fifo in a new directory");
  c.check(link_of("/dev/ptmx") == "pts/ptmx", "/dev/ptmx -> pts/ptmx");
  c.check(stat("/dev/console", &st) == 0 && S_ISCHR(st.st_mode) && major(st.st_rdev) == 136 &&
              access("/dev/pts/0", F_OK) == 0,
          "/dev/console is the container's pty 136:0");
  if (slave >= 0) {
    int fd = open("/dev/console", O_WRONLY | O_NOCTTY | O_CLOEXEC);
    char buf[8] = {};
    c.check(fd >= 0 && write(fd, "hi\n", 3) == 3 && read(master, buf, sizeof buf) > 0 &&
                std::string(buf).rfind("hi", 0) == 0,
            "writes to /dev/console reach the pty master");
    if (fd >= 0) close(fd);
    close(slave);
    close(master);
  }
  c.check(link_of("/dev/fd") == "/proc/self/fd", "/dev/fd -> /proc/self/fd");
  c.check(link_of("/dev/stdin") == "/proc/self/fd/0", "/dev/stdin");
  c.check(link_of("/dev/stderr") == "/proc/self/fd/2", "/dev/stderr");
  c.check(fs_type("/dev/pts") == DEVPTS_SUPER_MAGIC, "/dev/pts is devpts");
  c.check(fs_type("/dev/shm") == TMPFS_MAGIC, "/dev/shm is tmpfs");
  c.check(fs_type("/dev/mqueue") == 0x19800202L, "/dev/mqueue is mqueue");
  c.check(fs_type("/sys") == SYSFS_MAGIC && is_ro("/sys"), "/sys is a read-only sysfs");
  c.check(fs_type("/sys/fs/cgroup") == TMPFS_MAGIC, "/sys/fs/cgroup is a tmpfs");
  c.check(fs_type("/sys/fs/cgroup/memory") == CGROUP_SUPER_MAGIC,
          "/sys/fs/cgroup/memory is cgroup v1");
  c.check(access("/sys/fs/cgroup/memory/cgroup.procs", F_OK) == 0, "memory cgroup.procs");
  c.check(fs_type("/sys/fs/cgroup/unified") != CGROUP2_SUPER_MAGIC,
          "no hybrid /sys/fs/cgroup/unified (as runc)");
  c.check(mkdir("/sys/fs/cgroup/memory/crunner-test-x", 0755) < 0 && errno == EROFS,
          "cgroup hierarchies are read-only");
  c.check(access("/sys/fs/cgroup/systemd", F_OK) == 0, "name=systemd hierarchy");
  c.note("cgroup-procs", read_or("/sys/fs/cgroup/pids/cgroup.procs"));
  c.note("userns", link_of("/proc/self/ns/user"));
  if (cfg.in_userns)
    c.check(mknod("/dev/shm/null2", S_IFCHR | 0666, makedev(1, 3)) < 0 && errno == EPERM,
            "really in a user namespace: mknod is refused");

  // Root read-only, masked and read-only paths.
  c.check(write_fails_with("/newfile", EROFS), "root.readonly: / is read-only");
  c.check(write_fails_with("/etc/newfile", EROFS), "root.readonly: /etc too");
  c.check(read_or("/etc/secret") == "", "masked file reads empty", read_or("/etc/secret"));
  c.check(!path_exists("/data/maskdir/inside") && fs_type("/data/maskdir") == TMPFS_MAGIC &&
              is_ro("/data/maskdir"),
          "masked directory is an empty read-only tmpfs");
  c.check(read_or("/data/ro/file") == "ro\n", "readonly path still readable");
  c.check(is_ro("/data/ro"), "readonly path mount is read-only");
  c.check(read_or("/proc/sys/net/ipv4/ip_forward") == "1\n", "linux.sysctl written");
  c.check(write_fails_with("/proc/sys/net/ipv4/ip_forward", EROFS), "/proc/sys is read-only");
  c.check(read_or("/proc/keys", "x") == "" && read_or("/proc/timer_list", "x") == "",
          "fixture's masked /proc files read empty");
  c.check(fs_type("/proc/acpi") == TMPFS_MAGIC && is_ro("/proc/acpi"),
          "fixture's masked /proc/acpi is a read-only tmpfs");
  c.check(write_fails_with("/proc/sysrq-trigger", EROFS) || !path_exists("/proc/sysrq-trigger"),
          "fixture's readonly /proc/sysrq-trigger");
  c.check(is_ro("/proc/irq") && is_ro("/proc/bus") && !is_ro("/proc"),
          "fixture's readonly /proc dirs, /proc itself writable");

  // Extra mounts.
  struct statfs sf;
  c.check(statfs("/mnt/tmp", &sf) == 0 && sf.f_type == TMPFS_MAGIC &&
              static_cast<unsigned long long>(sf.f_blocks) * sf.f_bsize == 1024 * 1024,
          "tmpfs size=1m");
  c.check(stat("/mnt/tmp", &st) == 0 && (st.st_mode & 07777) == 0700, "tmpfs mode=700");
  c.check(write_file("/mnt/tmp/f", "x", O_WRONLY | O_CREAT).ok(), "tmpfs writable");
  c.check(read_or("/mnt/hostro/hello") == "hello from the host\n", "ro bind readable");
  c.check(write_fails_with("/mnt/hostro/new", EROFS), "ro bind is read-only");
  struct statvfs sv;
  c.check(statvfs("/mnt/hostro", &sv) == 0 && (sv.f_flag & ST_NOSUID), "ro bind is nosuid");
  c.check(read_or("/mnt/rel/rel") == "relative source\n", "relative bind source from bundle");
  c.check(read_or("/etc/hostfile") == "a single file\n", "file bind onto a created file");
  c.check(read_or("/etc/hosts") == "a single file\n", "file bind through the /etc/hosts symlink");
  c.check(write_fails_with("/mnt/rro/sub/new", EROFS), "rro makes submounts read-only");
  c.check(read_or("/etc/copied/seed") == "seed\n" && fs_type("/etc/copied") == TMPFS_MAGIC,
          "tmpcopyup copied the old contents into the tmpfs");
  c.check(write_file("/etc/copied/more", "x", O_WRONLY | O_CREAT).ok(), "tmpcopyup writable");
  c.check(stat("/var/tmp", &st) == 0 && (st.st_mode & 07777) == 01777 &&
              fs_type("/var/tmp") == TMPFS_MAGIC,
          "a tmpfs over /var/tmp keeps the directory's 1777 mode");
  c.check(write_file("/var/tmp/f", "x", O_WRONLY | O_CREAT).ok(), "/var/tmp tmpfs writable");
  c.check(read_or("/mnt/rotmp/seed") == "seed\n" && is_ro("/mnt/rotmp") &&
              stat("/mnt/rotmp", &st) == 0 && (st.st_mode & 07777) == 0750,
          "ro tmpfs with tmpcopyup: copied, 0750 kept, read-only");
}

}  // namespace

TEST_CASE("prepare_rootfs + finalize_rootfs build a working root", "[rootfs][root]") {
  if (geteuid() != 0) {
    FAIL("this case needs root");
    return;
  }
  Bundle b;
  add_everything(b);
  RootfsConfig cfg = b.config();
  cfg.cgroupns = false;  // the child below has no cgroup namespace: bind the host's
  Outcome o = run_isolated(kNs, [&](Checker& c) { setup_and_check(c, b, cfg); });
  for (const std::string& l : o.lines) UNSCOPED_INFO(l);
  REQUIRE(o.failed.empty());
  REQUIRE(o.status == 0);
  REQUIRE(o.passed >= 50);
  // Bound to our own cgroup: the pids cgroup.procs lists host pids of that cgroup.
  REQUIRE_FALSE(o.note("cgroup-procs").empty());
  // Nothing leaked into our mount namespace (other tests may mount elsewhere meanwhile).
  REQUIRE(read_file("/proc/self/mountinfo").value().find(b.dir) == std::string::npos);
}

TEST_CASE("no_pivot: MS_MOVE + chroot gives the same root", "[rootfs][root]") {
  if (geteuid() != 0) return;
  Bundle b;
  add_everything(b);
  RootfsConfig cfg = b.config();
  cfg.cgroupns = false;
  cfg.no_pivot = true;
  Outcome o = run_isolated(kNs, [&](Checker& c) { setup_and_check(c, b, cfg); });
  for (const std::string& l : o.lines) UNSCOPED_INFO(l);
  REQUIRE(o.failed.empty());
  REQUIRE(o.status == 0);
  REQUIRE(o.passed >= 50);
}

TEST_CASE("with a cgroup namespace the hierarchies are fresh mounts", "[rootfs][root]") {
  if (geteuid() != 0) return;
  Bundle b;
  add_everything(b);
  RootfsConfig cfg = b.config();  // cgroupns follows linux.namespaces: the fixture has one
  Outcome o = run_isolated(kNs | CLONE_NEWCGROUP, [&](Checker& c) { setup_and_check(c, b, cfg); });
  for (const std::string& l : o.lines) UNSCOPED_INFO(l);
  REQUIRE(o.failed.empty());
  REQUIRE(o.status == 0);
  REQUIRE(o.passed >= 50);
}

TEST_CASE("in a user namespace devices are bound from the host", "[rootfs][root]") {
  if (geteuid() != 0) return;
  Bundle b;
  add_everything(b);
  // A host mount with nosuid,nodev,noexec: in the user namespace those flags are
  // locked, and a "ro" bind of it must keep them to be allowed.
  std::string locked = b.hostdir + "/locked";
  REQUIRE(mkdir(locked.c_str(), 0755) == 0);
  b.mount("/mnt/locked", "bind", locked, {"bind", "ro"});
  RootfsConfig cfg = b.config();
  cfg.in_userns = true;
  cfg.cgroupns = false;
  Outcome o = run_isolated(
      kNs,
      [&](Checker& c) {
        setup_and_check(c, b, cfg);
        struct statvfs sv;
        c.check(statvfs("/mnt/locked", &sv) == 0 && (sv.f_flag & ST_RDONLY) &&
                    (sv.f_flag & ST_NOSUID) && (sv.f_flag & ST_NODEV) && (sv.f_flag & ST_NOEXEC),
                "ro bind of a locked nosuid,nodev,noexec mount keeps them");
      },
      /*userns=*/true,
      [&](Checker& c) {
        c.check(mount("tmpfs", locked.c_str(), "tmpfs", MS_NOSUID | MS_NODEV | MS_NOEXEC,
                      "size=64k") == 0,
                "locked source mount");
      });
  for (const std::string& l : o.lines) UNSCOPED_INFO(l);
  REQUIRE(o.failed.empty());
  REQUIRE(o.note("userns") != link_of("/proc/self/ns/user"));
  REQUIRE(o.status == 0);
  REQUIRE(o.passed >= 50);
}

namespace {

// prepare_rootfs's error text for a bundle changed by `edit`, from a child.
std::string prepare_error(const std::function<void(Bundle&)>& edit) {
  Bundle b;
  edit(b);
  RootfsConfig cfg = b.config();
  cfg.cgroupns = false;
  Outcome o = run_isolated(kNs, [&](Checker& c) {
    auto r = prepare_rootfs(cfg);
    c.note("error", r.ok() ? "" : r.error().what());
  });
  REQUIRE(o.status == 0);
  return o.note("error");
}

}  // namespace

TEST_CASE("a failing mount names its source and destination", "[rootfs][root]") {
  if (geteuid() != 0) return;
  REQUIRE(prepare_error([](Bundle& b) { b.mount("/bad", "nosuchfs", "nosuch", {}); }) ==
          "mount `nosuch` to `/bad`: no such device");
  REQUIRE(
      prepare_error([](Bundle& b) { b.mount("/x", "bind", "/nonexistent-crunner", {"rbind"}); }) ==
      "mount `/nonexistent-crunner` to `/x`: stat source `/nonexistent-crunner`: no "
      "such file or directory");
  REQUIRE(prepare_error([](Bundle& b) {
            b.mount("/mnt/t", "tmpfs", "tmpfs", {"size=notanumber"});
          }) == "mount `tmpfs` to `/mnt/t`: invalid argument");
}

TEST_CASE("proc and sysfs refuse symlinked destinations", "[rootfs][root]") {
  if (geteuid() != 0) return;
  std::string e =
      prepare_error([](Bundle& b) { REQUIRE(symlink("/etc", (b.rootfs + "/proc").c_str()) == 0); });
  REQUIRE(e.rfind("mount `proc` to `/proc`: destination is a symlink", 0) == 0);
  e = prepare_error([](Bundle& b) { REQUIRE(symlink("tmp", (b.rootfs + "/sys").c_str()) == 0); });
  REQUIRE(e.rfind("mount `sysfs` to `/sys`: destination is a symlink", 0) == 0);
}

TEST_CASE("bind mounts into /proc are refused even through symlinks", "[rootfs][root]") {
  if (geteuid() != 0) return;
  std::string e = prepare_error([](Bundle& b) {
    b.file(b.dir + "/attr", "x");
    b.mount("/proc/self/attr/exec", "bind", "attr", {"bind"});
  });
  REQUIRE(e.find("cannot be mounted because it is inside /proc") != std::string::npos);
  e = prepare_error([](Bundle& b) {
    b.file(b.dir + "/attr", "x");
    REQUIRE(symlink("/proc/sys/kernel", (b.rootfs + "/innocent").c_str()) == 0);
    b.mount("/innocent/core_pattern", "bind", "attr", {"bind"});
  });
  REQUIRE(e ==
          "mount `attr` to `/innocent/core_pattern`: `/proc/sys/kernel/core_pattern` cannot be "
          "mounted because it is inside /proc");
  // lxcfs-style files are allowed.
  REQUIRE(prepare_error([](Bundle& b) {
            b.file(b.dir + "/uptime", "1 1\n");
            b.mount("/proc/uptime", "bind", "uptime", {"bind", "ro"});
          }) == "");
}

TEST_CASE("device errors name the linux.devices entry", "[rootfs][root]") {
  if (geteuid() != 0) return;
  auto dev = [](const char* path, const char* type) {
    spec::Device d;
    d.type = type;
    d.path = path;
    d.major = 1;
    d.minor = 3;
    return d;
  };
  // An existing file that is not the requested device (config-linux.md).
  std::string e = prepare_error([&](Bundle& b) {
    b.spec.linux_->devices.push_back(dev("/dev/fifo1", "p"));
    b.spec.linux_->devices.push_back(dev("/etc/hostname", "c"));
  });
  REQUIRE(e == "linux.devices[1]: `/etc/hostname` exists and is not the requested device");
  e = prepare_error([&](Bundle& b) { b.spec.linux_->devices.push_back(dev("/", "c")); });
  REQUIRE(e == "linux.devices[0]: device path `/` is the root directory");
  // Outside /dev is allowed, and symlinks there resolve inside the rootfs.
  e = prepare_error([&](Bundle& b) {
    REQUIRE(symlink("/../../../../dev", (b.rootfs + "/devlink").c_str()) == 0);
    b.spec.linux_->devices.push_back(dev("/devlink/null2", "c"));
    b.spec.linux_->devices.push_back(dev("/etc/null3", "c"));
  });
  REQUIRE(e == "");
}

namespace {

// A shared tmpfs in the child's mount namespace (the "host"), bound into the
// container with `bind_opts`; the container mounts a tmpfs below it; returns
// whether that mount propagated back to the child.
bool propagates_to_host(const std::string& root_propagation,
                        const std::vector<std::string>& bind_opts) {
  Bundle b;
  std::string src = b.hostdir + "/shared";
  REQUIRE(mkdir(src.c_str(), 0755) == 0);
  b.mount("/mnt/shared", "bind", src, bind_opts);
  b.spec.linux_->rootfs_propagation = root_propagation;
  RootfsConfig cfg = b.config();
  cfg.cgroupns = false;
  Outcome o = run_isolated(
      kNs,
      [&](Checker& c) {
        auto r = prepare_rootfs(cfg);
        if (r) r = finalize_rootfs(cfg);
        c.check(r.ok(), "setup", r.ok() ? "" : r.error().what());
        c.check(mkdir("/mnt/shared/fromct", 0755) == 0, "mkdir in the shared bind");
        c.check(mount("tmpfs", "/mnt/shared/fromct", "tmpfs", 0, "size=64k") == 0,
                "container mounts below the bind");
        auto mi = read_file("/proc/self/mountinfo");
        c.note("container-mountinfo", "\n" + mi.value());
      },
      false,
      [&](Checker& c) {
        c.check(mount("tmpfs", src.c_str(), "tmpfs", 0, "size=64k") == 0 &&
                    mount("", src.c_str(), "", MS_SHARED, nullptr) == 0,
                "shared host mount");
      },
      [&](Checker& c) {
        auto mi = read_file("/proc/self/mountinfo");
        bool seen = mi && mi->find(src + "/fromct ") != std::string::npos;
        c.note("propagated", seen ? "yes" : "no");
        if (mi) c.note("child-mountinfo", "\n" + *mi);
        // The rootfs bind and the container's own mounts never show up here.
        c.check(mi && mi->find(b.rootfs + "/") == std::string::npos &&
                    mi->find(" " + b.rootfs + " ") == std::string::npos,
                "no container mount reached the host");
      });
  for (const std::string& l : o.lines) UNSCOPED_INFO(l);
  REQUIRE(o.failed.empty());
  REQUIRE(o.status == 0);
  return o.note("propagated") == "yes";
}

}  // namespace

TEST_CASE("rootfsPropagation: rslave by default and rshared binds propagate back",
          "[rootfs][root]") {
  if (geteuid() != 0) return;
  REQUIRE_FALSE(propagates_to_host("", {"rbind"}));
  REQUIRE_FALSE(propagates_to_host("", {"rbind", "rshared"}));
  REQUIRE_FALSE(propagates_to_host("rprivate", {"rbind", "rshared"}));
  REQUIRE(propagates_to_host("rshared", {"rbind", "rshared"}));
  REQUIRE(propagates_to_host("rshared", {"rbind"}));
  REQUIRE_FALSE(propagates_to_host("rshared", {"rbind", "rslave"}));
  REQUIRE_FALSE(propagates_to_host("runbindable", {"rbind", "rshared"}));
}

TEST_CASE("user namespace without its own network namespace binds the host /sys",
          "[rootfs][root]") {
  if (geteuid() != 0) return;
  Bundle b;
  RootfsConfig cfg = b.config();
  cfg.in_userns = true;
  cfg.cgroupns = false;
  Outcome o = run_isolated(
      kNs & ~CLONE_NEWNET,
      [&](Checker& c) {
        auto r = prepare_rootfs(cfg);
        if (r) r = finalize_rootfs(cfg);
        c.check(r.ok(), "setup", r.ok() ? "" : r.error().what());
        c.check(fs_type("/sys") == SYSFS_MAGIC && is_ro("/sys"), "/sys is a read-only sysfs");
        c.check(access("/sys/kernel", F_OK) == 0, "/sys has content");
        // Every mount at or below /sys (the host's submounts came along) is read-only
        bool all_ro = true;
        int n = 0;
        auto mi = read_file("/proc/self/mountinfo");
        for (const std::string& line : split(mi ? *mi : "", '\n')) {
          std::vector<std::string> f = split(line, ' ');
          // (but runc's read-write cgroup tmpfs)
          if (f.size() < 6 || f[4].rfind("/sys", 0) != 0 || f[4] == "/sys/fs/cgroup") continue;
          ++n;
          if (f[5].rfind("ro,", 0) != 0 && f[5] != "ro") all_ro = false;
        }
        c.check(all_ro && n > 3, "every /sys mount is read-only", std::to_string(n));
        c.check(fs_type("/sys/fs/cgroup/memory") == CGROUP_SUPER_MAGIC,
                "cgroup bound on top of it");
        c.check(write_fails_with("/x", EROFS), "root read-only");
      },
      /*userns=*/true);
  for (const std::string& l : o.lines) UNSCOPED_INFO(l);
  REQUIRE(o.failed.empty());
  REQUIRE(o.status == 0);
  REQUIRE(o.passed == 6);
}

TEST_CASE("finalize works in a container without /proc", "[rootfs][root]") {
  if (geteuid() != 0) return;
  Bundle b;
  b.file(b.rootfs + "/etc/secret", "secret\n");
  b.file(b.rootfs + "/data/ro/file", "ro\n");
  b.file(b.rootfs + "/data/masked/file", "x\n");
  b.spec.mounts.erase(b.spec.mounts.begin());  // no proc
  REQUIRE(b.spec.mounts[0].destination == "/dev");
  b.spec.mounts[0].options.push_back("ro");
  spec::Linux& lin = *b.spec.linux_;
  lin.masked_paths = {"/etc/secret", "/data/masked", "/proc/kcore"};
  lin.readonly_paths = {"/data/ro", "/proc/sys"};
  RootfsConfig cfg = b.config();
  cfg.cgroupns = false;
  Outcome o = run_isolated(kNs, [&](Checker& c) {
    auto r = prepare_rootfs(cfg);
    if (r) r = finalize_rootfs(cfg);
    c.check(r.ok(), "setup", r.ok() ? "" : r.error().what());
    c.check(!path_exists("/proc/self"), "no /proc");
    c.check(read_or("/etc/secret") == "", "masked file");
    c.check(!path_exists("/data/masked/file") && is_ro("/data/masked"), "masked directory");
    c.check(is_ro("/data/ro") && read_or("/data/ro/file") == "ro\n", "readonly path");
    c.check(is_ro("/dev") && write_fails_with("/dev/x", EROFS), "/dev read-only at the end");
    struct stat st;
    c.check(stat("/dev/null", &st) == 0 && S_ISCHR(st.st_mode), "/dev/null made before that");
    c.check(write_fails_with("/x", EROFS), "root read-only");
  });
  for (const std::string& l : o.lines) UNSCOPED_INFO(l);
  REQUIRE(o.failed.empty());
  REQUIRE(o.passed == 8);
}

TEST_CASE("mount_console after finalize with /dev and / read-only", "[rootfs][root]") {
  if (geteuid() != 0) return;
  Bundle b;
  b.spec.process->terminal = true;
  REQUIRE(b.spec.mounts[1].destination == "/dev");
  b.spec.mounts[1].options.push_back("ro");
  RootfsConfig cfg = b.config();
  cfg.cgroupns = false;
  Outcome o = run_isolated(kNs, [&](Checker& c) {
    auto r = prepare_rootfs(cfg);
    if (r) r = finalize_rootfs(cfg);
    c.check(r.ok(), "setup", r.ok() ? "" : r.error().what());
    c.check(is_ro("/dev") && is_ro("/"), "/dev and / read-only");
    int master = open("/dev/ptmx", O_RDWR | O_NOCTTY | O_CLOEXEC);
    c.check(master >= 0 && unlockpt(master) == 0, "open /dev/ptmx");
    int slave = master < 0 ? -1 : ioctl(master, TIOCGPTPEER, O_RDWR | O_NOCTTY | O_CLOEXEC);
    auto m = mount_console("/", slave);
    c.check(m.ok(), "mount_console", m.ok() ? "" : m.error().what());
    struct stat st;
    c.check(stat("/dev/console", &st) == 0 && S_ISCHR(st.st_mode) && major(st.st_rdev) == 136,
            "/dev/console is the pty");
  });
  for (const std::string& l : o.lines) UNSCOPED_INFO(l);
  REQUIRE(o.failed.empty());
  REQUIRE(o.passed == 5);
}

TEST_CASE("mount_console refuses a /dev/console symlink into procfs", "[rootfs][root]") {
  if (geteuid() != 0) return;
  Bundle b;
  RootfsConfig cfg = b.config();
  cfg.cgroupns = false;
  Outcome o = run_isolated(kNs, [&](Checker& c) {
    auto r = prepare_rootfs(cfg);
    c.check(r.ok(), "prepare", r.ok() ? "" : r.error().what());
    // Planted by someone sharing the rootfs, between prepare and the console.
    c.check(symlink("/proc/sys/kernel/core_pattern", (b.rootfs + "/dev/console").c_str()) == 0,
            "plant the symlink");
    int master = open((b.rootfs + "/dev/ptmx").c_str(), O_RDWR | O_NOCTTY | O_CLOEXEC);
    int slave = master < 0 || unlockpt(master) < 0
                    ? -1
                    : ioctl(master, TIOCGPTPEER, O_RDWR | O_NOCTTY | O_CLOEXEC);
    auto m = mount_console(b.rootfs, slave);
    c.check(!m.ok() && m.error().what() ==
                           "mount console: `/dev/console` is not a plain file or device node",
            "refused", m.ok() ? "mounted" : m.error().what());
  });
  for (const std::string& l : o.lines) UNSCOPED_INFO(l);
  REQUIRE(o.failed.empty());
  REQUIRE(o.passed == 3);
}
