#include "image/layer_path.hpp"

#include <fcntl.h>
#include <sys/stat.h>

#include "base/error.hpp"
#include "base/fd.hpp"
#include "base/text.hpp"

namespace crunner::image {

Result<std::vector<std::string>> safe_components(const std::string& path) {
  std::vector<std::string> out;
  for (auto& c : split(path, '/')) {
    if (c.empty() || c == ".") continue;
    if (c == "..") return invalid_spec("`" + path + "` escapes the layer (`..`)");
    if (c.size() > 255) return invalid_spec("`" + path + "`: a name longer than 255 bytes");
    out.push_back(c);
  }
  return out;
}

Result<UniqueFd> walk_dirs(int root, const std::vector<std::string>& comps, size_t n, bool create) {
  int cur = fcntl(root, F_DUPFD_CLOEXEC, 3);
  if (cur < 0) return sys_error("dup the layer directory");
  UniqueFd fd(cur);
  for (size_t i = 0; i < n; i++) {
    const std::string& c = comps[i];
    int next = openat(fd.get(), c.c_str(), O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    if (next < 0 && errno == ENOENT && create) {
      if (mkdirat(fd.get(), c.c_str(), 0755) < 0 && errno != EEXIST)
        return sys_error("create directory `" + c + "`");
      next = openat(fd.get(), c.c_str(), O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    }
    if (next < 0) {
      if (errno == ENOTDIR || errno == ELOOP)
        return invalid_spec(
            "`" + join(std::vector<std::string>(comps.begin(), comps.begin() + i + 1), "/") +
            "` is not a directory (symlinks are never followed)");
      return sys_error("open `" +
                       join(std::vector<std::string>(comps.begin(), comps.begin() + i + 1), "/") +
                       "`");
    }
    fd.reset(next);
  }
  return fd;
}

}  // namespace crunner::image
