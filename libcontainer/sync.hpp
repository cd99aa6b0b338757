// The parent <-> container-init protocol.
//
// One SOCK_SEQPACKET|SOCK_CLOEXEC socketpair; every message is one fixed-size
// SyncMsg, optionally carrying one fd in SCM_RIGHTS. The init never blocks on
// anything but this socket and exec.fifo, and every failure in the init is
// sent as Error{errno, text} before it exits, so the parent reports the
// child's own words instead of "EOF".
//
//   parent (crunner create/run)              init (clone3 child)
//   ---------------------------              -------------------
//   clone3(CLONE_NEW*) ------------------->  starts; non-dumpable
//   write uid_map/gid_map (new userns)
//   MapsDone ----------------------------->  setns joined namespaces, setsid
//                                            prepare_rootfs (mounts, devices)
//                                      <---  Hooks   (only when config.json has hooks)
//   prestart + createRuntime hooks
//   HooksDone ---------------------------->  createContainer hooks
//                                            finalize_rootfs (pivot_root, masks,
//                                            readonly paths, sysctl), hostname
//                                      <---  Tty + fd  (terminal: pty master)
//                                            user, caps, rlimits, no_new_privs,
//                                            seccomp, executable resolved
//                                      <---  Seccomp + fd (SCMP_ACT_NOTIFY only)
//                                      <---  Ready
//   state.json, pid file; exit (create)      blocks reading exec.fifo
//   start: writes exec.fifo ------------->   startContainer hooks, execve
//
//   two-stage (a user namespace joined by path, or a new one with joined
//   namespaces): the first child joins, unshares the user namespace (UserNs ->
//   maps -> MapsDone), unshares the rest, forks the init (Pid) and exits.
//
//   Any step may instead send  <--- Error{err, msg}  and _exit(1).
#pragma once

#include <cstdint>
#include <string>

#include "base/error.hpp"
#include "base/fd.hpp"

namespace crunner {

enum class SyncType : uint32_t {
  MapsDone = 1,
  Hooks = 2,
  HooksDone = 3,
  Tty = 4,
  Ready = 5,
  Error = 6,
  Abort = 7,
  Seccomp = 8,  // child -> parent: the seccomp notify fd (listenerPath)
  UserNs = 9,   // two-stage child -> parent: user namespace unshared, write the maps
  Pid = 10,     // two-stage child -> parent: arg = host pid of the forked init
};

struct SyncMsg {
  SyncType type{};
  int32_t err = 0;
  int64_t arg = 0;
  char text[2048] = {};
};

const char* sync_type_name(SyncType t);

// Sends one message (and fd when >= 0). Retries EINTR.
Status sync_send(int sock, SyncType type, int err = 0, int64_t arg = 0,
                 const std::string& text = {}, int fd = -1);
// Receives one message; *fd receives a passed fd (or stays invalid). Returns
// NotFound-kind error with err == 0 on EOF (peer gone).
Result<SyncMsg> sync_recv(int sock, UniqueFd* fd = nullptr);
// The Error an Error message carries (the child's kind, errno and words).
Error sync_error(const SyncMsg& m);
// Receives and requires a given type; an Error message becomes the Error it
// carries; EOF is reported as "peer closed".
Result<SyncMsg> sync_expect(int sock, SyncType want, UniqueFd* fd = nullptr);

}  // namespace crunner
