// The Server's bookkeeping: construction, reload from the depot, lookup, the grace-time
// reaper, and the small helpers every route uses.
#include <dirent.h>
#include <fcntl.h>
#include <linux/fs.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <time.h>

#include <filesystem>
#include <fstream>
#include <iostream>
#include <random>

#include "base/fd.hpp"
#include "base/file.hpp"
#include "garden/api/decode.hpp"
#include "garden/api/server.hpp"
#include "garden/rootfs/rootfs_layer.hpp"

namespace garden {

namespace {

// Marks dir as the top of directory hierarchies (chattr +T), best effort: ext4's Orlov
// allocator then gives each container's tree a block group of its own instead of packing
// every tree into the group of `containers`. Without it, every inode a create, run or
// destroy allocates (the tree, the overlay's work files, the runtime's /dev, the supervisor's
// files) is searched for in the same group, past every inode the earlier containers freed:
// ext4 without a journal does not reuse an inode freed in the last 30 s and skips them one
// by one (recently_deleted()), 0.3-1 ms of CPU per allocation here once the depot churns.
// File systems without inode flags (tmpfs, overlay) refuse the ioctl; nothing changes there.
void mark_top_of_hierarchies(const std::string& dir) {
  crunner::UniqueFd fd(open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  int flags = 0;
  if (!fd || ioctl(fd.get(), FS_IOC_GETFLAGS, &flags) < 0 || (flags & FS_TOPDIR_FL)) return;
  flags |= FS_TOPDIR_FL;
  (void)ioctl(fd.get(), FS_IOC_SETFLAGS, &flags);
}

}  // namespace

std::string new_uuid() {
  static std::mutex m;
  static std::mt19937_64 rng(std::random_device{}());
  unsigned char b[16];
  {
    std::lock_guard<std::mutex> lk(m);
    for (int i = 0; i < 16; i += 8) {
      auto v = rng();
      for (int k = 0; k < 8; ++k) b[i + k] = static_cast<unsigned char>(v >> (8 * k));
    }
  }
  b[6] = static_cast<unsigned char>((b[6] & 0x0f) | 0x40);
  b[8] = static_cast<unsigned char>((b[8] & 0x3f) | 0x80);
  char out[37];
  snprintf(out, sizeof out, "%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-%02x%02x%02x%02x%02x%02x",
           b[0], b[1], b[2], b[3], b[4], b[5], b[6], b[7], b[8], b[9], b[10], b[11], b[12], b[13],
           b[14], b[15]);
  return out;
}

long long now_unix_ns() {
  timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  return static_cast<long long>(ts.tv_sec) * 1000000000LL + ts.tv_nsec;
}

Server::Server(Config cfg)
    : cfg_(std::move(cfg)),
      runtime_(cfg_.runtime, cfg_.depot + "/runtime"),
      net_(std::make_unique<net::Networker>(cfg_.net)) {}

ActiveGuard::ActiveGuard(std::shared_ptr<Container> cc) : c(std::move(cc)) {
  std::lock_guard<std::mutex> lk(c->mu);
  c->active++;
  c->touched = Clock::now();
}

ActiveGuard::~ActiveGuard() {
  std::lock_guard<std::mutex> lk(c->mu);
  c->active--;
  c->touched = Clock::now();
}

std::shared_ptr<Container> Server::find(const std::string& handle) {
  std::lock_guard<std::mutex> lk(mu_);
  auto it = containers_.find(handle);
  if (it == containers_.end() || it->second->destroying) return nullptr;
  {
    std::lock_guard<std::mutex> clk(it->second->mu);
    if (!is_ready(it->second->meta)) return nullptr;
    it->second->touched = Clock::now();
  }
  return it->second;
}

void Server::save_meta(Container& c) {
  // caller holds c.mu
  auto st = crunner::write_file_atomic(c.dir + "/meta.json", c.meta.dump(), 0644,
                                       crunner::Durability::Rename);
  (void)st;
}

std::string Server::load() {
  for (const char* d : {"", "/containers", "/runtime", "/trash"}) {
    auto st = crunner::mkdir_p(cfg_.depot + d, 0755);
    if (!st) return st.error().what();
    chmod((cfg_.depot + d).c_str(), 0755);
  }
  mark_top_of_hierarchies(cfg_.depot + "/containers");
  // Destroyed containers' trees a previous shim had not finished deleting (see destroy).
  {
    std::error_code ec;
    for (auto& e : std::filesystem::directory_iterator(cfg_.depot + "/trash", ec)) {
      std::error_code ec2;
      if (unmount_under(e.path().string()).empty()) std::filesystem::remove_all(e.path(), ec2);
    }
  }
  // Each container's rootfs lives in the depot, and an unprivileged container's root (a
  // user namespace's uid) resolves it: every ancestor must be searchable by others.
  for (std::string p = cfg_.depot; p.size() > 1; p = p.substr(0, p.rfind('/'))) {
    struct stat st;
    if (stat(p.c_str(), &st) == 0 && !(st.st_mode & S_IXOTH)) {
      std::cerr << "garden-shim: warning: `" << p
                << "` is not searchable by others: unprivileged containers cannot reach "
                   "their rootfs in the depot\n";
      break;
    }
    if (p.rfind('/') == 0) break;
  }
  if (auto e = net_->start(cfg_.net.destroy_on_startup); !e.empty()) return "networking: " + e;
  DIR* dir = opendir((cfg_.depot + "/containers").c_str());
  if (!dir) return "open depot `" + cfg_.depot + "/containers`";
  while (dirent* e = readdir(dir)) {
    std::string name = e->d_name;
    if (name == "." || name == "..") continue;
    if (!valid_id(name)) {
      std::cerr << "garden-shim: warning: ignoring `" << cfg_.depot << "/containers/" << name
                << "`: not a valid handle\n";
      continue;
    }
    std::string cdir = depot_child(cfg_.depot + "/containers", name);
    auto text = crunner::read_file(cdir + "/meta.json");
    auto meta = text ? json::parse(*text, nullptr, false) : json();
    if (!is_ready(meta) || cfg_.net.destroy_on_startup) {
      // A create the previous shim did not finish (or --destroy-containers-on-startup):
      // undo it. Its network went with the clean start of the networker.
      runtime_.remove(name);
      if (unmount_under(cdir).empty()) {  // never delete through its rootfs mounts
        std::error_code ec;
        std::filesystem::remove_all(cdir, ec);
      }
      continue;
    }
    auto c = std::make_shared<Container>();
    c->handle = name;
    c->dir = cdir;
    c->meta = meta;
    // The runtime lost it (a host reboot): keep the container, but honestly stopped.
    std::string st = runtime_.status(name);
    if ((st.empty() || st == "stopped") && meta.value("state", "") != "stopped") {
      c->meta["state"] = "stopped";
      save_meta(*c);
    }
    if (auto nerr = net_->restore(meta.value("network", json::object())); !nerr.empty())
      std::cerr << "garden-shim: container " << name << ": restore network: " << nerr << "\n";
    load_processes(*c);
    containers_[name] = c;
  }
  closedir(dir);
  return "";
}

void Server::reap_expired() {
  std::vector<std::shared_ptr<Container>> expired;
  {
    std::lock_guard<std::mutex> lk(mu_);
    auto now = Clock::now();
    for (auto& [h, c] : containers_) {
      std::lock_guard<std::mutex> clk(c->mu);
      if (c->destroying || c->active > 0 || !is_ready(c->meta)) continue;
      long long grace = c->meta.value("grace_time", 0LL);
      if (grace <= 0) continue;
      if (now - c->touched >= std::chrono::nanoseconds(grace)) expired.push_back(c);
    }
  }
  for (auto& c : expired) destroy_container(c);
  forget_unclaimed_processes();
}

}  // namespace garden
