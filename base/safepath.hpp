// Path resolution inside a container rootfs that never leaves it.
//
// A path is resolved as if the rootfs directory were "/": absolute symlinks
// restart at the rootfs, ".." stops at it (openat2 RESOLVE_IN_ROOT semantics,
// which is what the kernel is asked first; a careful component walk over
// directory fds is the fallback and the creating variant). The result is an
// O_PATH fd; mount onto it through proc_fd_path() so that a symlink swapped in
// later cannot redirect the mount (CVE-2021-30465 class).
#pragma once

#include <sys/types.h>

#include <string>

#include "base/error.hpp"
#include "base/fd.hpp"

namespace crunner {

enum class Create {
  None,  // the path must exist
  Dir,   // missing components are created as directories
  File,  // missing parents are directories, a missing last component an empty file
};

// Resolves `path` (absolute or relative, taken relative to the root either way)
// under `rootfd`. Symlinks in every component, the last included, are followed
// inside the root. Returns an O_PATH|O_CLOEXEC fd. Errors name `path`.
Result<UniqueFd> resolve_in_root(int rootfd, const std::string& path, Create create = Create::None);

// The same resolution done only by the component walk (no openat2); exposed for tests.
Result<UniqueFd> walk_in_root(int rootfd, const std::string& path, Create create);

// Resolves `path` in the root as a directory, creating each missing component (mode 0755
// less the umask) owned by uid:gid; existing components keep their owner. The result is an
// O_PATH directory fd; a last component that is not a directory is ENOTDIR.
Result<UniqueFd> mkdir_all_in_root(int rootfd, const std::string& path, uid_t uid, gid_t gid);

// Opens the file at `path` in the root with `flags` (O_CLOEXEC is added; O_CREAT is refused):
// resolution as resolve_in_root, then the open itself through the resolved fd.
Result<UniqueFd> open_in_root(int rootfd, const std::string& path, int flags);

// Resolves the parent of `path` in the root and returns it with the last
// component's name (the last component is not followed). "/" has no parent:
// an error. Used where the last component itself must be inspected (symlink
// checks) or created (device nodes).
struct ParentRef {
  UniqueFd dir;
  std::string name;
};
Result<ParentRef> resolve_parent_in_root(int rootfd, const std::string& path, Create create);

// "/proc/self/fd/N".
std::string proc_fd_path(int fd);

// Lexically cleans an absolute path: "/a/./b//../c/" -> "/a/c"; "" -> "/".
std::string clean_path(const std::string& path);

}  // namespace crunner
