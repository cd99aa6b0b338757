#include "libcontainer/sched.hpp"

#include <sys/syscall.h>
#include <unistd.h>

#include <cstdint>

namespace crunner {

namespace {

// The kernel's struct sched_attr, version 0 (glibc 2.36 does not declare it).
struct SchedAttr {
  uint32_t size;
  uint32_t sched_policy;
  uint64_t sched_flags;
  int32_t sched_nice;
  uint32_t sched_priority;
  uint64_t sched_runtime;
  uint64_t sched_deadline;
  uint64_t sched_period;
};
static_assert(sizeof(SchedAttr) == 48, "SCHED_ATTR_SIZE_VER0");

constexpr int kIoprioWhoProcess = 1;
constexpr int kIoprioClassShift = 13;

}  // namespace

Status apply_scheduling(const spec::Process& proc) {
  if (const auto& s = proc.scheduler) {
    SchedAttr a{};
    a.size = sizeof a;
    a.sched_policy = static_cast<uint32_t>(s->policy_num);
    a.sched_flags = s->flags;
    a.sched_nice = s->nice;
    a.sched_priority = static_cast<uint32_t>(s->priority);
    a.sched_runtime = s->runtime;
    a.sched_deadline = s->deadline;
    a.sched_period = s->period;
    if (syscall(SYS_sched_setattr, 0, &a, 0) < 0)
      return sys_error("process.scheduler: set policy " + s->policy + " (nice " +
                       std::to_string(s->nice) + ", priority " + std::to_string(s->priority) + ")");
  }
  if (const auto& io = proc.io_priority) {
    int value = (io->class_num << kIoprioClassShift) | io->priority;
    if (syscall(SYS_ioprio_set, kIoprioWhoProcess, 0, value) < 0)
      return sys_error("process.ioPriority: set " + io->klass + " priority " +
                       std::to_string(io->priority));
  }
  return {};
}

}  // namespace crunner
