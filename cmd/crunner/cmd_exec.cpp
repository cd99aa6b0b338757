// exec: run a new process in a running container. Foreground: the exit code is
// the process's status (128+N for signal N); 255 when crunner itself fails.
#include <sys/prctl.h>

#include <cstdio>

#include "base/file.hpp"
#include "base/text.hpp"
#include "cmd/crunner/cli.hpp"
#include "libcontainer/container.hpp"
#include "libcontainer/exec.hpp"
#include "libcontainer/exec_cgroup.hpp"
#include "libcontainer/foreground.hpp"
#include "libcontainer/phase.hpp"

namespace crunner::cli {

namespace {

struct ExecFlags {
  std::string id, process_file, console_socket, pid_file, cwd, user, apparmor, label;
  std::vector<std::string> env, caps, args, cgroups;
  std::vector<uint32_t> gids;
  bool tty = false, detach = false, nnp = false, ignore_paused = false;
  int preserve_fds = 0;
};

// `cs`: the container, loaded once for this exec.
Result<spec::Process> build_process(const std::pair<ContainerState, ContainerStatus>& cs,
                                    const ExecFlags& f) {
  if (!f.process_file.empty()) {
    CR_ASSIGN(std::string text, read_file_or_pipe(f.process_file));
    auto j = nlohmann::json::parse(text, nullptr, false);
    if (j.is_discarded()) return invalid_spec("--process `" + f.process_file + "`: invalid JSON");
    // runc's exec takes a missing user as uid 0, gid 0.
    if (j.is_object() && !j.contains("user")) j["user"] = {{"uid", 0}, {"gid", 0}};
    auto p = spec::parse_process(j, "process");
    if (!p) return p.error().context("--process `" + f.process_file + "`");
    return p;
  }
  if (f.args.empty()) return invalid_spec("exec: a command is required (or --process)");
  spec::Process p;
  if (cs.first.config.is_object() && cs.first.config.contains("process")) {
    auto base = spec::parse_process(cs.first.config["process"], "process");
    if (base) p = std::move(*base);
  }
  p.args = f.args;
  p.terminal = f.tty;
  p.console_size.reset();
  // -e KEY=V replaces the config's KEY (runc sets them one by one with os.Setenv).
  for (auto& e : f.env) {
    if (e.find('=') == std::string::npos)  // runc: "invalid environment variable"
      return invalid_spec("--env: invalid environment variable \"" + e + "\" (expected KEY=VALUE)");
    auto key = e.substr(0, e.find('='));
    std::erase_if(p.env, [&](const std::string& x) {
      return x.compare(0, key.size(), key) == 0 && (x.size() == key.size() || x[key.size()] == '=');
    });
    p.env.push_back(e);
  }
  if (!f.cwd.empty()) {
    if (f.cwd[0] != '/')  // as runc: "Cwd must be an absolute path"
      return invalid_spec("--cwd: must be an absolute path, got \"" + f.cwd + "\"");
    p.cwd = f.cwd;
  }
  if (!f.user.empty()) {
    auto parts = split(f.user, ':');
    unsigned long long v;
    // Ids are 32 bits and (uid_t)-1 means "unchanged" to setresuid: 4294967296 must
    // not wrap to 0, nor 4294967295 leave the process root (runc 1.1.5 wraps both).
    constexpr unsigned long long kMaxId = 4294967294ULL;
    if (parts.empty() || parts.size() > 2 || !parse_u64(parts[0], v))
      return invalid_spec("--user: expected uid[:gid], got \"" + f.user + "\"");
    if (v > kMaxId) return invalid_spec("--user: uid " + parts[0] + " out of range (0-4294967294)");
    p.user.uid = static_cast<uint32_t>(v);
    p.user.gid = 0;
    if (parts.size() == 2) {
      if (!parse_u64(parts[1], v)) return invalid_spec("--user: invalid gid \"" + parts[1] + "\"");
      if (v > kMaxId)
        return invalid_spec("--user: gid " + parts[1] + " out of range (0-4294967294)");
      p.user.gid = static_cast<uint32_t>(v);
    }
  }
  if (!f.gids.empty()) p.user.additional_gids = f.gids;
  if (!f.caps.empty()) {
    if (!p.capabilities) p.capabilities = spec::Capabilities{};
    for (auto& c : f.caps) {
      if (!spec::capability_by_name(c)) {  // as runc: a warning, the exec goes on
        fprintf(stderr, "warning: --cap: ignoring unknown capability \"%s\"\n", c.c_str());
        continue;
      }
      for (auto* set : {&p.capabilities->bounding, &p.capabilities->effective,
                        &p.capabilities->permitted, &p.capabilities->ambient})
        set->push_back(c);
    }
  }
  if (f.nnp) p.no_new_privileges = true;
  if (!f.apparmor.empty()) p.apparmor_profile = f.apparmor;
  if (!f.label.empty()) p.selinux_label = f.label;
  return p;
}

}  // namespace

void register_exec(CLI::App& app, Globals& g, Handler* out) {
  static ExecFlags f;
  if (auto* c = add_command(app, g, "exec", "run a new process inside a running container")) {
    c->add_option("-p,--process", f.process_file,
                  "an OCI process JSON file, read to its end from a pipe or fifo (- is stdin)");
    c->add_flag("-t,--tty", f.tty, "allocate a pseudo-TTY");
    c->add_option("--console-socket", f.console_socket, "unix socket that receives the pty master");
    c->add_flag("-d,--detach", f.detach, "return once the process has started");
    c->add_option("--pid-file", f.pid_file, "write the process's pid to this file");
    // One value per occurrence (repeat the flag): an unlimited list would swallow
    // the "--" main.cpp inserts before the ID, and `exec -e K=V ID sh -c X` would
    // then parse "-c X" as --cap.
    c->add_option("-e,--env", f.env, "add an environment variable (K=V)")->allow_extra_args(false);
    c->add_option("--cwd", f.cwd, "working directory in the container");
    c->add_option("-u,--user", f.user, "uid[:gid]");
    c->add_option("-g,--additional-gids", f.gids, "additional group ids")->allow_extra_args(false);
    c->add_option("-c,--cap", f.caps, "add a capability")->allow_extra_args(false);
    c->add_flag("--no-new-privs", f.nnp, "set no_new_privs");
    c->add_option("-a,--apparmor", f.apparmor, "AppArmor profile");
    c->add_option("--process-label", f.label,
                  "SELinux label (an error: SELinux labels are not supported)");
    c->add_option("--preserve-fds", f.preserve_fds, "pass fds 3..3+N-1 into the process");
    c->add_flag("--ignore-paused", f.ignore_paused, "exec even if the container is paused");
    c->add_option("--cgroup", f.cgroups,
                  "run in an existing sub-cgroup of the container: PATH, or CTRL[,CTRL]:PATH "
                  "per v1 controller (repeatable)")
        ->allow_extra_args(false);
    add_id(c, &f.id);
    c->add_option("command", f.args, "the command and its arguments");
    on_run(c, out, [&g]() -> int {
      auto cs = container_status(g.store(), f.id);
      if (!cs) {
        report(g, cs.error());
        return 255;
      }
      auto p = build_process(*cs, f);
      if (!p) {
        report(g, p.error());
        return 255;
      }
      ExecOptions o;
      o.id = f.id;
      o.process = std::move(*p);
      o.console_socket = f.console_socket;
      o.pid_file = f.pid_file;
      o.detach = f.detach;
      o.ignore_paused = f.ignore_paused;
      o.preserve_fds = f.preserve_fds;
      auto subs = parse_sub_cgroups(f.cgroups);
      if (!subs) {
        report(g, subs.error());
        return 255;
      }
      o.sub_cgroups = std::move(*subs);
      o.loaded = std::move(*cs);
      sigset_t old;
      if (!f.detach) block_forwarded_signals(&old);
      auto l = exec_process(g.store(), o);
      if (!l) {
        report(g, l.error());
        return 255;
      }
      if (f.detach) return 0;
      int code = wait_foreground(l->pid, l->tty_master.get());
      phase::mark("wait");
      return code;
    });
  }
}

}  // namespace crunner::cli
