#include "libcontainer/criu.hpp"

#include <fcntl.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstring>
#include <deque>
#include <memory>

#include "base/eintr.hpp"
#include "base/file.hpp"
#include "base/text.hpp"
#include "criu/rpc.pb-c.h"

namespace crunner::criu {

namespace {

constexpr size_t kMaxMessage = 1 << 20;  // a criu_resp is a few hundred bytes

CriuReqType wire_type(ReqType t) {
  switch (t) {
    case ReqType::Dump:
      return CRIU_REQ_TYPE__DUMP;
    case ReqType::PreDump:
      return CRIU_REQ_TYPE__PRE_DUMP;
    case ReqType::Restore:
      return CRIU_REQ_TYPE__RESTORE;
    case ReqType::Version:
      return CRIU_REQ_TYPE__VERSION;
    case ReqType::FeatureCheck:
      return CRIU_REQ_TYPE__FEATURE_CHECK;
  }
  return CRIU_REQ_TYPE__EMPTY;
}

const char* wire_name(int t) {
  switch (t) {
    case CRIU_REQ_TYPE__DUMP:
      return "DUMP";
    case CRIU_REQ_TYPE__PRE_DUMP:
      return "PRE_DUMP";
    case CRIU_REQ_TYPE__RESTORE:
      return "RESTORE";
    case CRIU_REQ_TYPE__VERSION:
      return "VERSION";
    case CRIU_REQ_TYPE__FEATURE_CHECK:
      return "FEATURE_CHECK";
    case CRIU_REQ_TYPE__NOTIFY:
      return "NOTIFY";
    default:
      return "?";
  }
}

// The protobuf-c structures point into these; they live as long as the request.
struct Arena {
  std::deque<std::string> strings;
  std::deque<ExtMountMap> ext;
  std::deque<CgroupRoot> cg;
  std::deque<InheritFd> inh;
  std::deque<JoinNamespace> join;
  std::vector<ExtMountMap*> ext_p;
  std::vector<CgroupRoot*> cg_p;
  std::vector<InheritFd*> inh_p;
  std::vector<JoinNamespace*> join_p;
  std::vector<char*> external_p;
  CriuPageServerInfo ps = CRIU_PAGE_SERVER_INFO__INIT;
  char* s(const std::string& v) { return strings.emplace_back(v).data(); }
};

void fill_opts(CriuOpts& o, const Opts& in, Arena& a) {
  o.images_dir_fd = in.images_dir_fd;
  auto flag = [](protobuf_c_boolean& has, protobuf_c_boolean& field, bool v) {
    if (v) has = field = 1;
  };
  if (in.work_dir_fd >= 0) o.has_work_dir_fd = 1, o.work_dir_fd = in.work_dir_fd;
  if (!in.log_file.empty()) o.log_file = a.s(in.log_file);
  o.has_log_level = 1, o.log_level = in.log_level;
  if (!in.root.empty()) o.root = a.s(in.root);
  if (in.pid > 0) o.has_pid = 1, o.pid = in.pid;
  flag(o.has_leave_running, o.leave_running, in.leave_running);
  flag(o.has_ext_unix_sk, o.ext_unix_sk, in.ext_unix_sk);
  flag(o.has_tcp_established, o.tcp_established, in.tcp_established);
  flag(o.has_evasive_devices, o.evasive_devices, in.evasive_devices);
  flag(o.has_shell_job, o.shell_job, in.shell_job);
  flag(o.has_file_locks, o.file_locks, in.file_locks);
  flag(o.has_notify_scripts, o.notify_scripts, in.notify_scripts);
  flag(o.has_track_mem, o.track_mem, in.track_mem);
  flag(o.has_auto_dedup, o.auto_dedup, in.auto_dedup);
  flag(o.has_rst_sibling, o.rst_sibling, in.rst_sibling);
  flag(o.has_orphan_pts_master, o.orphan_pts_master, in.orphan_pts_master);
  flag(o.has_lazy_pages, o.lazy_pages, in.lazy_pages);
  flag(o.has_manage_cgroups, o.manage_cgroups, in.manage_cgroups);
  if (!in.parent_img.empty()) o.parent_img = a.s(in.parent_img);
  if (in.manage_cgroups_mode >= 0)
    o.has_manage_cgroups_mode = 1,
    o.manage_cgroups_mode = static_cast<CriuCgMode>(in.manage_cgroups_mode);
  if (in.empty_ns) o.has_empty_ns = 1, o.empty_ns = in.empty_ns;
  if (!in.freeze_cgroup.empty()) o.freeze_cgroup = a.s(in.freeze_cgroup);
  if (!in.config_file.empty()) o.config_file = a.s(in.config_file);
  if (in.status_fd >= 0) o.has_status_fd = 1, o.status_fd = in.status_fd;
  if (!in.ps_address.empty()) {
    a.ps.address = a.s(in.ps_address);
    a.ps.has_port = 1, a.ps.port = in.ps_port;
    o.ps = &a.ps;
  }
  for (auto& [k, v] : in.ext_mnt) {
    auto& e = a.ext.emplace_back();
    ext_mount_map__init(&e);
    e.key = a.s(k), e.val = a.s(v);
    a.ext_p.push_back(&e);
  }
  o.n_ext_mnt = a.ext_p.size(), o.ext_mnt = a.ext_p.data();
  for (auto& [ctrl, path] : in.cg_root) {
    auto& e = a.cg.emplace_back();
    cgroup_root__init(&e);
    if (!ctrl.empty()) e.ctrl = a.s(ctrl);
    e.path = a.s(path);
    a.cg_p.push_back(&e);
  }
  o.n_cg_root = a.cg_p.size(), o.cg_root = a.cg_p.data();
  for (auto& [k, fd] : in.inherit_fd) {
    auto& e = a.inh.emplace_back();
    inherit_fd__init(&e);
    e.key = a.s(k), e.fd = fd;
    a.inh_p.push_back(&e);
  }
  o.n_inherit_fd = a.inh_p.size(), o.inherit_fd = a.inh_p.data();
  for (auto& [ns, file] : in.join_ns) {
    auto& e = a.join.emplace_back();
    join_namespace__init(&e);
    e.ns = a.s(ns), e.ns_file = a.s(file);
    a.join_p.push_back(&e);
  }
  o.n_join_ns = a.join_p.size(), o.join_ns = a.join_p.data();
  for (auto& e : in.external) a.external_p.push_back(a.s(e));
  o.n_external = a.external_p.size(), o.external = a.external_p.data();
  if (!in.lsm_profile.empty()) o.lsm_profile = a.s(in.lsm_profile);
  if (!in.lsm_mount_context.empty()) o.lsm_mount_context = a.s(in.lsm_mount_context);
}

Status send_req(int sock, const CriuReq& req) {
  size_t n = criu_req__get_packed_size(&req);
  std::string buf(n, '\0');
  criu_req__pack(&req, reinterpret_cast<uint8_t*>(buf.data()));
  ssize_t w = retry_eintr([&] { return send(sock, buf.data(), buf.size(), MSG_NOSIGNAL); });
  if (w < 0) return sys_error("send request to criu");
  return {};
}

struct RespDeleter {
  void operator()(CriuResp* r) const { criu_resp__free_unpacked(r, nullptr); }
};
using RespPtr = std::unique_ptr<CriuResp, RespDeleter>;

// One message; null at EOF (criu exited). An fd sent with it lands in *fd.
Result<RespPtr> recv_resp(int sock, UniqueFd* fd) {
  std::string buf(kMaxMessage, '\0');
  alignas(struct cmsghdr) char ctl[CMSG_SPACE(sizeof(int) * 4)];
  struct iovec iov = {buf.data(), buf.size()};
  struct msghdr mh = {};
  mh.msg_iov = &iov;
  mh.msg_iovlen = 1;
  mh.msg_control = ctl;
  mh.msg_controllen = sizeof ctl;
  ssize_t n = retry_eintr([&] { return recvmsg(sock, &mh, MSG_CMSG_CLOEXEC); });
  if (n < 0) {
    if (errno == ECONNRESET) return RespPtr();
    return sys_error("receive from criu");
  }
  for (struct cmsghdr* c = CMSG_FIRSTHDR(&mh); c; c = CMSG_NXTHDR(&mh, c)) {
    if (c->cmsg_level != SOL_SOCKET || c->cmsg_type != SCM_RIGHTS) continue;
    size_t count = (c->cmsg_len - CMSG_LEN(0)) / sizeof(int);
    for (size_t i = 0; i < count; i++) {
      int f;
      memcpy(&f, CMSG_DATA(c) + i * sizeof(int), sizeof f);
      if (i == 0 && fd)
        fd->reset(f);
      else
        close(f);
    }
  }
  if (mh.msg_flags & (MSG_TRUNC | MSG_CTRUNC))
    return make_error(ErrorKind::Internal, "message from criu too large");
  if (n == 0) return RespPtr();
  CriuResp* r = criu_resp__unpack(nullptr, static_cast<size_t>(n),
                                  reinterpret_cast<const uint8_t*>(buf.data()));
  if (!r) return make_error(ErrorKind::Internal, "cannot decode criu's response");
  return RespPtr(r);
}

std::string describe_exit(int status) {
  if (WIFEXITED(status)) return "exited with status " + std::to_string(WEXITSTATUS(status));
  if (WIFSIGNALED(status)) {
    const char* a = sigabbrev_np(WTERMSIG(status));
    return std::string("was killed by signal ") + (a ? std::string("SIG") + a : "?");
  }
  return "ended";
}

// fork + exec `criu swrk 3` with fds 0-2 from call.stdio, 3 = sock, 4.. = extra_fds.
// The CLI is single-threaded, so the child may run ordinary code until execvp.
Result<pid_t> spawn(const Call& call, int sock) {
  std::vector<int> want = {call.stdio[0], call.stdio[1], call.stdio[2], sock};
  want.insert(want.end(), call.extra_fds.begin(), call.extra_fds.end());
  pid_t pid = fork();
  if (pid < 0) return sys_error("fork criu");
  if (pid == 0) {
    // First move every source above the targets, then dup2 down (dup2 clears CLOEXEC).
    std::vector<int> high(want.size(), -1);
    for (size_t i = 0; i < want.size(); i++)
      if (want[i] >= 0) high[i] = fcntl(want[i], F_DUPFD_CLOEXEC, 64);
    for (size_t i = 0; i < want.size(); i++)
      if (high[i] >= 0 && dup2(high[i], static_cast<int>(i)) < 0) _exit(127);
    signal(SIGPIPE, SIG_DFL);
    sigset_t none;
    sigemptyset(&none);
    sigprocmask(SIG_SETMASK, &none, nullptr);
    const char* argv[] = {call.criu.c_str(), "swrk", "3", nullptr};
    execvp(argv[0], const_cast<char* const*>(argv));
    dprintf(2, "exec criu `%s`: %s\n", call.criu.c_str(), strerror(errno));
    _exit(127);
  }
  return pid;
}

}  // namespace

const char* req_name(ReqType t) {
  return wire_name(wire_type(t));
}

std::string log_errors(const std::string& path, size_t max_lines) {
  auto text = read_file(path);
  if (!text) return "";
  auto lines = split(*text, '\n');
  std::vector<std::string> picked;
  for (size_t i = 0; i < lines.size(); i++) {
    if (lines[i].find("Error") == std::string::npos) continue;
    picked.push_back(trim(lines[i]));
  }
  if (picked.size() > max_lines) picked.erase(picked.begin(), picked.end() - max_lines);
  return join(picked, "; ");
}

// criu as given (--criu): a path, or a name found in PATH.
static Status find_criu(const std::string& criu) {
  if (criu.find('/') != std::string::npos) {
    if (access(criu.c_str(), X_OK) == 0) return {};
    return sys_error("criu `" + criu + "` (--criu)");
  }
  const char* path = getenv("PATH");
  for (auto& dir : split(path ? path : "/usr/sbin:/usr/bin:/sbin:/bin", ':'))
    if (!dir.empty() && access((dir + "/" + criu).c_str(), X_OK) == 0) return {};
  return make_error(ErrorKind::NotFound, "criu `" + criu +
                                             "` not found in PATH: checkpoint/restore need "
                                             "criu (apt-get install criu, or --criu PATH)");
}

Result<Response> swrk(ReqType type, Opts opts, const Call& call) {
  CR_TRY(find_criu(call.criu));
  int sp[2];
  if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sp) < 0)
    return sys_error("socketpair for criu");
  UniqueFd mine(sp[0]), theirs(sp[1]);
  auto started = spawn(call, theirs.get());
  if (!started) return std::move(started).error();
  pid_t pid = *started;
  theirs.reset();  // criu's death is then EOF here, never a hang
  bool reaped = false;
  int status = 0;
  struct Reaper {
    pid_t pid;
    bool& reaped;
    ~Reaper() {
      if (!reaped) {
        kill(pid, SIGKILL);
        waitpid(pid, nullptr, 0);
      }
    }
  } reaper{pid, reaped};
  auto wait_criu = [&] {
    if (!reaped && retry_eintr([&] { return waitpid(pid, &status, 0); }) == pid) reaped = true;
  };
  std::string where = "criu " + std::string(req_name(type));
  auto with_log = [&](Error e) {
    if (!call.log_path.empty()) {
      std::string errs = log_errors(call.log_path);
      e.message += " (log: " + call.log_path + (errs.empty() ? "" : ": " + errs) + ")";
    }
    return e;
  };

  if (call.started) CR_TRY(call.started(pid, opts));

  Arena arena;
  CriuOpts o = CRIU_OPTS__INIT;
  CriuFeatures feat = CRIU_FEATURES__INIT;
  CriuReq req = CRIU_REQ__INIT;
  req.type = wire_type(type);
  if (type == ReqType::FeatureCheck) {
    feat.has_mem_track = call.want.mem_track, feat.mem_track = call.want.mem_track;
    feat.has_lazy_pages = call.want.lazy_pages, feat.lazy_pages = call.want.lazy_pages;
    req.features = &feat;
  } else if (type != ReqType::Version) {
    fill_opts(o, opts, arena);
    req.opts = &o;
  }
  CR_TRY_CTX(send_req(mine.get(), req), where);

  Response out;
  for (;;) {
    UniqueFd fd;
    auto r = recv_resp(mine.get(), &fd);
    if (!r) return std::move(r).error().context(where);
    if (!*r) {  // EOF: criu is gone without an answer
      wait_criu();
      return with_log(make_error(ErrorKind::Internal,
                                 where + ": criu " + describe_exit(status) + " without answering"));
    }
    CriuResp& resp = **r;
    if (!resp.success) {
      std::string msg = where + " failed";
      if (resp.cr_errmsg && *resp.cr_errmsg) msg += ": " + trim(resp.cr_errmsg);
      if (resp.has_cr_errno && resp.cr_errno) {
        std::string e = strerror(resp.cr_errno);
        if (!e.empty()) e[0] = static_cast<char>(tolower(static_cast<unsigned char>(e[0])));
        msg += ": " + e + " (errno " + std::to_string(resp.cr_errno) + ")";
      }
      return with_log(make_error(ErrorKind::Internal, msg));
    }
    if (resp.type == CRIU_REQ_TYPE__NOTIFY) {
      std::string script = resp.notify && resp.notify->script ? resp.notify->script : "";
      pid_t npid = resp.notify && resp.notify->has_pid ? resp.notify->pid : 0;
      if (call.notify) {
        if (auto s = call.notify(script, npid, std::move(fd)); !s)
          return std::move(s).error().context("criu notification " + script);
      }
      CriuReq ack = CRIU_REQ__INIT;
      ack.type = CRIU_REQ_TYPE__NOTIFY;
      ack.has_notify_success = 1, ack.notify_success = 1;
      CR_TRY_CTX(send_req(mine.get(), ack), where);
      continue;
    }
    if (resp.type != req.type)
      return make_error(ErrorKind::Internal,
                        where + ": unexpected response " + wire_name(resp.type) + " from criu");
    if (resp.restore) out.restored_pid = resp.restore->pid;
    if (resp.version) {
      out.version_major = resp.version->major_number;
      out.version_minor = resp.version->minor_number;
      out.version_sublevel = resp.version->has_sublevel ? resp.version->sublevel : 0;
    }
    if (resp.features) {
      out.features.mem_track = resp.features->has_mem_track && resp.features->mem_track;
      out.features.lazy_pages = resp.features->has_lazy_pages && resp.features->lazy_pages;
    }
    break;
  }
  // criu exits once we close our end; a pre-dump's criu waits for a next request, so its
  // exit status says nothing (runc ignores it too).
  shutdown(mine.get(), SHUT_WR);
  mine.reset();
  wait_criu();
  if (type != ReqType::PreDump && !(WIFEXITED(status) && WEXITSTATUS(status) == 0))
    return with_log(make_error(ErrorKind::Internal, where + ": criu " + describe_exit(status)));
  return out;
}

Result<int> version(const std::string& criu) {
  Call c;
  c.criu = criu;
  CR_ASSIGN(Response r, swrk(ReqType::Version, Opts{}, c));
  return r.version_major * 10000 + r.version_minor * 100 + r.version_sublevel;
}

}  // namespace crunner::criu
