// crunner: global flags, argv normalisation (runc's parsing rules), dispatch,
// and the one place errors are printed.
#include <fcntl.h>
#include <signal.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <iostream>
#include <string_view>

#include "base/file.hpp"
#include "base/text.hpp"
#include "base/time.hpp"
#include "cgroups/manager.hpp"
#include "cmd/crunner/cli.hpp"
#include "libcontainer/phase.hpp"
#include "libcontainer/selfexe.hpp"

namespace crunner::cli {

CLI::App* add_command(CLI::App& app, const Globals& g, const std::string& name,
                      const std::string& description) {
  if (!g.only.empty() && g.only != name) return nullptr;
  return app.add_subcommand(name, description);
}

void on_run(CLI::App* cmd, Handler* out, Handler run) {
  cmd->callback([out, run = std::move(run)] { *out = run; });
}

CLI::Option* add_id(CLI::App* cmd, std::string* id) {
  return cmd->add_option("container-id", *id, "the container's ID")->required();
}

std::string default_root() {
  const char* xdg = getenv("XDG_RUNTIME_DIR");
  if (!xdg || !*xdg) return "/run/crunner";
  bool honor = geteuid() != 0;
  if (!honor && cgroups::in_user_namespace()) {
    // runc: uid 0 in a user namespace (rootless podman's) uses XDG_RUNTIME_DIR unless USER
    // says root; an unset USER counts as not root (podman runs us with no USER).
    const char* user = getenv("USER");
    honor = !user || std::string(user) != "root";
  }
  return honor ? std::string(xdg) + "/crunner" : "/run/crunner";
}

// One line in runc's log format: text `time="..." level=L msg="..." k=v...` or
// JSON {"level":L,"msg":...,k:v...,"time":...}. Goes to --log; debug lines go to
// stderr when there is no --log (as runc's do).
static void write_log(const Globals& g, const char* level, const std::string& msg,
                      const nlohmann::ordered_json& fields = nlohmann::ordered_json::object()) {
  bool to_stderr = g.log.empty();
  if (to_stderr && std::string_view(level) != "debug") return;
  std::string line;
  if (g.log_format == "json") {
    nlohmann::ordered_json j;
    j["level"] = level;
    j["msg"] = msg;
    for (auto& [k, v] : fields.items()) j[k] = v;
    j["time"] = now_rfc3339();
    line = j.dump() + "\n";
  } else {
    line = "time=\"" + now_rfc3339() + "\" level=" + level + " msg=" + nlohmann::json(msg).dump();
    for (auto& [k, v] : fields.items())
      line += " " + k + "=" + (v.is_string() ? v.get<std::string>() : v.dump());
    line += "\n";
  }
  if (to_stderr) {
    (void)write_all(STDERR_FILENO, line.data(), line.size());
    return;
  }
  int fd = ::open(g.log.c_str(), O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0644);
  if (fd < 0) return;
  (void)write_all(fd, line.data(), line.size());
  ::close(fd);
}

int report(const Globals& g, const Error& e) {
  std::string msg = e.what();
  fprintf(stderr, "crunner: %s\n", msg.c_str());
  write_log(g, "error", msg);
  return 1;
}

void debug(const Globals& g, const std::string& msg) {
  if (g.debug) write_log(g, "debug", msg);
}

// --debug: one line per phase of the command (libcontainer/phase.hpp).
static const Globals* g_phase_globals = nullptr;
static void phase_line(const char* name, double ms) {
  char took[32];
  snprintf(took, sizeof took, "%.3f", ms);
  nlohmann::ordered_json f;
  f["phase"] = name;
  f["ms"] = std::stod(took);
  write_log(*g_phase_globals, "debug", std::string("phase ") + name + " took " + took + "ms", f);
}

void enable_phases(const Globals& g, long long t0_ns) {
  g_phase_globals = &g;
  phase::enable(phase_line, t0_ns);
}

}  // namespace crunner::cli

namespace {

using crunner::cli::Globals;

// runc (urfave/cli) rules: `-flag` is `--flag`; flags may follow the ID
// (`create ID --pid-file P`), except for exec and ps, whose flags end at the
// first positional (`exec ID ls -la` passes `-la` through): we tell CLI11 by
// inserting "--" there.
// `unknown` receives the command word when it names no command.
std::vector<std::string> normalise(CLI::App& app, std::vector<std::string> a,
                                   std::string* unknown) {
  auto fix = [](CLI::App* scope, std::string& tok) -> CLI::Option* {
    if (tok.size() > 2 && tok[0] == '-' && tok[1] != '-') {
      std::string name = tok.substr(1, tok.find('=') - 1);
      if (name.size() > 1 && scope->get_option_no_throw("--" + name)) tok = "-" + tok;
    }
    if (tok.rfind("--", 0) == 0) {
      std::string name = tok.substr(0, tok.find('='));
      CLI::Option* o = scope->get_option_no_throw(name);
      if (!o && scope->get_parent()) o = scope->get_parent()->get_option_no_throw(name);
      return o;
    }
    if (tok.size() == 2 && tok[0] == '-') return scope->get_option_no_throw(tok);
    return nullptr;
  };
  auto takes_value = [](CLI::Option* o, const std::string& tok) {
    return o && o->get_expected_max() > 0 && tok.find('=') == std::string::npos;
  };
  size_t i = 0;
  while (i < a.size() && a[i].size() > 1 && a[i][0] == '-' && a[i] != "--") {
    CLI::Option* o = fix(&app, a[i]);
    i += takes_value(o, a[i]) ? 2 : 1;
  }
  if (i >= a.size()) return a;
  CLI::App* sub = nullptr;
  try {
    sub = app.get_subcommand(a[i]);
  } catch (const CLI::OptionNotFound&) {
    *unknown = a[i];
    return a;
  }
  size_t j = i + 1;
  while (j < a.size() && a[j].size() > 1 && a[j][0] == '-' && a[j] != "--") {
    CLI::Option* o = fix(sub, a[j]);
    j += takes_value(o, a[j]) ? 2 : 1;
  }
  bool stops = sub->get_name() == "exec" || sub->get_name() == "ps";
  if (stops && j < a.size() && a[j] != "--") a.insert(a.begin() + static_cast<long>(j), "--");
  return a;
}

// The command word of argv, found without building the CLI: global flags are skipped
// (those that take a value with it unless written `--flag=value`), the first other word is
// the command: main() re-executes from the read-only mount on it before the CLI exists,
// then registers only that command. *help is set when a help flag comes before the command (the
// help lists every command).
std::string_view command_word(int argc, char** argv, bool* help) {
  static constexpr std::string_view kTakesValue[] = {"root", "log", "log-format", "rootless",
                                                     "criu"};
  int i = 1;
  while (i < argc && argv[i][0] == '-' && argv[i][1] != '\0' && std::string_view(argv[i]) != "--") {
    std::string_view tok(argv[i]);
    if (tok == "-h" || tok == "--help" || tok == "--help-all") *help = true;
    tok.remove_prefix(tok.rfind("--", 0) == 0 ? 2 : 1);
    bool value =
        tok.find('=') == std::string_view::npos &&
        std::find(std::begin(kTakesValue), std::end(kTakesValue), tok) != std::end(kTakesValue);
    i += value ? 2 : 1;
  }
  return i < argc ? std::string_view(argv[i]) : std::string_view();
}

bool enters_containers(std::string_view command) {
  return command == "create" || command == "run" || command == "exec";
}

// --debug across the read-only re-exec: the time just before execveat, so the
// new image reports the re-exec as a phase of its own.
constexpr const char* kReexecT0 = "_CRUNNER_DEBUG_T0";

// The time the previous image left in kReexecT0, when it is one (not later than now).
bool reexec_t0(long long now, long long* t0) {
  const char* v = getenv(kReexecT0);
  long long t;
  if (!v || !crunner::parse_i64(v, t) || t <= 0 || t > now) return false;
  *t0 = t;
  return true;
}

// Set when reexec_early looked at a command that enters containers and found the
// re-exec not needed or not possible: main() does not try again.
bool g_reexec_tried = false;

// Commands whose children enter a container run from a read-only mount of this binary
// (see libcontainer/selfexe.hpp). Called from .preinit_array: libc is ready (environ aside,
// see below), the C++ static initialisers have not run yet (iostream's locale with its ~30
// facets, libcap's probe of the bounding set, CLI11's tables), which the image that only
// re-executes ran for nothing: 12 of the 64 page faults before its execveat, and libcap's 7
// syscalls.
void reexec_early(int argc, char** argv, char** envp) {
  // A dynamically linked crunner (the sanitizer builds) runs .preinit_array before libc's own
  // initialiser has set environ: getenv saw nothing, and setenv made an environment of one
  // variable, which the new image got instead of the caller's (LISTEN_FDS lost). libc sets
  // environ to this same envp afterwards; the static-pie build has it set already.
  environ = envp;
  long long t0;
  if (reexec_t0(crunner::phase::now_ns(), &t0)) return;  // the new image: main() goes on
  bool help = false;
  if (!enters_containers(command_word(argc, argv, &help))) return;
  g_reexec_tried = true;
  setenv(kReexecT0, std::to_string(crunner::phase::now_ns()).c_str(), 1);
  crunner::reexec_from_readonly_mount(argv, environ);
  unsetenv(kReexecT0);
}

}  // namespace

__attribute__((section(".preinit_array"),
               used)) static void (*const kReexecEarly)(int, char**, char**) = reexec_early;

int main(int argc, char** argv) {
  long long t0 = crunner::phase::now_ns(), entry = t0;
  const bool reexeced = reexec_t0(entry, &t0);
  unsetenv(kReexecT0);
  // The re-exec is reexec_early's, before the static initialisers; here only when
  // .preinit_array was not run (a toolchain without it), still before the CLI is built: the
  // new image parses everything again, and a start-up spent on a parse it throws away cost
  // ~1 ms.
  bool help = false;
  const std::string_view command = command_word(argc, argv, &help);
  bool reexec_tried = g_reexec_tried;
  if (!reexeced && !reexec_tried && enters_containers(command)) {
    reexec_tried = true;
    setenv(kReexecT0, std::to_string(crunner::phase::now_ns()).c_str(), 1);
    crunner::reexec_from_readonly_mount(argv, environ);
    unsetenv(kReexecT0);
  }
  signal(SIGPIPE, SIG_IGN);
  Globals g;
  g.root = crunner::cli::default_root();
  CLI::App app{
      "crunner: an OCI container runtime (a drop-in for runc).\n"
      "Reads an OCI bundle's config.json and creates, starts, signals and deletes containers."};
  app.name("crunner");
  app.set_help_all_flag("--help-all", "help for every command");
  app.add_option("--root", g.root, "root directory for container state")->capture_default_str();
  app.add_option("--log", g.log, "append errors (and --debug output) to this file");
  app.add_option("--log-format", g.log_format, "log format: text or json")
      ->check(CLI::IsMember({"text", "json"}))
      ->capture_default_str();
  app.add_flag("--debug", g.debug,
               "write debug lines (one per phase, with its duration) to the log, or to stderr "
               "without --log");
  app.add_flag("--systemd-cgroup", g.systemd_cgroup,
               "systemd cgroup driver: cgroupsPath is slice:prefix:name (default "
               "system.slice:crunner:<id>), the container a transient scope of systemd "
               "(over D-Bus, Delegate=yes)");
  app.add_option("--rootless", g.rootless,
                 "true, false or auto (auto: true when not real root): the rootless cgroup "
                 "manager (no device rules; cgroups it may not create are skipped when no "
                 "limits need them)")
      ->check(CLI::IsMember({"true", "false", "auto"}))
      ->capture_default_str();
  app.add_option("--criu", g.criu,
                 "path to criu for checkpoint and restore (default: criu in PATH)");
  bool version = false;
  app.add_flag("-v,--version", version, "print the version");
  app.require_subcommand(0, 1);

  crunner::cli::Handler handler;
  if (!help) g.only = command;
  auto register_commands = [&] {
    crunner::cli::register_lifecycle(app, g, &handler);
    crunner::cli::register_info(app, g, &handler);
    crunner::cli::register_exec(app, g, &handler);
    crunner::cli::register_cgroups(app, g, &handler);
    crunner::cli::register_check(app, g, &handler);
    crunner::cli::register_checkpoint(app, g, &handler);
  };
  register_commands();
  // Not a command (a typo, a flag this look at argv does not know): the whole table, so
  // that the parser's errors and help are those of every other start.
  if (!g.only.empty() && app.get_subcommands([](const CLI::App*) { return true; }).empty()) {
    g.only.clear();
    register_commands();
  }

  std::vector<std::string> args(argv + 1, argv + argc);
  std::string unknown;
  args = normalise(app, args, &unknown);
  // An unknown command is an error even with -h (runc: "No help topic", non-zero).
  if (!unknown.empty())
    return crunner::cli::report(
        g, crunner::make_error(crunner::ErrorKind::InvalidSpec,
                               "unknown command `" + unknown + "`: no help topic for '" + unknown +
                                   "'; see crunner --help"));
  std::reverse(args.begin(), args.end());  // CLI11 takes them reversed
  try {
    app.parse(args);
  } catch (const CLI::CallForHelp& e) {
    return app.exit(e);
  } catch (const CLI::CallForAllHelp& e) {
    return app.exit(e);
  } catch (const CLI::ParseError& e) {
    return crunner::cli::report(g, crunner::make_error(crunner::ErrorKind::InvalidSpec, e.what()));
  }
  if (auto rl = crunner::cgroups::rootless_cgroups(g.rootless); rl.ok()) {
    g.rootless_cgroups = *rl;
  } else {
    return crunner::cli::report(g, rl.error());
  }
  if (version) {
    printf("crunner version %s\ncommit: %s\nspec: 1.2.0\n", CRUNNER_VERSION, CRUNNER_COMMIT);
    return 0;
  }
  if (!handler) {
    std::cout << app.help();
    // No command, with or without global flags: help and 0, as runc.
    return app.get_subcommands().empty() ? 0 : 1;
  }
  if (g.debug) {
    crunner::cli::enable_phases(g, t0);
    if (reexeced) crunner::phase::mark("reexec", entry);
  }
  // The parser found a command the quick look at argv above missed: re-execute now.
  for (const CLI::App* sub : app.get_subcommands()) {
    if (reexeced || reexec_tried || !enters_containers(sub->get_name())) continue;
    setenv(kReexecT0, std::to_string(crunner::phase::now_ns()).c_str(), 1);
    crunner::reexec_from_readonly_mount(argv, environ);
    unsetenv(kReexecT0);
  }
  crunner::cli::debug(
      g, "command: " + crunner::join(std::vector<std::string>(argv, argv + argc), " "));
  crunner::phase::mark("startup");
  try {
    int code = handler();
    crunner::phase::mark("finish");
    return code;
  } catch (const std::exception& e) {
    return crunner::cli::report(g, crunner::make_error(crunner::ErrorKind::Internal, e.what()));
  }
}
