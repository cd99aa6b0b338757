#include "libcontainer/devices.hpp"

#include <fcntl.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include "base/error.hpp"
#include "base/fd.hpp"
#include "base/safepath.hpp"

namespace crunner {

namespace {

spec::Device chardev(const char* path, int64_t major, int64_t minor) {
  spec::Device d;
  d.type = "c";
  d.path = path;
  d.major = major;
  d.minor = minor;
  d.file_mode = 0666;
  d.uid = 0;
  d.gid = 0;
  return d;
}

Result<mode_t> node_type(const std::string& type) {
  if (type == "c" || type == "u") return static_cast<mode_t>(S_IFCHR);
  if (type == "b") return static_cast<mode_t>(S_IFBLK);
  if (type == "p") return static_cast<mode_t>(S_IFIFO);
  return invalid_spec("unknown device type \"" + type + "\"");
}

Status bind_device(int rootfd, const spec::Device& dev) {
  CR_ASSIGN(UniqueFd target, resolve_in_root(rootfd, dev.path, Create::File));
  struct stat st;
  if (fstat(target.get(), &st) == 0 && !S_ISREG(st.st_mode) && !S_ISCHR(st.st_mode) &&
      !S_ISBLK(st.st_mode) && !S_ISFIFO(st.st_mode))
    return sys_error("bind mount `" + dev.path + "`", EEXIST);
  if (mount(dev.path.c_str(), proc_fd_path(target.get()).c_str(), "", MS_BIND, nullptr) < 0)
    return sys_error("bind mount `" + dev.path + "` from the host");
  return {};
}

// A rootfs shared by containers created at the same time (no /dev tmpfs of their own): a link
// another create made is what we want, so it is kept, whether it was there before our unlink or
// made between our unlink and our symlink (runc's setupPtmx removes and links unconditionally,
// and two creates could fail each other with "file exists").
bool is_ptmx_link(int devfd) {
  char target[16];
  ssize_t n = readlinkat(devfd, "ptmx", target, sizeof target);
  return n == 8 && std::string(target, 8) == "pts/ptmx";
}

}  // namespace

std::vector<spec::Device> default_devices() {
  return {chardev("/dev/null", 1, 3), chardev("/dev/zero", 1, 5),    chardev("/dev/full", 1, 7),
          chardev("/dev/tty", 5, 0),  chardev("/dev/urandom", 1, 9), chardev("/dev/random", 1, 8)};
}

Status create_device(int rootfd, const spec::Device& dev, bool bind) {
  std::string path = clean_path("/" + dev.path);
  if (path == "/") return invalid_spec("device path `" + dev.path + "` is the root directory");
  CR_ASSIGN(mode_t type, node_type(dev.type));
  // FIFOs need no privilege: created even in a user namespace.
  if (bind && type != S_IFIFO) return bind_device(rootfd, dev);
  CR_ASSIGN(ParentRef parent, resolve_parent_in_root(rootfd, path, Create::Dir));
  mode_t perm = static_cast<mode_t>(dev.file_mode.value_or(0666)) & 07777;
  dev_t rdev = makedev(static_cast<unsigned>(dev.major), static_cast<unsigned>(dev.minor));
  if (mknodat(parent.dir.get(), parent.name.c_str(), type | perm, type == S_IFIFO ? 0 : rdev) < 0) {
    if (errno == EEXIST) {
      // config-linux.md: an existing file that does not match the device is an error.
      struct stat st;
      if (fstatat(parent.dir.get(), parent.name.c_str(), &st, AT_SYMLINK_NOFOLLOW) < 0)
        return sys_error("stat `" + dev.path + "`");
      if ((st.st_mode & S_IFMT) != type || (type != S_IFIFO && st.st_rdev != rdev))
        return make_error(ErrorKind::Exists,
                          "`" + dev.path + "` exists and is not the requested device");
      return {};
    }
    if (errno == EPERM) return bind_device(rootfd, dev);
    return sys_error("mknod `" + dev.path + "`");
  }
  // mknod applied the umask; set the exact mode and the owner on the new node.
  if (fchmodat(parent.dir.get(), parent.name.c_str(), perm, 0) < 0)
    return sys_error("chmod `" + dev.path + "`");
  if (fchownat(parent.dir.get(), parent.name.c_str(), dev.uid.value_or(0), dev.gid.value_or(0),
               AT_SYMLINK_NOFOLLOW) < 0)
    return sys_error("chown `" + dev.path + "`");
  return {};
}

Status create_devices(int rootfd, const std::vector<spec::Device>& spec_devices, bool bind) {
  for (const spec::Device& d : default_devices()) {
    bool redefined = false;
    for (const spec::Device& s : spec_devices)
      if (clean_path("/" + s.path) == d.path) redefined = true;
    if (redefined) continue;
    CR_TRY_CTX(create_device(rootfd, d, bind), "create device `" + d.path + "`");
  }
  for (size_t i = 0; i < spec_devices.size(); ++i) {
    // /dev/ptmx becomes the pts/ptmx symlink (setup_dev_symlinks), as runc makes it: a node
    // here was replaced anyway, and in a user namespace its bind of the host's ptmx could not
    // be removed ("remove `/dev/ptmx`: device or resource busy").
    if (clean_path("/" + spec_devices[i].path) == "/dev/ptmx") continue;
    CR_TRY_CTX(create_device(rootfd, spec_devices[i], bind),
               "linux.devices[" + std::to_string(i) + "]");
  }
  return {};
}

Status setup_dev_symlinks(int rootfd) {
  CR_ASSIGN(UniqueFd dev, resolve_in_root(rootfd, "/dev", Create::Dir));
  std::vector<std::pair<std::string, std::string>> links = {{"/proc/self/fd", "fd"},
                                                            {"/proc/self/fd/0", "stdin"},
                                                            {"/proc/self/fd/1", "stdout"},
                                                            {"/proc/self/fd/2", "stderr"}};
  if (access("/proc/kcore", F_OK) == 0) links.emplace_back("/proc/kcore", "core");
  for (const auto& [target, name] : links)
    if (symlinkat(target.c_str(), dev.get(), name.c_str()) < 0 && errno != EEXIST)
      return sys_error("symlink `/dev/" + name + "` -> `" + target + "`");
  if (is_ptmx_link(dev.get())) return {};  // never unlinked under a concurrent create
  if (unlinkat(dev.get(), "ptmx", 0) < 0 && errno != ENOENT) return sys_error("remove `/dev/ptmx`");
  if (symlinkat("pts/ptmx", dev.get(), "ptmx") < 0) {
    int e = errno;
    if (e != EEXIST || !is_ptmx_link(dev.get())) {
      errno = e;
      return sys_error("symlink `/dev/ptmx`");
    }
  }
  return {};
}

}  // namespace crunner
