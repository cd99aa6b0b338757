#include "garden/debug/debug_server.hpp"

#include <unistd.h>

#include <filesystem>
#include <future>
#include <memory>
#include <thread>

#include <nlohmann/json.hpp>

#include "base/file.hpp"
#include "base/text.hpp"
#include "garden/http/http_server.hpp"

namespace garden {

namespace {

// Entries of a directory ("." and ".." excluded), or -1 when it cannot be read, as
// Guardian's MetricsProvider reports a failure.
long long count_entries(const std::string& dir, const char* only_with = nullptr) {
  std::error_code ec;
  std::filesystem::directory_iterator it(dir, ec);
  if (ec) return -1;
  long long n = 0;
  for (auto& e : it) {
    if (only_with && !std::filesystem::exists(e.path() / only_with, ec)) continue;
    ++n;
  }
  return n;
}

// Field of /proc/self/status in bytes ("VmRSS:  123 kB"), 0 when absent.
unsigned long long status_kb(const std::string& status, const std::string& key) {
  for (auto& line : crunner::split(status, '\n')) {
    if (line.rfind(key + ":", 0) != 0) continue;
    unsigned long long v = 0;
    std::string num;
    for (char ch : line.substr(key.size() + 1))
      if (isdigit(static_cast<unsigned char>(ch))) num += ch;
    if (crunner::parse_u64(num, v)) return v * 1024;
  }
  return 0;
}

// Attached loop devices on the host (Guardian counts the lines of `losetup -a`).
long long attached_loops() {
  std::error_code ec;
  long long n = 0;
  for (auto& e : std::filesystem::directory_iterator("/sys/block", ec))
    if (e.path().filename().string().rfind("loop", 0) == 0 &&
        std::filesystem::exists(e.path() / "loop" / "backing_file", ec))
      ++n;
  return n;
}

}  // namespace

std::string debug_vars_json(const DebugServerConfig& cfg) {
  auto status = crunner::read_file("/proc/self/status");
  std::string st = status ? *status : "";
  unsigned long long threads = 0;
  for (auto& line : crunner::split(st, '\n'))
    if (line.rfind("Threads:", 0) == 0) crunner::parse_u64(crunner::trim(line.substr(8)), threads);
  long cpus = sysconf(_SC_NPROCESSORS_ONLN);
  // Go's runtime.MemStats has no counterpart in a C++ process: the kernel's view of ours.
  nlohmann::ordered_json mem = {{"Alloc", status_kb(st, "VmRSS")},
                                {"HeapAlloc", status_kb(st, "RssAnon")},
                                {"Sys", status_kb(st, "VmSize")}};
  std::string containers = cfg.depot + "/containers";
  // Sorted keys, one per line: expvar's own format.
  std::vector<std::pair<std::string, nlohmann::ordered_json>> vars = {
      {"backingStores", count_entries(containers, "disk.img")},
      {"cmdline", cfg.cmdline},
      {"depotDirs", count_entries(containers)},
      {"loopDevices", attached_loops()},
      {"memstats", mem},
      {"numCPUS", cpus > 0 ? cpus : 1},
      {"numGoRoutines", threads},
  };
  std::string out = "{\n";
  for (size_t i = 0; i < vars.size(); ++i) {
    // Arguments need not be UTF-8: replaced, never thrown on.
    out += nlohmann::json(vars[i].first).dump() + ": " +
           vars[i].second.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
    out += i + 1 < vars.size() ? ",\n" : "\n";
  }
  return out + "}";
}

std::string start_debug_server(const DebugServerConfig& cfg) {
  ListenConfig lc;
  lc.bind_ip = cfg.bind_ip;
  lc.bind_port = cfg.bind_port;
  lc.max_connections = 64;  // a handful of operators' tools, never Diego's traffic
  auto ready = std::make_shared<std::promise<std::string>>();
  auto fut = ready->get_future();
  auto conf = std::make_shared<DebugServerConfig>(cfg);
  std::thread([lc, ready, conf] {
    auto answered = std::make_shared<bool>(false);
    std::string err = serve(
        lc,
        [conf](Request& r) {
          if (r.method == "GET" && (r.path == "/debug/vars" || r.path == "/debug/vars/")) {
            Response resp;
            resp.status = 200;
            resp.content_type = "application/json; charset=utf-8";
            try {
              resp.body = debug_vars_json(*conf);
            } catch (const std::exception& e) {
              return error_response("", std::string("debug vars: ") + e.what());
            }
            return resp;
          }
          Response nf = error_response("", "no debug route for " + r.method + " " + r.path);
          nf.status = 404;
          return nf;
        },
        [](const RequestHead&) { return false; },
        [ready, answered] {
          *answered = true;
          ready->set_value("");
        });
    if (!*answered) ready->set_value("debug server: " + err);
  }).detach();
  return fut.get();
}

}  // namespace garden
