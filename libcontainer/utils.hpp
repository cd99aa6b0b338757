// Thin syscall wrappers (EINTR-retrying, errors that name the path) and small
// string helpers shared by every module.
#pragma once

#include <fcntl.h>
#include <sys/types.h>

#include <cerrno>
#include <string>
#include <string_view>
#include <vector>

#include "libcontainer/error.hpp"
#include "libcontainer/fd.hpp"

namespace crunner {

// Retries a call returning -1/errno while errno == EINTR.
template <class F>
auto retry_eintr(F f) {
  decltype(f()) r;
  do {
    r = f();
  } while (r == -1 && errno == EINTR);
  return r;
}
#define CR_RETRY(expr) ::crunner::retry_eintr([&] { return (expr); })

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
// --pid-file: a path that exists must be a regular file (we replace it by rename, and
// would otherwise turn /dev/null or a fifo into a regular file). `flag` names the flag.
Status check_pid_file(const std::string& path, const std::string& flag = "--pid-file");
// --preserve-fds N: N >= 0 and fds 3 .. 3+N-1 all open in this process (as runc, which
// fails on the first one missing). Call before opening anything of our own.
Status check_preserve_fds(long long n);
bool path_exists(const std::string& path);

std::vector<std::string> split(std::string_view s, char sep);
std::string trim(std::string_view s);
std::string join(const std::vector<std::string>& v, std::string_view sep);
// Parses an unsigned decimal/hex integer; false on garbage or overflow.
bool parse_u64(std::string_view s, unsigned long long& out, int base = 10);
bool parse_i64(std::string_view s, long long& out);

// Time in RFC3339 with nanoseconds (UTC, "2006-01-02T15:04:05.999999999Z").
std::string rfc3339_nano(long long sec, long long nsec);
std::string now_rfc3339_nano();
std::string now_rfc3339();

// Field 22 of /proc/<pid>/stat (start time in clock ticks); 0 when absent.
unsigned long long process_start_time(pid_t pid);
// Field 3 of /proc/<pid>/stat ('R', 'S', 'Z', ...); 0 when absent.
char process_state(pid_t pid);

}  // namespace crunner
