// process.scheduler and process.ioPriority (runtime-spec 1.2), applied by the
// container process to itself before it drops privileges.
#pragma once

#include "base/error.hpp"
#include "libcontainer/spec.hpp"

namespace crunner {

// sched_setattr(2) with the policy, nice, priority, flags and deadline
// parameters of process.scheduler; ioprio_set(2) with process.ioPriority.
// No-op for the fields that are absent. Errors name the field and the value.
Status apply_scheduling(const spec::Process& proc);

}  // namespace crunner
