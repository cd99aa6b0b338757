#include "libcontainer/sync.hpp"

#include <sys/socket.h>

#include <algorithm>
#include <cstring>

#include "base/eintr.hpp"
#include "base/error.hpp"
#include "base/fd.hpp"
#include "base/fdpass.hpp"

namespace crunner {

const char* sync_type_name(SyncType t) {
  switch (t) {
    case SyncType::MapsDone:
      return "maps-done";
    case SyncType::Hooks:
      return "hooks";
    case SyncType::HooksDone:
      return "hooks-done";
    case SyncType::Tty:
      return "tty";
    case SyncType::Ready:
      return "ready";
    case SyncType::Error:
      return "error";
    case SyncType::Seccomp:
      return "seccomp";
    case SyncType::UserNs:
      return "userns";
    case SyncType::Pid:
      return "pid";
    case SyncType::Abort:
      return "abort";
  }
  return "unknown";
}

Status sync_send(int sock, SyncType type, int err, int64_t arg, const std::string& text, int fd) {
  SyncMsg m;
  m.type = type;
  m.err = err;
  m.arg = arg;
  size_t n = std::min(text.size(), sizeof(m.text) - 1);
  memcpy(m.text, text.data(), n);
  auto r = send_with_fd(sock, &m, sizeof(m), fd);
  if (!r) return r.error().context(std::string("send ") + sync_type_name(type) + " message");
  return {};
}

Result<SyncMsg> sync_recv(int sock, UniqueFd* fd) {
  SyncMsg m;
  struct iovec iov = {&m, sizeof(m)};
  struct msghdr h = {};
  h.msg_iov = &iov;
  h.msg_iovlen = 1;
  alignas(struct cmsghdr) char cbuf[CMSG_SPACE(sizeof(int))] = {};
  h.msg_control = cbuf;
  h.msg_controllen = sizeof(cbuf);
  ssize_t r = CR_RETRY(recvmsg(sock, &h, MSG_CMSG_CLOEXEC));
  if (r < 0) return sys_error("receive sync message");
  if (r == 0) return make_error(ErrorKind::NotFound, "peer closed");
  if (static_cast<size_t>(r) != sizeof(m))
    return make_error(ErrorKind::Internal, "short sync message");
  for (struct cmsghdr* c = CMSG_FIRSTHDR(&h); c; c = CMSG_NXTHDR(&h, c)) {
    if (c->cmsg_level == SOL_SOCKET && c->cmsg_type == SCM_RIGHTS) {
      int got;
      memcpy(&got, CMSG_DATA(c), sizeof(int));
      if (fd)
        fd->reset(got);
      else
        ::close(got);
    }
  }
  m.text[sizeof(m.text) - 1] = 0;
  return m;
}

Error sync_error(const SyncMsg& m) {
  Error e{ErrorKind::Syscall, m.err, m.text};
  if (m.arg) e.kind = static_cast<ErrorKind>(m.arg - 1);
  if (m.err == ENOENT) e.kind = ErrorKind::NotFound;
  return e;
}

Result<SyncMsg> sync_expect(int sock, SyncType want, UniqueFd* fd) {
  CR_ASSIGN(SyncMsg m, sync_recv(sock, fd));
  if (m.type == SyncType::Error) return sync_error(m);
  if (m.type != want)
    return make_error(ErrorKind::Internal, std::string("expected ") + sync_type_name(want) +
                                               " message, got " + sync_type_name(m.type));
  return m;
}

}  // namespace crunner
