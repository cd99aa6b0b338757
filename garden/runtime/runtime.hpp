// Invocation of the OCI runtime CLI (runc-compatible flags only, so that runc, crun and
// crunner are interchangeable) and of other helper programs.
#pragma once

#include <functional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

namespace garden {

struct CmdResult {
  int status = -1;  // exit code, 128+N when killed by signal N, -1 when not started
  std::string out, err;
  std::string input_err;  // the input source failed (run_cmd_streaming)
  bool overflow = false;  // stdout or stderr passed max_output: the command was killed
};

// Pulls the next piece of a command's stdin into buf: bytes, 0 at its end, -1 on an error
// (err says which).
using InputSource = std::function<long(char* buf, size_t cap, std::string& err)>;

// Runs argv (posix_spawn), feeding input to stdin and collecting stdout and stderr.
// With detached_stdio, stdio is /dev/null (for commands whose children inherit it).
// max_output (0: unbounded) caps stdout and stderr each: past it the command is killed.
CmdResult run_cmd(const std::vector<std::string>& argv, const std::string& input = "",
                  bool detached_stdio = false, size_t max_output = 0);
// Takes the next piece of a command's stdout; false stops reading it (the command's stdout
// is closed: it gets EPIPE/SIGPIPE on its next write).
using OutputSink = std::function<bool(const char* data, size_t len)>;

// As run_cmd, with stdin pulled from source as the command takes it (bounded memory: one
// 64 KiB piece at a time), for request bodies streamed into the container. With a sink,
// stdout goes to it as it comes (out stays empty) and stderr is kept up to 64 KiB, so
// memory stays bounded whatever the command writes (stream-out).
CmdResult run_cmd_streaming(const std::vector<std::string>& argv, const InputSource* source,
                            const OutputSink* sink = nullptr);

class Runtime {
 public:
  Runtime() = default;
  Runtime(std::string bin, std::string root) : bin_(std::move(bin)), root_(std::move(root)) {}
  const std::string& bin() const { return bin_; }
  const std::string& root() const { return root_; }
  // `run --detach --pid-file PIDFILE --bundle B ID`, errors from the runtime's JSON log
  // file; *pid gets the init's pid from the pid file (no extra `state` invocation).
  std::string run_detached(const std::string& id, const std::string& bundle, const std::string& log,
                           const std::string& pid_file, int* pid);
  std::string kill(const std::string& id, int sig, bool all);
  std::string remove(const std::string& id);  // delete --force
  // status from `state` ("running", "stopped", ...), "" when unknown
  std::string status(const std::string& id, int* pid = nullptr);
  std::vector<int> pids(const std::string& id);
  // The data object of `events --stats`, or an error text in err.
  nlohmann::json stats(const std::string& id, std::string& err);
  std::vector<std::string> base() const { return {bin_, "--root", root_}; }

 private:
  std::string bin_, root_;
};

// The last "level":"error" message of a runtime JSON log file ("" when none).
std::string last_log_error(const std::string& path);

}  // namespace garden
