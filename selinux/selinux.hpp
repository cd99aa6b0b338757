// SELinux: detection, process.selinuxLabel applied on exec, linux.mountLabel on mounts.
//
// As runc does it (go-selinux): the process label is written to the thread's exec attribute
// right before execve and the kernel applies it at the exec; the mount label becomes a
// `context="..."` option of every mount that takes one (not binds, proc, sysfs, cgroup,
// mqueue); a mqueue mount gets the label as its root's security.selinux attribute.
// The roots are parameters so tests run against a fake /proc and /sys (this kernel has no
// SELinux).
#pragma once

#include <string>

#include "base/error.hpp"

namespace crunner::selinux {

// selinuxfs is mounted: <sys_root>/fs/selinux/enforce exists.
bool is_enabled(const std::string& sys_root = "/sys");

// In the parent, before anything exists: an empty label is always fine; a label on a host
// without SELinux is an Unsupported error naming `field`.
Status check_label(const std::string& field, const std::string& label,
                   const std::string& sys_root = "/sys");

// In the child, right before execve: writes `label` to <proc_root>/thread-self/attr/exec
// (one write). Empty: nothing. The kernel refusing the label names it.
Status apply_exec_label(const std::string& label, const std::string& proc_root = "/proc",
                        const std::string& sys_root = "/sys");

// Mount data with the label: "a=b" + L -> `a=b,context="L"`; empty label: data unchanged.
std::string format_mount_label(const std::string& data, const std::string& label);
// Whether a mount of this type takes the context option (runc's choice).
bool mount_takes_label(const std::string& type);

// The label as the security.selinux attribute of what `fd` (any fd, O_PATH too) names.
Status set_file_label(int fd, const std::string& label);

}  // namespace crunner::selinux
