// pause, resume, ps, events, update: the commands that work on a container's cgroups.
#include <fcntl.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <iostream>
#include <sstream>

#include "base/file.hpp"
#include "base/text.hpp"
#include "cgroups/manager.hpp"
#include "cgroups/resources.hpp"
#include "cmd/crunner/cli.hpp"
#include "libcontainer/container.hpp"

namespace crunner::cli {

namespace {

// A running (or paused/created) container's manager, or the error callers expect.
Result<std::pair<ContainerState, std::unique_ptr<cgroups::Manager>>> live_cgroup(
    const Globals& g, const std::string& id) {
  CR_ASSIGN(auto cs, container_status(g.store(), id));
  if (cs.second == ContainerStatus::Stopped)
    return make_error(ErrorKind::BadState, "container not running");
  auto m = cgroup_of(cs.first);
  if (!m) return make_error(ErrorKind::Unsupported, "container has no cgroup");
  return std::make_pair(std::move(cs.first), std::move(m));
}

// The processes of a container's cgroup for `ps`: none for a stopped container whose cgroup
// is gone (runc lists what is left in the cgroup, so a stopped container prints an empty list).
Result<std::vector<pid_t>> container_pids(const Globals& g, const std::string& id) {
  CR_ASSIGN(auto cs, container_status(g.store(), id));
  auto m = cgroup_of(cs.first);
  if (cs.second == ContainerStatus::Stopped && (!m || !m->exists())) return std::vector<pid_t>{};
  if (!m) return make_error(ErrorKind::Unsupported, "container has no cgroup");
  return m->pids();
}

// "5s", "500ms", "1m", plain seconds.
Result<std::chrono::milliseconds> parse_duration(const std::string& s) {
  size_t i = 0;
  while (i < s.size() && (isdigit(static_cast<unsigned char>(s[i])) || s[i] == '.')) i++;
  double v;
  try {
    v = std::stod(s.substr(0, i));
  } catch (...) {
    return invalid_spec("--interval: invalid duration \"" + s + "\"");
  }
  std::string unit = s.substr(i);
  double ms = unit == "ms"                    ? v
              : unit == "m"                   ? v * 60000
              : unit == "h"                   ? v * 3600000
              : (unit == "s" || unit.empty()) ? v * 1000
                                              : -1;
  if (ms <= 0) return invalid_spec("--interval: invalid duration \"" + s + "\"");
  return std::chrono::milliseconds(static_cast<long long>(ms));
}

// Runs the host's `ps ARGS` (default -ef) as argv, never through a shell, as runc does, and
// prints its header plus the rows whose PID column is one of pids. ps failing is an error
// that carries what ps said.
Status print_ps_rows(const std::vector<std::string>& args, const std::vector<pid_t>& pids) {
  std::vector<std::string> argv{"ps"};
  if (args.empty())
    argv.push_back("-ef");
  else
    argv.insert(argv.end(), args.begin(), args.end());
  std::vector<char*> av;
  for (auto& a : argv) av.push_back(a.data());
  av.push_back(nullptr);
  int out[2];
  if (pipe2(out, O_CLOEXEC) < 0) return sys_error("ps: pipe");
  posix_spawn_file_actions_t fa;
  posix_spawn_file_actions_init(&fa);
  posix_spawn_file_actions_adddup2(&fa, out[1], 1);
  posix_spawn_file_actions_adddup2(&fa, out[1], 2);
  pid_t child = -1;
  int err = posix_spawnp(&child, "ps", &fa, nullptr, av.data(), environ);
  posix_spawn_file_actions_destroy(&fa);
  close(out[1]);
  if (err != 0) {
    close(out[0]);
    errno = err;
    return sys_error("run ps");
  }
  std::string text;
  char buf[8192];
  for (ssize_t n; (n = read(out[0], buf, sizeof(buf))) != 0;) {
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) break;
    if (text.size() < (64u << 20)) text.append(buf, static_cast<size_t>(n));
  }
  close(out[0]);
  int status = 0;
  while (waitpid(child, &status, 0) < 0 && errno == EINTR) {
  }
  if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
    return make_error(ErrorKind::InvalidSpec, "ps " + join(args, " ") + " failed: " + text);
  std::istringstream lines(text);
  int pid_col = -1;
  bool header = true;
  for (std::string line; std::getline(lines, line);) {
    std::istringstream ss(line);
    std::vector<std::string> cols;
    for (std::string c; ss >> c;) cols.push_back(c);
    if (header) {
      for (size_t i = 0; i < cols.size(); i++)
        if (cols[i] == "PID") pid_col = static_cast<int>(i);
      if (pid_col < 0) return make_error(ErrorKind::InvalidSpec, "ps output has no PID column");
      printf("%s\n", line.c_str());
      header = false;
      continue;
    }
    long long p;
    if (pid_col < static_cast<int>(cols.size()) && parse_i64(cols[pid_col], p) &&
        std::find(pids.begin(), pids.end(), static_cast<pid_t>(p)) != pids.end())
      printf("%s\n", line.c_str());
  }
  return {};
}

}  // namespace

void register_cgroups(CLI::App& app, Globals& g, Handler* out) {
  static std::string id, format = "table", interval = "5s", resources;
  static std::vector<std::string> rest;
  static bool stats = false;
  static cgroups::UpdateFlags uf;

  if (auto* pause = add_command(app, g, "pause", "freeze every process of the container")) {
    add_id(pause, &id);
    on_run(pause, out, [&g] {
      auto r = pause_container(g.store(), id, true);
      return r ? 0 : report(g, r.error());
    });
  }
  if (auto* resume = add_command(app, g, "resume", "thaw a paused container")) {
    add_id(resume, &id);
    on_run(resume, out, [&g] {
      auto r = pause_container(g.store(), id, false);
      return r ? 0 : report(g, r.error());
    });
  }

  if (auto* ps = add_command(app, g, "ps", "list the container's processes")) {
    ps->add_option("-f,--format", format, "table or json")->check(CLI::IsMember({"table", "json"}));
    add_id(ps, &id);
    ps->add_option("ps-args", rest, "arguments for ps (default -ef)");
    on_run(ps, out, [&g] {
      auto pids = container_pids(g, id);
      if (!pids) return report(g, pids.error());
      if (format == "json") {
        // runc prints a Go nil slice, `null`, when there is no process (a stopped container).
        printf("%s\n", pids->empty() ? "null" : nlohmann::json(*pids).dump().c_str());
        return 0;
      }
      auto r = print_ps_rows(rest, *pids);
      return r ? 0 : report(g, r.error());
    });
  }

  if (auto* ev = add_command(app, g, "events", "print stats and OOM events as JSON lines")) {
    ev->add_flag("--stats", stats, "print the stats once and exit");
    ev->add_option("--interval", interval, "stats interval (default 5s)");
    add_id(ev, &id);
    on_run(ev, out, [&g] {
      auto lc = live_cgroup(g, id);
      if (!lc) return report(g, lc.error());
      auto iv = parse_duration(interval);
      if (!iv) return report(g, iv.error());
      auto r = cgroups::run_events(*lc->second, id, stats, *iv, 1);
      return r ? 0 : report(g, r.error());
    });
  }

  if (auto* up = add_command(app, g, "update", "change the resource limits of a live container")) {
    up->add_option("-r,--resources", resources, "LinuxResources JSON file, or - for stdin");
    auto str_opt = [&](const char* name, std::optional<std::string>& v, const char* help) {
      up->add_option_function<std::string>(
          name, [&v](const std::string& s) { v = s; }, help);
    };
    str_opt("--memory", uf.memory, "memory limit (e.g. 512m)");
    str_opt("--memory-swap", uf.memory_swap, "memory+swap limit (-1: unlimited)");
    str_opt("--memory-reservation", uf.memory_reservation, "memory soft limit");
    str_opt("--kernel-memory", uf.kernel_memory, "kernel memory limit (ignored by new kernels)");
    str_opt("--kernel-memory-tcp", uf.kernel_memory_tcp, "kernel TCP memory limit");
    str_opt("--cpuset-cpus", uf.cpuset_cpus, "CPUs allowed (0-3,5)");
    str_opt("--cpuset-mems", uf.cpuset_mems, "memory nodes allowed");
    // runc's flag is --cpu-share; --cpu-shares (docker's spelling) is accepted too.
    up->add_option_function<uint64_t>(
        "--cpu-share,--cpu-shares", [](uint64_t v) { uf.cpu_shares = v; },
        "CPU shares (relative weight)");
    up->add_option_function<uint64_t>(
        "--cpu-period", [](uint64_t v) { uf.cpu_period = v; }, "CPU CFS period (us)");
    up->add_option_function<uint64_t>(
        "--cpu-rt-period", [](uint64_t v) { uf.cpu_rt_period = v; }, "CPU realtime period (us)");
    up->add_option_function<uint64_t>(
        "--cpu-burst", [](uint64_t v) { uf.cpu_burst = v; }, "CPU CFS burst (us)");
    up->add_option_function<int64_t>(
        "--cpu-quota", [](int64_t v) { uf.cpu_quota = v; }, "CPU CFS quota (us)");
    up->add_option_function<int64_t>(
        "--cpu-rt-runtime", [](int64_t v) { uf.cpu_rt_runtime = v; }, "CPU realtime runtime (us)");
    up->add_option_function<int64_t>(
        "--cpu-idle", [](int64_t v) { uf.cpu_idle = v; }, "cgroup v2 cpu.idle");
    up->add_option_function<int64_t>(
        "--pids-limit", [](int64_t v) { uf.pids_limit = v; }, "maximum number of processes");
    up->add_option_function<uint16_t>(
        "--blkio-weight", [](uint16_t v) { uf.blkio_weight = v; }, "block IO weight (10-1000)");
    add_id(up, &id);
    on_run(up, out, [&g] {
      auto lc = live_cgroup(g, id);
      if (!lc) return report(g, lc.error());
      nlohmann::json j;
      if (!resources.empty()) {
        std::string text;
        if (resources == "-") {
          auto t = read_fd(STDIN_FILENO, kMaxInputFile);
          if (!t) return report(g, t.error().context("--resources=-"));
          text = *t;
        } else {
          auto t = read_regular_file(resources);
          if (!t) return report(g, t.error().context("--resources"));
          text = *t;
        }
        j = nlohmann::json::parse(text, nullptr, false);
        if (j.is_discarded() || !j.is_object())
          return report(g, invalid_spec("--resources: not a LinuxResources JSON object"));
      }
      auto flags = cgroups::resources_from_update_flags(uf);
      if (!flags) return report(g, flags.error());
      j.merge_patch(*flags);
      nlohmann::json saved;
      if (lc->first.config.is_object() && lc->first.config.contains("linux"))
        saved = lc->first.config["linux"].value("resources", nlohmann::json::object());
      auto res = cgroups::parse_resources(cgroups::update_with_partners(saved, j), "resources");
      if (!res) return report(g, res.error());
      auto r = lc->second->apply(*res);
      if (!r) return report(g, r.error().context("update"));
      // Keep the recorded config in step, so later readers see the new limits.
      StateStore store = g.store();
      auto lock = store.lock(id);
      if (lock) {
        ContainerState s = lc->first;
        if (s.config.is_object()) {
          s.config["linux"]["resources"] = cgroups::merge_resources(
              s.config["linux"].value("resources", nlohmann::json::object()), j);
          (void)store.save(s);
        }
      }
      return 0;
    });
  }
}

}  // namespace crunner::cli
