// `crunner check`: what this host offers for running containers, each finding with its
// reason and the fix. Everything is read from files below a root directory ("/" for the
// real host; a fake host tree in tests): mountinfo, /proc/sys, /etc/subuid, ... Kernel
// features that only a syscall can tell (pidfd_open, clone3, seccomp notify) are probed on
// the running kernel when root is "/", and judged from the kernel version otherwise.
#pragma once

#include <string>
#include <vector>

namespace crunner::hostcheck {

enum class Status { Ok, Warn, Fail };
const char* status_name(Status s);  // "ok", "warn", "fail"

struct Finding {
  std::string name;  // "cgroups", "user namespaces", ...
  Status status = Status::Ok;
  bool required = false;  // a Fail of a required finding makes `check` exit 1
  std::string detail;     // what was found, and why it matters
  std::string fix;        // what to do about it ("" when nothing to do)
};

struct Options {
  std::string root = "/";  // the host's root directory
  uid_t uid = 0;           // the caller, for its subuid/subgid ranges
  std::string criu = "criu";
};

std::vector<Finding> run(const Options& o);
// True when no required finding failed.
bool usable(const std::vector<Finding>& f);

}  // namespace crunner::hostcheck
