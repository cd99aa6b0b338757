// File I/O: open (always O_CLOEXEC), bounded reads, whole-file and atomic writes, mkdir -p.
// Every call retries EINTR and its errors name the path.
#pragma once

#include <fcntl.h>
#include <sys/types.h>

#include <string>
#include <string_view>

#include "base/error.hpp"
#include "base/fd.hpp"

namespace crunner {

// open()/openat() with O_CLOEXEC always added.
Result<UniqueFd> open_path(const std::string& path, int flags, mode_t mode = 0);
Result<UniqueFd> open_at(int dirfd, const std::string& path, int flags, mode_t mode = 0);

// Bound of every read that has no smaller one: a file, pipe or device that never ends
// fails with EFBIG instead of growing until bad_alloc.
inline constexpr size_t kMaxReadSize = 64u << 20;
// Bound of a file a caller names (config.json, --process, --resources, state.json, ...).
inline constexpr size_t kMaxInputFile = 16u << 20;

Result<std::string> read_file(const std::string& path);
Result<std::string> read_file_at(int dirfd, const std::string& name);
Result<std::string> read_fd(int fd, size_t max = kMaxReadSize);  // until EOF
// A file holding one integer (a pid file, an exit status, a /proc/sys value), white space
// around it allowed: false, with `out` unchanged, when it cannot be read or holds anything else.
bool read_i64_file(const std::string& path, long long& out);
// A file a caller named: regular files only (a fifo, device, socket or directory is
// refused without blocking on it), at most `max` bytes. Errors name the path:
// "read `/dev/zero`: not a regular file", "read `x`: larger than 16777216 bytes".
Result<std::string> read_regular_file(const std::string& path, size_t max = kMaxInputFile);
// A file a caller may also stream (exec --process): a regular file, or a pipe/fifo
// (`/dev/stdin`, `<(...)`, a named fifo: read until its writer closes, waiting for a writer
// as runc's open does), "-" meaning stdin; at most `max` bytes. Devices, sockets and
// directories are refused as by read_regular_file.
Result<std::string> read_file_or_pipe(const std::string& path, size_t max = kMaxInputFile);
// Writes all of data; errors read "write `data` to `path`: <errno>".
Status write_file(const std::string& path, std::string_view data, int flags = O_WRONLY | O_TRUNC,
                  mode_t mode = 0644);
Status write_file_at(int dirfd, const std::string& name, std::string_view data);
// temp file in the same directory + fsync + rename. Durability::Rename skips the fsync: for
// files that cannot outlive a reboot's meaning anyway (container state under /run, pid
// files), the rename alone keeps readers from seeing a partial file.
enum class Durability { Fsync, Rename };
Status write_file_atomic(const std::string& path, std::string_view data, mode_t mode = 0644,
                         Durability d = Durability::Fsync);
Status write_all(int fd, const void* buf, size_t len);
Status mkdir_p(const std::string& path, mode_t mode = 0755);
bool path_exists(const std::string& path);

}  // namespace crunner
