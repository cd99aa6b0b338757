// Container routes: create, list, info, bulk_info, destroy, stop, properties, limits,
// grace time, capacity.
#include <poll.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <iostream>
#include <thread>

#include "garden/api/decode.hpp"
#include "garden/api/server.hpp"
#include "garden/bundle/bundle.hpp"
#include "garden/cgroups/hierarchies.hpp"
#include "garden/cgroups/memory.hpp"
#include "garden/rootfs/rootfs_layer.hpp"
#include "libcontainer/utils.hpp"

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
  unsigned long long mem = 0;
  std::ifstream f("/proc/meminfo");
  std::string k;
  unsigned long long v;
  std::string unit;
  while (f >> k >> v >> unit)
    if (k == "MemTotal:") {
      mem = v * 1024;
      break;
    }
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

Response Server::create(const Request& req) {
  json spec = json::parse(req.body.empty() ? "{}" : req.body, nullptr, false);
  if (spec.is_discarded()) return bad_request("invalid container spec: malformed JSON");
  if (auto e = check_container_spec(spec); !e.empty()) return bad_request(e);
  drop_nulls(spec);
  std::string handle = spec.contains("handle") && spec["handle"].is_string()
                           ? spec["handle"].get<std::string>()
                           : "";
  if (handle.empty()) handle = new_uuid().substr(0, 23);
  auto c = std::make_shared<Container>();
  c->handle = handle;
  c->dir = depot_child(cfg_.depot + "/containers", handle);
  {
    std::lock_guard<std::mutex> lk(mu_);
    if (containers_.count(handle))
      return error_response("", "Handle '" + handle + "' already in use", handle);
    if (static_cast<int>(containers_.size()) >= cfg_.max_containers)
      return error_response("",
                            "max containers reached (" + std::to_string(cfg_.max_containers) + ")");
    containers_[handle] = c;
  }
  bool plugin_used = false;  // an image plugin was asked for this handle's rootfs
  auto fail = [&](const std::string& msg, bool runtime_created) {
    if (runtime_created) runtime_.remove(handle);
    remove_tree(c->dir);
    if (plugin_used) cfg_.image_plugins.destroy(handle);  // as Guardian's create clean-up
    std::lock_guard<std::mutex> lk(mu_);
    containers_.erase(handle);
    return error_response("", msg, handle);
  };
  json network = json::object();  // the container's network state, once allocated
  // Anything that throws (a field of the wrong JSON type) must not leave the handle taken.
  auto build = [&]() -> Response {
    std::string err;
    std::string rootfs_uri = image::spec_image_uri(spec, err);
    if (!err.empty()) return fail(err, false);
    json limits = spec.value("limits", json::object());
    if (!limits.is_object()) return fail("invalid limits: expected an object", false);
    if (!net_->enabled()) {
      for (const char* k : {"netin", "netout_rules"})
        if (spec.contains(k) && spec[k].is_array() && !spec[k].empty())
          return fail(std::string(k) + ": networking is disabled (--disable-networking)", false);
      if (!spec.value("network", "").empty() ||
          !limits_object(limits.value("bandwidth_limits", json::object()), {"rate", "burst"})
               .empty())
        return fail("network: networking is disabled (--disable-networking)", false);
    }
    DiskLimits dl = parse_disk_limits(limits.value("disk_limits", json()), err);
    if (!err.empty()) return fail(err, false);
    // With an image plugin, every URI but raw:// is its business (Guardian's volume
    // provider); without one, the built-in raw path below.
    bool privileged = spec.value("privileged", false);
    std::string uri = rootfs_uri.empty() ? cfg_.default_rootfs : rootfs_uri;
    const image::Plugin* plugin = nullptr;
    if (cfg_.image_plugins.any() && !image::is_raw(uri)) {
      plugin = cfg_.image_plugins.for_container(privileged, err);
      if (!plugin) return fail(err, false);
    }
    std::string image = plugin ? uri : resolve_rootfs(rootfs_uri, cfg_.default_rootfs, err);
    if (!err.empty()) return fail(err, false);
    remove_tree(c->dir);
    if (auto st = crunner::mkdir_p(c->dir + "/processes", 0755); !st)
      return fail(st.error().what(), false);
    chmod(c->dir.c_str(), 0755);
    Layer layer;
    image::ImageSpec ispec;
    if (plugin) {
      plugin_used = true;
      if (!cfg_.image_plugins.create(
              *plugin,
              image::create_request(spec, uri, handle, privileged, dl.byte_hard, dl.scope == 1),
              ispec, err))
        return fail(err, false);
      layer.merged = ispec.root_path;
    } else {
      err = create_layer(c->dir, image, dl, layer, privileged, cfg_.depot + "/layer-templates");
      if (!err.empty()) return fail("rootfs layer: " + err, false);
    }
    const std::string& rootfs = layer.merged;
    BundleParams bp;
    bp.image_env = ispec.env;
    bp.image_mounts = ispec.mounts;
    bp.handle = handle;
    bp.rootfs = rootfs;
    bp.init_path = cfg_.bin_dir + "/garden-init";
    bp.hosts_file = c->dir + "/hosts";
    bp.resolv_file = c->dir + "/resolv.conf";
    bp.cgroup_parent = cfg_.cgroup_parent;
    if (!privileged) bp.apparmor_profile = cfg_.apparmor_profile;
    // hosts and resolv.conf belong to the container's root, which may rewrite them.
    uid_t root_uid = spec.value("privileged", false) ? 0 : 4294967294u;
    err = net_->enabled()
              ? net_->prepare(handle, spec, root_uid, bp.hosts_file, bp.resolv_file, network)
              : net::write_plain_dns(handle, root_uid, bp.hosts_file, bp.resolv_file,
                                     net_->config().host_resolv);
    if (!err.empty()) return fail("network: " + err, false);
    auto fail_net = [&](const std::string& msg, bool runtime_created) {
      if (runtime_created) runtime_.remove(handle);
      net_->teardown(network);
      return fail(msg, false);
    };
    json config = build_config(spec, bp, err);
    if (!err.empty()) return fail_net(err, false);
    err = prepare_mountpoints(rootfs, config, root_uid, root_uid);
    if (!err.empty()) return fail_net("prepare rootfs: " + err, false);
    if (auto st = crunner::write_file_atomic(c->dir + "/config.json", config.dump(2), 0644,
                                             crunner::Durability::Rename);
        !st)
      return fail_net(st.error().what(), false);

    json props = json::object();
    if (spec.contains("properties") && spec["properties"].is_object())
      for (auto& [k, v] : spec["properties"].items())
        if (v.is_string()) props[k] = v;
    props["garden.state"] = "created";
    net::Networker::set_properties(network, props);
    long long grace = spec.value("grace_time", 0LL);
    if (grace <= 0) grace = cfg_.default_grace_ns;
    {
      std::lock_guard<std::mutex> lk(c->mu);
      c->meta = {{"handle", handle},
                 {"rootfs", rootfs},
                 {"image", image},
                 {"layer",
                  {{"limited", layer.limited},
                   {"image_known", layer.limited && dl.scope == 0},
                   {"image_bytes", layer.image.bytes},
                   {"image_inodes", layer.image.inodes},
                   {"base_bytes", layer.base.bytes},
                   {"base_inodes", layer.base.inodes}}},
                 {"privileged", privileged},
                 {"env", config["process"]["env"]},
                 {"limits", limits},
                 {"properties", props},
                 {"grace_time", grace},
                 {"created_ns", now_unix_ns()},
                 {"state", "active"},
                 {"ready", false}};
      if (plugin) {
        c->meta["image_plugin"] =
            plugin == &cfg_.image_plugins.privileged ? "privileged" : "unprivileged";
        c->meta.erase("layer");
      }
      if (!network.empty()) c->meta["network"] = network;
      // Its processes run under its init's profile, whatever a later shim is started with.
      if (!bp.apparmor_profile.empty()) c->meta["apparmor_profile"] = bp.apparmor_profile;
      save_meta(*c);
    }
    int init_pid = 0;
    err = runtime_.run_detached(handle, c->dir, c->dir + "/runtime.log", c->dir + "/init.pid",
                                &init_pid);
    if (!err.empty()) return fail_net("runtime run: " + err, true);
    if (net_->enabled()) {
      err = net_->attach(handle, init_pid, spec, network);
      if (!err.empty()) return fail_net("network: " + err, true);
    }
    {
      std::lock_guard<std::mutex> lk(c->mu);
      c->meta["ready"] = true;
      if (!network.empty()) {
        c->meta["network"] = network;  // with the spec's net-in mappings
        net::Networker::set_properties(network, c->meta["properties"]);
      }
      c->meta["memory_cgroup"] = cgroups::memory_dir(init_pid);
      c->meta["cgroup_dirs"] = cgroups::cgroup_dirs(init_pid);
      c->touched = Clock::now();
      save_meta(*c);
    }
    return json_response(200, json{{"Handle", handle}});
  };
  try {
    return build();
  } catch (const std::exception& e) {
    runtime_.remove(handle);
    net_->teardown(network);
    return fail(std::string("invalid container spec: ") + e.what(), false);
  }
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
  auto it = req.query.find("handles");
  if (it == req.query.end()) return json_response(200, out);
  for (auto& h : crunner::split(it->second, ','))
    if (!h.empty())
      if (auto e = check_id("handle", h); !e.empty()) return bad_request(e);
  for (auto& h : crunner::split(it->second, ',')) {
    if (h.empty()) continue;
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
      auto t = crunner::read_file(e.path().string() + "/dadoo.pid");
      long long pid = 0;
      if (t && crunner::parse_i64(crunner::trim(*t), pid) && pid > 1)
        sups.push_back(static_cast<pid_t>(pid));
    }
  }
  wait_exited(sups, 2000);
  for (pid_t p : sups)
    if (::kill(p, 0) == 0 && crunner::process_state(p) != 'Z') ::kill(p, SIGKILL);
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
  if (auto t = crunner::read_file(c->dir + "/init.pid"))
    crunner::parse_i64(crunner::trim(*t), init_pid);
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
