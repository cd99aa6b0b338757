// Terminals: the pty created inside the container's devpts, the console
// socket handshake (one sendmsg: name + master fd), and raw-mode helpers for
// the foreground proxy.
#pragma once

#include <termios.h>

#include <optional>
#include <string>

#include "base/error.hpp"
#include "base/fd.hpp"
#include "libcontainer/spec.hpp"

namespace crunner {

// In the init, after pivot_root and setsid: opens /dev/ptmx (the container's),
// unlocks it, makes the slave the controlling terminal and fds 0-2, chowns it
// to uid (the group stays devpts', as runc) and applies the console size. Returns the
// master. `console`: also bind the slave on /dev/console (the init only, not exec).
Result<UniqueFd> setup_container_pty(uid_t uid, const std::optional<spec::ConsoleSize>& size,
                                     bool console = true);
// Connects to the console socket and sends the master in ONE sendmsg without
// waiting for the peer to accept.
Status send_console_fd(const std::string& socket_path, int master);
// Connects to a unix socket (used to validate --console-socket early).
Result<UniqueFd> connect_unix(const std::string& path);

// Puts the user's terminal in raw mode and restores it on destruction.
class RawMode {
 public:
  explicit RawMode(int fd);
  ~RawMode();
  RawMode(const RawMode&) = delete;
  RawMode& operator=(const RawMode&) = delete;

 private:
  int fd_ = -1;
  bool active_ = false;
  struct termios saved_ {};
};

// Copies the window size of `from` (the user's tty) to `to` (the pty master).
void copy_winsize(int from, int to);

}  // namespace crunner
