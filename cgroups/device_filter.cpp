#include "cgroups/device_filter.hpp"

#include <sys/syscall.h>
#include <unistd.h>

#include <cstring>

namespace crunner::cgroups {

namespace {

constexpr uint32_t kTypeBlock = 1;  // BPF_DEVCG_DEV_BLOCK
constexpr uint32_t kTypeChar = 2;   // BPF_DEVCG_DEV_CHAR
constexpr uint32_t kAccMknod = 1, kAccRead = 2, kAccWrite = 4;

uint32_t access_mask(const std::string& a) {
  uint32_t m = 0;
  for (char c : a) {
    if (c == 'r') m |= kAccRead;
    if (c == 'w') m |= kAccWrite;
    if (c == 'm') m |= kAccMknod;
  }
  return m;
}

bpf_insn insn(uint8_t code, uint8_t dst, uint8_t src, int16_t off, int32_t imm) {
  bpf_insn i;
  std::memset(&i, 0, sizeof i);
  i.code = code;
  i.dst_reg = dst & 0xf;
  i.src_reg = src & 0xf;
  i.off = off;
  i.imm = imm;
  return i;
}
bpf_insn ldx_w(uint8_t dst, uint8_t src, int16_t off) {
  return insn(BPF_LDX | BPF_MEM | BPF_W, dst, src, off, 0);
}
bpf_insn alu32_imm(uint8_t op, uint8_t dst, int32_t imm) {
  return insn(BPF_ALU | op | BPF_K, dst, 0, 0, imm);
}
bpf_insn mov32_reg(uint8_t dst, uint8_t src) {
  return insn(BPF_ALU | BPF_MOV | BPF_X, dst, src, 0, 0);
}
bpf_insn mov64_imm(uint8_t dst, int32_t imm) {
  return insn(BPF_ALU64 | BPF_MOV | BPF_K, dst, 0, 0, imm);
}
bpf_insn jmp_imm(uint8_t op, uint8_t dst, int32_t imm, int16_t off) {
  return insn(BPF_JMP | op | BPF_K, dst, 0, off, imm);
}
bpf_insn jmp_reg(uint8_t op, uint8_t dst, uint8_t src, int16_t off) {
  return insn(BPF_JMP | op | BPF_X, dst, src, off, 0);
}
bpf_insn exit_insn() {
  return insn(BPF_JMP | BPF_EXIT, 0, 0, 0, 0);
}

constexpr int16_t kNext = 0x7fff;  // placeholder: jump to the next rule's block

}  // namespace

std::vector<bpf_insn> build_device_program(const std::vector<DeviceRule>& rules) {
  std::vector<bpf_insn> p;
  // struct bpf_cgroup_dev_ctx { u32 access_type; u32 major; u32 minor; }
  p.push_back(ldx_w(2, 1, 0));                 // r2 = access_type
  p.push_back(alu32_imm(BPF_AND, 2, 0xffff));  // r2 = type
  p.push_back(ldx_w(3, 1, 0));
  p.push_back(alu32_imm(BPF_RSH, 3, 16));  // r3 = access
  p.push_back(ldx_w(4, 1, 4));             // r4 = major
  p.push_back(ldx_w(5, 1, 8));             // r5 = minor
  // Last matching rule wins: emit the rules backwards, the first match returns.
  for (auto it = rules.rbegin(); it != rules.rend(); ++it) {
    const DeviceRule& r = *it;
    std::vector<bpf_insn> b;
    if (r.type == 'c' || r.type == 'b')
      b.push_back(jmp_imm(BPF_JNE, 2, r.type == 'c' ? kTypeChar : kTypeBlock, kNext));
    uint32_t m = access_mask(r.access);
    if (m != (kAccRead | kAccWrite | kAccMknod)) {
      if (r.allow) {
        // allow matches when every requested bit is granted: (r3 & m) == r3
        b.push_back(mov32_reg(1, 3));
        b.push_back(alu32_imm(BPF_AND, 1, static_cast<int32_t>(m)));
        b.push_back(jmp_reg(BPF_JNE, 1, 3, kNext));
      } else {
        // deny matches when any requested bit is denied: (r3 & m) != 0
        b.push_back(jmp_imm(BPF_JSET, 3, static_cast<int32_t>(m), 1));
        b.push_back(insn(BPF_JMP | BPF_JA, 0, 0, kNext, 0));
      }
    }
    if (r.major != kWildcard)
      b.push_back(jmp_imm(BPF_JNE, 4, static_cast<int32_t>(r.major), kNext));
    if (r.minor != kWildcard)
      b.push_back(jmp_imm(BPF_JNE, 5, static_cast<int32_t>(r.minor), kNext));
    b.push_back(mov64_imm(0, r.allow ? 1 : 0));
    b.push_back(exit_insn());
    for (size_t i = 0; i < b.size(); ++i)
      if (b[i].off == kNext) b[i].off = static_cast<int16_t>(b.size() - i - 1);
    p.insert(p.end(), b.begin(), b.end());
    // A rule without conditions always matches: what follows would be unreachable, which
    // the verifier rejects.
    if (b.size() == 2) return p;
  }
  p.push_back(mov64_imm(0, 1));  // no rule matched: the parent's policy (allow)
  p.push_back(exit_insn());
  return p;
}

bool device_rules_allow(const std::vector<DeviceRule>& rules, const DeviceAccess& a) {
  uint32_t req = access_mask(a.access);
  for (auto it = rules.rbegin(); it != rules.rend(); ++it) {
    const DeviceRule& r = *it;
    if (r.type != 'a' && r.type != a.type) continue;
    uint32_t m = access_mask(r.access);
    if (r.allow ? (req & m) != req : (req & m) == 0) continue;
    if (r.major != kWildcard && static_cast<uint32_t>(r.major) != a.major) continue;
    if (r.minor != kWildcard && static_cast<uint32_t>(r.minor) != a.minor) continue;
    return r.allow;
  }
  return true;
}

Result<bool> run_device_program(const std::vector<bpf_insn>& prog, const DeviceAccess& a) {
  uint32_t ctx[3] = {(access_mask(a.access) << 16) | (a.type == 'b' ? kTypeBlock : kTypeChar),
                     a.major, a.minor};
  uint64_t reg[11] = {};
  size_t pc = 0;
  for (int steps = 0; steps < 100000 && pc < prog.size(); ++steps) {
    const bpf_insn& i = prog[pc++];
    uint8_t cls = BPF_CLASS(i.code);
    uint64_t src = (BPF_SRC(i.code) == BPF_X) ? reg[i.src_reg] : static_cast<uint64_t>(i.imm);
    if (cls == BPF_LDX) {
      if (i.src_reg != 1 || i.off % 4 || i.off < 0 || i.off > 8)
        return make_error(ErrorKind::Internal, "bad load in device program");
      reg[i.dst_reg] = ctx[i.off / 4];
    } else if (cls == BPF_ALU || cls == BPF_ALU64) {
      uint64_t& d = reg[i.dst_reg];
      switch (BPF_OP(i.code)) {
        case BPF_MOV:
          d = src;
          break;
        case BPF_AND:
          d &= src;
          break;
        case BPF_RSH:
          d >>= src;
          break;
        default:
          return make_error(ErrorKind::Internal, "bad alu op in device program");
      }
      if (cls == BPF_ALU) d &= 0xffffffffULL;
    } else if (cls == BPF_JMP) {
      uint64_t d = reg[i.dst_reg];
      bool jump = false;
      switch (BPF_OP(i.code)) {
        case BPF_EXIT:
          return reg[0] == 1;
        case BPF_JA:
          jump = true;
          break;
        case BPF_JNE:
          jump = d != (src & 0xffffffffULL);
          break;
        case BPF_JSET:
          jump = (d & src) != 0;
          break;
        default:
          return make_error(ErrorKind::Internal, "bad jump in device program");
      }
      if (jump) pc += i.off;
    } else {
      return make_error(ErrorKind::Internal, "bad instruction class in device program");
    }
  }
  return make_error(ErrorKind::Internal, "device program ran off its end");
}

namespace {

long sys_bpf(int cmd, union bpf_attr* attr) {
  return ::syscall(__NR_bpf, cmd, attr, sizeof(*attr));
}

}  // namespace

Result<std::vector<uint32_t>> attached_device_programs(const CgDir& d) {
  std::vector<uint32_t> ids(64);
  union bpf_attr attr;
  std::memset(&attr, 0, sizeof attr);
  attr.query.target_fd = static_cast<uint32_t>(d.fd.get());
  attr.query.attach_type = BPF_CGROUP_DEVICE;
  attr.query.prog_ids = reinterpret_cast<uint64_t>(ids.data());
  attr.query.prog_cnt = static_cast<uint32_t>(ids.size());
  if (sys_bpf(BPF_PROG_QUERY, &attr) < 0)
    return sys_error("query device programs of `" + d.path + "`");
  ids.resize(attr.query.prog_cnt);
  return ids;
}

Status apply_device_filter(const CgDir& d, const std::vector<DeviceRule>& rules) {
  CR_ASSIGN(auto old, attached_device_programs(d));
  auto prog = build_device_program(rules);
  static char license[] = "Apache";
  std::vector<char> log(64 * 1024);
  union bpf_attr attr;
  std::memset(&attr, 0, sizeof attr);
  attr.prog_type = BPF_PROG_TYPE_CGROUP_DEVICE;
  attr.insns = reinterpret_cast<uint64_t>(prog.data());
  attr.insn_cnt = static_cast<uint32_t>(prog.size());
  attr.license = reinterpret_cast<uint64_t>(license);
  attr.log_buf = reinterpret_cast<uint64_t>(log.data());
  attr.log_size = static_cast<uint32_t>(log.size());
  attr.log_level = 1;
  int pfd = static_cast<int>(sys_bpf(BPF_PROG_LOAD, &attr));
  if (pfd < 0) {
    int e = errno;
    std::string msg = "load device filter program (" + std::to_string(prog.size()) +
                      " instructions) for `" + d.path + "`";
    if (log[0]) msg += " (verifier: " + std::string(log.data()).substr(0, 400) + ")";
    return sys_error(msg, e);
  }
  UniqueFd prog_fd(pfd);
  std::memset(&attr, 0, sizeof attr);
  attr.target_fd = static_cast<uint32_t>(d.fd.get());
  attr.attach_bpf_fd = static_cast<uint32_t>(prog_fd.get());
  attr.attach_type = BPF_CGROUP_DEVICE;
  attr.attach_flags = BPF_F_ALLOW_MULTI;
  if (sys_bpf(BPF_PROG_ATTACH, &attr) < 0)
    return sys_error("attach device filter program to `" + d.path + "`");
  for (uint32_t id : old) {
    std::memset(&attr, 0, sizeof attr);
    attr.prog_id = id;
    int ofd = static_cast<int>(sys_bpf(BPF_PROG_GET_FD_BY_ID, &attr));
    if (ofd < 0) {
      if (errno == ENOENT) continue;
      return sys_error("get device program " + std::to_string(id) + " of `" + d.path + "`");
    }
    UniqueFd old_fd(ofd);
    std::memset(&attr, 0, sizeof attr);
    attr.target_fd = static_cast<uint32_t>(d.fd.get());
    attr.attach_bpf_fd = static_cast<uint32_t>(old_fd.get());
    attr.attach_type = BPF_CGROUP_DEVICE;
    if (sys_bpf(BPF_PROG_DETACH, &attr) < 0 && errno != ENOENT)
      return sys_error("detach old device program " + std::to_string(id) + " from `" + d.path +
                       "`");
  }
  return {};
}

}  // namespace crunner::cgroups
