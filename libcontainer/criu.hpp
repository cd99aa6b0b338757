// A client of criu's RPC interface (`criu swrk FD`): crunner starts criu with one end of a
// SOCK_SEQPACKET socketpair as its fd 3, sends one criu_req (rpc.proto, encoded with
// protobuf-c from the .proto Debian's criu ships), answers each NOTIFY message (the
// notification scripts: setup-namespaces, post-dump, post-restore, orphan-pts-master, ...)
// and reads the final response. runc does the same (libcontainer/criu_linux.go).
//
//   crunner                                  criu swrk 3
//     | -- criu_req{type, opts} ------------------> |
//     | <------------ criu_resp{NOTIFY, script, pid} | (any number; an fd may ride along)
//     | -- criu_req{NOTIFY, notify_success} -------> |
//     | <------------------- criu_resp{type, success} |
//
// Failures name criu's own words: cr_errmsg when criu sends one, the errno, the log file
// (in the work directory, else the image directory) and its "Error" lines.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <functional>
#include <string>
#include <utility>
#include <vector>

#include "base/error.hpp"
#include "base/fd.hpp"

namespace crunner::criu {

enum class ReqType { Dump, PreDump, Restore, Version, FeatureCheck };
const char* req_name(ReqType t);

// The criu_opts crunner sets (rpc.proto names); -1 / "" / false: not sent.
struct Opts {
  int images_dir_fd = -1;
  int work_dir_fd = -1;
  std::string log_file;
  int log_level = 4;
  std::string root;
  pid_t pid = 0;
  bool leave_running = false, ext_unix_sk = false, tcp_established = false;
  bool evasive_devices = false, shell_job = false, file_locks = false;
  bool notify_scripts = false, track_mem = false, auto_dedup = false, rst_sibling = false;
  bool orphan_pts_master = false, lazy_pages = false, manage_cgroups = false;
  std::string parent_img;
  int manage_cgroups_mode = -1;  // criu_cg_mode
  uint32_t empty_ns = 0;
  std::string freeze_cgroup;
  std::string config_file;
  int status_fd = -1;
  std::string ps_address;  // page server
  int ps_port = 0;
  std::vector<std::pair<std::string, std::string>> ext_mnt;  // key, val
  std::vector<std::pair<std::string, std::string>> cg_root;  // ctrl ("" = v2), path
  std::vector<std::pair<std::string, int>> inherit_fd;       // key, fd in criu
  std::vector<std::pair<std::string, std::string>> join_ns;  // ns, ns_file
  std::vector<std::string> external;
  std::string lsm_profile, lsm_mount_context;  // restore: "TYPE:NAME", an SELinux context
};

struct Features {
  bool mem_track = false, lazy_pages = false;
};

struct Response {
  int restored_pid = 0;
  int version_major = 0, version_minor = 0, version_sublevel = 0;
  Features features;
};

// A notification: the script's name, its pid (post-restore: the restored init), and the fd
// sent with it (orphan-pts-master: the pty master), if any.
using NotifyFn = std::function<Status(const std::string& script, pid_t pid, UniqueFd fd)>;

struct Call {
  std::string criu = "criu";    // --criu: a path, or a name looked up in PATH
  int stdio[3] = {-1, -1, -1};  // criu's fds 0-2 (-1: crunner's own)
  std::vector<int> extra_fds;   // become criu's fds 4, 5, ... (inherit_fd)
  // Runs once criu has started, before the request is sent (restore: put criu into the
  // container's cgroups and add their paths to opts.cg_root).
  std::function<Status(pid_t criu_pid, Opts& opts)> started;
  NotifyFn notify;
  std::string log_path;  // criu's log, for errors ("" = none)
  Features want;         // FeatureCheck: the features asked about
};

// Sends one request and serves its notifications until criu answers; waits for criu.
Result<Response> swrk(ReqType type, Opts opts, const Call& call);
// criu's version as one number, major*10000 + minor*100 + sublevel (runc's encoding).
Result<int> version(const std::string& criu);
// The last "Error" lines of a criu log with the line before each, for error messages.
std::string log_errors(const std::string& path, size_t max_lines = 8);

}  // namespace crunner::criu
