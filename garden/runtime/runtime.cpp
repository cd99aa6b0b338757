#include "garden/runtime/runtime.hpp"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <fstream>

#include "base/file.hpp"
#include "base/text.hpp"
#include "libcontainer/process_setup.hpp"

extern char** environ;

namespace garden {

namespace {

int decode_status(int st) {
  if (WIFEXITED(st)) return WEXITSTATUS(st);
  if (WIFSIGNALED(st)) return 128 + WTERMSIG(st);
  return -1;
}

std::string trim_err(const CmdResult& r) {
  std::string e = crunner::trim(r.err.empty() ? r.out : r.err);
  if (e.empty()) e = "exit status " + std::to_string(r.status);
  return e;
}

}  // namespace

namespace {

// What stderr keeps of a command whose stdout goes to a sink.
constexpr size_t kSinkErrCap = 64 << 10;

CmdResult run_cmd_source(const std::vector<std::string>& argv, const InputSource* source,
                         bool detached_stdio, const OutputSink* sink = nullptr,
                         size_t max_output = 0) {
  CmdResult res;
  int in[2] = {-1, -1}, out[2] = {-1, -1}, err[2] = {-1, -1};
  posix_spawn_file_actions_t fa;
  posix_spawn_file_actions_init(&fa);
  if (detached_stdio) {
    posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
    posix_spawn_file_actions_addopen(&fa, 1, "/dev/null", O_WRONLY, 0);
    posix_spawn_file_actions_addopen(&fa, 2, "/dev/null", O_WRONLY, 0);
  } else {
    if (pipe2(in, O_CLOEXEC) < 0 || pipe2(out, O_CLOEXEC) < 0 || pipe2(err, O_CLOEXEC) < 0) {
      res.err = std::string("pipe: ") + strerror(errno);
      for (int fd : {in[0], in[1], out[0], out[1], err[0], err[1]})
        if (fd >= 0) close(fd);
      posix_spawn_file_actions_destroy(&fa);
      return res;
    }
    posix_spawn_file_actions_adddup2(&fa, in[0], 0);
    posix_spawn_file_actions_adddup2(&fa, out[1], 1);
    posix_spawn_file_actions_adddup2(&fa, err[1], 2);
  }
  auto av = crunner::cstr_array(argv);
  pid_t pid = -1;
  int rc = posix_spawn(&pid, av[0], &fa, nullptr, av.data(), environ);
  posix_spawn_file_actions_destroy(&fa);
  if (!detached_stdio) {
    close(in[0]);
    close(out[1]);
    close(err[1]);
  }
  if (rc != 0) {
    res.err = "spawn `" + argv[0] + "`: " + crunner::errno_text(rc);
    if (!detached_stdio) {
      close(in[1]);
      close(out[0]);
      close(err[0]);
    }
    return res;
  }
  if (!detached_stdio) {
    // One piece of input at a time: [written, pending.size()) is still to be written.
    std::string pending;
    size_t written = 0;
    std::vector<char> piece(65536);
    int infd = in[1];
    if (!source) {
      close(infd);
      infd = -1;
    } else {
      fcntl(infd, F_SETFL, O_NONBLOCK);
    }
    int fds[2] = {out[0], err[0]};
    std::string* bufs[2] = {&res.out, &res.err};
    while (fds[0] >= 0 || fds[1] >= 0 || infd >= 0) {
      pollfd p[3];
      int n = 0;
      int map[3];
      for (int i = 0; i < 2; ++i)
        if (fds[i] >= 0) {
          p[n] = {fds[i], POLLIN, 0};
          map[n++] = i;
        }
      if (infd >= 0) {
        p[n] = {infd, POLLOUT, 0};
        map[n++] = 2;
      }
      if (poll(p, static_cast<nfds_t>(n), -1) < 0) {
        if (errno == EINTR) continue;
        break;
      }
      for (int i = 0; i < n; ++i) {
        if (!p[i].revents) continue;
        if (map[i] == 2) {
          bool done = false;
          if (written >= pending.size()) {
            long got = (*source)(piece.data(), piece.size(), res.input_err);
            if (got <= 0) done = true;  // end of input, or the source failed
            pending.assign(piece.data(), got > 0 ? static_cast<size_t>(got) : 0);
            written = 0;
          }
          if (!done) {
            ssize_t w = write(infd, pending.data() + written, pending.size() - written);
            if (w > 0) written += static_cast<size_t>(w);
            // The command stopped reading (EPIPE): the rest of the input is not pulled.
            if (w < 0 && errno != EAGAIN && errno != EINTR) done = true;
          }
          if (done) {
            close(infd);
            infd = -1;
          }
          continue;
        }
        char buf[65536];
        ssize_t r = read(fds[map[i]], buf, sizeof buf);
        if (r > 0 && sink && map[i] == 0) {
          if (!(*sink)(buf, static_cast<size_t>(r))) {
            close(fds[0]);
            fds[0] = -1;
          }
        } else if (r > 0) {
          size_t keep = static_cast<size_t>(r);
          if (sink) keep = std::min(keep, kSinkErrCap - std::min(kSinkErrCap, res.err.size()));
          if (!res.overflow) bufs[map[i]]->append(buf, keep);
          if (max_output && bufs[map[i]]->size() > max_output && !res.overflow) {
            res.overflow = true;  // what follows is read and dropped until EOF
            ::kill(pid, SIGKILL);
          }
        } else if (r == 0 || (errno != EINTR && errno != EAGAIN)) {
          close(fds[map[i]]);
          fds[map[i]] = -1;
        }
      }
    }
  }
  int st = 0;
  while (waitpid(pid, &st, 0) < 0 && errno == EINTR) {
  }
  res.status = decode_status(st);
  return res;
}

}  // namespace

CmdResult run_cmd(const std::vector<std::string>& argv, const std::string& input,
                  bool detached_stdio, size_t max_output) {
  size_t off = 0;
  InputSource from_string = [&](char* buf, size_t cap, std::string&) -> long {
    size_t n = std::min(cap, input.size() - off);
    memcpy(buf, input.data() + off, n);
    off += n;
    return static_cast<long>(n);
  };
  return run_cmd_source(argv, input.empty() ? nullptr : &from_string, detached_stdio, nullptr,
                        max_output);
}

CmdResult run_cmd_streaming(const std::vector<std::string>& argv, const InputSource* source,
                            const OutputSink* sink) {
  return run_cmd_source(argv, source, false, sink);
}

std::string last_log_error(const std::string& path) {
  std::ifstream f(path);
  std::string line, last;
  while (std::getline(f, line)) {
    auto j = nlohmann::json::parse(line, nullptr, false);
    if (j.is_object() && j.value("level", "") == "error" && j.contains("msg") &&
        j["msg"].is_string())
      last = j["msg"].get<std::string>();
  }
  return last;
}

std::string Runtime::run_detached(const std::string& id, const std::string& bundle,
                                  const std::string& log, const std::string& pid_file, int* pid) {
  auto argv = base();
  // Guardian's runc calls (rundmc/runrunc/create.go): --no-new-keyring. A session keyring per
  // container is charged to the container's host uid, which every unprivileged container
  // shares: the kernel's per-user maxkeys (200) would refuse the 201st.
  argv.insert(argv.end(), {"--log", log, "--log-format", "json", "run", "--detach",
                           "--no-new-keyring", "--pid-file", pid_file, "--bundle", bundle, id});
  CmdResult r = run_cmd(argv, "", true);
  if (r.status == 0) {
    long long v = 0;
    if (pid && crunner::read_i64_file(pid_file, v)) *pid = static_cast<int>(v);
    return "";
  }
  std::string e = last_log_error(log);
  if (e.empty()) e = r.err.empty() ? "exit status " + std::to_string(r.status) : r.err;
  return e;
}

std::string Runtime::kill(const std::string& id, int sig, bool all) {
  auto argv = base();
  argv.push_back("kill");
  if (all) argv.push_back("--all");
  argv.push_back(id);
  argv.push_back(std::to_string(sig));
  CmdResult r = run_cmd(argv);
  return r.status == 0 ? "" : trim_err(r);
}

std::string Runtime::remove(const std::string& id) {
  auto argv = base();
  argv.insert(argv.end(), {"delete", "--force", id});
  CmdResult r = run_cmd(argv);
  return r.status == 0 ? "" : trim_err(r);
}

std::string Runtime::status(const std::string& id, int* pid) {
  auto argv = base();
  argv.insert(argv.end(), {"state", id});
  CmdResult r = run_cmd(argv);
  if (r.status != 0) return "";
  auto j = nlohmann::json::parse(r.out, nullptr, false);
  if (!j.is_object()) return "";
  if (pid && j.contains("pid") && j["pid"].is_number()) *pid = j["pid"].get<int>();
  return j.value("status", "");
}

std::vector<int> Runtime::pids(const std::string& id) {
  auto argv = base();
  argv.insert(argv.end(), {"ps", "--format", "json", id});
  CmdResult r = run_cmd(argv);
  std::vector<int> out;
  if (r.status != 0) return out;
  auto j = nlohmann::json::parse(r.out, nullptr, false);
  if (!j.is_array()) return out;
  for (auto& v : j)
    if (v.is_number_integer()) out.push_back(v.get<int>());
  return out;
}

nlohmann::json Runtime::stats(const std::string& id, std::string& err) {
  auto argv = base();
  argv.insert(argv.end(), {"events", "--stats", id});
  CmdResult r = run_cmd(argv);
  if (r.status != 0) {
    err = "runtime events --stats: " + trim_err(r);
    return nullptr;
  }
  auto nl = r.out.find('\n');
  auto j = nlohmann::json::parse(r.out.substr(0, nl), nullptr, false);
  if (!j.is_object() || !j.contains("data")) {
    err = "runtime events --stats: unexpected output";
    return nullptr;
  }
  return j["data"];
}

}  // namespace garden
