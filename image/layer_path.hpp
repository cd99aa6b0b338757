// Paths from a layer archive inside the layer directory: split into components that cannot
// climb out ("..") and walked one directory at a time without following any symlink.
#pragma once

#include <cstddef>
#include <string>
#include <vector>

#include "base/error.hpp"
#include "base/fd.hpp"

namespace crunner::image {

// Splits a path from an archive into components: drops "", "." and leading "/";
// fails on "..".
Result<std::vector<std::string>> safe_components(const std::string& path);
// Opens the directory `comps` under root, one component at a time with O_NOFOLLOW
// (so no symlink, absolute or relative, is followed); with `create`, makes missing ones.
Result<UniqueFd> walk_dirs(int root, const std::vector<std::string>& comps, size_t n, bool create);

}  // namespace crunner::image
