// Loading the filter in the child, and handing the notify fd to the seccomp agent.
#include <linux/seccomp.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/un.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "base/eintr.hpp"
#include "base/error.hpp"
#include "base/fd.hpp"
#include "base/fdpass.hpp"
#include "seccomp/seccomp.hpp"

namespace crunner::seccomp {

using json = nlohmann::json;

int load(const Program& p, int* notify_fd) noexcept {
  if (p.insns.empty() || p.insns.size() > BPF_MAXINSNS) return -EINVAL;
  struct sock_fprog prog {};
  prog.len = static_cast<unsigned short>(p.insns.size());
  prog.filter = const_cast<struct sock_filter*>(p.insns.data());
  long r = syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, p.flags, &prog);
  if (r < 0) return -errno;
  if (p.flags & kFlagNewListener) {
    if (notify_fd)
      *notify_fd = static_cast<int>(r);
    else
      close(static_cast<int>(r));
  }
  return 0;
}

json container_process_state(const Program& p, pid_t pid, const json& container_state) {
  json m = json::object();
  std::string version = "1.2.0";
  if (container_state.is_object()) {
    auto v = container_state.find("ociVersion");
    if (v != container_state.end() && v->is_string()) version = v->get<std::string>();
  }
  m["ociVersion"] = version;
  m["fds"] = json::array({"seccompFd"});
  m["pid"] = pid;
  if (!p.listener_metadata.empty()) m["metadata"] = p.listener_metadata;  // omitempty
  m["state"] = container_state;
  return m;
}

Status send_to_listener(const Program& p, int notify_fd, pid_t pid, const json& container_state) {
  const std::string& path = p.listener_path;
  std::string ctx = "send seccomp fd to the agent at `" + path + "`";
  if (path.empty()) return invalid_spec(ctx + ": linux.seccomp.listenerPath is empty");
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  if (path.size() >= sizeof(addr.sun_path))
    return invalid_spec(ctx + ": path longer than " + std::to_string(sizeof(addr.sun_path) - 1) +
                        " bytes");
  std::memcpy(addr.sun_path, path.c_str(), path.size() + 1);

  int s = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (s < 0) return sys_error(ctx + ": socket");
  UniqueFd sock(s);
  // runc's words ("failed to connect with seccomp agent"), which callers match.
  if (CR_RETRY(connect(sock.get(), reinterpret_cast<sockaddr*>(&addr), sizeof addr)) < 0)
    return sys_error("failed to connect with seccomp agent at `" + path + "`");

  std::string payload;
  try {
    payload = container_process_state(p, pid, container_state).dump();
  } catch (const std::exception& e) {
    return make_error(ErrorKind::Internal, ctx + ": encode state: " + e.what());
  }
  auto sent = send_with_fd(sock.get(), payload.data(), payload.size(), notify_fd);
  if (!sent) return sent.error().context(ctx);
  // The fd went with the first bytes; any rest of the JSON follows on the stream.
  for (size_t off = *sent; off < payload.size();) {
    ssize_t m =
        CR_RETRY(send(sock.get(), payload.data() + off, payload.size() - off, MSG_NOSIGNAL));
    if (m < 0) return sys_error(ctx + ": send");
    off += static_cast<size_t>(m);
  }
  return {};
}

}  // namespace crunner::seccomp
