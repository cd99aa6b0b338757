// Checks of the runtime's flags that name a file or fds (create, run, exec, restore), made
// before anything is opened or created.
#pragma once

#include <sys/types.h>

#include <string>

#include "base/error.hpp"

namespace crunner {

// --pid-file: a path that exists must be a regular file (we replace it by rename, and
// would otherwise turn /dev/null or a fifo into a regular file). `flag` names the flag.
Status check_pid_file(const std::string& path, const std::string& flag = "--pid-file");
// Writes `pid` to the --pid-file `path` (nothing when empty), replacing it by rename.
Status write_pid_file(const std::string& path, pid_t pid);
// --preserve-fds N: N >= 0 and fds 3 .. 3+N-1 all open in this process (as runc, which
// fails on the first one missing). Call before opening anything of our own.
Status check_preserve_fds(long long n);

}  // namespace crunner
