#include "libcontainer/terminal.hpp"

#include <fcntl.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <cstring>

#include "base/eintr.hpp"
#include "base/error.hpp"
#include "base/fd.hpp"
#include "base/fdpass.hpp"
#include "libcontainer/rootfs.hpp"
#include "libcontainer/sync.hpp"

namespace crunner {

Result<UniqueFd> setup_container_pty(uid_t uid, const std::optional<spec::ConsoleSize>& size,
                                     bool console) {
  int m = ::open("/dev/ptmx", O_RDWR | O_NOCTTY | O_CLOEXEC);
  if (m < 0) return sys_error("open `/dev/ptmx` in the container");
  UniqueFd master(m);
  if (unlockpt(m) < 0) return sys_error("unlockpt");
  char name[128];
  if (ptsname_r(m, name, sizeof(name)) != 0) return sys_error("ptsname");
  int s = ::open(name, O_RDWR | O_NOCTTY | O_CLOEXEC);
  if (s < 0) return sys_error(std::string("open `") + name + "`");
  UniqueFd slave(s);
  // Only the owner, as runc: the group stays devpts' (gid=5 "tty" with runc's mount
  // options), so that write(1)/wall keep working.
  if (fchown(s, uid, static_cast<gid_t>(-1)) < 0 && errno != EINVAL)
    return sys_error(std::string("chown ") + name);
  if (size && (size->height || size->width)) {
    struct winsize ws = {};
    ws.ws_row = static_cast<unsigned short>(size->height);
    ws.ws_col = static_cast<unsigned short>(size->width);
    if (ioctl(s, TIOCSWINSZ, &ws) < 0) return sys_error("set console size");
  }
  // Like runc: the pty is also /dev/console (best effort: a read-only /dev
  // without tmpfs cannot get the file).
  if (console) (void)mount_console("/", s);
  if (ioctl(s, TIOCSCTTY, 0) < 0) return sys_error("make the pty the controlling terminal");
  for (int fd = 0; fd < 3; fd++)
    if (dup2(s, fd) < 0) return sys_error("dup2 pty to fd " + std::to_string(fd));
  return master;
}

Result<UniqueFd> connect_unix(const std::string& path) {
  struct sockaddr_un a = {};
  a.sun_family = AF_UNIX;
  if (path.size() >= sizeof(a.sun_path))
    return make_error(ErrorKind::InvalidSpec, "socket path `" + path + "` is too long");
  memcpy(a.sun_path, path.c_str(), path.size());
  int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return sys_error("socket");
  UniqueFd s(fd);
  if (CR_RETRY(connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof(a))) < 0)
    return sys_error("connect to console socket `" + path + "`");
  return s;
}

Status send_console_fd(const std::string& socket_path, int master) {
  CR_ASSIGN(UniqueFd s, connect_unix(socket_path));
  const char name[] = "/dev/ptmx";
  auto r = send_with_fd(s.get(), name, sizeof(name) - 1, master);
  if (!r)
    return sys_error("send pty master to console socket `" + socket_path + "`", r.error().err);
  return {};
}

RawMode::RawMode(int fd) {
  if (!isatty(fd) || tcgetattr(fd, &saved_) < 0) return;
  struct termios raw = saved_;
  cfmakeraw(&raw);
  if (tcsetattr(fd, TCSANOW, &raw) == 0) {
    fd_ = fd;
    active_ = true;
  }
}

RawMode::~RawMode() {
  if (active_) tcsetattr(fd_, TCSANOW, &saved_);
}

void copy_winsize(int from, int to) {
  struct winsize ws;
  if (ioctl(from, TIOCGWINSZ, &ws) == 0) ioctl(to, TIOCSWINSZ, &ws);
}

}  // namespace crunner
