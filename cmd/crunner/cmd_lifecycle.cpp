// create, start, run, kill, delete.
#include <signal.h>
#include <sys/prctl.h>

#include "cmd/crunner/cli.hpp"
#include "libcontainer/container.hpp"
#include "libcontainer/foreground.hpp"
#include "libcontainer/phase.hpp"

namespace crunner::cli {

namespace {

struct CreateFlags {
  CreateOptions o;
  bool detach = false, keep = false, no_subreaper = false;
};

void add_create_flags(CLI::App* c, CreateFlags& f) {
  c->add_option("-b,--bundle", f.o.bundle, "path to the bundle (default: current directory)");
  c->add_option("--pid-file", f.o.pid_file, "write the init's pid to this file");
  c->add_option("--console-socket", f.o.console_socket,
                "unix socket that receives the pty master (terminal: true)");
  c->add_flag("--no-pivot", f.o.no_pivot, "use MS_MOVE + chroot instead of pivot_root");
  c->add_flag("--no-new-keyring", f.o.no_new_keyring, "do not create a new session keyring");
  c->add_option("--preserve-fds", f.o.preserve_fds, "pass fds 3..3+N-1 into the container");
}

}  // namespace

void register_lifecycle(CLI::App& app, Globals& g, Handler* out) {
  static CreateFlags cf, rf;
  static std::string id;
  static std::vector<std::string> rest;
  static bool force = false, all = false;

  if (auto* create =
          add_command(app, g, "create", "create a container (its process waits for start)")) {
    add_create_flags(create, cf);
    add_id(create, &id);
    on_run(create, out, [&g] {
      cf.o.id = id;
      cf.o.systemd_cgroup = g.systemd_cgroup;
      cf.o.rootless_cgroups = g.rootless_cgroups;
      auto r = create_container(g.store(), cf.o);
      if (!r) return report(g, r.error().context("create container"));
      return 0;
    });
  }

  if (auto* start = add_command(app, g, "start", "run the user process of a created container")) {
    add_id(start, &id);
    on_run(start, out, [&g] {
      auto r = start_container(g.store(), id);
      return r ? 0 : report(g, r.error());
    });
  }

  if (auto* run = add_command(app, g, "run", "create and start a container")) {
    add_create_flags(run, rf);
    run->add_flag("-d,--detach", rf.detach, "detach: return once the container runs");
    run->add_flag("--keep", rf.keep, "keep the container's state after it exits (foreground)");
    run->add_flag("--no-subreaper", rf.no_subreaper, "do not become a child subreaper");
    add_id(run, &id);
    on_run(run, out, [&g] {
      rf.o.id = id;
      rf.o.systemd_cgroup = g.systemd_cgroup;
      rf.o.rootless_cgroups = g.rootless_cgroups;
      rf.o.foreground = !rf.detach;
      rf.o.for_run = true;
      StateStore store = g.store();
      sigset_t old;
      if (!rf.detach) {
        block_forwarded_signals(&old);
        if (!rf.no_subreaper) prctl(PR_SET_CHILD_SUBREAPER, 1);
      }
      auto l = create_container(store, rf.o);
      if (!l) return report(g, l.error().context("run container"));
      if (auto r = start_launched(store, *l); !r) {
        (void)delete_container(store, id, true);
        return report(g, r.error());
      }
      if (rf.detach) return 0;
      int code = wait_foreground(l->state.pid, l->tty_master.get());
      phase::mark("wait");
      if (!rf.keep) {
        if (auto r = delete_container(store, id, true); !r) report(g, r.error());
      }
      return code;
    });
  }

  if (auto* kill =
          add_command(app, g, "kill", "send a signal (default SIGTERM) to the container")) {
    kill->add_flag("-a,--all", all, "signal every process of the container");
    add_id(kill, &id);
    kill->add_option("signal", rest, "signal number or name (KILL, SIGKILL, 9)");
    on_run(kill, out, [&g] {
      int sig = SIGTERM;
      if (rest.size() > 1)
        return report(g, make_error(ErrorKind::InvalidSpec, "kill: too many arguments"));
      if (!rest.empty()) {
        auto s = parse_signal(rest[0]);
        if (!s) return report(g, s.error());
        sig = *s;
      }
      auto r = kill_container(g.store(), id, sig, all);
      return r ? 0 : report(g, r.error());
    });
  }

  if (auto* del =
          add_command(app, g, "delete", "delete a stopped (or with --force any) container")) {
    del->add_flag("-f,--force", force, "kill the container first if it is running");
    add_id(del, &id);
    on_run(del, out, [&g] {
      auto r = delete_container(g.store(), id, force);
      return r ? 0 : report(g, r.error());
    });
  }
}

}  // namespace crunner::cli
