// Recursive copy between two directory fds (tmpcopyup), never following symlinks.
#pragma once

#include "base/error.hpp"

namespace crunner {

// Copies the contents of directory `src` into directory `dst`: directories,
// regular files, symlinks, fifos and device nodes, with mode, owner and times.
Status copy_tree(int src, int dst);

}  // namespace crunner
