#include "base/fdpass.hpp"

#include <sys/socket.h>

#include <cstring>

#include "base/eintr.hpp"

namespace crunner {

Result<size_t> send_with_fd(int sock, const void* data, size_t len, int fd) {
  struct iovec iov = {const_cast<void*>(data), len};
  struct msghdr h = {};
  h.msg_iov = &iov;
  h.msg_iovlen = 1;
  alignas(struct cmsghdr) char cbuf[CMSG_SPACE(sizeof(int))] = {};
  if (fd >= 0) {
    h.msg_control = cbuf;
    h.msg_controllen = sizeof(cbuf);
    struct cmsghdr* c = CMSG_FIRSTHDR(&h);
    c->cmsg_level = SOL_SOCKET;
    c->cmsg_type = SCM_RIGHTS;
    c->cmsg_len = CMSG_LEN(sizeof(int));
    memcpy(CMSG_DATA(c), &fd, sizeof(int));
  }
  ssize_t n = CR_RETRY(sendmsg(sock, &h, MSG_NOSIGNAL));
  if (n < 0) return sys_error("sendmsg");
  return static_cast<size_t>(n);
}

}  // namespace crunner
