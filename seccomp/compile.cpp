// linux.seccomp -> BPF with libseccomp, in the parent. See seccomp.hpp for the rules.
#include <linux/seccomp.h>
#include <seccomp.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <cstring>
#include <map>
#include <set>

#include "base/fd.hpp"
#include "base/file.hpp"
#include "seccomp/enosys.hpp"
#include "seccomp/names.hpp"
#include "seccomp/profile.hpp"
#include "seccomp/seccomp.hpp"

namespace crunner::seccomp {

using json = nlohmann::json;

namespace {

struct CtxGuard {
  scmp_filter_ctx ctx;
  ~CtxGuard() {
    if (ctx) seccomp_release(ctx);
  }
};

Error scmp_error(const std::string& what, int rc) {
  // libseccomp returns -errno.
  return sys_error(what, rc < 0 ? -rc : EINVAL);
}

std::string quoted(const std::string& s) {
  return "\"" + s + "\"";
}

Status add_rule(scmp_filter_ctx ctx, const Rule& r, const std::string& name, int nr) {
  std::vector<scmp_arg_cmp> conds;
  std::array<int, 6> per_index{};
  for (const Arg& a : r.args) {
    conds.push_back(scmp_arg_cmp{a.index, a.op, a.value, a.value_two});
    per_index[a.index]++;
  }
  bool split = std::any_of(per_index.begin(), per_index.end(), [](int n) { return n > 1; });
  auto ctx_msg = "add seccomp rule for syscall " + quoted(name);
  if (!split) {
    int rc = seccomp_rule_add_array(ctx, r.action, nr, static_cast<unsigned>(conds.size()),
                                    conds.empty() ? nullptr : conds.data());
    if (rc < 0) return scmp_error(ctx_msg, rc);
    return {};
  }
  // Several conditions on one argument: one rule per condition (runc's behaviour).
  for (auto& c : conds) {
    int rc = seccomp_rule_add_array(ctx, r.action, nr, 1, &c);
    if (rc < 0) return scmp_error(ctx_msg, rc);
  }
  return {};
}

Result<std::vector<sock_filter>> export_bpf(scmp_filter_ctx ctx) {
  int fd = static_cast<int>(syscall(SYS_memfd_create, "crunner-seccomp", MFD_CLOEXEC));
  if (fd < 0) return sys_error("create memfd for the seccomp filter");
  UniqueFd mem(fd);
  int rc = seccomp_export_bpf(ctx, mem.get());
  if (rc < 0) return scmp_error("export seccomp filter", rc);
  if (lseek(mem.get(), 0, SEEK_SET) < 0) return sys_error("rewind seccomp memfd");
  CR_ASSIGN(std::string raw, read_fd(mem.get()));
  if (raw.empty() || raw.size() % sizeof(sock_filter) != 0)
    return make_error(ErrorKind::Internal,
                      "export seccomp filter: bad program size " + std::to_string(raw.size()));
  std::vector<sock_filter> insns(raw.size() / sizeof(sock_filter));
  std::memcpy(insns.data(), raw.data(), raw.size());
  return insns;
}

// A lower bound on the size of the program libseccomp would build, from the comparisons no
// instruction can be shared by: per syscall and argument, rules with one SCMP_CMP_EQ each
// need a jump per distinct low (or high) 32-bit word of their values (libseccomp keeps one
// chain per syscall; syscalls with an unconditional rule are left out, it may drop their
// argument rules). libseccomp's rule adds are quadratic in the rules of one syscall (20,000
// argument rules: tens of seconds), then the kernel refuses the program; this refuses it
// up front.
size_t insns_lower_bound(const Profile& p) {
  std::set<int> unconditional;
  std::map<std::pair<int, unsigned>, std::pair<std::set<uint32_t>, std::set<uint32_t>>> words;
  for (auto& r : p.rules) {
    if (r.action == p.default_action) continue;
    for (auto& name : r.names) {
      int nr = seccomp_syscall_resolve_name(name.c_str());
      if (nr == __NR_SCMP_ERROR) continue;
      if (r.args.empty()) unconditional.insert(nr);
      if (r.args.size() != 1 || r.args[0].op != SCMP_CMP_EQ) continue;
      auto& w = words[{nr, r.args[0].index}];
      w.first.insert(static_cast<uint32_t>(r.args[0].value));
      w.second.insert(static_cast<uint32_t>(r.args[0].value >> 32));
    }
  }
  size_t n = 0;
  for (auto& [key, w] : words)
    if (!unconditional.count(key.first)) n += std::max(w.first.size(), w.second.size());
  return n;
}

void warn(std::vector<std::string>* warnings, const std::string& w) {
  if (!warnings) return;
  if (std::find(warnings->begin(), warnings->end(), w) == warnings->end()) warnings->push_back(w);
}

}  // namespace

bool kernel_supports_flags(unsigned flags) {
  // With a NULL program the kernel checks the flags first (EINVAL when unknown), then
  // faults copying the program: EFAULT means the flags are supported. Nothing is loaded.
  long r = syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, flags, nullptr);
  return r < 0 && errno == EFAULT;
}

// Flags, notify and listener data of a Program: cheap, so they are never cached.
Result<Program> program_shell(const Profile& p, std::vector<std::string>* warnings) {
  Program out;
  for (unsigned f : {kFlagLog, kFlagSpecAllow}) {
    if (!(p.flags & f)) continue;
    if (!kernel_supports_flags(f))
      return make_error(ErrorKind::Unsupported,
                        f == kFlagLog
                            ? "seccomp flag SECCOMP_FILTER_FLAG_LOG is not supported by the kernel"
                            : "seccomp flag SECCOMP_FILTER_FLAG_SPEC_ALLOW is not supported by "
                              "the kernel");
    out.flags |= f;
  }
  if (p.uses_notify) {
    out.flags |= kFlagNewListener;
    out.needs_notify = true;
    out.listener_path = p.listener_path;
    out.listener_metadata = p.listener_metadata;
  }
  if (p.flags & kFlagWaitKillableRecv) {
    if (!p.uses_notify)
      warn(warnings,
           "seccomp flag SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV ignored: no SCMP_ACT_NOTIFY rule");
    else if (!kernel_supports_flags(kFlagNewListener | kFlagWaitKillableRecv))
      warn(warnings,
           "seccomp flag SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV ignored: not supported by the "
           "kernel");
    else
      out.flags |= kFlagWaitKillableRecv;
  }
  return out;
}

Result<std::vector<sock_filter>> compile_bpf(const Profile& p, std::vector<std::string>* warnings) {
  CtxGuard g{seccomp_init(p.default_action)};
  if (!g.ctx) return make_error(ErrorKind::Internal, "seccomp_init: cannot create the filter");
  int rc = seccomp_attr_set(g.ctx, SCMP_FLTATR_CTL_NNP, 0);
  if (rc < 0) return scmp_error("seccomp: unset no_new_privs attribute", rc);
  std::vector<uint32_t> archs{seccomp_arch_native()};  // what the filter really covers
  for (size_t i = 0; i < p.archs.size(); i++) {
    rc = seccomp_arch_add(g.ctx, p.archs[i]);
    if (rc == -EDOM) {
      // libseccomp cannot mix byte orders in one filter; such a process cannot run here.
      warn(warnings, "seccomp: architecture " + p.arch_names[i] +
                         " ignored: its byte order differs from the host's");
      continue;
    }
    if (rc < 0 && rc != -EEXIST)
      return scmp_error("add seccomp architecture " + p.arch_names[i], rc);
    if (std::find(archs.begin(), archs.end(), p.archs[i]) == archs.end())
      archs.push_back(p.archs[i]);
  }
  if (size_t least = insns_lower_bound(p); least > BPF_MAXINSNS)
    return make_error(ErrorKind::InvalidSpec,
                      "seccomp filter too large: at least " + std::to_string(least) +
                          " instructions (the kernel allows " + std::to_string(BPF_MAXINSNS) + ")");
  size_t n_names = 0;
  for (auto& r : p.rules) n_names += r.names.size();
  // Binary-tree optimisation for long profiles (libseccomp <= 2.5.4 misbehaves with
  // it on empty filters, hence the threshold runc uses too). Not fatal if missing.
  if (n_names > 32) (void)seccomp_attr_set(g.ctx, SCMP_FLTATR_CTL_OPTIMIZE, 2);

  for (auto& r : p.rules) {
    if (r.action == p.default_action) continue;  // redundant; libseccomp would refuse it
    for (auto& name : r.names) {
      int nr = seccomp_syscall_resolve_name(name.c_str());
      if (nr == __NR_SCMP_ERROR) {
        warn(warnings, "seccomp: unknown syscall " + quoted(name) + " ignored");
        continue;
      }
      CR_TRY(add_rule(g.ctx, r, name, nr));
    }
  }
  CR_ASSIGN(std::vector<sock_filter> insns, export_bpf(g.ctx));
  std::vector<sock_filter> stub = enosys_stub(p, archs);
  if (!stub.empty()) insns.insert(insns.begin(), stub.begin(), stub.end());
  if (insns.size() > BPF_MAXINSNS)
    return make_error(ErrorKind::InvalidSpec,
                      "seccomp filter too large: " + std::to_string(insns.size()) +
                          " instructions (the kernel allows " + std::to_string(BPF_MAXINSNS) + ")");
  return insns;
}

Result<Program> compile(const json& linux_seccomp, std::vector<std::string>* warnings) {
  CR_ASSIGN(Profile p, parse(linux_seccomp, "linux.seccomp"));
  CR_ASSIGN(Program out, program_shell(p, warnings));
  CR_ASSIGN(out.insns, compile_bpf(p, warnings));
  return out;
}

std::string libseccomp_version() {
  const scmp_version* v = seccomp_version();
  return std::to_string(v->major) + "." + std::to_string(v->minor) + "." + std::to_string(v->micro);
}

}  // namespace crunner::seccomp
