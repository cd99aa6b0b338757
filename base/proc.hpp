// What /proc says: about a process (/proc/<pid>/stat) and about the host (/proc/meminfo).
#pragma once

#include <sys/types.h>

namespace crunner {

// Field 22 of /proc/<pid>/stat (start time in clock ticks); 0 when absent.
unsigned long long process_start_time(pid_t pid);
// Field 3 of /proc/<pid>/stat ('R', 'S', 'Z', ...); 0 when absent.
char process_state(pid_t pid);
// Whether `pid` is a process that has not exited: it has a state, and that is neither
// zombie ('Z') nor dead ('X').
bool process_running(pid_t pid);

// The host's memory in bytes (MemTotal of /proc/meminfo); 0 when unknown.
unsigned long long memory_total();

}  // namespace crunner
