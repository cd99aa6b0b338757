// checkpoint, restore (criu, through its RPC interface; runc's flags).
#include "cmd/crunner/cli.hpp"
#include "libcontainer/checkpoint.hpp"

namespace crunner::cli {

namespace {

void add_criu_flags(CLI::App* c, CriuFlags& f, bool checkpoint) {
  c->add_option("--image-path", f.image_path,
                checkpoint ? "path for saving criu image files (default: ./checkpoint)"
                           : "path to criu image files for restoring (default: ./checkpoint)");
  c->add_option("--work-path", f.work_path, "path for saving work files and logs");
  c->add_flag("--tcp-established", f.tcp_established, "allow open tcp connections");
  c->add_flag("--ext-unix-sk", f.ext_unix_sk, "allow external unix sockets");
  c->add_flag("--shell-job", f.shell_job, "allow shell jobs");
  c->add_flag("--file-locks", f.file_locks, "handle file locks, for safety");
  c->add_option("--manage-cgroups-mode", f.manage_cgroups_mode,
                "cgroups mode: soft (default), full, strict or ignore");
  c->add_option("--empty-ns", f.empty_ns,
                "create a namespace, but don't restore its properties (network)");
  c->add_flag("--auto-dedup", f.auto_dedup, "enable auto deduplication of memory images");
  c->add_flag("--lazy-pages", f.lazy_pages, "use userfaultfd to lazily restore memory pages");
}

}  // namespace

void register_checkpoint(CLI::App& app, Globals& g, Handler* out) {
  static CheckpointOptions co;
  static RestoreOptions ro;
  static std::string id;

  if (auto* cp = add_command(app, g, "checkpoint", "checkpoint a running container (criu)")) {
    add_criu_flags(cp, co.criu, true);
    cp->add_option("--parent-path", co.parent_path,
                   "path for previous criu image files in pre-dump (relative to --image-path)");
    cp->add_flag("--leave-running", co.leave_running,
                 "leave the process running after checkpointing");
    cp->add_option("--status-fd", co.status_fd,
                   "criu writes \\0 to this FD once lazy-pages is ready");
    cp->add_option("--page-server", co.page_server, "ADDRESS:PORT of the page server");
    cp->add_flag(
        "--pre-dump", co.pre_dump,
        "dump container's memory information only, leave the container running after this");
    add_id(cp, &id);
    on_run(cp, out, [&g] {
      co.id = id;
      co.criu.criu = g.criu;
      auto r = checkpoint_container(g.store(), co);
      return r ? 0 : report(g, r.error());
    });
  }

  if (auto* rs = add_command(app, g, "restore", "restore a container from a previous checkpoint")) {
    add_criu_flags(rs, ro.criu, false);
    rs->add_option("--console-socket", ro.console_socket,
                   "unix socket that receives the pty master (terminal: true)");
    rs->add_option("-b,--bundle", ro.bundle, "path to the bundle (default: current directory)");
    rs->add_flag("-d,--detach", ro.detach, "detach from the container's process");
    rs->add_option("--pid-file", ro.pid_file, "write the restored init's pid to this file");
    rs->add_flag("--no-subreaper", ro.no_subreaper, "do not become a child subreaper");
    rs->add_flag("--no-pivot", ro.no_pivot, "accepted (criu sets up the root itself)");
    rs->add_option("--lsm-profile", ro.lsm_profile,
                   "LSM profile of the restored processes, apparmor:PROFILE or selinux:LABEL "
                   "(default: the checkpointed one)");
    rs->add_option("--lsm-mount-context", ro.lsm_mount_context,
                   "SELinux mount context for the restore");
    add_id(rs, &id);
    on_run(rs, out, [&g] {
      ro.id = id;
      ro.criu.criu = g.criu;
      ro.systemd_cgroup = g.systemd_cgroup;
      ro.rootless_cgroups = g.rootless_cgroups;
      auto r = restore_container(g.store(), ro);
      if (!r) return report(g, r.error());
      return *r;
    });
  }
}

}  // namespace crunner::cli
