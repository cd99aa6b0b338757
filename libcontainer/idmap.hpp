// A new user namespace's id maps, written by the parent for the container's init.
#pragma once

#include <sys/types.h>

#include "base/error.hpp"
#include "libcontainer/spec.hpp"

namespace crunner {

// linux.gidMappings and linux.uidMappings to /proc/PID/{gid,uid}_map. Rootless, the kernel
// takes a gid_map of the caller's own gid only once setgroups is denied; more than the
// caller's own id goes through newgidmap/newuidmap when writing the map is refused (runc's
// rule), and setgroups then stays allowed, as runc leaves it.
Status write_id_maps(pid_t pid, const spec::Linux& lx);

}  // namespace crunner
