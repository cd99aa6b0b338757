// garden-shim's flags (CLI11) and Guardian's INI config (--config FILE): the defaults, every
// value form, the errors naming the flag or the key and file, and the file against the
// command line.
#include <unistd.h>

#include <catch2/catch.hpp>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "garden/cli/flags.hpp"

using garden::cli::Options;

namespace {

struct Run {
  Options o;
  int rc = 0;
  std::string out, err;
};

Run parse(std::vector<std::string> args) {
  args.insert(args.begin(), "garden-shim");
  std::vector<const char*> argv;
  for (auto& a : args) argv.push_back(a.c_str());
  Run r;
  r.o.cfg.runtime = "/default/crunner";
  std::ostringstream out, err;
  r.rc = garden::cli::parse(static_cast<int>(argv.size()), argv.data(), r.o, out, err);
  r.out = out.str();
  r.err = err.str();
  return r;
}

struct TempFile {
  std::string path;
  explicit TempFile(const std::string& text) {
    char tmpl[] = "/tmp/crunner-test-garden-config-XXXXXX";
    int fd = mkstemp(tmpl);
    REQUIRE(fd >= 0);
    close(fd);
    path = tmpl;
    std::ofstream(path) << text;
  }
  ~TempFile() { unlink(path.c_str()); }
};

}  // namespace

TEST_CASE("garden-shim flags: defaults are today's (and Guardian's where they match)") {
  Run r = parse({});
  REQUIRE(r.rc == -1);
  CHECK(r.o.listen.bind_ip == "127.0.0.1");
  CHECK(r.o.listen.bind_port == 7777);
  CHECK(r.o.listen.bind_socket.empty());
  CHECK(r.o.listen.max_connections == 4096);
  CHECK(r.o.listen.header_timeout_ms == 60000);
  CHECK(r.o.listen.send_timeout_ms == 60000);
  CHECK(r.o.cfg.depot == "/var/lib/garden-shim");
  CHECK(r.o.cfg.runtime == "/default/crunner");
  CHECK(r.o.cfg.max_containers == 1024);
  CHECK(r.o.cfg.cgroup_parent == "garden");
  CHECK(r.o.cfg.stop_timeout_ms == 10000);
  CHECK(r.o.cfg.default_grace_ns == 0);
  CHECK(r.o.cfg.log_level == "info");
  CHECK(!r.o.apparmor);
  CHECK(r.o.debug.bind_ip.empty());
  CHECK(r.o.debug.bind_port == 17013);  // Guardian's
  CHECK(r.o.cfg.net.enabled);
  CHECK(r.o.cfg.net.pool == "10.254.0.0/22");   // Guardian's
  CHECK(r.o.cfg.net.port_pool_start == 61001);  // Guardian's
  CHECK(r.o.cfg.net.port_pool_size == 4534);    // Guardian's
  CHECK(r.o.cfg.net.mtu == 0);
  CHECK(r.o.cfg.net.iptable_prefix == "w--");
  CHECK(r.o.cfg.net.interface_prefix == "w");
  CHECK(!r.o.cfg.net.allow_host_access);
  CHECK(!r.o.cfg.net.destroy_on_startup);
  CHECK(r.o.warnings.empty());
}

TEST_CASE("garden-shim flags: both value forms, a dash-leading value, repeatables, switches") {
  Run r = parse({"--bind-ip",
                 "10.0.0.1",
                 "--bind-port=8080",
                 "--depot",
                 "/d",
                 "--image-plugin-extra-arg",
                 "--store=/s",
                 "--image-plugin-extra-arg=--x",
                 "--deny-network",
                 "10.0.0.0/8",
                 "--deny-network=192.168.0.0/16",
                 "--default-grace-time",
                 "1h2m3.5s",
                 "--stop-timeout=500ms",
                 "--apparmor",
                 "",
                 "--allow-host-access",
                 "--disable-networking",
                 "--destroy-containers-on-startup",
                 "--mtu",
                 "0",
                 "--max-containers",
                 "7"});
  INFO(r.err);
  REQUIRE(r.rc == -1);
  CHECK(r.o.listen.bind_ip == "10.0.0.1");
  CHECK(r.o.listen.bind_port == 8080);
  CHECK(r.o.cfg.depot == "/d");
  CHECK(r.o.cfg.image_plugins.unprivileged.extra_args ==
        std::vector<std::string>{"--store=/s", "--x"});
  CHECK(r.o.cfg.net.deny_networks == std::vector<std::string>{"10.0.0.0/8", "192.168.0.0/16"});
  CHECK(r.o.cfg.default_grace_ns == 3723500000000LL);
  CHECK(r.o.cfg.stop_timeout_ms == 500);
  REQUIRE(r.o.apparmor);
  CHECK(r.o.apparmor->empty());
  CHECK(r.o.cfg.net.allow_host_access);
  CHECK(!r.o.cfg.net.enabled);
  CHECK(r.o.cfg.net.destroy_on_startup);
  CHECK(r.o.cfg.max_containers == 7);
  CHECK(r.o.debug.cmdline.front() == "garden-shim");
}

TEST_CASE("garden-shim flags: the last of a repeated single-value flag wins") {
  Run r = parse({"--depot", "/a", "--depot", "/b"});
  REQUIRE(r.rc == -1);
  CHECK(r.o.cfg.depot == "/b");
}

TEST_CASE("garden-shim flags: bad values and unknown flags are refused by name") {
  struct Case {
    std::vector<std::string> args;
    std::string want;
  };
  for (auto& c : std::vector<Case>{
           {{"--bind-port", "70000"}, "--bind-port"},
           {{"--bind-port", "x"}, "--bind-port"},
           {{"--max-containers", "0"}, "--max-containers"},
           {{"--stop-timeout", "5parsecs"}, "--stop-timeout"},
           {{"--header-timeout", "0s"}, "--header-timeout"},
           {{"--debug-bind-ip="}, "--debug-bind-ip"},
           {{"--no-such-flag"}, "--no-such-flag"},
           {{"stray"}, "stray"},
           {{"--depot"}, "--depot"},
           {{"--default-container-blockio-weight", "100"}, "--default-container-blockio-weight"},
       }) {
    Run r = parse(c.args);
    INFO(c.args.front() << " -> " << r.err);
    CHECK(r.rc == 2);
    CHECK(r.err.find(c.want) != std::string::npos);
  }
}

TEST_CASE("garden-shim flags: --help lists every flag and exits 0") {
  Run r = parse({"--help"});
  CHECK(r.rc == 0);
  for (const char* f : {"--bind-ip", "--bind-socket", "--depot", "--runtime-plugin",
                        "--image-plugin-extra-arg", "--network-plugin-extra-arg", "--apparmor",
                        "--config", "--dadoo-bin", "--deny-network", "--header-timeout"})
    CHECK(r.out.find(f) != std::string::npos);
}

TEST_CASE("garden-shim --config: Guardian's [server] keys, repeated keys, switches, quotes") {
  TempFile f(
      "; Guardian's config.ini, as garden-runc-release writes it\n"
      "[server]\n"
      "  depot = /var/vcap/data/garden/depot\n"
      "  bind-ip = 127.0.0.2\n"
      "  bind-port = 7778\n"
      "  default-grace-time = 0\n"
      "  log-level = debug\n"
      "# a comment\n"
      "  image-plugin-extra-arg = \"--config\"\n"
      "  image-plugin-extra-arg = /var/vcap/jobs/garden/config/grootfs_config.yml\n"
      "  deny-network = 10.0.0.0/8\n"
      "  mtu = 0\n"
      "  deny-network = 172.16.0.0/12\n"
      "  additional-host-entry = \"1.2.3.4 some.host # not a comment\"\n"
      "  allow-host-access = true\n"
      "  destroy-containers-on-startup = false\n"
      "  dadoo-bin = /var/vcap/packages/guardian/bin/dadoo\n"
      "  skip-setup = true\n"
      "  default-container-blockio-weight = 0\n"
      "  runtime-plugin=/var/vcap/packages/runc/bin/runc\n");
  Run r = parse({"--config", f.path});
  INFO(r.err);
  REQUIRE(r.rc == -1);
  CHECK(r.o.config_file == f.path);
  CHECK(r.o.cfg.depot == "/var/vcap/data/garden/depot");
  CHECK(r.o.listen.bind_ip == "127.0.0.2");
  CHECK(r.o.listen.bind_port == 7778);
  CHECK(r.o.cfg.log_level == "debug");
  CHECK(r.o.cfg.image_plugins.unprivileged.extra_args ==
        std::vector<std::string>{"--config", "/var/vcap/jobs/garden/config/grootfs_config.yml"});
  CHECK(r.o.cfg.net.deny_networks == std::vector<std::string>{"10.0.0.0/8", "172.16.0.0/12"});
  CHECK(r.o.cfg.net.additional_hosts ==
        std::vector<std::string>{"1.2.3.4 some.host # not a comment"});
  CHECK(r.o.cfg.net.allow_host_access);
  CHECK(!r.o.cfg.net.destroy_on_startup);
  CHECK(r.o.cfg.runtime == "/var/vcap/packages/runc/bin/runc");
  REQUIRE(r.o.warnings.size() == 2);
  CHECK(r.o.warnings[0].find("--dadoo-bin") != std::string::npos);
  CHECK(r.o.warnings[1].find("--skip-setup") != std::string::npos);
}

TEST_CASE("garden-shim --config: a flag on the command line wins over the file's key") {
  TempFile f(
      "[server]\ndepot = /from/file\nbind-port = 1\ndns-server = 1.1.1.1\n"
      "max-containers = 5\n");
  Run r = parse({"--depot", "/from/flag", "--config", f.path, "--dns-server", "9.9.9.9"});
  INFO(r.err);
  REQUIRE(r.rc == -1);
  CHECK(r.o.cfg.depot == "/from/flag");
  CHECK(r.o.listen.bind_port == 1);
  CHECK(r.o.cfg.net.dns_servers == std::vector<std::string>{"9.9.9.9"});
  CHECK(r.o.cfg.max_containers == 5);
}

TEST_CASE("garden-shim --config: errors name the key and the file") {
  struct Case {
    std::string text, want;
  };
  for (auto& c : std::vector<Case>{
           {"[server]\nno-such-key = 1\n", "unknown key `no-such-key`"},
           {"[server]\nconfig = /etc/x\n", "unknown key `config`"},
           {"depot = /x\n", "key `depot` is not in the [server] section"},
           {"[setup]\ntag = x\n", "key `setup.tag` is not in the [server] section"},
           {"[server]\nbind-port = 99999\n", "key `bind-port`"},
           {"[server]\nstop-timeout = soon\n", "key `stop-timeout`"},
           {"[server]\nallow-host-access = maybe\n", "key `allow-host-access` wants true or false"},
           {"[server]\ndefault-container-blockio-weight = 500\n",
            "key `default-container-blockio-weight`"},
       }) {
    TempFile f(c.text);
    Run r = parse({"--config", f.path});
    INFO(c.text << " -> " << r.err);
    CHECK(r.rc == 2);
    CHECK(r.err.find(c.want) != std::string::npos);
    CHECK(r.err.find("config file `" + f.path + "`") != std::string::npos);
  }
}

TEST_CASE("garden-shim --config: a missing or oversized file is refused by path") {
  Run r = parse({"--config", "/nonexistent/garden.ini"});
  CHECK(r.rc == 2);
  CHECK(r.err.find("config file `/nonexistent/garden.ini`: No such file or directory") !=
        std::string::npos);
  TempFile big("[server]\n; " + std::string(1 << 20, 'x') + "\n");
  r = parse({"--config", big.path});
  CHECK(r.rc == 2);
  CHECK(r.err.find("larger than 1 MiB") != std::string::npos);
}

TEST_CASE("garden-shim durations: Go's forms") {
  long long ns = 0;
  CHECK(garden::cli::parse_duration("5", ns));
  CHECK(ns == 5000000000LL);
  CHECK(garden::cli::parse_duration("1h2m3.5s", ns));
  CHECK(ns == 3723500000000LL);
  CHECK(garden::cli::parse_duration("10us", ns));
  CHECK(ns == 10000);
  CHECK(garden::cli::parse_duration("10µs", ns));
  CHECK(ns == 10000);
  CHECK(!garden::cli::parse_duration("", ns));
  CHECK(!garden::cli::parse_duration("5x", ns));
  CHECK(!garden::cli::parse_duration("-5", ns));
}
