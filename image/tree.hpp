// Whole trees of the image store: recursive removal and the size of a tree, neither ever
// following a symlink nor crossing into another filesystem.
#pragma once

#include <cstdint>
#include <string>

#include "base/error.hpp"

namespace crunner::image {

// Removes `name` under `dirfd` (a tree, a file, anything); missing is fine.
Status remove_at(int dirfd, const std::string& name);
Status remove_tree(const std::string& path);
// Bytes allocated by the files of a tree (st_blocks * 512), hard links counted once.
uint64_t tree_bytes(const std::string& path);

}  // namespace crunner::image
