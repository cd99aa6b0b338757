// Passing a file descriptor over a unix socket (SCM_RIGHTS).
#pragma once

#include <cstddef>

#include "base/error.hpp"

namespace crunner {

// Sends `len` bytes and one fd (none when fd < 0) in SCM_RIGHTS over a unix socket, in one
// sendmsg; returns how many bytes went (a stream socket may take fewer than len).
Result<size_t> send_with_fd(int sock, const void* data, size_t len, int fd);

}  // namespace crunner
