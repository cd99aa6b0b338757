// SCMP_ACT_NOTIFY end to end: the child loads the filter and hands the listener fd to
// the "runtime" (this process), which sends it to an agent with send_to_listener(); the
// agent (also this process, on the accepted socket) answers the child's syscalls.
#include <fcntl.h>
#include <linux/seccomp.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/un.h>

#include <catch2/catch.hpp>
#include <cstring>

#include "base/fd.hpp"
#include "base/file.hpp"
#include "filtered_child.hpp"
#include "seccomp/seccomp.hpp"
#include "temp_dir.hpp"

using namespace crunner;
using namespace crunner::testing;
using json = nlohmann::json;

namespace {

bool send_fd(int sock, int fd) {
  char byte = 'F';
  iovec iov{&byte, 1};
  alignas(cmsghdr) char cbuf[CMSG_SPACE(sizeof(int))] = {};
  msghdr msg{};
  msg.msg_iov = &iov;
  msg.msg_iovlen = 1;
  msg.msg_control = cbuf;
  msg.msg_controllen = sizeof cbuf;
  cmsghdr* c = CMSG_FIRSTHDR(&msg);
  c->cmsg_level = SOL_SOCKET;
  c->cmsg_type = SCM_RIGHTS;
  c->cmsg_len = CMSG_LEN(sizeof(int));
  std::memcpy(CMSG_DATA(c), &fd, sizeof fd);
  return sendmsg(sock, &msg, 0) == 1;
}

// Receives one message and at most one fd; returns the payload.
std::string recv_with_fd(int sock, int* fd) {
  std::string buf(65536, '\0');
  iovec iov{buf.data(), buf.size()};
  alignas(cmsghdr) char cbuf[CMSG_SPACE(sizeof(int))] = {};
  msghdr msg{};
  msg.msg_iov = &iov;
  msg.msg_iovlen = 1;
  msg.msg_control = cbuf;
  msg.msg_controllen = sizeof cbuf;
  ssize_t n = recvmsg(sock, &msg, MSG_CMSG_CLOEXEC);
  *fd = -1;
  if (n < 0) return "";
  for (cmsghdr* c = CMSG_FIRSTHDR(&msg); c; c = CMSG_NXTHDR(&msg, c))
    if (c->cmsg_level == SOL_SOCKET && c->cmsg_type == SCM_RIGHTS)
      std::memcpy(fd, CMSG_DATA(c), sizeof(int));
  buf.resize(static_cast<size_t>(n));
  return buf;
}

// Answers one notification: the syscall number seen, and the reply sent.
int answer_one(int notify_fd, int error, long val) {
  seccomp_notif req{};
  if (ioctl(notify_fd, SECCOMP_IOCTL_NOTIF_RECV, &req) < 0) return -1;
  seccomp_notif_resp resp{};
  resp.id = req.id;
  resp.error = error;
  resp.val = val;
  if (ioctl(notify_fd, SECCOMP_IOCTL_NOTIF_SEND, &resp) < 0) return -1;
  return req.data.nr;
}

}  // namespace

TEST_CASE("seccomp NOTIFY: the agent gets the fd and the state, and answers syscalls",
          "[seccomp][notify]") {
  TempDir tmp;
  std::string listener = tmp.path + "/agent.sock";
  json profile = json::parse(R"({"defaultAction": "SCMP_ACT_ALLOW",
      "listenerMetadata": "bar",
      "syscalls": [{"names": ["mkdirat", "mkdir"], "action": "SCMP_ACT_NOTIFY"}]})");
  profile["listenerPath"] = listener;
  std::vector<std::string> warnings;
  auto r = seccomp::compile(profile, &warnings);
  REQUIRE(r.ok());
  seccomp::Program p = *r;
  REQUIRE(p.needs_notify);
  REQUIRE((p.flags & seccomp::kFlagNewListener) != 0);
  REQUIRE(p.listener_path == listener);
  REQUIRE(p.listener_metadata == "bar");

  // The agent listens before the container starts.
  UniqueFd agent(socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0));
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  std::strcpy(addr.sun_path, listener.c_str());
  REQUIRE(bind(agent.get(), reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0);
  REQUIRE(listen(agent.get(), 1) == 0);

  int sp[2];
  REQUIRE(socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sp) == 0);
  UniqueFd parent_end(sp[0]), child_end(sp[1]);
  std::string d1 = tmp.path + "/faked", d2 = tmp.path + "/refused";
  pid_t pid = fork();
  if (pid == 0) {
    parent_end.release();
    if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0) _exit(250);
    int nfd = -1;
    if (seccomp::load(p, &nfd) < 0 || nfd < 0) _exit(251);
    // The listener must never survive execve into the container: it could answer
    // its own syscalls.
    if (!(fcntl(nfd, F_GETFD) & FD_CLOEXEC)) _exit(253);
    if (!send_fd(child_end.get(), nfd)) _exit(252);
    close(nfd);
    // Both calls are answered by the agent: the first faked as success without creating
    // anything, the second refused with EROFS.
    long a = syscall(SYS_mkdirat, AT_FDCWD, d1.c_str(), 0755);
    if (a != 0) _exit(10);
    long b = syscall(SYS_mkdirat, AT_FDCWD, d2.c_str(), 0755);
    if (b != -1 || errno != EROFS) _exit(11);
    _exit(0);
  }
  child_end.reset();

  // The runtime's side: receive the listener fd from the child, pass it on.
  int nfd = -1;
  recv_with_fd(parent_end.get(), &nfd);
  UniqueFd notify_fd(nfd);
  REQUIRE(notify_fd.valid());
  json state = {{"ociVersion", "1.2.0"}, {"id", "ctr"},
                {"status", "creating"},  {"pid", pid},
                {"bundle", "/bundle"},   {"annotations", json::object()}};
  auto st = seccomp::send_to_listener(p, notify_fd.get(), pid, state);
  REQUIRE(st.ok());
  notify_fd.reset();  // the runtime keeps no copy

  // The agent's side.
  UniqueFd conn(accept4(agent.get(), nullptr, nullptr, SOCK_CLOEXEC));
  REQUIRE(conn.valid());
  int afd = -1;
  std::string payload = recv_with_fd(conn.get(), &afd);
  UniqueFd agent_fd(afd);
  REQUIRE(agent_fd.valid());
  json msg = json::parse(payload);
  REQUIRE(msg["ociVersion"] == "1.2.0");
  REQUIRE(msg["fds"] == json::array({"seccompFd"}));
  REQUIRE(msg["pid"] == pid);
  REQUIRE(msg["metadata"] == "bar");
  REQUIRE(msg["state"]["id"] == "ctr");
  REQUIRE(msg["state"]["status"] == "creating");

  REQUIRE(answer_one(agent_fd.get(), 0, 0) == SYS_mkdirat);
  REQUIRE(answer_one(agent_fd.get(), -EROFS, 0) == SYS_mkdirat);
  auto e = wait_child(pid);
  REQUIRE(e.exited);
  REQUIRE(e.code == 0);
  REQUIRE_FALSE(path_exists(d1));
  REQUIRE_FALSE(path_exists(d2));
}

TEST_CASE("seccomp NOTIFY: send_to_listener errors name the listener path", "[seccomp][notify]") {
  TempDir tmp;
  seccomp::Program p;
  p.listener_path = tmp.path + "/nobody-listens.sock";
  int fds[2];
  REQUIRE(pipe2(fds, O_CLOEXEC) == 0);
  UniqueFd a(fds[0]), b(fds[1]);
  auto st = seccomp::send_to_listener(p, a.get(), 1, json::object());
  REQUIRE_FALSE(st.ok());
  REQUIRE(st.error().what() == "failed to connect with seccomp agent at `" + p.listener_path +
                                   "`: no such file or directory");
  p.listener_path = "/" + std::string(200, 'x');
  st = seccomp::send_to_listener(p, a.get(), 1, json::object());
  REQUIRE_FALSE(st.ok());
  REQUIRE(st.error().message.find("path longer than") != std::string::npos);
}

TEST_CASE("seccomp NOTIFY: the message omits empty metadata like runc", "[seccomp][notify]") {
  seccomp::Program p;
  json m = seccomp::container_process_state(p, 42, {{"ociVersion", "1.0.2"}, {"id", "x"}});
  REQUIRE(m["ociVersion"] == "1.0.2");
  REQUIRE_FALSE(m.contains("metadata"));
  REQUIRE(m["pid"] == 42);
  REQUIRE(m["state"]["id"] == "x");
}

TEST_CASE("seccomp NOTIFY with WAIT_KILLABLE_RECV loads on kernels that have it",
          "[seccomp][notify]") {
  json profile = json::parse(R"({"defaultAction": "SCMP_ACT_ALLOW",
      "listenerPath": "/run/none.sock", "flags": ["SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV"],
      "syscalls": [{"names": ["mkdirat"], "action": "SCMP_ACT_NOTIFY"}]})");
  auto r = seccomp::compile(profile, nullptr);
  REQUIRE(r.ok());
  if (!(r->flags & seccomp::kFlagWaitKillableRecv)) {
    WARN("kernel without SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV");
    return;
  }
  // The child gets a listener fd and exits without touching the notified syscall.
  auto e = run_filtered(*r, [] { return 0; });
  REQUIRE(e.exited);
  REQUIRE(e.code == 0);
  // An empty program is refused without a syscall.
  seccomp::Program empty;
  REQUIRE(seccomp::load(empty, nullptr) == -EINVAL);
}

TEST_CASE("seccomp NOTIFY: when the agent goes away the syscall fails with ENOSYS",
          "[seccomp][notify]") {
  json profile = json::parse(R"({"defaultAction": "SCMP_ACT_ALLOW",
      "listenerPath": "/run/none.sock",
      "syscalls": [{"names": ["mkdirat"], "action": "SCMP_ACT_NOTIFY"}]})");
  auto r = seccomp::compile(profile, nullptr);
  REQUIRE(r.ok());
  // The child closes the only listener fd itself: no agent can ever answer.
  auto e = run_filtered(*r, [] {
    for (int fd = 3; fd < 64; fd++) close(fd);
    return err_of(syscall(SYS_mkdirat, AT_FDCWD, "/nonexistent/x", 0755));
  });
  REQUIRE(e.exited);
  REQUIRE(e.code == ENOSYS);
}
