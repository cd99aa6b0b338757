#include "libcontainer/checkpoint.hpp"

#include <fcntl.h>
#include <limits.h>
#include <sched.h>
#include <signal.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "apparmor/apparmor.hpp"
#include "base/file.hpp"
#include "base/proc.hpp"
#include "base/text.hpp"
#include "base/time.hpp"
#include "base/undo.hpp"
#include "cgroups/manager.hpp"
#include "libcontainer/container.hpp"
#include "libcontainer/criu.hpp"
#include "libcontainer/flag_checks.hpp"
#include "libcontainer/foreground.hpp"
#include "libcontainer/hooks.hpp"
#include "libcontainer/mount.hpp"
#include "libcontainer/spec.hpp"
#include "libcontainer/terminal.hpp"
#include "selinux/selinux.hpp"

namespace crunner {

namespace {

// runc's file of the init's stdio links ("pipe:[123]", "/dev/null"), next to the image:
// restore hands the caller's fds to criu in place of the pipes (inherit_fd).
constexpr const char* kDescriptors = "descriptors.json";
constexpr const char* kDumpLog = "dump.log";
constexpr const char* kRestoreLog = "restore.log";
// criu_cg_mode values (rpc.proto)
constexpr int kCgIgnore = 0, kCgSoft = 3, kCgFull = 4, kCgStrict = 5;

std::string cwd_join(const std::string& p) {
  if (!p.empty() && p[0] == '/') return p;
  char buf[PATH_MAX];
  if (!getcwd(buf, sizeof buf)) return p;
  return std::string(buf) + "/" + p;
}

Result<int> cg_mode(const std::string& m) {
  if (m.empty()) return -1;  // criu's default (soft)
  if (m == "soft") return kCgSoft;
  if (m == "full") return kCgFull;
  if (m == "strict") return kCgStrict;
  if (m == "ignore") return kCgIgnore;
  return make_error(ErrorKind::InvalidSpec, "invalid --manage-cgroups-mode value `" + m +
                                                "` (soft, full, strict or ignore)");
}

// runc never lets criu restore the network's devices: the net namespace is always "empty".
Result<uint32_t> empty_ns_mask(const std::vector<std::string>& names) {
  uint32_t mask = CLONE_NEWNET;
  for (auto& n : names) {
    if (n != "network")
      return make_error(ErrorKind::InvalidSpec,
                        "--empty-ns: namespace \"" + n + "\" is not supported (only \"network\")");
    mask |= CLONE_NEWNET;
  }
  return mask;
}

struct Dirs {
  std::string image, work, log;
  UniqueFd image_fd, work_fd;
};

// The image directory (made when `create`), the work directory (always made) and where
// criu's log goes (the work directory when given, else the image directory).
Result<Dirs> open_dirs(const CriuFlags& f, bool create, const char* log_name) {
  Dirs d;
  d.image = cwd_join(f.image_path.empty() ? "checkpoint" : f.image_path);
  if (create) CR_TRY_CTX(mkdir_p(d.image, 0700), "--image-path");
  auto fd = open_path(d.image, O_RDONLY | O_DIRECTORY);
  if (!fd) return std::move(fd).error().context("--image-path");
  d.image_fd = std::move(*fd);
  d.log = d.image + "/" + log_name;
  if (!f.work_path.empty()) {
    d.work = cwd_join(f.work_path);
    CR_TRY_CTX(mkdir_p(d.work, 0700), "--work-path");
    CR_ASSIGN(d.work_fd, open_path(d.work, O_RDONLY | O_DIRECTORY));
    d.log = d.work + "/" + log_name;
  }
  return d;
}

Result<criu::Opts> common_opts(const CriuFlags& f, const Dirs& d, const char* log_name) {
  criu::Opts o;
  o.images_dir_fd = d.image_fd.get();
  o.work_dir_fd = d.work_fd.get();
  o.log_file = log_name;
  o.log_level = 4;
  o.manage_cgroups = true;
  CR_ASSIGN(o.manage_cgroups_mode, cg_mode(f.manage_cgroups_mode));
  o.notify_scripts = true;
  o.shell_job = f.shell_job;
  o.tcp_established = f.tcp_established;
  o.ext_unix_sk = f.ext_unix_sk;
  o.file_locks = f.file_locks;
  CR_ASSIGN(o.empty_ns, empty_ns_mask(f.empty_ns));
  o.orphan_pts_master = true;
  o.auto_dedup = f.auto_dedup;
  o.lazy_pages = f.lazy_pages;
  return o;
}

// runc's criu configuration file: the annotation org.criu.config names one ("" = none),
// else /etc/criu/runc.conf (criu ignores a missing file).
void config_file(const spec::Spec& sp, criu::Opts& o) {
  auto it = sp.annotations.find("org.criu.config");
  if (it == sp.annotations.end())
    o.config_file = "/etc/criu/runc.conf";
  else
    o.config_file = it->second;
}

// criu's names for namespaces in join_ns / external keys.
const char* criu_ns(spec::NsType t) {
  return spec::ns_proc_name(t);
}
std::string ext_key(spec::NsType t) {
  return t == spec::NsType::Network ? "extRootNetNS" : "extRootPidNS";
}

Status feature_check(const CriuFlags& f, const criu::Features& want) {
  criu::Call c;
  c.criu = f.criu;
  c.want = want;
  CR_ASSIGN(criu::Response r, criu::swrk(criu::ReqType::FeatureCheck, criu::Opts{}, c));
  std::vector<std::string> missing;
  if (want.mem_track && !r.features.mem_track) missing.push_back("MemTrack");
  if (want.lazy_pages && !r.features.lazy_pages) missing.push_back("LazyPages");
  if (!missing.empty())
    return make_error(ErrorKind::Unsupported, "criu is missing features: " + join(missing, ", ") +
                                                  " (criu `" + f.criu + "` on this kernel)");
  return {};
}

// The freezer directory criu freezes the container with (runc: cgroup v1's freezer, or the
// v2 cgroup itself), from the cgroup manager's saved description.
std::string freezer_of(const nlohmann::json& cg) {
  if (!cg.is_object()) return "";
  if (auto p = cg.find("paths");
      p != cg.end() && p->is_object() && p->contains("freezer") && p->at("freezer").is_string())
    return p->at("freezer").get<std::string>();
  if (cg.value("mode", "") == "unified" && cg.contains("unified") && cg["unified"].is_string())
    return cg["unified"].get<std::string>();
  return "";
}

}  // namespace

Status checkpoint_container(const StateStore& store, const CheckpointOptions& o) {
  CR_ASSIGN(auto cs, container_status(store, o.id));
  CR_ASSIGN(UniqueFd lock, store.lock(o.id));
  CR_ASSIGN(cs, container_status(store, o.id));
  auto& [s, status] = cs;
  if (status != ContainerStatus::Running && status != ContainerStatus::Paused)
    return make_error(ErrorKind::BadState, std::string("container cannot be checkpointed in ") +
                                               status_name(status) + " state");
  auto parsed = spec::parse_spec(s.config.dump());
  if (!parsed) return std::move(parsed).error().context("saved config of " + o.id);
  const spec::Spec& sp = *parsed;
  const spec::Linux& lx = sp.linux_or_empty();
  if (!lx.has_ns(spec::NsType::Mount))
    return make_error(ErrorKind::Unsupported,
                      "checkpoint needs the container's own mount namespace (linux.namespaces "
                      "has no \"mount\")");

  if (!o.parent_path.empty() && o.parent_path[0] == '/')
    return make_error(ErrorKind::InvalidSpec, "--parent-path must be relative");
  CR_ASSIGN(Dirs d, open_dirs(o.criu, true, kDumpLog));
  if (!o.parent_path.empty()) {
    struct stat st;
    std::string real = d.image + "/" + o.parent_path;
    if (stat(real.c_str(), &st) < 0) return sys_error("invalid --parent-path `" + real + "`");
    if (!S_ISDIR(st.st_mode)) return sys_error("invalid --parent-path `" + real + "`", ENOTDIR);
  }
  CR_ASSIGN(criu::Opts opts, common_opts(o.criu, d, kDumpLog));
  opts.root = s.rootfs;
  opts.pid = s.pid;
  opts.leave_running = o.leave_running;
  config_file(sp, opts);
  if (!o.parent_path.empty()) {
    opts.parent_img = o.parent_path;
    opts.track_mem = true;
  }
  if (!o.page_server.empty()) {
    auto colon = o.page_server.rfind(':');
    long long port = 0;
    if (colon == std::string::npos || colon == 0 ||
        !parse_i64(o.page_server.substr(colon + 1), port) || port <= 0 || port > 65535)
      return make_error(ErrorKind::InvalidSpec,
                        "use --page-server ADDRESS:PORT to specify the page server");
    opts.ps_address = o.page_server.substr(0, colon);
    opts.ps_port = static_cast<int>(port);
  }
  // Namespaces the container joined by path are external: criu records them and expects
  // them to exist at restore.
  for (spec::NsType t : {spec::NsType::Network, spec::NsType::Pid}) {
    const spec::Namespace* ns = lx.find_ns(t);
    if (!ns || ns->path.empty()) continue;
    struct stat st;
    if (stat(ns->path.c_str(), &st) < 0)
      return sys_error(std::string(spec::ns_name(t)) + " namespace `" + ns->path + "`");
    opts.external.push_back(std::string(criu_ns(t)) + "[" + std::to_string(st.st_ino) +
                            "]:" + ext_key(t));
  }
  opts.freeze_cgroup = freezer_of(s.cgroup);
  if (o.pre_dump) CR_TRY(feature_check(o.criu, {.mem_track = true, .lazy_pages = false}));
  if (o.criu.lazy_pages) {
    CR_TRY(feature_check(o.criu, {.mem_track = false, .lazy_pages = true}));
    if (o.status_fd >= 0) {
      int fl = fcntl(o.status_fd, F_GETFL);
      if (fl < 0) return sys_error("invalid --status-fd " + std::to_string(o.status_fd));
      if ((fl & O_ACCMODE) == O_RDONLY)
        return make_error(ErrorKind::InvalidSpec,
                          "invalid --status-fd " + std::to_string(o.status_fd) + ": not writable");
      opts.status_fd = o.status_fd;
    }
  }
  if (!o.pre_dump) {
    // Mounts whose source is outside the container are "external" (runc: bind mounts,
    // masked files, devices); on restore they are bound again from the host.
    for (auto& m : sp.mounts) {
      if (!is_bind_mount(m)) continue;
      std::string dest = mount_destination(m);
      opts.ext_mnt.emplace_back(dest, dest);
    }
    for (auto& p : lx.masked_paths) {
      struct stat st;
      std::string in = "/proc/" + std::to_string(s.pid) + "/root" + p;
      if (stat(in.c_str(), &st) == 0 && !S_ISDIR(st.st_mode))
        opts.ext_mnt.emplace_back(p, "/dev/null");
    }
    for (auto& dev : lx.devices) opts.ext_mnt.emplace_back(dev.path, dev.path);
    nlohmann::json fds = nlohmann::json::array();
    for (int i = 0; i < 3; i++) {
      char buf[PATH_MAX];
      std::string link = "/proc/" + std::to_string(s.pid) + "/fd/" + std::to_string(i);
      ssize_t n = readlink(link.c_str(), buf, sizeof buf - 1);
      fds.push_back(n > 0 ? std::string(buf, static_cast<size_t>(n)) : std::string("/dev/null"));
    }
    CR_TRY(write_file_atomic(d.image + "/" + kDescriptors, fds.dump(), 0600));
  }

  criu::Call call;
  call.criu = o.criu.criu;
  call.log_path = d.log;
  call.notify = [&](const std::string& script, pid_t, UniqueFd) -> Status {
    // runc marks the state directory while the image is being finished
    if (script == "post-dump")
      (void)write_file(store.dir(o.id) + "/checkpoint", "", O_WRONLY | O_CREAT | O_TRUNC, 0600);
    return {};
  };
  auto r = criu::swrk(o.pre_dump ? criu::ReqType::PreDump : criu::ReqType::Dump, opts, call);
  (void)unlink((store.dir(o.id) + "/checkpoint").c_str());
  if (!r) return std::move(r).error().context("checkpoint container " + o.id);
  if (o.leave_running || o.pre_dump) return {};
  // The processes are gone (criu killed them after the dump): remove what is left.
  lock.reset();
  return delete_container(store, o.id, true);
}

namespace {

// The cgroups a process is in, as criu's cg_root wants them: one entry per v1 controller
// ("" for the v2 hierarchy, sent without a controller: the root of every controller).
std::vector<std::pair<std::string, std::string>> cgroups_of(pid_t pid) {
  std::vector<std::pair<std::string, std::string>> out;
  auto text = read_file("/proc/" + std::to_string(pid) + "/cgroup");
  if (!text) return out;
  for (auto& line : split(*text, '\n')) {
    auto a = line.find(':');
    auto b = a == std::string::npos ? a : line.find(':', a + 1);
    if (b == std::string::npos) continue;
    std::string ctrls = line.substr(a + 1, b - a - 1), path = line.substr(b + 1);
    if (ctrls.empty()) {
      out.emplace_back("", path);
      continue;
    }
    for (auto& c : split(ctrls, ',')) out.emplace_back(c, path);
  }
  return out;
}

// --lsm-profile TYPE:NAME and --lsm-mount-context CONTEXT, checked before anything exists
// (criu would find a profile missing only after restoring the processes): the type is
// apparmor or selinux, the LSM is enabled, an AppArmor profile is loaded. criu sets them
// from 3.16 on (runc's limit: older ones ignored a different profile).
Status check_restore_lsm(const RestoreOptions& o) {
  if (o.lsm_profile.empty() && o.lsm_mount_context.empty()) return {};
  if (!o.lsm_profile.empty()) {
    auto colon = o.lsm_profile.find(':');
    std::string type = o.lsm_profile.substr(0, colon);
    std::string name = colon == std::string::npos ? "" : o.lsm_profile.substr(colon + 1);
    if (name.empty() || (type != "apparmor" && type != "selinux"))
      return invalid_spec("--lsm-profile: \"" + o.lsm_profile +
                          "\": want apparmor:PROFILE or selinux:LABEL");
    if (type == "apparmor")
      CR_TRY_CTX(apparmor::check_profile(name), "--lsm-profile");
    else
      CR_TRY(selinux::check_label("--lsm-profile", name));
  }
  CR_TRY(selinux::check_label("--lsm-mount-context", o.lsm_mount_context));
  CR_ASSIGN(int v, criu::version(o.criu.criu));
  if (v < 31600)
    return make_error(ErrorKind::Unsupported,
                      "--lsm-profile / --lsm-mount-context need criu 3.16 or later (criu `" +
                          o.criu.criu + "` is " + std::to_string(v / 10000) + "." +
                          std::to_string(v / 100 % 100) + ")");
  return {};
}

// What restore_container's steps share; `undo` holds what a failed restore must take away
// (the restored processes, the cgroups, the state directory).
struct Restoring {
  Restoring(const StateStore& s, const RestoreOptions& ro) : store(s), o(ro) {}
  const StateStore& store;
  const RestoreOptions& o;
  LoadedBundle lb;
  cgroups::Resources res;
  Dirs d;
  criu::Opts opts;
  std::vector<UniqueFd> ns_fds;  // passed to criu as extra fds (`extra`)
  std::vector<int> extra;
  std::unique_ptr<cgroups::Manager> cg;
  ContainerState st;
  Undo undo;
  UniqueFd lock;

  const spec::Linux& lx() const { return lb.spec.linux_or_empty(); }
};

// The options and config.json checked before anything exists.
Status check_restore(Restoring& r) {
  const RestoreOptions& o = r.o;
  if (!valid_container_id(o.id))
    return make_error(ErrorKind::InvalidSpec, "invalid container ID format");
  CR_TRY(check_restore_lsm(o));
  CR_ASSIGN(r.lb, load_bundle(o.bundle));
  if (!r.lx().has_ns(spec::NsType::Mount))
    return invalid_spec(
        "linux.namespaces: restore needs the container's own mount namespace (criu restores "
        "it)");
  if (r.lb.spec.process->terminal && o.console_socket.empty() && o.detach)
    return make_error(ErrorKind::InvalidSpec,
                      "process.terminal is true: --console-socket is required");
  CR_ASSIGN(r.res, container_resources(r.lx()));
  return check_pid_file(o.pid_file);
}

// criu's request: the image's stdio pipes inherited, namespaces to join (network and pid
// by fd), the bundle's bind mounts, masked paths and devices as external mounts.
Status plan_restore(Restoring& r) {
  const spec::Spec& sp = r.lb.spec;
  criu::Opts& opts = r.opts;
  CR_ASSIGN(r.d, open_dirs(r.o.criu, false, kRestoreLog));
  CR_ASSIGN(opts, common_opts(r.o.criu, r.d, kRestoreLog));
  CR_ASSIGN(std::string fds_text, read_file(r.d.image + "/" + kDescriptors));
  nlohmann::json fds = nlohmann::json::parse(fds_text, nullptr, false);
  if (!fds.is_array() || fds.size() > 3)
    return make_error(ErrorKind::InvalidSpec,
                      "`" + r.d.image + "/" + kDescriptors + "`: not an array of up to 3 strings");
  for (size_t i = 0; i < fds.size(); i++) {
    if (!fds[i].is_string()) continue;
    std::string sfd = fds[i].get<std::string>();
    if (sfd.find("pipe:") != std::string::npos)
      opts.inherit_fd.emplace_back(sfd, static_cast<int>(i));
  }
  opts.evasive_devices = true;
  opts.rst_sibling = true;
  opts.lsm_profile = r.o.lsm_profile;
  opts.lsm_mount_context = r.o.lsm_mount_context;
  config_file(sp, opts);
  for (auto& ns : r.lx().namespaces) {
    if (ns.path.empty()) continue;
    if (ns.type == spec::NsType::Network || ns.type == spec::NsType::Pid) {
      CR_ASSIGN(UniqueFd fd, open_path(ns.path, O_RDONLY));
      opts.inherit_fd.emplace_back(ext_key(ns.type), 4 + static_cast<int>(r.extra.size()));
      r.extra.push_back(fd.get());
      r.ns_fds.push_back(std::move(fd));
    } else if (ns.type == spec::NsType::Cgroup) {
      return make_error(ErrorKind::Unsupported,
                        "restore: criu cannot join a cgroup namespace by path");
    } else {
      opts.join_ns.emplace_back(criu_ns(ns.type), ns.path);
    }
  }
  for (auto& m : sp.mounts)
    if (is_bind_mount(m)) opts.ext_mnt.emplace_back(mount_destination(m), bind_source(m, r.lb.dir));
  if (!r.lx().masked_paths.empty()) opts.ext_mnt.emplace_back("/dev/null", "/dev/null");
  for (auto& dev : r.lx().devices) opts.ext_mnt.emplace_back(dev.path, dev.path);
  return {};
}

// The id claimed (state directory, lock, provisional record) and a new cgroup made; an
// existing one is refused.
Status claim_restore(Restoring& r) {
  cgroups::ManagerOptions mopts;
  mopts.rootless = r.o.rootless_cgroups;
  CR_ASSIGN(r.cg, cgroups::make_manager(r.lx().cgroups_path, r.o.id, r.o.systemd_cgroup, mopts));
  if (r.cg->exists())
    return make_error(ErrorKind::Exists, "cgroup `" + r.cg->path() + "` already exists");
  CR_TRY(r.store.create_dir(r.o.id));
  r.undo.add([&r] { (void)r.store.remove(r.o.id); });
  CR_ASSIGN(r.lock, r.store.lock(r.o.id));
  r.st = provisional_state(r.o.id, r.lb, *r.cg, r.o.systemd_cgroup);
  CR_TRY(r.store.save(r.st));
  CR_TRY_CTX(r.cg->create(), "create cgroup");
  r.undo.add([&r] {
    (void)r.cg->kill_all(SIGKILL);
    (void)r.cg->destroy();
  });
  CR_TRY_CTX(r.cg->apply(r.res), "linux.resources");
  return {};
}

// criu's root must be a mount point whose parent is not over-mounted: a bind mount of the
// rootfs inside the state directory (runc does the same), there only while criu runs.
class CriuRoot {
 public:
  Status bind(const std::string& rootfs, const std::string& dir) {
    path_ = dir;
    if (mkdir(path_.c_str(), 0755) < 0) return sys_error("create `" + path_ + "`");
    if (mount(rootfs.c_str(), path_.c_str(), nullptr, MS_BIND | MS_REC, nullptr) < 0)
      return sys_error("bind mount rootfs `" + rootfs + "` on `" + path_ + "`");
    mounted_ = true;
    return {};
  }
  void release() {
    if (mounted_ && umount2(path_.c_str(), MNT_DETACH) == 0) mounted_ = false;
    if (!path_.empty()) (void)rmdir(path_.c_str());
  }
  ~CriuRoot() { release(); }

 private:
  std::string path_;
  bool mounted_ = false;
};

// The restored init recorded: state.json for good (no longer provisional).
Status record_restored(Restoring& r, pid_t pid) {
  r.st.pid = pid;
  r.st.start_time = process_start_time(pid);
  r.st.created = now_rfc3339_nano();
  r.st.config = r.lb.spec.raw;
  r.st.provisional = false;
  return r.store.save(r.st);
}

// criu's notify scripts: the createRuntime-time hooks once the namespaces exist, the
// restored init's pid, the pty master of a container with a terminal.
Status on_criu_notify(Restoring& r, const std::string& script, pid_t pid, UniqueFd fd) {
  const spec::Hooks& h = r.lb.spec.hooks;
  if (script == "setup-namespaces") {
    if (h.prestart.empty() && h.create_runtime.empty()) return {};
    ContainerState hs = r.st;
    hs.pid = pid;
    std::string state = oci_state(hs, ContainerStatus::Created).dump();
    CR_TRY(run_hooks(h.prestart, "prestart", state));
    return run_hooks(h.create_runtime, "createRuntime", state);
  }
  if (script == "post-restore") return record_restored(r, pid);
  if (script == "orphan-pts-master") {
    if (!fd) return make_error(ErrorKind::Internal, "criu sent no pty master");
    if (r.o.console_socket.empty())
      return make_error(ErrorKind::InvalidSpec,
                        "the container has a terminal: --console-socket is required");
    return send_console_fd(r.o.console_socket, fd.get());
  }
  return {};
}

// criu restores the processes (into the container's cgroups, which it joins itself, with the
// tasks' cgroups relative to them), then the state and the pid file are recorded.
Status run_criu_restore(Restoring& r) {
  CriuRoot root;
  CR_TRY(root.bind(r.lb.rootfs, r.store.dir(r.o.id) + "/criu-root"));
  r.opts.root = r.store.dir(r.o.id) + "/criu-root";
  if (!r.o.detach) {
    sigset_t old;
    block_forwarded_signals(&old);
    if (!r.o.no_subreaper) prctl(PR_SET_CHILD_SUBREAPER, 1);
  }
  r.undo.add([&r] {
    if (r.st.pid <= 0) return;
    kill(r.st.pid, SIGKILL);
    waitpid(r.st.pid, nullptr, 0);
  });
  criu::Call call;
  call.criu = r.o.criu.criu;
  call.log_path = r.d.log;
  call.extra_fds = r.extra;
  call.started = [&r](pid_t criu_pid, criu::Opts& op) -> Status {
    CR_TRY_CTX(r.cg->add_pid(criu_pid), "put criu into the container's cgroup");
    for (auto& [ctrl, path] : cgroups_of(criu_pid)) op.cg_root.emplace_back(ctrl, path);
    return {};
  };
  call.notify = [&r](const std::string& script, pid_t pid, UniqueFd fd) -> Status {
    return on_criu_notify(r, script, pid, std::move(fd));
  };
  auto res = criu::swrk(criu::ReqType::Restore, r.opts, call);
  if (!res) return std::move(res).error().context("restore container " + r.o.id);
  if (r.st.pid <= 0)  // no post-restore notification (criu without notify scripts?)
    CR_TRY(record_restored(r, res->restored_pid));
  return write_pid_file(r.o.pid_file, r.st.pid);
}

}  // namespace

Result<int> restore_container(const StateStore& store, const RestoreOptions& o) {
  Restoring r(store, o);
  CR_TRY(check_restore(r));
  CR_TRY(plan_restore(r));
  CR_TRY(claim_restore(r));
  CR_TRY(run_criu_restore(r));
  r.undo.dismiss();
  if (o.detach) return 0;
  r.lock.reset();
  int code = wait_foreground(r.st.pid, -1);
  if (auto del = delete_container(store, o.id, true); !del)
    fprintf(stderr, "warning: %s\n", del.error().message.c_str());
  return code;
}

}  // namespace crunner
