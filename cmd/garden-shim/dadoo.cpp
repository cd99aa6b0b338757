// garden-dadoo: the supervisor of one garden process (the role of Guardian's dadoo).
//
//   garden-dadoo RUNTIME RUNTIME_ROOT CONTAINER_ID PROCESS_DIR [HOST_UID:HOST_GID]
//
// The process's stdin/stdout/stderr pipes are owned by HOST_UID:HOST_GID (the process's user
// as the host sees it), so the process can reopen /dev/stdin, /dev/stdout and /dev/stderr,
// as Guardian's fifos allow (rundmc/execrunner/dadoo/execrunner.go mkfifos).
//
// Runs `RUNTIME --root ROOT exec --detach --pid-file DIR/pid --process DIR/process.json ID`
// (a process with its own image, whose bundle DIR/config.json is: `run --detach --pid-file
// DIR/pid --bundle DIR ID`, and DIR/pea.json's clean-up once it exited) as a child subreaper,
// reports "ok <pid>\n" or "error <message>\n" on fd 3 (then closes it), and from then on owns the
// process's stdio, so the shim may restart at any time:
//
//   DIR/control   fifo the shim writes framed commands to, in order:
//                   "D <n>\n<n bytes>"  stdin data      "E\n"            stdin EOF
//                   "S <signo>\n"       signal          "W <cols> <rows>\n"  tty size
//   DIR/stdout    everything the process wrote to stdout (or the tty), appended
//   DIR/stderr    everything it wrote to stderr
//   DIR/exit_status  the exit code (128+N for signal N), written atomically after the
//                 output has been drained; its presence means "exited".
//   DIR/dadoo.pid this supervisor's pid.
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/ioctl.h>
#include <sys/prctl.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <termios.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "base/file.hpp"
#include "base/text.hpp"
#include "garden/image/pea.hpp"
#include "garden/runtime/runtime.hpp"
#include "libcontainer/process_setup.hpp"

namespace {

std::string g_dir;
int g_status_fd = -1;

void report(const std::string& line) {
  if (g_status_fd < 0) return;
  std::string l = line + "\n";
  ssize_t w = write(g_status_fd, l.data(), l.size());
  (void)w;
  close(g_status_fd);
  g_status_fd = -1;
}

[[noreturn]] void fail(const std::string& msg) {
  report("error " + msg);
  _exit(1);
}

// The whole file, or "" when it cannot be read.
std::string read_all(const std::string& path) {
  auto r = crunner::read_file(path);
  return r ? std::move(*r) : std::string();
}

// Best effort: the shim treats a missing file as "not yet".
void write_file_atomic(const std::string& path, const std::string& data) {
  (void)crunner::write_file_atomic(path, data, 0644, crunner::Durability::Rename);
}

int decode(int st) {
  if (WIFEXITED(st)) return WEXITSTATUS(st);
  if (WIFSIGNALED(st)) return 128 + WTERMSIG(st);
  return 255;
}

bool append_all(int fd, const char* p, size_t n) {
  while (n > 0) {
    ssize_t w = write(fd, p, n);
    if (w < 0) {
      if (errno == EINTR) continue;
      return false;
    }
    p += w;
    n -= static_cast<size_t>(w);
  }
  return true;
}

// Receives the pty master the runtime sends over the console socket.
int recv_master(int conn) {
  char buf[4096];
  char cmsgbuf[CMSG_SPACE(sizeof(int))];
  iovec iov{buf, sizeof buf};
  msghdr msg{};
  msg.msg_iov = &iov;
  msg.msg_iovlen = 1;
  msg.msg_control = cmsgbuf;
  msg.msg_controllen = sizeof cmsgbuf;
  if (recvmsg(conn, &msg, MSG_CMSG_CLOEXEC) < 0) return -1;
  for (cmsghdr* c = CMSG_FIRSTHDR(&msg); c; c = CMSG_NXTHDR(&msg, c)) {
    if (c->cmsg_level == SOL_SOCKET && c->cmsg_type == SCM_RIGHTS) {
      int fd;
      memcpy(&fd, CMSG_DATA(c), sizeof fd);
      return fd;
    }
  }
  return -1;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 5 && argc != 6) {
    fprintf(stderr,
            "usage: garden-dadoo RUNTIME RUNTIME_ROOT CONTAINER_ID PROCESS_DIR "
            "[HOST_UID:HOST_GID]\n");
    return 2;
  }
  long long owner_uid = -1, owner_gid = -1;
  if (argc == 6) {
    auto ids = crunner::split(argv[5], ':');
    if (ids.size() != 2 || !crunner::parse_i64(ids[0], owner_uid) ||
        !crunner::parse_i64(ids[1], owner_gid) || owner_uid < 0 || owner_gid < 0) {
      fprintf(stderr, "garden-dadoo: invalid HOST_UID:HOST_GID `%s`\n", argv[5]);
      return 2;
    }
  }
  std::string runtime = argv[1], root = argv[2], id = argv[3];
  g_dir = argv[4];
  if (fcntl(3, F_GETFD) >= 0) {
    g_status_fd = 3;
    fcntl(3, F_SETFD, FD_CLOEXEC);
  }
  setsid();
  prctl(PR_SET_CHILD_SUBREAPER, 1);
  write_file_atomic(g_dir + "/dadoo.pid", std::to_string(getpid()));

  sigset_t mask;
  sigemptyset(&mask);
  sigaddset(&mask, SIGCHLD);
  sigaddset(&mask, SIGPIPE);
  sigprocmask(SIG_BLOCK, &mask, nullptr);
  sigset_t chld;
  sigemptyset(&chld);
  sigaddset(&chld, SIGCHLD);
  int sigfd = signalfd(-1, &chld, SFD_CLOEXEC | SFD_NONBLOCK);

  auto spec = nlohmann::json::parse(read_all(g_dir + "/process.json"), nullptr, false);
  if (!spec.is_object()) fail("read process.json: malformed");
  bool tty = spec.value("terminal", false);

  std::string ctl_path = g_dir + "/control";
  unlink(ctl_path.c_str());
  if (mkfifo(ctl_path.c_str(), 0600) < 0) fail("mkfifo `" + ctl_path + "`: " + strerror(errno));
  int ctl = open(ctl_path.c_str(), O_RDWR | O_NONBLOCK | O_CLOEXEC);
  int outf = open((g_dir + "/stdout").c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
  int errf = open((g_dir + "/stderr").c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
  if (ctl < 0 || outf < 0 || errf < 0) fail(std::string("open process files: ") + strerror(errno));

  int in[2] = {-1, -1}, out[2] = {-1, -1}, err[2] = {-1, -1};
  int lsock = -1;
  std::string sockdir, sockpath;
  if (tty) {
    char tmpl[] = "/tmp/garden-dadoo-XXXXXX";
    if (!mkdtemp(tmpl)) fail(std::string("mkdtemp: ") + strerror(errno));
    sockdir = tmpl;
    sockpath = sockdir + "/console.sock";
    lsock = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_un sa{};
    sa.sun_family = AF_UNIX;
    snprintf(sa.sun_path, sizeof sa.sun_path, "%s", sockpath.c_str());
    if (bind(lsock, reinterpret_cast<sockaddr*>(&sa), sizeof sa) < 0 || listen(lsock, 1) < 0)
      fail("console socket `" + sockpath + "`: " + strerror(errno));
  } else if (pipe2(in, O_CLOEXEC) < 0 || pipe2(out, O_CLOEXEC) < 0 || pipe2(err, O_CLOEXEC) < 0) {
    fail(std::string("pipe: ") + strerror(errno));
  } else if (owner_uid >= 0) {
    for (int fd : {in[0], out[1], err[1]})
      if (fchown(fd, static_cast<uid_t>(owner_uid), static_cast<gid_t>(owner_gid)) < 0)
        fail(std::string("chown stdio pipe: ") + strerror(errno));
  }

  std::string log = g_dir + "/runtime.log", pidfile = g_dir + "/pid";
  // A process with its own image (a pea) is a container of its own: its bundle is DIR.
  bool pea = access((g_dir + "/config.json").c_str(), F_OK) == 0;
  std::vector<std::string> args = {runtime, "--root", root, "--log", log, "--log-format", "json"};
  if (pea)
    args.insert(args.end(), {"run", "--detach", "--no-new-keyring", "--pid-file", pidfile,
                             "--bundle", g_dir});  // as the container's own (runtime.cpp)
  else
    args.insert(args.end(),
                {"exec", "--detach", "--pid-file", pidfile, "--process", g_dir + "/process.json"});
  if (tty) {
    if (!pea) args.push_back("--tty");
    args.push_back("--console-socket");
    args.push_back(sockpath);
  }
  args.push_back(id);
  // posix_spawn (vfork + exec): no copy of our page tables and no copy-on-write faults
  // while the runtime starts; the child gets stdio and an unblocked signal mask.
  posix_spawn_file_actions_t fa;
  posix_spawn_file_actions_init(&fa);
  if (tty) {
    for (int fd : {0, 1, 2})
      posix_spawn_file_actions_addopen(&fa, fd, "/dev/null", fd == 0 ? O_RDONLY : O_WRONLY, 0);
  } else {
    posix_spawn_file_actions_adddup2(&fa, in[0], 0);
    posix_spawn_file_actions_adddup2(&fa, out[1], 1);
    posix_spawn_file_actions_adddup2(&fa, err[1], 2);
  }
  posix_spawnattr_t attr;
  posix_spawnattr_init(&attr);
  sigset_t none;
  sigemptyset(&none);
  posix_spawnattr_setsigmask(&attr, &none);
  posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETSIGMASK);
  auto av = crunner::cstr_array(args);
  pid_t rt = -1;
  int spawn_err = posix_spawn(&rt, av[0], &fa, &attr, av.data(), environ);
  posix_spawn_file_actions_destroy(&fa);
  posix_spawnattr_destroy(&attr);
  if (spawn_err != 0) fail("start `" + runtime + "`: " + strerror(spawn_err));
  if (!tty) {
    close(in[0]);
    close(out[1]);
    close(err[1]);
  }
  int master = -1;
  int rt_status = 0;
  bool rt_done = false;
  while (!rt_done) {
    if (tty && master < 0) {
      pollfd p{lsock, POLLIN, 0};
      if (poll(&p, 1, 50) > 0) {
        int conn = accept4(lsock, nullptr, nullptr, SOCK_CLOEXEC);
        if (conn >= 0) {
          master = recv_master(conn);
          close(conn);
        }
      }
      pid_t r = waitpid(rt, &rt_status, WNOHANG);
      if (r == rt) rt_done = true;
    } else {
      if (waitpid(rt, &rt_status, 0) == rt)
        rt_done = true;
      else if (errno != EINTR)
        break;
    }
  }
  if (lsock >= 0) {
    close(lsock);
    unlink(sockpath.c_str());
    rmdir(sockdir.c_str());
  }
  if (decode(rt_status) != 0) {
    std::string msg = garden::last_log_error(log);
    if (msg.empty() && !tty) {
      char buf[4096];
      fcntl(err[0], F_SETFL, O_NONBLOCK);
      ssize_t n = read(err[0], buf, sizeof buf);
      if (n > 0) msg.assign(buf, static_cast<size_t>(n));
    }
    if (msg.empty()) msg = "runtime exec exited with status " + std::to_string(decode(rt_status));
    for (auto& ch : msg)
      if (ch == '\n') ch = ' ';
    fail(msg);
  }
  pid_t pid = static_cast<pid_t>(atoi(read_all(pidfile).c_str()));
  if (pid <= 0) fail("runtime exec wrote no pid file");
  if (tty && master < 0) fail("runtime exec sent no terminal");
  report("ok " + std::to_string(pid));
  int nul = open("/dev/null", O_RDWR | O_CLOEXEC);
  dup2(nul, 0);
  dup2(nul, 1);
  dup2(nul, 2);

  int in_w = tty ? master : in[1];
  int out_r = tty ? master : out[0];
  int err_r = tty ? -1 : err[0];
  if (in_w >= 0) fcntl(in_w, F_SETFL, fcntl(in_w, F_GETFL) | O_NONBLOCK);
  std::string ctlbuf, stdinbuf;
  bool eof_pending = false, exited = false;
  int code = 0;
  auto reap = [&] {
    int st;
    pid_t r;
    while ((r = waitpid(-1, &st, WNOHANG)) > 0)
      if (r == pid) {
        exited = true;
        code = decode(st);
      }
  };
  reap();
  for (;;) {
    std::vector<pollfd> p;
    p.push_back({sigfd, POLLIN, 0});
    p.push_back({ctl, POLLIN, 0});
    size_t out_i = 0, err_i = 0, in_i = 0;
    if (out_r >= 0) {
      out_i = p.size();
      p.push_back({out_r, POLLIN, 0});
    }
    if (err_r >= 0) {
      err_i = p.size();
      p.push_back({err_r, POLLIN, 0});
    }
    if (in_w >= 0 && !stdinbuf.empty() && !(tty && out_r < 0)) {
      in_i = p.size();
      p.push_back({in_w, POLLOUT, 0});
    }
    if (exited && out_r < 0 && err_r < 0) break;
    int n = poll(p.data(), p.size(), exited ? 200 : -1);
    if (n < 0 && errno != EINTR) break;
    if (n == 0 && exited) break;  // drained: descendants may hold the pipes forever
    if (p[0].revents) {
      signalfd_siginfo si;
      while (read(sigfd, &si, sizeof si) > 0) {
      }
      reap();
    }
    if (p[1].revents & POLLIN) {
      char buf[65536];
      ssize_t r;
      while ((r = read(ctl, buf, sizeof buf)) > 0) ctlbuf.append(buf, static_cast<size_t>(r));
      for (;;) {
        auto nl = ctlbuf.find('\n');
        if (nl == std::string::npos) break;
        std::string head = ctlbuf.substr(0, nl);
        if (head.rfind("D ", 0) == 0) {
          size_t len = strtoul(head.c_str() + 2, nullptr, 10);
          if (ctlbuf.size() < nl + 1 + len) break;
          stdinbuf.append(ctlbuf, nl + 1, len);
          ctlbuf.erase(0, nl + 1 + len);
          continue;
        }
        ctlbuf.erase(0, nl + 1);
        if (head == "E") {
          eof_pending = true;
        } else if (head.rfind("S ", 0) == 0) {
          kill(pid, atoi(head.c_str() + 2));
        } else if (head.rfind("W ", 0) == 0 && tty && master >= 0) {
          unsigned cols = 0, rows = 0;
          if (sscanf(head.c_str() + 2, "%u %u", &cols, &rows) == 2) {
            winsize ws{};
            ws.ws_col = static_cast<unsigned short>(cols);
            ws.ws_row = static_cast<unsigned short>(rows);
            ioctl(master, TIOCSWINSZ, &ws);
          }
        }
      }
    }
    if (in_i && (p[in_i].revents & (POLLOUT | POLLERR | POLLHUP))) {
      ssize_t w = write(in_w, stdinbuf.data(), stdinbuf.size());
      if (w > 0)
        stdinbuf.erase(0, static_cast<size_t>(w));
      else if (w < 0 && errno != EAGAIN && errno != EINTR)
        stdinbuf.clear();
    }
    if (eof_pending && stdinbuf.empty()) {
      eof_pending = false;
      if (tty) {
        if (master >= 0) {
          ssize_t w = write(master, "\x04", 1);
          (void)w;
        }
      } else if (in_w >= 0) {
        close(in_w);
        in_w = -1;
      }
    }
    auto pump = [&](size_t idx, int& fd, int dst) {
      if (!idx || !(p[idx].revents & (POLLIN | POLLHUP | POLLERR))) return;
      char buf[65536];
      ssize_t r = read(fd, buf, sizeof buf);
      if (r > 0) {
        append_all(dst, buf, static_cast<size_t>(r));
      } else if (r == 0 || (errno != EINTR && errno != EAGAIN)) {
        if (fd == master) master = -1, in_w = -1;
        close(fd);
        fd = -1;
      }
    };
    pump(out_i, out_r, outf);
    pump(err_i, err_r, errf);
  }
  // A pea goes with its process (runtime container, image), before the exit is published.
  if (pea) {
    std::string e = garden::image::cleanup_pea(g_dir, runtime);
    if (!e.empty()) write_file_atomic(g_dir + "/cleanup_error", e);
  }
  write_file_atomic(g_dir + "/exit_status", std::to_string(code));
  return 0;
}
