// Retrying a system call that was interrupted by a signal (EINTR).
#pragma once

#include <cerrno>

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

}  // namespace crunner
