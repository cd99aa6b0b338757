#include "garden/cli/flags.hpp"

#include <fcntl.h>
#include <sys/stat.h>

#include <CLI/CLI.hpp>
#include <algorithm>
#include <cctype>
#include <map>
#include <sstream>

#include "base/error.hpp"
#include "base/fd.hpp"
#include "base/text.hpp"

namespace garden::cli {

namespace {

constexpr size_t kMaxConfigBytes = 1 << 20;

// Guardian flags that name Guardian's own helpers, state files or metrics sink: garden-shim
// has its own way for each, so a Guardian config that sets them still starts garden-shim
// (with a warning saying what is ignored and why).
struct NoEffect {
  const char* name;
  bool takes_value;
  const char* why;
};
constexpr NoEffect kNoEffect[] = {
    {"dadoo-bin", true,
     "processes are supervised by the garden-dadoo installed beside garden-shim"},
    {"init-bin", true, "containers' pid 1 is the garden-init installed beside garden-shim"},
    {"nstar-bin", true, "stream-in runs the garden-nstar installed beside garden-shim"},
    {"tar-bin", true,
     "garden-nstar unpacks with libarchive; stream-out runs the container's own tar"},
    {"iptables-bin", true, "garden-shim runs iptables-save and iptables-restore from PATH"},
    {"iptables-restore-bin", true, "garden-shim runs iptables-save and iptables-restore from PATH"},
    {"skip-setup", false, "garden-shim prepares the host at start-up and has no `gdn setup`"},
    {"properties-path", true, "garden-shim keeps containers' properties in the depot"},
    {"port-pool-properties-path", true, "garden-shim keeps containers' ports in the depot"},
    {"dropsonde-origin", true, "garden-shim emits no Dropsonde metrics (see --debug-bind-ip)"},
    {"dropsonde-destination", true, "garden-shim emits no Dropsonde metrics (see --debug-bind-ip)"},
};
constexpr const char* kNoEffectGroup = "Guardian flags accepted with no effect";

[[noreturn]] void bad(const std::string& flag, const std::string& what) {
  throw CLI::ValidationError(flag, what);
}

long long need_duration(const std::string& flag, const std::string& v, long long min_ns = 0) {
  long long ns = 0;
  if (!parse_duration(v, ns) || ns < min_ns)
    bad(flag, "`" + v + "` is not a duration" + (min_ns > 0 ? " of at least 1ms" : std::string()) +
                  " (e.g. 5m, 30s, 500ms)");
  return ns;
}

long long need_int(const std::string& flag, const std::string& v, long long lo, long long hi) {
  long long n = 0;
  if (!crunner::parse_i64(v, n) || n < lo || n > hi)
    bad(flag,
        "`" + v + "` is not a number from " + std::to_string(lo) + " to " + std::to_string(hi));
  return n;
}

// A value flag given as `--flag VALUE` becomes `--flag=VALUE`, so a value that starts with
// a dash (`--image-plugin-extra-arg --store=/x`) stays the flag's value, as it always was.
std::vector<std::string> normalise(CLI::App& app, int argc, const char* const* argv) {
  std::vector<std::string> out;
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    if (a.rfind("--", 0) == 0 && a.size() > 2) {
      auto eq = a.find('=');
      CLI::Option* o = app.get_option_no_throw(a.substr(0, eq));
      bool takes_value = o && o->get_items_expected_max() > 0;
      if (takes_value && eq == std::string::npos && i + 1 < argc) {
        std::string v = argv[++i];
        if (v.empty()) {  // CLI11 reads `--flag=` as "value follows": keep it separate
          out.push_back(a);
          out.push_back(v);
        } else {
          out.push_back(a + "=" + v);
        }
        continue;
      }
      if (takes_value && eq == a.size() - 1) {
        out.push_back(a.substr(0, eq));
        out.emplace_back();
        continue;
      }
    }
    out.push_back(a);
  }
  std::reverse(out.begin(), out.end());  // CLI11 takes them last first
  return out;
}

struct Flags {
  CLI::App app{
      "garden-shim: the Cloud Foundry Garden HTTP API over an OCI runtime. Flags follow "
      "Guardian's `gdn server`; --config reads Guardian's INI config file.",
      "garden-shim"};
  std::vector<CLI::Option*> no_effect;
};

void define(Flags& f, Options& o) {
  CLI::App& app = f.app;
  app.option_defaults()->multi_option_policy(CLI::MultiOptionPolicy::TakeLast);
  app.get_formatter()->column_width(42);
  auto& cfg = o.cfg;
  auto& net = o.cfg.net;
  auto& lc = o.listen;
  auto value = [&](const std::string& name, std::function<void(const std::string&)> set,
                   const std::string& type, const std::string& desc) {
    return app
        .add_option_function<std::string>(
            name, [name, set](const std::string& v) { set(v); }, desc)
        ->type_name(type);
  };
  auto repeatable = [&](const std::string& name, std::vector<std::string>& into,
                        const std::string& type, const std::string& desc) {
    return app.add_option(name, into, desc + " (repeatable)")
        ->type_name(type)
        ->allow_extra_args(false)
        ->multi_option_policy(CLI::MultiOptionPolicy::TakeAll);
  };
  auto text = [&](const std::string& name, std::string& into, const std::string& type,
                  const std::string& desc) {
    return app.add_option(name, into, desc)->type_name(type);
  };

  app.add_option("--config", o.config_file,
                 "Guardian's INI config file: its [server] keys are these flags' names; "
                 "a flag given here wins")
      ->type_name("FILE");

  std::string g = "Server";
  text("--bind-ip", lc.bind_ip, "IP", "listen with TCP on this IP (default 127.0.0.1)")->group(g);
  value(
      "--bind-port", [&](auto& v) { lc.bind_port = need_int("--bind-port", v, 0, 65535); }, "PORT",
      "(default 7777)")
      ->group(g);
  text("--bind-socket", lc.bind_socket, "PATH", "listen on this unix socket instead")->group(g);
  value(
      "--max-connections",
      [&](auto& v) { lc.max_connections = need_int("--max-connections", v, 1, 1000000); }, "N",
      "connections served at once; more get 503 (default 4096)")
      ->group(g);
  value(
      "--header-timeout",
      [&](auto& v) {
        lc.header_timeout_ms = need_duration("--header-timeout", v, 1000000) / 1000000;
      },
      "DUR", "a request header must arrive within DUR; a partial one gets 408 (default 60s)")
      ->group(g);
  value(
      "--send-timeout",
      [&](auto& v) { lc.send_timeout_ms = need_duration("--send-timeout", v, 1000000) / 1000000; },
      "DUR", "a client that takes none of a response for DUR is dropped (default 60s)")
      ->group(g);
  text("--log-level", cfg.log_level, "LEVEL", "debug|info|error (default info)")->group(g);
  value(
      "--debug-bind-ip",
      [&](auto& v) {
        if (v.empty()) bad("--debug-bind-ip", "an empty IP");
        o.debug.bind_ip = v;
      },
      "IP", "serve expvar JSON at /debug/vars (default: off)")
      ->group(g);
  value(
      "--debug-bind-port",
      [&](auto& v) { o.debug.bind_port = need_int("--debug-bind-port", v, 0, 65535); }, "PORT",
      "(default 17013)")
      ->group(g);

  g = "Containers";
  text("--depot", cfg.depot, "DIR",
       "containers, bundles and process state (default /var/lib/garden-shim)")
      ->group(g);
  text("--runtime-plugin", cfg.runtime, "PATH", "the OCI runtime (default: crunner beside us)")
      ->group(g);
  text("--default-rootfs", cfg.default_rootfs, "DIR", "rootfs of containers that name none")
      ->group(g);
  value(
      "--default-grace-time",
      [&](auto& v) { cfg.default_grace_ns = need_duration("--default-grace-time", v); }, "DUR",
      "e.g. 5m (default 0: never expire)")
      ->group(g);
  value(
      "--max-containers",
      [&](auto& v) { cfg.max_containers = need_int("--max-containers", v, 1, INT32_MAX); }, "N",
      "(default 1024)")
      ->group(g);
  text("--cgroup-parent", cfg.cgroup_parent, "NAME", "cgroupsPath prefix (default garden)")
      ->group(g);
  value(
      "--stop-timeout",
      [&](auto& v) { cfg.stop_timeout_ms = need_duration("--stop-timeout", v) / 1000000; }, "DUR",
      "SIGTERM -> SIGKILL on stop (default 10s)")
      ->group(g);
  app.add_flag("--destroy-containers-on-startup", net.destroy_on_startup,
               "destroy the depot's containers and our iptables chains and bridges at start")
      ->group(g);
  value(
      "--apparmor", [&](auto& v) { o.apparmor = v; }, "PROFILE",
      "AppArmor profile of unprivileged containers' processes (default: garden-default, "
      "shipped with garden-shim and loaded at start-up where the host has AppArmor; another "
      "name must be loaded already; \"\" for none)")
      ->group(g);

  g = "Image";
  text("--image-plugin", cfg.image_plugins.unprivileged.path, "PATH",
       "builds unprivileged containers' (and peas') rootfs from their image URI (GrootFS's "
       "CLI); raw:///dir and, without a plugin, every rootfs stay built in")
      ->group(g);
  repeatable("--image-plugin-extra-arg", cfg.image_plugins.unprivileged.extra_args, "ARG",
             "passed before the command")
      ->group(g);
  text("--privileged-image-plugin", cfg.image_plugins.privileged.path, "PATH",
       "the same for privileged containers")
      ->group(g);
  repeatable("--privileged-image-plugin-extra-arg", cfg.image_plugins.privileged.extra_args, "ARG",
             "passed before the command")
      ->group(g);

  g = "Networking (Guardian's kawasaki; details in garden/net/README.md)";
  app.add_flag_callback(
         "--disable-networking", [&] { net.enabled = false; }, "containers get a loopback only")
      ->group(g);
  text("--network-pool", net.pool, "CIDR", "(default 10.254.0.0/22, a /30 per container)")
      ->group(g);
  value(
      "--mtu", [&](auto& v) { net.mtu = need_int("--mtu", v, 0, 65535); }, "N",
      "(default or 0: the external interface's, at most 1500)")
      ->group(g);
  text("--external-ip", net.external_ip, "IP", "net-in address (default: the default route's)")
      ->group(g);
  value(
      "--port-pool-start",
      [&](auto& v) { net.port_pool_start = need_int("--port-pool-start", v, 1, 65535); }, "N",
      "(default 61001)")
      ->group(g);
  value(
      "--port-pool-size",
      [&](auto& v) { net.port_pool_size = need_int("--port-pool-size", v, 1, 65535); }, "N",
      "(default 4534)")
      ->group(g);
  text("--iptable-prefix", net.iptable_prefix, "P", "(default w--)")->group(g);
  text("--network-interface-prefix", net.interface_prefix, "P", "(default w)")->group(g);
  repeatable("--deny-network", net.deny_networks, "CIDR", "containers may not reach it")->group(g);
  app.add_flag("--allow-host-access", net.allow_host_access, "containers may reach the host")
      ->group(g);
  repeatable("--dns-server", net.dns_servers, "IP", "(default: the host's resolv.conf)")->group(g);
  repeatable("--additional-dns-server", net.additional_dns, "IP", "after the others")->group(g);
  repeatable("--additional-host-entry", net.additional_hosts, "LINE", "appended to /etc/hosts")
      ->group(g);
  text("--network-plugin", net.plugin, "PATH", "external networker (Guardian's up/down contract)")
      ->group(g);
  repeatable("--network-plugin-extra-arg", net.plugin_args, "ARG", "passed before --action")
      ->group(g);

  for (const auto& n : kNoEffect) {
    std::string name = std::string("--") + n.name;
    CLI::Option* opt = n.takes_value ? app.add_option(name) : app.add_flag(name);
    opt->description(std::string(n.why) + " (ignored)");
    if (n.takes_value) opt->type_name("X");
    f.no_effect.push_back(opt->group(kNoEffectGroup));
  }
  value(
      "--default-container-blockio-weight",
      [](auto& v) {
        if (v != "0")
          bad("--default-container-blockio-weight",
              "garden-shim sets no block IO weight: only 0 (Guardian's default) is accepted");
      },
      "0", "garden-shim sets no block IO weight; only 0, Guardian's default")
      ->group(kNoEffectGroup);
}

// Guardian's INI file through CLI11's config reader, set up as go-flags reads it: a value is
// the whole text after `=` (no arrays, no trailing comments), "quotes" removed.
std::vector<CLI::ConfigItem> read_ini(const std::string& text) {
  CLI::ConfigBase ini;
  ini.comment('\0')->arrayBounds('\x01', '\x02')->arrayDelimiter('\x03')->valueSeparator('=');
  std::istringstream in(text);
  return ini.from_config(in);
}

std::string load_text(const std::string& path, std::string& err) {
  int fd = open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NOCTTY);
  if (fd < 0) {
    err = std::string(strerror(errno));
    return "";
  }
  crunner::UniqueFd guard(fd);
  struct stat st {};
  if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode)) {
    err = "not a regular file";
    return "";
  }
  if (st.st_size > static_cast<off_t>(kMaxConfigBytes)) {
    err = "larger than 1 MiB";
    return "";
  }
  std::string text(static_cast<size_t>(st.st_size), '\0');
  size_t got = 0;
  while (got < text.size()) {
    ssize_t n = read(fd, text.data() + got, text.size() - got);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      err = std::string(strerror(errno));
      return "";
    }
    if (n == 0) break;
    got += static_cast<size_t>(n);
  }
  text.resize(got);
  return text;
}

// Applies the file's keys that the command line did not set. "" or the error.
std::string apply_config(Flags& f, const std::string& path) {
  std::string err;
  std::string text = load_text(path, err);
  std::string where = "config file `" + path + "`";
  if (!err.empty()) return where + ": " + err;
  // Keys in file order, a repeated key's values together (go-flags appends them).
  std::vector<std::string> order;
  std::map<std::string, std::vector<std::string>> values;
  for (auto& item : read_ini(text)) {
    if ((item.name == "++" || item.name == "--") && item.inputs.empty()) continue;
    std::string key = item.name;
    if (item.parents.size() != 1 || item.parents[0] != "server") {
      std::string full = item.fullname();
      return where + ": key `" + full + "` is not in the [server] section (garden-shim, like " +
             "`gdn server`, reads only [server])";
    }
    if (!values.count(key)) order.push_back(key);
    auto& v = values[key];
    v.insert(v.end(), item.inputs.begin(), item.inputs.end());
  }
  for (auto& key : order) {
    CLI::Option* opt = key.empty() || key.front() == '-' || key == "config" || key == "help"
                           ? nullptr
                           : f.app.get_option_no_throw("--" + key);
    if (!opt)
      return where + ": unknown key `" + key +
             "` in [server] (not a garden-shim flag; `garden-shim --help` lists them)";
    if (opt->count() > 0) continue;  // the command line wins
    auto& in = values[key];
    try {
      if (opt->get_items_expected_max() == 0) {  // a switch: true or false
        std::string v = in.back();
        std::transform(v.begin(), v.end(), v.begin(), ::tolower);
        if (v != "true" && v != "false")
          return where + ": key `" + key + "` wants true or false, not `" + in.back() + "`";
        if (v == "false") continue;
        opt->add_result(std::string("true"));
      } else {
        opt->add_result(in);
      }
      opt->run_callback();
    } catch (const CLI::Error& e) {
      return where + ": key `" + key + "`: " + e.what();
    }
  }
  return "";
}

}  // namespace

bool parse_duration(const std::string& s, long long& ns) {
  if (s.empty()) return false;
  long long v = 0;
  if (crunner::parse_i64(s, v)) {
    if (v < 0 || v > INT64_MAX / 1000000000LL) return false;
    ns = v * 1000000000LL;
    return true;
  }
  double total = 0;
  size_t i = 0;
  while (i < s.size()) {
    size_t j = i;
    while (j < s.size() && (isdigit(static_cast<unsigned char>(s[j])) || s[j] == '.')) ++j;
    if (j == i) return false;
    double num = 0;
    try {
      num = std::stod(s.substr(i, j - i));
    } catch (const std::exception&) {
      return false;
    }
    size_t k = j;
    while (k < s.size() && !isdigit(static_cast<unsigned char>(s[k])) && s[k] != '.') ++k;
    std::string unit = s.substr(j, k - j);
    double mul = 0;
    if (unit == "ns")
      mul = 1;
    else if (unit == "us" || unit == "µs")
      mul = 1e3;
    else if (unit == "ms")
      mul = 1e6;
    else if (unit == "s")
      mul = 1e9;
    else if (unit == "m")
      mul = 60e9;
    else if (unit == "h")
      mul = 3600e9;
    else
      return false;
    total += num * mul;
    i = k;
  }
  if (total > 9.2e18) return false;
  ns = static_cast<long long>(total);
  return true;
}

int parse(int argc, const char* const* argv, Options& o, std::ostream& out, std::ostream& err) {
  Flags f;
  define(f, o);
  for (int i = 0; i < argc; ++i) o.debug.cmdline.push_back(argv[i]);
  try {
    auto args = normalise(f.app, argc, argv);
    f.app.parse(args);
  } catch (const CLI::CallForHelp&) {
    out << f.app.help();
    return 0;
  } catch (const CLI::ParseError& e) {
    err << "garden-shim: " << e.what() << "\n";
    return 2;
  }
  if (!o.config_file.empty()) {
    if (std::string e = apply_config(f, o.config_file); !e.empty()) {
      err << "garden-shim: " << e << "\n";
      return 2;
    }
  }
  for (size_t i = 0; i < f.no_effect.size(); ++i)
    if (f.no_effect[i]->count() > 0)
      o.warnings.push_back(std::string("ignoring Guardian's --") + kNoEffect[i].name + ": " +
                           kNoEffect[i].why);
  return -1;
}

}  // namespace garden::cli
