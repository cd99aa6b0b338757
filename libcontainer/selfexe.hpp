// The runtime's own binary as the container may see it. crunner does not
// re-exec itself into the container (its children are clones running this
// very binary), so while one of them is in a container's pid namespace,
// /proc/<pid>/exe names the host's crunner. Non-dumpable keeps that link
// closed to the container, except to a container granted CAP_SYS_PTRACE: for
// that one the binary must not be writable through the link (CVE-2019-5736).
#pragma once

#include <vector>

#include "libcontainer/spec.hpp"

namespace crunner {

// Unless the running binary already sits on a read-only mount, re-executes it
// (same argv, envp, pid and fds) from a detached read-only bind mount of
// itself (open_tree + mount_setattr + execveat), so that /proc/<pid>/exe of
// every process it clones reopens read-only (EROFS). Returns only when that is
// not needed or not possible (no privilege for the mount: nothing changes).
void reexec_from_readonly_mount(char** argv, char** envp);

// Whether a process whose user and group ids are all among the given host ranges (a user
// namespace's uid_map and gid_map) could write the running binary: true unless it sits on a
// read-only mount, or its owner is outside uids (nor could it chmod it), its group is outside
// gids or not group-writable, it is not world-writable and it carries no ACL. Capabilities
// inside such a user namespace do not help either: CAP_DAC_OVERRIDE and CAP_FOWNER apply only
// to files whose owner and group are both mapped. Unknown (stat fails): true.
bool self_exe_writable_by(const std::vector<spec::IdMapping>& uids,
                          const std::vector<spec::IdMapping>& gids);

}  // namespace crunner
