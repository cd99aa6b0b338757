// Process routes: run, attach, and the stdout/stderr stream connections. Each process is
// owned by a garden-dadoo supervisor (see dadoo.cpp) that keeps its output in files of the
// process directory, so streams can start late, several attachers can follow, and a
// restarted shim can re-attach.
#include <fcntl.h>
#include <linux/falloc.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/inotify.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <filesystem>
#include <thread>

#include "base/file.hpp"
#include "base/proc.hpp"
#include "base/safepath.hpp"
#include "base/text.hpp"
#include "base/undo.hpp"
#include "garden/api/decode.hpp"
#include "garden/api/server.hpp"
#include "garden/bundle/process_spec.hpp"
#include "garden/image/pea.hpp"
#include "garden/rootfs/rootfs_layer.hpp"
#include "libcontainer/process_setup.hpp"

extern char** environ;

namespace garden {

namespace {

// Exit code from DIR/exit_status; -1 while running; -2 when the supervisor died without one.
int exit_code(const std::string& dir) {
  long long v = 0;
  if (crunner::read_i64_file(dir + "/exit_status", v)) return static_cast<int>(v);
  long long pid = 0;
  if (crunner::read_i64_file(dir + "/dadoo.pid", pid) && pid > 1) {
    if (crunner::process_running(static_cast<pid_t>(pid))) return -1;
    if (crunner::path_exists(dir + "/exit_status")) return exit_code(dir);
    return -2;
  }
  if (!crunner::path_exists(dir)) return -2;  // destroyed underneath us
  return -1;
}

bool send_control(Process& p, const std::string& msg) {
  std::lock_guard<std::mutex> lk(p.mu);
  int fd = open((p.dir + "/control").c_str(), O_WRONLY | O_NONBLOCK | O_CLOEXEC);
  if (fd < 0) return false;
  fcntl(fd, F_SETFL, 0);
  bool ok = crunner::write_all(fd, msg.data(), msg.size()).ok();
  close(fd);
  return ok;
}

int spawn_dadoo(const std::vector<std::string>& argv, int status_w) {
  posix_spawn_file_actions_t fa;
  posix_spawn_file_actions_init(&fa);
  posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
  posix_spawn_file_actions_addopen(&fa, 1, "/dev/null", O_WRONLY, 0);
  posix_spawn_file_actions_addopen(&fa, 2, "/dev/null", O_WRONLY, 0);
  posix_spawn_file_actions_adddup2(&fa, status_w, 3);
  auto av = crunner::cstr_array(argv);
  pid_t pid = -1;
  int rc = posix_spawn(&pid, av[0], &fa, nullptr, av.data(), environ);
  posix_spawn_file_actions_destroy(&fa);
  return rc == 0 ? pid : -rc;
}

// Wakes a waiter when the supervisor appends output or publishes the exit status in a
// process directory (if inotify is unavailable, callers still wake on their timeouts).
class DirWatch {
 public:
  explicit DirWatch(const std::string& dir) : fd_(inotify_init1(IN_CLOEXEC | IN_NONBLOCK)) {
    if (fd_.valid())
      inotify_add_watch(fd_.get(), dir.c_str(),
                        IN_MODIFY | IN_MOVED_TO | IN_CREATE | IN_DELETE_SELF);
  }
  int fd() const { return fd_.get(); }
  void drain() {
    char buf[4096];
    while (fd_.valid() && read(fd_.get(), buf, sizeof buf) > 0) {
    }
  }

 private:
  crunner::UniqueFd fd_;
};

// Waits for the client fd to be readable, the watch to fire or wake (an eventfd, -1 for none)
// to be written; true when fd is readable.
bool wait_client_or_change(int fd, DirWatch& w, int timeout_ms, int wake = -1) {
  pollfd p[3] = {{fd, POLLIN, 0}, {w.fd(), POLLIN, 0}, {wake, POLLIN, 0}};
  int n = poll(p, wake >= 0 ? 3 : 2, timeout_ms);
  if (n > 0 && p[1].revents) w.drain();
  if (n > 0 && wake >= 0 && p[2].revents) {
    uint64_t v;
    (void)!read(wake, &v, sizeof v);
  }
  return n > 0 && (p[0].revents & (POLLIN | POLLHUP | POLLERR));
}

// The offset of the first byte of a file that was not punched out (its size if none).
off_t first_data(const std::string& path) {
  crunner::UniqueFd fd(open(path.c_str(), O_RDONLY | O_CLOEXEC));
  if (!fd) return 0;
  off_t d = lseek(fd.get(), 0, SEEK_DATA);
  if (d >= 0) return d;
  struct stat st;
  return fstat(fd.get(), &st) == 0 ? st.st_size : 0;
}

constexpr off_t kPunchChunk = 1 << 20;

// A process directory goes with what is mounted below it (a raw:// pea's overlay), never
// deleted through a mount.
void remove_process_dir(const std::string& dir) {
  if (!unmount_under(dir).empty()) return;
  std::error_code ec;
  std::filesystem::remove_all(dir, ec);
}

// Forgetting a process. Its exit status is written to every run/attach connection once its
// streams were served, or 1s after exit for a stream that was never opened (clients need not
// open them). A process is then forgotten (table entry, directory, output) when its last
// run/attach connection has ended and every stream of every stream id was served; a stream
// id whose stdout/stderr request has not arrived yet keeps it for kLateStreamWait more, so a
// client that was slow to ask for them (the Go client asks only after reading the stream id,
// and a loaded host may take longer than the 1s) still gets them instead of "unknown
// process" (issue 15: 1 error in 20 concurrent clients).
constexpr auto kLateStreamWait = std::chrono::seconds(60);

// Whether p can go (p.mu held); with streams_served, only if every announced stream was.
bool can_forget(const Process& p, bool streams_served) {
  if (!p.reported || p.attachers > 0 || p.forgotten) return false;
  for (auto& [id, a] : p.attaches) {
    if ((!a->out_done && (streams_served || a->out_open)) ||
        (!a->err_done && (streams_served || a->err_open)))
      return false;
  }
  return true;
}

// Removes a process marked forgotten from its container and the depot.
void forget(Container& c, const std::shared_ptr<Process>& p) {
  {
    std::lock_guard<std::mutex> lk(c.mu);
    auto it = c.processes.find(p->id);
    if (it != c.processes.end() && it->second == p) c.processes.erase(it);
  }
  remove_process_dir(p->dir);
}

// Called when a connection of p ends: forgets it now, or once its unopened streams waited.
void settle(Container& c, const std::shared_ptr<Process>& p) {
  bool now = false;
  {
    std::lock_guard<std::mutex> lk(p->mu);
    if (can_forget(*p, true))
      now = p->forgotten = true;
    else if (can_forget(*p, false))
      p->forget_at = Clock::now() + kLateStreamWait;
  }
  if (now) forget(c, p);
}

// A run or attach connection announced to the client (its stream id registered): counted
// from the moment it is registered, so the process cannot be forgotten between the answer
// and the serving of the connection, and released when the response goes, whether its
// connection was served or not (its headers could not be written).
struct AttachLease {
  AttachLease(std::shared_ptr<Container> c_, std::shared_ptr<Process> p_,
              std::shared_ptr<Attach> a_)
      : c(std::move(c_)), p(std::move(p_)), a(std::move(a_)) {}
  AttachLease(const AttachLease&) = delete;
  AttachLease& operator=(const AttachLease&) = delete;
  std::shared_ptr<Container> c;
  std::shared_ptr<Process> p;
  std::shared_ptr<Attach> a;
  ~AttachLease() {
    {
      std::lock_guard<std::mutex> lk(p->mu);
      a->live = false;
      --p->attachers;
    }
    settle(*c, p);
  }
};

// Registers a new stream id of p (p.mu held); nullptr once p is forgotten.
std::shared_ptr<AttachLease> lease_attach(const std::shared_ptr<Container>& c,
                                          const std::shared_ptr<Process>& p, std::string& sid) {
  if (p->forgotten) return nullptr;
  sid = std::to_string(p->next_stream++);
  auto a = std::make_shared<Attach>();
  a->out_start = p->out_delivered;
  a->err_start = p->err_delivered;
  p->attaches[sid] = a;
  p->attachers++;
  return std::make_shared<AttachLease>(c, p, a);
}

// ProcessPayload fields in garden's order: process_id, stream_id, ..., exit_status, error.
std::string payload(const nlohmann::ordered_json& j) {
  return j.dump() + "\n";
}

bool is_exec_not_found(const std::string& msg) {
  if (msg.find("cwd") != std::string::npos) return false;  // the working directory, not the binary
  return msg.find("executable file not found") != std::string::npos ||
         msg.find("no such file or directory") != std::string::npos ||
         msg.find("not found in $PATH") != std::string::npos;
}

// A stdout/stderr stream counts as served once its connection ends, or if it is never served.
struct StreamDone {
  StreamDone(std::shared_ptr<Container> c_, std::shared_ptr<Process> p_, std::shared_ptr<Attach> a_,
             bool out)
      : c(std::move(c_)), p(std::move(p_)), a(std::move(a_)), is_out(out) {}
  StreamDone(const StreamDone&) = delete;
  StreamDone& operator=(const StreamDone&) = delete;
  std::shared_ptr<Container> c;
  std::shared_ptr<Process> p;
  std::shared_ptr<Attach> a;
  bool is_out;
  std::atomic<bool> finished{false};
  // Marks the stream served, wakes its attach loop (which sends the exit status once both
  // streams are done) and lets the process be forgotten; once, whichever comes first.
  void finish() {
    if (finished.exchange(true)) return;
    {
      std::lock_guard<std::mutex> lk(p->mu);
      (is_out ? a->out_done : a->err_done) = true;
      if (a->wake) {
        uint64_t one = 1;
        (void)!write(a->wake.get(), &one, sizeof one);
      }
    }
    settle(*c, p);
  }
  ~StreamDone() { finish(); }
};

// A stream delivered up to `off`: everything below the slowest live stream of this kind is
// punched out of the output file, a chunk at a time.
void punch_delivered(Process& p, Attach& a, bool is_out, off_t off, const std::string& path) {
  off_t punch_from = 0, punch_to = 0;
  {
    std::lock_guard<std::mutex> lk(p.mu);
    off_t& d = is_out ? p.out_delivered : p.err_delivered;
    if (off > d) d = off;
    (is_out ? a.out_pos : a.err_pos) = off;
    off_t low = off;
    for (auto& [id, other] : p.attaches) {
      if (!other->live || (is_out ? other->out_done : other->err_done)) continue;
      off_t pos = is_out ? (other->out_open ? other->out_pos : other->out_start)
                         : (other->err_open ? other->err_pos : other->err_start);
      low = std::min(low, pos);
    }
    off_t& punched = is_out ? p.out_punched : p.err_punched;
    off_t target = low / kPunchChunk * kPunchChunk;
    if (target - punched >= kPunchChunk) {
      punch_from = punched;
      punch_to = target;
      punched = target;
    }
  }
  if (punch_to <= punch_from) return;
  crunner::UniqueFd w(open(path.c_str(), O_WRONLY | O_CLOEXEC));
  if (w)
    fallocate(w.get(), FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, punch_from,
              punch_to - punch_from);
}

// Serves one stdout/stderr connection: the output file from the stream id's start, following
// it until the process exited and everything was read, or the client went away.
void serve_stream(StreamDone& s, int fd) {
  Process& p = *s.p;
  Attach& a = *s.a;
  const bool is_out = s.is_out;
  ActiveGuard g(s.c);
  std::string path = p.dir + (is_out ? "/stdout" : "/stderr");
  off_t off = is_out ? a.out_start : a.err_start;
  {
    std::lock_guard<std::mutex> lk(p.mu);
    (is_out ? a.out_pos : a.err_pos) = off;
  }
  int f = open(path.c_str(), O_RDONLY | O_CLOEXEC);
  bool final_pass = false;
  DirWatch watch(p.dir);
  while (f >= 0) {
    char buf[65536];
    ssize_t n = pread(f, buf, sizeof buf, off);
    if (n > 0) {
      if (!write_all_fd(fd, buf, static_cast<size_t>(n))) break;
      off += n;
      punch_delivered(p, a, is_out, off, path);
      continue;
    }
    if (final_pass) break;
    if (exit_code(p.dir) != -1) {
      final_pass = true;  // one more read: the supervisor drained before writing the status
      continue;
    }
    if (wait_client_or_change(fd, watch, 250)) {
      char b[256];
      ssize_t r2 = read(fd, b, sizeof b);
      if (r2 == 0 || (r2 < 0 && errno != EINTR && errno != EAGAIN)) break;
    }
  }
  if (f >= 0) close(f);
  ::shutdown(fd, SHUT_WR);
  s.finish();
}

}  // namespace

// The host id of a container id: unprivileged containers map 0 to 4294967294 and every other
// id to itself (bundle.cpp); privileged ones are not mapped.
long long host_id(long long id, bool privileged) {
  return !privileged && id == 0 ? 4294967294LL : id;
}

// Guardian creates a process's working directory and every missing parent, mode 0755, owned
// by the process's user (rundmc/runrunc/exec_preparer.go ensureDirExists ->
// preparerootfs mkdir). Resolved inside the container's root as its init sees it (mounts
// included), never following a path out of it.
std::string make_dir_as(const std::string& cdir, const std::string& dir, long long uid,
                        long long gid, const std::string& what) {
  long long pid = 0;
  if (!crunner::read_i64_file(cdir + "/init.pid", pid) || pid <= 0)
    return "" + what + " `" + dir + "`: no container init pid";
  std::string rootp = "/proc/" + std::to_string(pid) + "/root";
  crunner::UniqueFd root(open(rootp.c_str(), O_PATH | O_DIRECTORY | O_CLOEXEC));
  if (!root)
    return "" + what + " `" + dir + "`: open `" + rootp + "`: " + crunner::errno_text(errno);
  for (auto& comp : crunner::split(dir, '/'))
    if (comp == "..") return "" + what + " `" + dir + "`: `..` is not allowed";
  auto made =
      crunner::mkdir_all_in_root(root.get(), dir, static_cast<uid_t>(uid), static_cast<gid_t>(gid));
  if (!made) return what + ": " + made.error().what();
  return "";
}

void Server::load_processes(Container& c) {
  std::error_code ec;
  for (auto& e : std::filesystem::directory_iterator(c.dir + "/processes", ec)) {
    if (!valid_id(e.path().filename().string())) continue;  // never ours
    std::string dir = e.path().string();
    auto text = crunner::read_file(dir + "/process.json");
    if (!text) continue;
    auto pj = json::parse(*text, nullptr, false);
    auto p = std::make_shared<Process>();
    p->id = e.path().filename().string();
    p->dir = dir;
    p->tty = pj.is_object() && pj.value("terminal", false);
    // After a restart, attachers start where the punched-out (delivered) output ends.
    p->out_delivered = p->out_punched = first_data(dir + "/stdout");
    p->err_delivered = p->err_punched = first_data(dir + "/stderr");
    c.processes[p->id] = p;
  }
}

std::vector<std::string> Server::running_process_ids(Container& c) {
  std::vector<std::shared_ptr<Process>> ps;
  {
    std::lock_guard<std::mutex> lk(c.mu);
    for (auto& [id, p] : c.processes) ps.push_back(p);
  }
  std::vector<std::string> out;
  for (auto& p : ps)
    if (exit_code(p->dir) == -1) out.push_back(p->id);
  return out;
}

// What run's steps share: each reads what the earlier ones made and adds to `undo` how to take
// away what it made itself, so a failed run leaves no process directory, pea or table entry.
struct Server::Starting {
  std::shared_ptr<Container> c;
  std::string handle;
  json spec;
  json meta;         // the container's, as it was when the request came
  bool pea = false;  // a process with its own image (peas.cpp): its own runtime container
  bool privileged = false;
  std::string id;
  User u;
  json pj;  // the process as the supervisor runs it (process.json)
  std::shared_ptr<Process> p;
  std::string rt_root, rt_id;  // the runtime container the process runs in
  crunner::Undo undo;

  std::optional<Response> fail(const std::string& msg, const std::string& type = "") const {
    return error_response(type, msg, handle, id);
  }
};

// What the spec asks that a process may not have, before anything is made.
std::optional<Response> Server::check_run_spec(Starting& n) {
  const json& spec = n.spec;
  if (!n.pea && spec.contains("bind_mounts") && spec["bind_mounts"].is_array() &&
      !spec["bind_mounts"].empty())
    return n.fail("Running a process with bind mounts and no image provided is not allowed");
  // Per-process limits only exist for processes with their own image (and cgroup).
  if (!n.pea && spec.contains("limits") && spec["limits"].is_object())
    for (auto& [kind, l] : spec["limits"].items())
      if (l.is_object())
        for (auto& [k, v] : l.items())
          if (v.is_number() && v.get<double>() > 0)
            return n.fail("process limits (" + kind + "." + k +
                          ") need a process image (image.uri): only a process with its own "
                          "image has its own cgroup");
  if (spec.value("path", "").empty())
    return n.fail("no executable path given", "ExecutableNotFoundError");
  if (spec.contains("id") && spec["id"].is_string()) n.id = spec["id"].get<std::string>();
  if (n.id.empty()) n.id = new_uuid();
  if (n.pea && !image::valid_pea_id(n.id))
    return n.fail("invalid process id for a process with an image: " + n.id);
  return std::nullopt;
}

// A process of the container's own image: its user resolved in the container's rootfs, its
// working directory made as that user. (A pea's comes from its own image: prepare_pea.)
std::optional<Response> Server::resolve_process(Starting& n) {
  if (n.pea) return std::nullopt;
  std::string err;
  if (!resolve_user(n.meta.value("rootfs", ""), n.spec.value("user", ""), n.u, err))
    return n.fail(err);
  n.pj = build_process(n.spec, n.meta, n.u);
  if (auto e = make_dir_as(n.c->dir, n.pj.value("cwd", "/"), host_id(n.u.uid, n.privileged),
                           host_id(n.u.gid, n.privileged), "create working directory");
      !e.empty())
    return n.fail(e);
  return std::nullopt;
}

// The process id taken in the container's table, with its directory. An exited, reported
// process of the same id (kept for late streams) is forgotten first.
std::optional<Response> Server::claim_process_id(Starting& n) {
  Container& c = *n.c;
  n.p = std::make_shared<Process>();
  n.p->id = n.id;
  n.p->dir = depot_child(c.dir + "/processes", n.id);
  std::shared_ptr<Process> old;
  {
    std::lock_guard<std::mutex> lk(c.mu);
    auto it = c.processes.find(n.id);
    if (it != c.processes.end()) {
      std::lock_guard<std::mutex> plk(it->second->mu);
      if (!can_forget(*it->second, false))
        return n.fail("process ID '" + n.id + "' is already in use");
      it->second->forgotten = true;
      old = it->second;
    }
  }
  if (old) forget(c, old);
  std::lock_guard<std::mutex> lk(c.mu);
  if (c.processes.count(n.id)) return n.fail("process ID '" + n.id + "' is already in use");
  if (mkdir(n.p->dir.c_str(), 0755) < 0)
    return n.fail("create process dir `" + n.p->dir + "`: " + crunner::errno_text(errno));
  c.processes[n.id] = n.p;
  n.undo.add([&n] {
    remove_process_dir(n.p->dir);
    std::lock_guard<std::mutex> ulk(n.c->mu);
    n.c->processes.erase(n.id);
  });
  return std::nullopt;
}

// A pea's bundle and image (peas.cpp): it runs as a runtime container of its own.
std::optional<Response> Server::prepare_pea_bundle(Starting& n) {
  if (!n.pea) return std::nullopt;
  n.undo.add([this, &n] { image::cleanup_pea(n.p->dir, runtime_.bin()); });
  if (auto err = prepare_pea(*n.c, n.spec, n.meta, *n.p, n.pj, n.u); !err.empty())
    return n.fail(err);
  n.rt_root = n.c->dir + "/peas";
  n.rt_id = n.id;
  return std::nullopt;
}

// process.json written, then the garden-dadoo supervisor started; it answers "ok PID" once
// the runtime ran the process, or "error TEXT".
std::optional<Response> Server::start_supervisor(Starting& n) {
  n.p->tty = n.pj.value("terminal", false);
  if (auto st = crunner::write_file_atomic(n.p->dir + "/process.json", n.pj.dump(), 0644,
                                           crunner::Durability::Rename);
      !st)
    return n.fail(st.error().what());
  int sp[2];
  if (pipe2(sp, O_CLOEXEC) < 0) return n.fail("pipe: " + crunner::errno_text(errno));
  // The stdio pipes belong to the process's user as the host sees it (a pea's user is its
  // own image's, resolved by prepare_pea).
  long long huid = host_id(n.u.uid, n.privileged), hgid = host_id(n.u.gid, n.privileged);
  pid_t dpid = spawn_dadoo({cfg_.bin_dir + "/garden-dadoo", runtime_.bin(), n.rt_root, n.rt_id,
                            n.p->dir, std::to_string(huid) + ":" + std::to_string(hgid)},
                           sp[1]);
  close(sp[1]);
  if (dpid < 0) {
    close(sp[0]);
    return n.fail("spawn garden-dadoo: " + crunner::errno_text(-dpid));
  }
  auto status = crunner::read_fd(sp[0]);
  close(sp[0]);
  std::thread([dpid] {
    int st;
    while (waitpid(dpid, &st, 0) < 0 && errno == EINTR) {
    }
  }).detach();
  std::string line = status ? crunner::trim(*status) : "";
  if (line.rfind("ok ", 0) == 0) return std::nullopt;
  std::string msg =
      line.rfind("error ", 0) == 0 ? line.substr(6) : "process supervisor failed to start";
  if (is_exec_not_found(msg)) return n.fail(msg, "ExecutableNotFoundError");
  return n.fail("run process: " + msg);
}

// The run/attach connection of a stream id of p: its process payloads and stdin.
Response Server::process_connection(const std::shared_ptr<Container>& c,
                                    const std::shared_ptr<Process>& p, int status) {
  std::string sid;
  std::shared_ptr<AttachLease> lease;
  {
    std::lock_guard<std::mutex> lk(p->mu);
    lease = lease_attach(c, p, sid);
  }
  Response r;
  if (!lease) {  // forgotten since it was looked up
    r = error_response("ProcessNotFoundError", "unknown process: " + p->id, c->handle, p->id);
    r.hijack_route = true;
    return r;
  }
  r.status = status;
  r.hijack_route = true;
  r.hijack = [this, c, p, sid, lease](int fd, std::string leftover) {
    serve_process(c, p, sid, fd, std::move(leftover));
  };
  return r;
}

Response Server::run(const std::string& handle, const Request& req) {
  Starting n;
  n.handle = handle;
  n.c = find(handle);
  if (!n.c) return unknown_handle(handle);
  ActiveGuard g(n.c);
  n.spec = json::parse(req.body, nullptr, false);
  if (n.spec.is_discarded()) return bad_request("invalid process spec: malformed JSON", handle);
  if (auto e = check_process_spec(n.spec); !e.empty()) return bad_request(e, handle);
  drop_nulls(n.spec);
  {
    std::lock_guard<std::mutex> lk(n.c->mu);
    n.meta = n.c->meta;
  }
  n.pea = image::is_pea(n.spec);
  n.privileged = n.meta.value("privileged", false);
  n.rt_root = runtime_.root();
  n.rt_id = handle;
  static constexpr std::optional<Response> (Server::*kSteps[])(Starting&) = {
      &Server::check_run_spec, &Server::resolve_process, &Server::claim_process_id,
      &Server::prepare_pea_bundle, &Server::start_supervisor};
  for (auto step : kSteps)
    if (auto r = (this->*step)(n)) return std::move(*r);
  n.undo.dismiss();
  return process_connection(n.c, n.p, 201);
}

Response Server::attach(const std::string& handle, const std::string& pid) {
  auto c = find(handle);
  if (!c) {
    Response r = unknown_handle(handle);
    r.hijack_route = true;
    return r;
  }
  std::shared_ptr<Process> p;
  {
    std::lock_guard<std::mutex> lk(c->mu);
    auto it = c->processes.find(pid);
    if (it != c->processes.end()) p = it->second;
  }
  if (!p) {
    Response r = error_response("ProcessNotFoundError", "unknown process: " + pid, handle, pid);
    r.hijack_route = true;
    return r;
  }
  return process_connection(c, p, 200);
}

void Server::serve_process(std::shared_ptr<Container> c, std::shared_ptr<Process> p,
                           std::string sid, int fd, std::string inbuf) {
  ActiveGuard g(c);
  std::shared_ptr<Attach> a;
  {
    std::lock_guard<std::mutex> lk(p->mu);
    a = p->attaches[sid];  // registered, and counted as an attacher, by lease_attach
  }
  if (!write_all_fd(fd, payload({{"process_id", p->id}, {"stream_id", sid}}))) return;
  bool client_open = true;
  Clock::time_point exit_seen{};
  DirWatch watch(p->dir);
  for (;;) {
    // Client messages: stdin, stdin EOF, tty resize, signals.
    size_t nl;
    while ((nl = inbuf.find('\n')) != std::string::npos) {
      auto m = json::parse(inbuf.substr(0, nl), nullptr, false);
      inbuf.erase(0, nl + 1);
      if (!m.is_object()) continue;
      if (m.contains("signal") && m["signal"].is_number_integer()) {
        int s = m["signal"].get<int>() == 1 ? SIGKILL : SIGTERM;
        send_control(*p, "S " + std::to_string(s) + "\n");
      } else if (m.contains("tty") && m["tty"].is_object()) {
        json ws = m["tty"].contains("window_size") ? m["tty"]["window_size"] : json();
        auto dim = [&](const char* k) -> long long {
          return ws.is_object() && ws.contains(k) && ws[k].is_number_integer()
                     ? std::clamp<long long>(ws[k].get<long long>(), 0, 65535)
                     : 0;
        };
        if (ws.is_object())
          send_control(
              *p, "W " + std::to_string(dim("columns")) + " " + std::to_string(dim("rows")) + "\n");
      } else if (m.contains("source")) {
        if (m.contains("data") && m["data"].is_string()) {
          std::string d = m["data"].get<std::string>();
          if (!d.empty()) send_control(*p, "D " + std::to_string(d.size()) + "\n" + d);
        } else {
          send_control(*p, "E\n");
        }
      }
    }
    int code = exit_code(p->dir);
    if (code != -1) {
      if (exit_seen == Clock::time_point{}) exit_seen = Clock::now();
      bool waited = Clock::now() - exit_seen > std::chrono::seconds(1);
      bool out_ok, err_ok;
      {
        std::lock_guard<std::mutex> lk(p->mu);
        out_ok = a->out_done || (!a->out_open && waited);
        err_ok = a->err_done || (!a->err_open && waited);
      }
      if (out_ok && err_ok) {
        nlohmann::ordered_json m = {{"process_id", p->id}};
        if (code >= 0)
          m["exit_status"] = code;
        else
          m["error"] = "process supervisor exited without an exit status";
        if (write_all_fd(fd, payload(m)) && code >= 0) {
          std::lock_guard<std::mutex> lk(p->mu);
          p->reported = true;
        }
        return;
      }
    }
    if (!client_open) {
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
      continue;
    }
    // Once exited, only the stream threads are awaited: they write a->wake when done (a
    // stream never opened is given up on after a second).
    int timeout = exit_seen == Clock::time_point{} || a->wake ? 250 : 5;
    if (wait_client_or_change(fd, watch, timeout, a->wake.get())) {
      char buf[65536];
      ssize_t r = read(fd, buf, sizeof buf);
      if (r > 0) {
        inbuf.append(buf, static_cast<size_t>(r));
      } else if (r == 0 || (errno != EINTR && errno != EAGAIN)) {
        // The client went away: close the process's stdin; the process keeps running.
        send_control(*p, "E\n");
        return;
      }
    }
  }
}

Response Server::attach_stream(const std::string& handle, const std::string& pid,
                               const std::string& sid, const std::string& which) {
  auto c = find(handle);
  if (!c) {
    Response err = unknown_handle(handle);
    err.hijack_route = true;
    return err;
  }
  const bool known = which == "stdout" || which == "stderr";
  std::shared_ptr<Process> p;
  std::shared_ptr<Attach> a;
  {
    std::lock_guard<std::mutex> lk(c->mu);
    auto it = c->processes.find(pid);
    if (it != c->processes.end()) p = it->second;
  }
  if (p) {
    std::lock_guard<std::mutex> lk(p->mu);
    auto it = p->attaches.find(sid);
    if (it != p->attaches.end() && !p->forgotten) a = it->second;
    if (a && known) (which == "stdout" ? a->out_open : a->err_open) = true;
  }
  if (!p || !a || !known) {
    Response err = error_response("ProcessNotFoundError", "unknown process: " + pid, handle, pid);
    err.hijack_route = true;
    return err;
  }
  Response r;
  r.status = 200;
  r.hijack_route = true;
  auto done = std::make_shared<StreamDone>(c, p, a, which == "stdout");
  r.hijack = [done](int fd, std::string) { serve_stream(*done, fd); };
  return r;
}

void Server::forget_unclaimed_processes() {
  std::vector<std::shared_ptr<Container>> cs;
  {
    std::lock_guard<std::mutex> lk(mu_);
    for (auto& [h, c] : containers_) cs.push_back(c);
  }
  auto now = Clock::now();
  for (auto& c : cs) {
    std::vector<std::shared_ptr<Process>> ps;
    {
      std::lock_guard<std::mutex> lk(c->mu);
      for (auto& [id, p] : c->processes) ps.push_back(p);
    }
    for (auto& p : ps) {
      bool go = false;
      {
        std::lock_guard<std::mutex> lk(p->mu);
        if (p->forget_at != Clock::time_point{} && now >= p->forget_at && can_forget(*p, false))
          go = p->forgotten = true;
      }
      if (go) forget(*c, p);
    }
  }
}

}  // namespace garden
