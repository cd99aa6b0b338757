// Container routes: create, list, info, bulk_info, destroy, stop, properties, limits,
// grace time, capacity.
#include <poll.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <filesystem>
#include <iostream>
#include <thread>

#include "base/file.hpp"
#include "base/proc.hpp"
#include "base/text.hpp"
#include "base/undo.hpp"
#include "garden/api/decode.hpp"
#include "garden/api/server.hpp"
#include "garden/bundle/bundle.hpp"
#include "garden/cgroups/hierarchies.hpp"
#include "garden/cgroups/memory.hpp"
#include "garden/rootfs/rootfs_layer.hpp"

namespace garden {

namespace {

std::string resolve_rootfs(const std::string& rootfs, const std::string& def, std::string& err) {
  std::string r = rootfs.empty() ? def : rootfs;
  if (r.empty()) {
    err = "no rootfs given and no --default-rootfs configured";
    return "";
  }
  if (r.rfind("raw://", 0) == 0) r = r.substr(6);
  if (r.find("://") != std::string::npos) {
    err = "unsupported rootfs scheme: " + r;
    return "";
  }
  struct stat st;
  if (r.empty() || r[0] != '/' || stat(r.c_str(), &st) < 0 || !S_ISDIR(st.st_mode)) {
    err = "rootfs `" + r + "` is not a directory";
    return "";
  }
  return r;
}

// The number fields of one of garden's limits objects, as the Go client's structs marshal
// them: unknown fields dropped, zeros omitted (omitempty).
json limits_object(const json& l, const std::vector<const char*>& fields) {
  json out = json::object();
  if (!l.is_object()) return out;
  for (const char* f : fields)
    if (l.contains(f) && l[f].is_number() && l[f].get<double>() > 0) out[f] = l[f];
  return out;
}

bool has_event(const json& events, const std::string& e) {
  for (auto& v : events)
    if (v == e) return true;
  return false;
}

// A supervisor or stream thread may still be writing its last file into the
// tree (exit status, output) while it is removed: retry until it is gone. The
// container's rootfs overlay and disk-limit file system are unmounted first: a tree is
// never deleted through a mount.
// With `trash` (destroy): once unmounted, the tree is renamed into the trash directory and
// deleted there by a background thread, so the handle is free at once and destroy does not
// wait for the file system's metadata work (30-60 ms for a container's ~30 entries on this
// host's shared disk under load). A shim start empties the trash (Server::load).
// Without `loops` (a container known to have no disk-limit file system) the loop devices are
// not scanned: that reads /sys/block/loop*/loop/backing_file of every loop device of the host.
void remove_tree(const std::string& path, const std::string& trash = "", bool loops = true) {
  // Nothing there (every create clears a stale tree first): no mount table or loop scan.
  struct stat st;
  if (lstat(path.c_str(), &st) < 0 && errno == ENOENT) return;
  if (!unmount_under(path).empty()) return;
  if (loops) wait_loops_released(path);  // destroy returns once the loop device is gone
  if (!trash.empty()) {
    std::string to = trash + "/" + path.substr(path.rfind('/') + 1) + "." + new_uuid();
    if (::rename(path.c_str(), to.c_str()) == 0) {
      std::thread([to] {
        std::error_code ec;
        std::filesystem::remove_all(to, ec);
      }).detach();
      return;
    }
  }
  for (int i = 0; i < 50; ++i) {
    std::error_code ec;
    std::filesystem::remove_all(path, ec);
    if (!std::filesystem::exists(path, ec)) return;
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
}

// Waits up to timeout_ms for every pid to exit (exited = its pidfd readable; a zombie
// counts as exited). Event-driven: no polling interval is added to a destroy.
void wait_exited(const std::vector<pid_t>& pids, int timeout_ms) {
  std::vector<crunner::UniqueFd> fds;
  std::vector<pollfd> p;
  for (pid_t pid : pids) {
    crunner::UniqueFd fd(static_cast<int>(syscall(SYS_pidfd_open, pid, 0)));
    if (!fd) continue;  // ESRCH: already reaped
    p.push_back({fd.get(), POLLIN, 0});
    fds.push_back(std::move(fd));
  }
  auto deadline = Clock::now() + std::chrono::milliseconds(timeout_ms);
  while (!p.empty()) {
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now());
    if (left.count() <= 0) return;
    int n = ::poll(p.data(), p.size(), static_cast<int>(left.count()));
    if (n < 0 && errno != EINTR) return;
    std::erase_if(p, [](const pollfd& x) { return x.revents != 0; });
  }
}

}  // namespace

Response Server::capacity() {
  unsigned long long mem = crunner::memory_total();
  long long max_containers = cfg_.max_containers;
  if (net_->capacity() < static_cast<unsigned long long>(max_containers))
    max_containers = static_cast<long long>(net_->capacity());
  struct statvfs sv;
  unsigned long long disk = 0;
  if (statvfs(cfg_.depot.c_str(), &sv) == 0)
    disk = static_cast<unsigned long long>(sv.f_blocks) * sv.f_frsize;
  return json_response(200, nlohmann::ordered_json{{"memory_in_bytes", mem},
                                                   {"disk_in_bytes", disk},
                                                   {"schedulable_disk_in_bytes", disk},
                                                   {"max_containers", max_containers}});
}

// What create's steps share: each reads what the earlier ones made and adds to `undo` how to
// take away what it made itself (Guardian's create clean-up), so a failure, or a field of
// the wrong JSON type throwing half-way, leaves nothing and frees the handle.
struct Server::Creating {
  json spec;
  std::string handle;
  std::shared_ptr<Container> c;
  json limits;
  DiskLimits dl;
  bool privileged = false;
  std::string uri;                        // the image asked for, or the default
  std::string image;                      // the plugin's URI, or the raw rootfs directory
  const image::Plugin* plugin = nullptr;  // an image plugin makes the rootfs
  image::ImageSpec ispec;
  Layer layer;
  BundleParams bp;
  uid_t root_uid = 0;             // the container's root as the host sees it
  json network = json::object();  // the container's network state, once allocated
  json config;                    // config.json
  crunner::Undo undo;
};

// The handle taken in the table (or why not).
std::optional<Response> Server::claim_handle(Creating& n) {
  {
    std::lock_guard<std::mutex> lk(mu_);
    if (containers_.count(n.handle))
      return error_response("", "Handle '" + n.handle + "' already in use", n.handle);
    if (static_cast<int>(containers_.size()) >= cfg_.max_containers)
      return error_response("",
                            "max containers reached (" + std::to_string(cfg_.max_containers) + ")");
    containers_[n.handle] = n.c;
  }
  n.undo.add([this, h = n.handle] {
    std::lock_guard<std::mutex> lk(mu_);
    containers_.erase(h);
  });
  return std::nullopt;
}

// The spec's limits, networking and image checked before anything is made. With an image
// plugin, every URI but raw:// is its business (Guardian's volume provider); without one,
// the built-in raw path.
std::string Server::check_container_options(Creating& n) {
  std::string err;
  std::string rootfs_uri = image::spec_image_uri(n.spec, err);
  if (!err.empty()) return err;
  n.limits = n.spec.value("limits", json::object());
  if (!n.limits.is_object()) return "invalid limits: expected an object";
  if (!net_->enabled()) {
    for (const char* k : {"netin", "netout_rules"})
      if (n.spec.contains(k) && n.spec[k].is_array() && !n.spec[k].empty())
        return std::string(k) + ": networking is disabled (--disable-networking)";
    if (!n.spec.value("network", "").empty() ||
        !limits_object(n.limits.value("bandwidth_limits", json::object()), {"rate", "burst"})
             .empty())
      return "network: networking is disabled (--disable-networking)";
  }
  n.dl = parse_disk_limits(n.limits.value("disk_limits", json()), err);
  if (!err.empty()) return err;
  n.privileged = n.spec.value("privileged", false);
  n.root_uid = n.privileged ? 0 : 4294967294u;
  n.uri = rootfs_uri.empty() ? cfg_.default_rootfs : rootfs_uri;
  if (cfg_.image_plugins.any() && !image::is_raw(n.uri)) {
    n.plugin = cfg_.image_plugins.for_container(n.privileged, err);
    if (!n.plugin) return err;
  }
  n.image = n.plugin ? n.uri : resolve_rootfs(rootfs_uri, cfg_.default_rootfs, err);
  return err;
}

// The container's depot directory (a stale tree of the handle cleared first).
std::string Server::make_container_dir(Creating& n) {
  remove_tree(n.c->dir);
  n.undo.add([dir = n.c->dir] { remove_tree(dir); });
  if (auto st = crunner::mkdir_p(n.c->dir + "/processes", 0755); !st) return st.error().what();
  chmod(n.c->dir.c_str(), 0755);
  return "";
}

// The rootfs: the image plugin's, or the built-in layer over a raw directory.
std::string Server::make_rootfs(Creating& n) {
  if (!n.plugin) {
    std::string err = create_layer(n.c->dir, n.image, n.dl, n.layer, n.privileged,
                                   cfg_.depot + "/layer-templates");
    return err.empty() ? "" : "rootfs layer: " + err;
  }
  n.undo.add([this, h = n.handle] { cfg_.image_plugins.destroy(h); });
  std::string err;
  if (!cfg_.image_plugins.create(*n.plugin,
                                 image::create_request(n.spec, n.uri, n.handle, n.privileged,
                                                       n.dl.byte_hard, n.dl.scope == 1),
                                 n.ispec, err))
    return err;
  n.layer.merged = n.ispec.root_path;
  return "";
}

// The network allocated (or, without networking, plain hosts and resolv.conf files); both
// files belong to the container's root, which may rewrite them.
std::string Server::prepare_network(Creating& n) {
  BundleParams& bp = n.bp;
  bp.image_env = n.ispec.env;
  bp.image_mounts = n.ispec.mounts;
  bp.handle = n.handle;
  bp.rootfs = n.layer.merged;
  bp.init_path = cfg_.bin_dir + "/garden-init";
  bp.hosts_file = n.c->dir + "/hosts";
  bp.resolv_file = n.c->dir + "/resolv.conf";
  bp.cgroup_parent = cfg_.cgroup_parent;
  if (!n.privileged) bp.apparmor_profile = cfg_.apparmor_profile;
  std::string err =
      net_->enabled()
          ? net_->prepare(n.handle, n.spec, n.root_uid, bp.hosts_file, bp.resolv_file, n.network)
          : net::write_plain_dns(n.handle, n.root_uid, bp.hosts_file, bp.resolv_file,
                                 net_->config().host_resolv);
  if (!err.empty()) return "network: " + err;
  n.undo.add([this, &n] { net_->teardown(n.network); });
  return "";
}

// config.json (garden/bundle/) written into the depot, its mount points made in the rootfs.
std::string Server::write_bundle(Creating& n) {
  std::string err;
  n.config = build_config(n.spec, n.bp, err);
  if (!err.empty()) return err;
  err = prepare_mountpoints(n.layer.merged, n.config, n.root_uid, n.root_uid);
  if (!err.empty()) return "prepare rootfs: " + err;
  if (auto st = crunner::write_file_atomic(n.c->dir + "/config.json", n.config.dump(2), 0644,
                                           crunner::Durability::Rename);
      !st)
    return st.error().what();
  return "";
}

// meta.json, not ready yet: a shim restarted now finds the container and destroys it.
std::string Server::record_meta(Creating& n) {
  json props = json::object();
  if (n.spec.contains("properties") && n.spec["properties"].is_object())
    for (auto& [k, v] : n.spec["properties"].items())
      if (v.is_string()) props[k] = v;
  props["garden.state"] = "created";
  net::Networker::set_properties(n.network, props);
  long long grace = n.spec.value("grace_time", 0LL);
  if (grace <= 0) grace = cfg_.default_grace_ns;
  const Layer& l = n.layer;
  std::lock_guard<std::mutex> lk(n.c->mu);
  json& m = n.c->meta;
  m = {{"handle", n.handle},
       {"rootfs", l.merged},
       {"image", n.image},
       {"layer",
        {{"limited", l.limited},
         {"image_known", l.limited && n.dl.scope == 0},
         {"image_bytes", l.image.bytes},
         {"image_inodes", l.image.inodes},
         {"base_bytes", l.base.bytes},
         {"base_inodes", l.base.inodes}}},
       {"privileged", n.privileged},
       {"env", n.config["process"]["env"]},
       {"limits", n.limits},
       {"properties", props},
       {"grace_time", grace},
       {"created_ns", now_unix_ns()},
       {"state", "active"},
       {"ready", false}};
  if (n.plugin) {
    m["image_plugin"] = n.plugin == &cfg_.image_plugins.privileged ? "privileged" : "unprivileged";
    m.erase("layer");
  }
  if (!n.network.empty()) m["network"] = n.network;
  // Its processes run under its init's profile, whatever a later shim is started with.
  if (!n.bp.apparmor_profile.empty()) m["apparmor_profile"] = n.bp.apparmor_profile;
  save_meta(*n.c);
  return "";
}

// The runtime runs the container (its init detached), the network is attached to it, and the
// container is marked ready.
std::string Server::run_container(Creating& n) {
  n.undo.add([this, h = n.handle] { runtime_.remove(h); });
  int init_pid = 0;
  std::string err = runtime_.run_detached(n.handle, n.c->dir, n.c->dir + "/runtime.log",
                                          n.c->dir + "/init.pid", &init_pid);
  if (!err.empty()) return "runtime run: " + err;
  if (net_->enabled()) {
    err = net_->attach(n.handle, init_pid, n.spec, n.network);
    if (!err.empty()) return "network: " + err;
  }
  std::lock_guard<std::mutex> lk(n.c->mu);
  n.c->meta["ready"] = true;
  if (!n.network.empty()) {
    n.c->meta["network"] = n.network;  // with the spec's net-in mappings
    net::Networker::set_properties(n.network, n.c->meta["properties"]);
  }
  n.c->meta["memory_cgroup"] = cgroups::memory_dir(init_pid);
  n.c->meta["cgroup_dirs"] = cgroups::cgroup_dirs(init_pid);
  n.c->touched = Clock::now();
  save_meta(*n.c);
  return "";
}

Response Server::create(const Request& req) {
  Creating n;
  n.spec = json::parse(req.body.empty() ? "{}" : req.body, nullptr, false);
  if (n.spec.is_discarded()) return bad_request("invalid container spec: malformed JSON");
  if (auto e = check_container_spec(n.spec); !e.empty()) return bad_request(e);
  drop_nulls(n.spec);
  if (n.spec.contains("handle") && n.spec["handle"].is_string())
    n.handle = n.spec["handle"].get<std::string>();
  if (n.handle.empty()) n.handle = new_uuid().substr(0, 23);
  n.c = std::make_shared<Container>();
  n.c->handle = n.handle;
  n.c->dir = depot_child(cfg_.depot + "/containers", n.handle);
  if (auto r = claim_handle(n)) return *r;
  static constexpr std::string (Server::*kSteps[])(Creating&) = {&Server::check_container_options,
                                                                 &Server::make_container_dir,
                                                                 &Server::make_rootfs,
                                                                 &Server::prepare_network,
                                                                 &Server::write_bundle,
                                                                 &Server::record_meta,
                                                                 &Server::run_container};
  std::string err;
  try {
    for (auto step : kSteps)
      if (err = (this->*step)(n); !err.empty()) break;
  } catch (const std::exception& e) {
    err = std::string("invalid container spec: ") + e.what();
  }
  if (!err.empty()) return error_response("", err, n.handle);
  n.undo.dismiss();
  return json_response(200, json{{"Handle", n.handle}});
}

Response Server::list(const Request& req) {
  json handles = json::array();
  std::lock_guard<std::mutex> lk(mu_);
  for (auto& [h, c] : containers_) {
    std::lock_guard<std::mutex> clk(c->mu);
    if (c->destroying || !is_ready(c->meta)) continue;
    const json& props = c->meta["properties"];
    bool match = true;
    for (auto& [k, v] : req.query) {
      // Guardian lists every created container for garden.state=all (Diego's clean-up
      // at start-up asks for that); the property itself stays "created" for life.
      if (k == "garden.state" && v == "all") continue;
      if (!props.contains(k) || props[k] != v) {
        match = false;
        break;
      }
    }
    if (match) handles.push_back(h);
  }
  return json_response(200, json{{"Handles", handles}});
}

nlohmann::ordered_json Server::info_json(Container& c) {
  json props, state, events, network;
  std::string memcg;
  {
    std::lock_guard<std::mutex> lk(c.mu);
    props = c.meta["properties"];
    network = c.meta.value("network", json::object());
    state = c.meta["state"];
    events = c.meta.value("events", json::array());
    memcg = c.meta.value("memory_cgroup", "");
  }
  if (!has_event(events, "out of memory") && cgroups::oom_killed(memcg)) {
    events.push_back("out of memory");
    std::lock_guard<std::mutex> lk(c.mu);
    c.meta["events"] = events;
    save_meta(c);
  }
  json ids = json::array();
  for (auto& id : running_process_ids(c)) ids.push_back(id);
  // garden's ContainerInfo, fields in its order.
  nlohmann::ordered_json ports = nlohmann::ordered_json::array();
  for (auto& m : network.value("mapped_ports", json::array()))
    ports.push_back(
        {{"HostPort", m.value("HostPort", 0)}, {"ContainerPort", m.value("ContainerPort", 0)}});
  return {{"State", state},
          {"Events", events},
          {"HostIP", network.value("gateway", "")},
          {"ContainerIP", network.value("ip", "")},
          {"ExternalIP", network.value("external_ip", "")},
          {"ContainerPath", c.dir},
          {"ProcessIDs", ids},
          {"Properties", props},
          {"MappedPorts", ports}};
}

Response Server::info(const std::string& handle) {
  auto c = find(handle);
  if (!c) return unknown_handle(handle);
  ActiveGuard g(c);
  return json_response(200, info_json(*c));
}

Response Server::bulk_info(const Request& req) {
  nlohmann::ordered_json out = nlohmann::ordered_json::object();
  std::vector<std::string> handles;
  if (auto e = decode_handles(req.query, handles); !e.empty()) return bad_request(e);
  for (const std::string& h : handles) {
    auto c = find(h);
    if (!c) {
      // Info is the zero ContainerInfo, as Go marshals it.
      nlohmann::ordered_json zero = {
          {"State", ""},           {"Events", nullptr},     {"HostIP", ""},
          {"ContainerIP", ""},     {"ExternalIP", ""},      {"ContainerPath", ""},
          {"ProcessIDs", nullptr}, {"Properties", nullptr}, {"MappedPorts", nullptr}};
      out[h] = {{"Info", zero}, {"Err", nlohmann::ordered_json::parse(unknown_handle(h).body)}};
      continue;
    }
    ActiveGuard g(c);
    out[h] = {{"Info", info_json(*c)}, {"Err", nullptr}};
  }
  return json_response(200, out);
}

std::string Server::destroy_container(const std::shared_ptr<Container>& c) {
  {
    std::lock_guard<std::mutex> lk(mu_);
    std::lock_guard<std::mutex> clk(c->mu);
    if (c->destroying) return "";
    c->destroying = true;
  }
  std::string err = runtime_.remove(c->handle);
  if (!err.empty() && runtime_.status(c->handle) != "") {
    std::lock_guard<std::mutex> clk(c->mu);
    c->destroying = false;
    return "runtime delete: " + err;
  }
  // The supervisors see their processes die; give them a moment, then make sure.
  std::vector<pid_t> sups;
  {
    std::error_code ec;
    for (auto& e : std::filesystem::directory_iterator(c->dir + "/processes", ec)) {
      long long pid = 0;
      if (crunner::read_i64_file(e.path().string() + "/dadoo.pid", pid) && pid > 1)
        sups.push_back(static_cast<pid_t>(pid));
    }
  }
  wait_exited(sups, 2000);
  for (pid_t p : sups)
    if (crunner::process_running(p)) ::kill(p, SIGKILL);
  cleanup_peas(*c);
  // Guardian's order: the network, then the image. The network state leaves the metadata as
  // it is released, so a destroy retried after a failed image delete does not release twice.
  json network;
  std::string plugin;
  bool loops = true;  // unless the metadata says the layer has no loop file system
  {
    std::lock_guard<std::mutex> clk(c->mu);
    network = c->meta.value("network", json::object());
    plugin = c->meta.value("image_plugin", "");
    const json& layer = c->meta.value("layer", json());
    if (layer.is_object() && layer.contains("limited") && layer["limited"].is_boolean())
      loops = layer["limited"].get<bool>();
  }
  if (auto e = net_->teardown(network); !e.empty())
    std::cerr << "garden-shim: destroy " << c->handle << ": network: " << e << "\n";
  if (!network.empty()) {
    std::lock_guard<std::mutex> clk(c->mu);
    c->meta.erase("network");
    save_meta(*c);
  }
  if (!plugin.empty()) {
    // As Guardian: a failed image delete keeps the container, so destroy can be retried.
    err = cfg_.image_plugins.destroy(c->handle);
    if (!err.empty()) {
      std::lock_guard<std::mutex> clk(c->mu);
      c->destroying = false;
      return err;
    }
  }
  remove_tree(c->dir, cfg_.depot + "/trash", loops);
  std::lock_guard<std::mutex> lk(mu_);
  auto it = containers_.find(c->handle);
  if (it != containers_.end() && it->second == c) containers_.erase(it);
  return "";
}

Response Server::destroy(const std::string& handle) {
  std::shared_ptr<Container> c;
  {
    std::lock_guard<std::mutex> lk(mu_);
    auto it = containers_.find(handle);
    if (it != containers_.end() && !it->second->destroying) c = it->second;
  }
  if (!c) return unknown_handle(handle);
  std::string err = destroy_container(c);
  if (!err.empty()) return error_response("", err, handle);
  return json_response(200, json::object());
}

Response Server::stop(const std::string& handle, const Request& req) {
  auto c = find(handle);
  if (!c) return unknown_handle(handle);
  ActiveGuard g(c);
  json body = json::parse(req.body.empty() ? "{}" : req.body, nullptr, false);
  if (!body.is_object()) return bad_request("invalid stop request: expected a JSON object", handle);
  if (body.contains("kill") && !body["kill"].is_boolean() && !body["kill"].is_null())
    return bad_request("invalid stop request: kill: expected true or false", handle);
  bool kill_now = body.contains("kill") && body["kill"].is_boolean() && body["kill"].get<bool>();
  // Guardian (rundmc/containerizer.go Stop -> stopper.StopAll with the init's pid saved):
  // every process but the container's init gets TERM, then KILL after the timeout (at once
  // with kill:true); the init lives on, so processes can still run and files still stream.
  long long init_pid = 0;
  crunner::read_i64_file(c->dir + "/init.pid", init_pid);
  auto others = [&] {
    std::vector<int> v;
    for (int pid : runtime_.pids(handle))
      if (pid != init_pid) v.push_back(pid);
    return v;
  };
  auto signal_all = [&](int sig) {
    auto v = others();
    for (int pid : v) ::kill(pid, sig);
    return !v.empty();
  };
  if (!kill_now && signal_all(SIGTERM)) {
    auto deadline = Clock::now() + std::chrono::milliseconds(cfg_.stop_timeout_ms);
    while (Clock::now() < deadline && !others().empty())
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  for (int i = 0; i < 100 && signal_all(SIGKILL); ++i)
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  std::lock_guard<std::mutex> lk(c->mu);
  c->meta["state"] = "stopped";
  save_meta(*c);
  return json_response(200, json::object());
}

Response Server::properties(const std::string& handle, const Request& req, const std::string& key) {
  auto c = find(handle);
  if (!c) return unknown_handle(handle);
  ActiveGuard g(c);
  std::lock_guard<std::mutex> lk(c->mu);
  json& props = c->meta["properties"];
  if (key.empty()) {
    if (req.method == "GET") return json_response(200, props);
    return error_response("", "no route for " + req.method + " " + req.path);
  }
  if (req.method == "GET") {
    if (!props.contains(key)) return error_response("", "property does not exist: " + key, handle);
    return json_response(200, json{{"value", props[key]}});
  }
  if (req.method == "PUT") {
    json body = json::parse(req.body, nullptr, false);
    if (!body.is_object() || !body.contains("value") || !body["value"].is_string())
      return bad_request("invalid property request: value: expected a string", handle);
    props[key] = body["value"];
    save_meta(*c);
    return json_response(200, json::object());
  }
  if (req.method == "DELETE") {
    if (!props.contains(key)) return error_response("", "property does not exist: " + key, handle);
    props.erase(key);
    save_meta(*c);
    return json_response(200, json::object());
  }
  return error_response("", "no route for " + req.method + " " + req.path);
}

Response Server::limits(const std::string& handle, const std::string& which) {
  auto c = find(handle);
  if (!c) return unknown_handle(handle);
  ActiveGuard g(c);
  // What the container was created with (and what is applied), marshalled like garden's
  // BandwidthLimits, CPULimits, DiskLimits and MemoryLimits: omitempty fields.
  static const std::map<std::string, std::pair<const char*, std::vector<const char*>>> keys = {
      {"bandwidth", {"bandwidth_limits", {"rate", "burst"}}},
      {"cpu", {"cpu_limits", {"weight", "limit_in_shares"}}},
      {"disk", {"disk_limits", {"inode_soft", "inode_hard", "byte_soft", "byte_hard", "scope"}}},
      {"memory", {"memory_limits", {"limit_in_bytes"}}}};
  auto it = keys.find(which);
  if (it == keys.end()) return error_response("", "unknown limit: " + which, handle);
  std::lock_guard<std::mutex> lk(c->mu);
  json l = c->meta["limits"];
  json sub = l.is_object() ? l.value(it->second.first, json::object()) : json::object();
  return json_response(200, limits_object(sub, it->second.second));
}

Response Server::grace_time(const std::string& handle, const Request& req) {
  auto c = find(handle);
  if (!c) return unknown_handle(handle);
  json body = json::parse(req.body, nullptr, false);
  if (auto e = check_grace_time(body); !e.empty()) return bad_request(e, handle);
  std::lock_guard<std::mutex> lk(c->mu);
  c->meta["grace_time"] = body.get<long long>();
  c->touched = Clock::now();
  save_meta(*c);
  return json_response(200, json::object());
}

}  // namespace garden
