// garden-shim's state and route handlers. One Server owns every container of the depot;
// its methods are called concurrently from the connection threads.
#pragma once

#include <sys/eventfd.h>
#include <sys/types.h>

#include <atomic>
#include <chrono>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "base/fd.hpp"
#include "garden/bundle/process_spec.hpp"
#include "garden/http/http_io.hpp"
#include "garden/http/request_parser.hpp"
#include "garden/image/plugin.hpp"
#include "garden/net/networker.hpp"
#include "garden/runtime/runtime.hpp"

namespace garden {

using json = nlohmann::json;
using Clock = std::chrono::steady_clock;

struct Config {
  std::string depot = "/var/lib/garden-shim";
  std::string runtime;                   // the OCI runtime binary
  std::string default_rootfs;            // used when a spec has no rootfs
  std::string cgroup_parent = "garden";  // cgroupsPath = <parent>/<handle>
  std::string bin_dir;                   // where garden-init and garden-dadoo live
  long long default_grace_ns = 0;        // 0: containers live until destroyed
  long long stop_timeout_ms = 10000;     // SIGTERM -> SIGKILL on stop
  int max_containers = 1024;
  std::string log_level = "info";
  std::string apparmor_profile;  // of unprivileged containers' processes ("" none): --apparmor
  image::Plugins image_plugins;  // --image-plugin, --privileged-image-plugin (+ extra args)
  net::Config net;               // networking flags (garden/net/)
};

// One stream id of a process: the run/attach connection and its stdout/stderr connections.
struct Attach {
  off_t out_start = 0, err_start = 0;
  off_t out_pos = 0, err_pos = 0;  // how far each stream has delivered
  bool out_open = false, out_done = false, err_open = false, err_done = false;
  bool live = true;  // its run/attach connection is (about to be) served
  // Written by a stream thread when it is done, so the run/attach connection sends the
  // exit status at once instead of polling for out_done/err_done.
  crunner::UniqueFd wake{eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK)};
};

struct Process {
  std::mutex mu;
  std::string id, dir;
  bool tty = false;
  int next_stream = 1;
  int attachers = 0;       // run/attach connections announced (201/200) and not yet ended
  bool reported = false;   // an exit status went out
  bool forgotten = false;  // out of its container's table: its routes answer "unknown process"
  // Reported, no attacher left, but a stream the client was told about (stream_id) never
  // opened: kept until then for a client whose stream request is still on its way
  // (processes.cpp: forgetting).
  Clock::time_point forget_at{};
  off_t out_delivered = 0, err_delivered = 0;
  // Output every live stream has delivered is punched out of the files (they stay sparse,
  // offsets stay valid), so a chatty long-running process does not fill the depot.
  off_t out_punched = 0, err_punched = 0;
  std::map<std::string, std::shared_ptr<Attach>> attaches;
};

struct Container {
  std::mutex mu;
  std::string handle;
  std::string dir;  // <depot>/containers/<handle>: the bundle and all state
  json meta;        // persisted as meta.json
  Clock::time_point touched = Clock::now();
  int active = 0;  // requests in flight (pause the grace timer)
  bool destroying = false;
  std::map<std::string, std::shared_ptr<Process>> processes;
};

class Server {
 public:
  explicit Server(Config cfg);
  // Reloads the containers and processes recorded in the depot.
  std::string load();
  Response handle(Request& req);
  // Destroys containers whose grace time has passed, and forgets exited processes whose
  // unopened streams waited long enough; called by the reaper thread.
  void reap_expired();
  const Config& config() const { return cfg_; }

 private:
  friend struct ActiveGuard;
  std::shared_ptr<Container> find(const std::string& handle);
  Response route(Request& req, const std::vector<std::string>& seg);

  // containers.cpp
  Response create(const Request& req);
  // create's steps, in order; each returns "" or the error (containers.cpp).
  struct Creating;
  std::optional<Response> claim_handle(Creating& n);
  std::string check_container_options(Creating& n);
  std::string make_container_dir(Creating& n);
  std::string make_rootfs(Creating& n);
  std::string prepare_network(Creating& n);
  std::string write_bundle(Creating& n);
  std::string record_meta(Creating& n);
  std::string run_container(Creating& n);
  Response list(const Request& req);
  Response info(const std::string& handle);
  nlohmann::ordered_json info_json(Container& c);
  Response bulk_info(const Request& req);
  Response destroy(const std::string& handle);
  std::string destroy_container(const std::shared_ptr<Container>& c);
  Response stop(const std::string& handle, const Request& req);
  Response properties(const std::string& handle, const Request& req, const std::string& key);
  Response limits(const std::string& handle, const std::string& which);
  Response grace_time(const std::string& handle, const Request& req);
  Response capacity();
  void save_meta(Container& c);

  // processes.cpp
  Response run(const std::string& handle, const Request& req);
  Response attach(const std::string& handle, const std::string& pid);
  // run's steps, in order; each returns the error response or nothing (processes.cpp).
  struct Starting;
  std::optional<Response> check_run_spec(Starting& n);
  std::optional<Response> resolve_process(Starting& n);
  std::optional<Response> claim_process_id(Starting& n);
  std::optional<Response> prepare_pea_bundle(Starting& n);
  std::optional<Response> start_supervisor(Starting& n);
  // The response of run (201) and attach (200): a new stream id of p, served by serve_process.
  Response process_connection(const std::shared_ptr<Container>& c,
                              const std::shared_ptr<Process>& p, int status);
  Response attach_stream(const std::string& handle, const std::string& pid,
                         const std::string& stream_id, const std::string& which);
  void load_processes(Container& c);
  void serve_process(std::shared_ptr<Container> c, std::shared_ptr<Process> p,
                     std::string stream_id, int fd, std::string leftover);
  std::vector<std::string> running_process_ids(Container& c);
  void forget_unclaimed_processes();

  // peas.cpp: a process with its own image; writes its bundle and pea.json into p.dir
  // and sets pj (its process) and u (its user, from its own image); "" or the error.
  std::string prepare_pea(Container& c, const json& spec, const json& meta, Process& p, json& pj,
                          User& u);
  // Removes the peas of a container being destroyed (runtime containers, plugin images).
  void cleanup_peas(Container& c);

  // metrics.cpp
  Response metrics(const std::string& handle);
  Response bulk_metrics(const Request& req);
  nlohmann::ordered_json metrics_json(Container& c, std::string& err);
  // Metrics of a running pea (a process with its own image) named by its process id, as
  // Guardian answers Metrics/BulkMetrics for a pea's handle; nullopt when none is running.
  std::optional<nlohmann::ordered_json> pea_metrics(const std::string& id, std::string& err);

  // net routes (garden/net/ does the work)
  Response net_in(const std::string& handle, const Request& req);
  Response net_out(const std::string& handle, const Request& req, bool bulk);

  // files.cpp
  struct StreamCall;
  std::optional<Response> stream_call(const std::string& handle, const Request& req,
                                      const char* param, const char* what, StreamCall& call);
  Response stream_in(const std::string& handle, const Request& req);
  Response stream_out(const std::string& handle, const Request& req);

  Config cfg_;
  Runtime runtime_;
  std::unique_ptr<net::Networker> net_;
  std::mutex mu_;
  std::map<std::string, std::shared_ptr<Container>> containers_;
};

// Marks a container busy for the lifetime of a request (the grace timer is paused).
struct ActiveGuard {
  std::shared_ptr<Container> c;
  explicit ActiveGuard(std::shared_ptr<Container> cc);
  ~ActiveGuard();
  ActiveGuard(const ActiveGuard&) = delete;
  ActiveGuard& operator=(const ActiveGuard&) = delete;
};

std::string new_uuid();
// A container's meta is complete once the runtime has created it.
inline bool is_ready(const json& meta) {
  return meta.is_object() && meta.contains("ready") && meta["ready"].is_boolean() &&
         meta["ready"].get<bool>();
}
long long now_unix_ns();
// The host id of a container uid/gid (unprivileged: 0 -> 4294967294, others unchanged).
long long host_id(long long id, bool privileged);
// Creates dir and its missing parents (0755, owned by host uid:gid) inside the root of the
// container whose depot directory is cdir, as its init sees it; "" or "<what> `dir`: ...".
std::string make_dir_as(const std::string& cdir, const std::string& dir, long long uid,
                        long long gid, const std::string& what);

}  // namespace garden
