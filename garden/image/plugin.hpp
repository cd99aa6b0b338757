// The client side of Guardian's image plugin interface (the contract GrootFS implements):
// garden-shim calls an external program to build each container's (and each pea's) root
// file system, and another one for privileged containers.
//
//   <plugin> <extra args...> create [--uid-mapping C:H:S --gid-mapping C:H:S ...]
//            [--disk-limit-size-bytes N [--exclude-image-from-quota]]
//            [--username U] [--password P] <rootfs-uri> <handle>
//       stdout: a runtime spec fragment, {"root":{"path":P},"process":{"env":[...]},
//               "mounts":[...]} (and the deprecated top-level "rootfs" and
//               "image":{"config":{"Env":[...]}}, which win when set, as in Guardian)
//   <plugin> <extra args...> delete <handle>
//   <plugin> <extra args...> stats <handle>
//       stdout: {"disk_usage":{"total_bytes_used":N,"exclusive_bytes_used":N}}
//
// On failure the plugin's stdout (GrootFS prints its error there; its stderr is a log) is
// the error, in Guardian's words: "running image plugin create: <stdout>: exit status N".
// Everything here is plain data in, argv / parsed values out, so it is unit-tested without
// running anything; Plugins::run_* run the program.
#pragma once

#include <string>
#include <vector>

#include <nlohmann/json.hpp>

namespace garden::image {

// Plugin output is bounded: a runtime spec fragment is a few KiB.
constexpr size_t kMaxOutput = 1 << 20;

struct Plugin {
  std::string path;  // empty: not configured
  std::vector<std::string> extra_args;
  bool configured() const { return !path.empty(); }
};

struct IdMapping {
  unsigned long long container_id = 0, host_id = 0, size = 0;
};

struct CreateRequest {
  std::string rootfs;  // the image URI as the client gave it
  std::string handle;  // container handle, or a pea's process id
  bool namespaced = true;
  unsigned long long disk_limit = 0;  // DiskLimits.byte_hard
  bool exclude_image_from_quota = false;
  std::string username, password;
  std::vector<IdMapping> uid_mappings, gid_mappings;  // passed when namespaced
};

// The uid (and gid) mappings of unprivileged containers: container root is the host's
// highest uid, 4294967294; 1.. map to themselves (Guardian's maps; bundle.cpp uses these).
std::vector<IdMapping> unprivileged_id_mappings();

// The create request for a container (or pea) spec: image credentials from spec.image,
// disk limit and scope, the id mappings when not privileged.
CreateRequest create_request(const nlohmann::json& spec, const std::string& uri,
                             const std::string& handle, bool privileged,
                             unsigned long long disk_limit, bool exclusive_scope);

std::vector<std::string> create_argv(const Plugin& p, const CreateRequest& r);
std::vector<std::string> delete_argv(const Plugin& p, const std::string& handle);
std::vector<std::string> stats_argv(const Plugin& p, const std::string& handle);

// What garden-shim takes from the plugin's runtime spec fragment.
struct ImageSpec {
  std::string root_path;         // absolute
  nlohmann::json mounts;         // array of OCI mounts (destination, type, source, options)
  std::vector<std::string> env;  // the image's environment ("K=V")
};

// Parses and validates create's stdout; false with err naming the field.
bool parse_create_output(const std::string& out, ImageSpec& spec, std::string& err);

struct DiskUsage {
  unsigned long long total_bytes = 0, exclusive_bytes = 0;
};
bool parse_stats_output(const std::string& out, DiskUsage& usage, std::string& err);

// The error text of a failed run: "running image plugin <action>: <stdout>: exit status N"
// (stdout trimmed and bounded; when it is empty, the last line of stderr).
std::string run_error(const std::string& action, int status, const std::string& out,
                      const std::string& err);

// The image a container spec names: Guardian refuses both rootfs and image.uri.
// Returns the URI ("" = the default) or sets err.
std::string spec_image_uri(const nlohmann::json& spec, std::string& err);
// Whether a URI is the built-in raw rootfs path ("raw://..."); *path gets the directory.
bool is_raw(const std::string& uri, std::string* path = nullptr);

// The two plugins garden-shim may be configured with (Guardian's --image-plugin and
// --privileged-image-plugin).
class Plugins {
 public:
  Plugin unprivileged, privileged;
  bool any() const { return unprivileged.configured() || privileged.configured(); }
  // The plugin for a container; nullptr with err (Guardian's words) when not configured.
  const Plugin* for_container(bool privileged_container, std::string& err) const;

  // Runs create and parses its output; the root path must be a directory.
  bool create(const Plugin& p, const CreateRequest& r, ImageSpec& out, std::string& err) const;
  // Runs delete with every configured plugin (Guardian does: it does not know which one
  // made the image; GrootFS's delete of an unknown handle succeeds). "" on success.
  std::string destroy(const std::string& handle) const;
  bool stats(const Plugin& p, const std::string& handle, DiskUsage& out, std::string& err) const;
};

}  // namespace garden::image
