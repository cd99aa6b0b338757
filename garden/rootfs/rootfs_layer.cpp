#include "garden/rootfs/rootfs_layer.hpp"

#include <fcntl.h>
#include <ftw.h>
#include <linux/loop.h>
#include <sys/ioctl.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <mutex>
#include <set>
#include <thread>
#include <utility>
#include <vector>

#include "base/fd.hpp"
#include "base/file.hpp"
#include "base/text.hpp"
#include "garden/runtime/runtime.hpp"

namespace garden {

using json = nlohmann::json;

namespace {

// The smallest layer file system we make: ext4's own metadata needs room.
constexpr unsigned long long kMinLayerBytes = 2ULL << 20;
constexpr unsigned long long kMinLayerInodes = 64;

bool u64_field(const json& j, const char* k, unsigned long long& out, std::string& err) {
  out = 0;
  if (!j.contains(k) || j[k].is_null()) return true;
  if (!j[k].is_number_unsigned() && !(j[k].is_number_integer() && j[k].get<long long>() >= 0)) {
    err = std::string("invalid disk_limits.") + k + ": expected a non-negative integer";
    return false;
  }
  out = j[k].get<unsigned long long>();
  return true;
}

// nftw has no user pointer: one walk at a time.
std::mutex g_walk_mu;
Usage* g_walk_usage = nullptr;
std::set<std::pair<dev_t, ino_t>>* g_walk_seen = nullptr;

int walk_cb(const char*, const struct stat* st, int flag, struct FTW* ftw) {
  if (ftw->level == 0 || flag == FTW_NS) return 0;
  if (st->st_nlink > 1 && !S_ISDIR(st->st_mode) &&
      !g_walk_seen->insert({st->st_dev, st->st_ino}).second)
    return 0;
  g_walk_usage->bytes += static_cast<unsigned long long>(st->st_blocks) * 512;
  g_walk_usage->inodes += 1;
  return 0;
}

// Attaches file to a free loop device that is released once unmounted (autoclear). The
// device's fd comes back in lo_out: autoclear also fires on its last close, so it must stay
// open until the file system is mounted.
std::string attach_loop(const std::string& file, std::string& dev, crunner::UniqueFd& lo_out) {
  crunner::UniqueFd img(open(file.c_str(), O_RDWR | O_CLOEXEC));
  if (!img) return "open `" + file + "`: " + crunner::errno_text(errno);
  crunner::UniqueFd ctl(open("/dev/loop-control", O_RDWR | O_CLOEXEC));
  if (!ctl) return "open /dev/loop-control: " + crunner::errno_text(errno);
  // Other users of the host race for the same free device: retry with the next one.
  for (int attempt = 0; attempt < 20; ++attempt) {
    int n = ioctl(ctl.get(), LOOP_CTL_GET_FREE);
    if (n < 0) return "get a free loop device: " + crunner::errno_text(errno);
    dev = "/dev/loop" + std::to_string(n);
    crunner::UniqueFd lo(open(dev.c_str(), O_RDWR | O_CLOEXEC));
    if (!lo) return "open `" + dev + "`: " + crunner::errno_text(errno);
    loop_config cfg{};
    cfg.fd = static_cast<__u32>(img.get());
    cfg.info.lo_flags = LO_FLAGS_AUTOCLEAR;
    std::snprintf(reinterpret_cast<char*>(cfg.info.lo_file_name), LO_NAME_SIZE, "%s", file.c_str());
    if (ioctl(lo.get(), LOOP_CONFIGURE, &cfg) == 0) {
      lo_out = std::move(lo);
      return "";
    }
    if (errno != EBUSY) return "configure `" + dev + "`: " + crunner::errno_text(errno);
  }
  return "no free loop device for `" + file + "`";
}

// mkfs.ext4 into a new file at img: size bytes, an ext4 without journal or reserved blocks,
// inodes inodes if set.
std::string run_mkfs(const std::string& img, unsigned long long size, unsigned long long inodes) {
  {
    crunner::UniqueFd f(open(img.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600));
    if (!f) return "create `" + img + "`: " + crunner::errno_text(errno);
    if (ftruncate(f.get(), static_cast<off_t>(size)) < 0)
      return "size `" + img + "`: " + crunner::errno_text(errno);
  }
  std::vector<std::string> argv = {
      "mkfs.ext4", "-q", "-F", "-m", "0", "-O", "^has_journal", "-E", "nodiscard,root_owner=0:0"};
  if (inodes) argv.insert(argv.end(), {"-N", std::to_string(inodes)});
  argv.push_back(img);
  for (const char* dir : {"/usr/sbin/", "/sbin/"})
    if (access((std::string(dir) + "mkfs.ext4").c_str(), X_OK) == 0) {
      argv[0] = std::string(dir) + "mkfs.ext4";
      break;
    }
  CmdResult r = run_cmd(argv);
  if (r.status != 0)
    return "mkfs.ext4 `" + img + "`: " + crunner::trim(r.err.empty() ? r.out : r.err);
  return "";
}

// A new sparse file at to with the data extents of from (a fresh file system image is
// mostly holes: ~300 KiB of data in 64 MiB).
std::string copy_sparse(const std::string& from, const std::string& to) {
  crunner::UniqueFd src(open(from.c_str(), O_RDONLY | O_CLOEXEC));
  if (!src) return "open `" + from + "`: " + crunner::errno_text(errno);
  struct stat st;
  if (fstat(src.get(), &st) < 0) return "stat `" + from + "`: " + crunner::errno_text(errno);
  crunner::UniqueFd dst(open(to.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600));
  if (!dst) return "create `" + to + "`: " + crunner::errno_text(errno);
  if (ftruncate(dst.get(), st.st_size) < 0)
    return "size `" + to + "`: " + crunner::errno_text(errno);
  for (off_t off = 0; off < st.st_size;) {
    off_t data = lseek(src.get(), off, SEEK_DATA);
    if (data < 0 && errno == ENXIO) break;  // holes to the end
    off_t hole = data < 0 ? -1 : lseek(src.get(), data, SEEK_HOLE);
    if (data < 0 || hole < 0) return "seek `" + from + "`: " + crunner::errno_text(errno);
    for (loff_t in = data, out = data; in < hole;) {
      ssize_t n =
          copy_file_range(src.get(), &in, dst.get(), &out, static_cast<size_t>(hole - in), 0);
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0)
        return "copy `" + from + "` to `" + to + "`: " + crunner::errno_text(n < 0 ? errno : EIO);
    }
    off = hole;
  }
  return "";
}

// How many file system images the template directory keeps (one per size and inode count in
// use; a start with more limits than this begins the cache afresh).
constexpr size_t kMaxTemplates = 16;

// Makes img a fresh layer file system. With a template directory, mkfs.ext4 runs once per
// size and inode count (its output, fsyncs included: 4 per run) and every layer of that
// shape is a sparse copy of it: no process and no fsync per create. Templates are written
// whole under a temporary name and renamed into place, so a concurrent create sees a
// complete one or none (and then makes its own).
std::string make_image(const std::string& img, unsigned long long size, unsigned long long inodes,
                       const std::string& templates) {
  if (templates.empty()) return run_mkfs(img, size, inodes);
  std::string t =
      templates + "/ext4-" + std::to_string(size) + "-" + std::to_string(inodes) + ".img";
  if (access(t.c_str(), F_OK) < 0) {
    if (mkdir(templates.c_str(), 0700) < 0 && errno != EEXIST)
      return "mkdir `" + templates + "`: " + crunner::errno_text(errno);
    std::vector<std::filesystem::path> old;
    std::error_code ec;
    for (auto& e : std::filesystem::directory_iterator(templates, ec)) old.push_back(e.path());
    if (old.size() >= kMaxTemplates)
      for (auto& p : old) std::filesystem::remove(p, ec);
    // Unique among concurrent creates (one thread each); a stale one is replaced by mkfs -F.
    std::string tmp = t + ".tmp." + std::to_string(gettid());
    unlink(tmp.c_str());
    std::string err = run_mkfs(tmp, size, inodes);
    if (err.empty() && rename(tmp.c_str(), t.c_str()) < 0)
      err = "rename `" + tmp + "`: " + crunner::errno_text(errno);
    if (!err.empty()) {
      unlink(tmp.c_str());
      return err;
    }
  }
  return copy_sparse(t, img);
}

// Makes <cdir>/disk.img (size bytes, inodes inodes if set), attaches it to a loop device and
// mounts it on <cdir>/layer.
std::string make_layer_fs(const std::string& cdir, unsigned long long size,
                          unsigned long long inodes, const std::string& templates) {
  std::string img = cdir + "/disk.img";
  unlink(img.c_str());
  if (std::string err = make_image(img, size, inodes, templates); !err.empty()) return err;
  std::string dev;
  crunner::UniqueFd lo;
  std::string err = attach_loop(img, dev, lo);
  if (!err.empty()) return err;
  std::string target = cdir + "/layer";
  // nobarrier: the unmount at destroy flushes no cache of the loop device, which would be an
  // fsync of disk.img on the host's file system (a container's layer does not outlive a reboot).
  if (mount(dev.c_str(), target.c_str(), "ext4", MS_NOSUID | MS_NODEV, "nobarrier") < 0)
    return "mount `" + dev + "` on `" + target + "`: " + crunner::errno_text(errno);
  return "";  // closing lo leaves the device to the mount; it clears itself on unmount
}

// A layer file system on which the container can write at least `bytes` (Guardian's
// quota-based limits give the full amount; an ext4 of exactly that size loses 9-10% to its
// metadata and reserved clusters). It is made 1/8 + 256 KiB larger, measured once mounted,
// and made again with what it lacked added if that was not enough.
std::string mount_layer_fs(const std::string& cdir, unsigned long long bytes,
                           unsigned long long inodes, const std::string& templates) {
  std::string target = cdir + "/layer";
  unsigned long long size = (bytes + bytes / 8 + (256 << 10) + 65535) / 65536 * 65536;
  for (int attempt = 0;; ++attempt) {
    std::string err = make_layer_fs(cdir, size, inodes, templates);
    if (!err.empty()) return err;
    struct statvfs sv;
    if (statvfs(target.c_str(), &sv) < 0)
      return "statfs `" + target + "`: " + crunner::errno_text(errno);
    unsigned long long avail = static_cast<unsigned long long>(sv.f_bavail) * sv.f_frsize;
    // The layer's own directories (upper/, work/) take a few blocks of it too.
    unsigned long long want = bytes + 4 * static_cast<unsigned long long>(sv.f_frsize);
    if (avail >= want || attempt == 3) return "";
    err = unmount_under(target);
    if (!err.empty()) return err;
    wait_loops_released(cdir);
    size += want - avail;
    size = (size + 65535) / 65536 * 65536;
  }
}

}  // namespace

DiskLimits parse_disk_limits(const json& j, std::string& err) {
  DiskLimits d;
  if (j.is_null()) return d;
  if (!j.is_object()) {
    err = "invalid disk_limits: expected an object";
    return d;
  }
  unsigned long long scope = 0;
  if (!u64_field(j, "byte_soft", d.byte_soft, err) ||
      !u64_field(j, "byte_hard", d.byte_hard, err) ||
      !u64_field(j, "inode_soft", d.inode_soft, err) ||
      !u64_field(j, "inode_hard", d.inode_hard, err) || !u64_field(j, "scope", scope, err))
    return d;
  if (scope > 1) {
    err = "invalid disk_limits.scope " + std::to_string(scope) + ": 0 (total) or 1 (exclusive)";
    return d;
  }
  d.scope = static_cast<int>(scope);
  return d;
}

Usage tree_usage(const std::string& dir) {
  Usage u;
  std::set<std::pair<dev_t, ino_t>> seen;
  std::lock_guard<std::mutex> lk(g_walk_mu);
  g_walk_usage = &u;
  g_walk_seen = &seen;
  nftw(dir.c_str(), walk_cb, 32, FTW_PHYS | FTW_MOUNT);
  g_walk_usage = nullptr;
  g_walk_seen = nullptr;
  return u;
}

std::string create_layer(const std::string& cdir, const std::string& image, const DiskLimits& dl,
                         Layer& out, bool devices, const std::string& templates) {
  // overlayfs separates its options with ',' and lower layers with ':'.
  for (const std::string& p : {cdir, image})
    if (p.find_first_of(",:\\") != std::string::npos)
      return "path `" + p + "` contains a character overlayfs cannot take (, : \\)";
  std::string layer = cdir + "/layer", merged = cdir + "/rootfs";
  for (const std::string& d : {layer, merged})
    if (mkdir(d.c_str(), 0700) < 0 && errno != EEXIST)
      return "mkdir `" + d + "`: " + crunner::errno_text(errno);
  out = Layer{};
  out.merged = merged;
  out.limited = dl.limited();
  if (out.limited) {
    unsigned long long bytes = dl.byte_hard, inodes = dl.inode_hard;
    if (dl.scope == 0) {
      out.image = tree_usage(image);
      if (bytes && bytes <= out.image.bytes)
        return "disk limit byte_hard " + std::to_string(bytes) +
               " (scope total) is not above the rootfs's own size of " +
               std::to_string(out.image.bytes) + " bytes";
      if (inodes && inodes <= out.image.inodes)
        return "disk limit inode_hard " + std::to_string(inodes) +
               " (scope total) is not above the rootfs's own " + std::to_string(out.image.inodes) +
               " inodes";
      if (bytes) bytes -= out.image.bytes;
      if (inodes) inodes -= out.image.inodes;
    }
    if (!bytes) {
      // Only an inode limit: the file system may take what the depot has (sparse file).
      struct statvfs sv;
      if (statvfs(cdir.c_str(), &sv) < 0)
        return "statfs `" + cdir + "`: " + crunner::errno_text(errno);
      bytes = static_cast<unsigned long long>(sv.f_bavail) * sv.f_frsize;
    }
    if (bytes < kMinLayerBytes)
      return "disk limit leaves the container " + std::to_string(bytes) +
             " bytes of its own, below the smallest layer of " + std::to_string(kMinLayerBytes);
    if (inodes && inodes < kMinLayerInodes)
      return "disk limit leaves the container " + std::to_string(inodes) +
             " inodes of its own, below the smallest layer of " + std::to_string(kMinLayerInodes);
    std::string err = mount_layer_fs(cdir, bytes, inodes, templates);
    if (!err.empty()) {
      unmount_under(layer);
      return err;
    }
  }
  auto undo = [&](std::string err) {
    unmount_under(merged);
    unmount_under(layer);
    return err;
  };
  struct stat ist;
  if (stat(image.c_str(), &ist) < 0)
    return undo("stat `" + image + "`: " + crunner::errno_text(errno));
  for (const char* d : {"/upper", "/work"})
    if (mkdir((layer + d).c_str(), 0755) < 0 && errno != EEXIST)
      return undo("mkdir `" + layer + d + "`: " + crunner::errno_text(errno));
  // The container's "/" keeps the image root's owner and mode (its root may be shifted).
  if (chown((layer + "/upper").c_str(), ist.st_uid, ist.st_gid) < 0 ||
      chmod((layer + "/upper").c_str(), ist.st_mode & 07777) < 0)
    return undo("chown `" + layer + "/upper`: " + crunner::errno_text(errno));
  if (out.limited) {
    struct statvfs sv;
    if (statvfs(layer.c_str(), &sv) == 0) {
      out.base.bytes = static_cast<unsigned long long>(sv.f_blocks - sv.f_bfree) * sv.f_frsize;
      out.base.inodes = static_cast<unsigned long long>(sv.f_files - sv.f_ffree);
    }
  }
  std::string opts =
      "lowerdir=" + image + ",upperdir=" + layer + "/upper,workdir=" + layer + "/work";
  // volatile (Linux 5.10+): no sync of the upper file system, above all none at the unmount
  // of destroy, which otherwise writes back and waits for every dirty page of the file system
  // the depot is on (2 sync_fs and ~30 block writes per destroy on a shared host). The layer
  // goes with its container, and no container outlives a reboot; older kernels mount without.
  unsigned long flags = devices ? 0 : MS_NODEV;
  if (mount("overlay", merged.c_str(), "overlay", flags, (opts + ",volatile").c_str()) < 0 &&
      (errno != EINVAL || mount("overlay", merged.c_str(), "overlay", flags, opts.c_str()) < 0))
    return undo("mount overlay on `" + merged + "`: " + crunner::errno_text(errno));
  return "";
}

Usage layer_usage(const std::string& cdir, bool limited, const Usage& base) {
  if (!limited) return tree_usage(cdir + "/layer/upper");
  Usage u;
  struct statvfs sv;
  if (statvfs((cdir + "/layer").c_str(), &sv) < 0) return u;
  unsigned long long bytes =
      static_cast<unsigned long long>(sv.f_blocks - sv.f_bfree) * sv.f_frsize;
  unsigned long long inodes = static_cast<unsigned long long>(sv.f_files - sv.f_ffree);
  u.bytes = bytes > base.bytes ? bytes - base.bytes : 0;
  u.inodes = inodes > base.inodes ? inodes - base.inodes : 0;
  return u;
}

std::vector<std::string> loops_under(const std::string& path) {
  std::string prefix = path;
  while (prefix.size() > 1 && prefix.back() == '/') prefix.pop_back();
  std::vector<std::string> out;
  std::error_code ec;
  for (auto& e : std::filesystem::directory_iterator("/sys/block", ec)) {
    std::string name = e.path().filename().string();
    if (name.rfind("loop", 0) != 0) continue;
    auto f = crunner::read_file(e.path().string() + "/loop/backing_file");
    if (!f) continue;
    std::string b = crunner::trim(*f);
    if (b.rfind(prefix + "/", 0) == 0) out.push_back("/dev/" + name);
  }
  return out;
}

bool wait_loops_released(const std::string& path) {
  for (int i = 0; i < 250; ++i) {
    if (loops_under(path).empty()) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  return false;
}

std::string unmount_under(const std::string& path) {
  std::string prefix = path;
  while (prefix.size() > 1 && prefix.back() == '/') prefix.pop_back();
  auto mounts = [&] {
    std::vector<std::string> out;
    auto text = crunner::read_file("/proc/self/mountinfo");
    if (!text) return out;
    for (auto& line : crunner::split(*text, '\n')) {
      auto f = crunner::split(line, ' ');
      if (f.size() < 5) continue;
      std::string mp;
      for (size_t i = 0; i < f[4].size(); ++i) {  // octal escapes: \040 space etc.
        if (f[4][i] == '\\' && i + 3 < f[4].size()) {
          mp += static_cast<char>(std::stoi(f[4].substr(i + 1, 3), nullptr, 8));
          i += 3;
        } else {
          mp += f[4][i];
        }
      }
      if (mp == prefix || mp.rfind(prefix + "/", 0) == 0) out.push_back(mp);
    }
    std::sort(out.begin(), out.end(),
              [](const std::string& a, const std::string& b) { return a.size() > b.size(); });
    return out;
  };
  for (auto& mp : mounts()) {
    if (umount2(mp.c_str(), UMOUNT_NOFOLLOW) == 0) continue;
    // Busy (a process of the container is still on its way out): detach it now, the
    // kernel finishes once the last user is gone; the loop device clears itself then.
    umount2(mp.c_str(), MNT_DETACH | UMOUNT_NOFOLLOW);
  }
  auto left = mounts();
  if (!left.empty()) return "unmount `" + left.front() + "`: still mounted";
  return "";
}

}  // namespace garden
