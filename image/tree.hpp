// Small filesystem helpers of the image store: recursive removal and size of a tree (never
// following symlinks), and a component-wise walk that refuses symlinks and "..".
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <string>
#include <vector>

#include "base/error.hpp"
#include "base/fd.hpp"

namespace crunner::image {

// Removes `name` under `dirfd` (a tree, a file, anything); missing is fine.
Status remove_at(int dirfd, const std::string& name);
Status remove_tree(const std::string& path);
// Bytes allocated by the files of a tree (st_blocks * 512), hard links counted once.
uint64_t tree_bytes(const std::string& path);
// Splits a path from an archive into components: drops "", "." and leading "/";
// fails on "..".
Result<std::vector<std::string>> safe_components(const std::string& path);
// Opens the directory `comps` under root, one component at a time with O_NOFOLLOW
// (so no symlink, absolute or relative, is followed); with `create`, makes missing ones.
Result<UniqueFd> walk_dirs(int root, const std::vector<std::string>& comps, size_t n, bool create);

}  // namespace crunner::image
