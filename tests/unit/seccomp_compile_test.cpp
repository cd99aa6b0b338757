// Compilation of many profiles (no loading), the filter cache, SHA-256, features.
#include <linux/audit.h>
#include <linux/seccomp.h>
#include <sys/stat.h>

#include <catch2/catch.hpp>
#include <cstring>

#include "base/file.hpp"
#include "base/sha256.hpp"
#include "filtered_child.hpp"
#include "seccomp/seccomp.hpp"
#include "temp_dir.hpp"

using namespace crunner;
using namespace crunner::testing;
using json = nlohmann::json;

namespace {

bool same_insns(const std::vector<sock_filter>& a, const std::vector<sock_filter>& b) {
  return a.size() == b.size() &&
         (a.empty() || std::memcmp(a.data(), b.data(), a.size() * sizeof(sock_filter)) == 0);
}

bool has_ret(const seccomp::Program& p, uint32_t k) {
  for (auto& i : p.insns)
    if (i.code == (BPF_RET | BPF_K) && i.k == k) return true;
  return false;
}

bool has_arch_check(const seccomp::Program& p, uint32_t audit) {
  for (auto& i : p.insns)
    if (i.code == (BPF_JMP | BPF_JEQ | BPF_K) && i.k == audit) return true;
  return false;
}

ino_t inode_of(const std::string& path) {
  struct stat st {};
  return stat(path.c_str(), &st) == 0 ? st.st_ino : 0;
}

}  // namespace

TEST_CASE("seccomp compiles profiles with every action as default and in rules",
          "[seccomp][compile]") {
  // (a local: a range-for over a member of the temporary features() would use it after
  // its destruction, ASan's heap-use-after-free)
  const json features = seccomp::features();
  for (auto& def : features["actions"]) {
    if (def == "SCMP_ACT_NOTIFY") continue;
    for (auto& act : features["actions"]) {
      json j{{"defaultAction", def},
             {"syscalls", {{{"names", {"mkdir", "getcwd"}}, {"action", act}}}}};
      if (act == "SCMP_ACT_NOTIFY") j["listenerPath"] = "/run/agent.sock";
      INFO(j.dump());
      std::vector<std::string> w;
      auto r = seccomp::compile(j, &w);
      REQUIRE(r.ok());
      REQUIRE_FALSE(r->insns.empty());
      REQUIRE(w.empty());
      REQUIRE(r->needs_notify == (act == "SCMP_ACT_NOTIFY"));
    }
  }
}

TEST_CASE("seccomp action words follow runc", "[seccomp][compile]") {
  auto ret_of = [](const char* action, json extra = json::object()) {
    json rule{{"names", {"mkdir"}}, {"action", action}};
    rule.update(extra);
    json j{{"defaultAction", "SCMP_ACT_ALLOW"}, {"syscalls", {rule}}};
    return *seccomp::compile(j, nullptr);
  };
  REQUIRE(has_ret(ret_of("SCMP_ACT_KILL"), SECCOMP_RET_KILL_THREAD));
  REQUIRE(has_ret(ret_of("SCMP_ACT_KILL_PROCESS"), SECCOMP_RET_KILL_PROCESS));
  REQUIRE(has_ret(ret_of("SCMP_ACT_TRAP"), SECCOMP_RET_TRAP));
  REQUIRE(has_ret(ret_of("SCMP_ACT_ERRNO"), SECCOMP_RET_ERRNO | EPERM));
  REQUIRE(has_ret(ret_of("SCMP_ACT_ERRNO", {{"errnoRet", 38}}), SECCOMP_RET_ERRNO | 38));
  REQUIRE(has_ret(ret_of("SCMP_ACT_TRACE"), SECCOMP_RET_TRACE | EPERM));
  REQUIRE(has_ret(ret_of("SCMP_ACT_TRACE", {{"errnoRet", 7}}), SECCOMP_RET_TRACE | 7));
  REQUIRE(has_ret(ret_of("SCMP_ACT_LOG"), SECCOMP_RET_LOG));
  // errnoRet on an action that takes none is an error (runtime-spec: MUST fail)
  json trap{{"names", {"mkdir"}}, {"action", "SCMP_ACT_TRAP"}, {"errnoRet", 7}};
  REQUIRE_FALSE(
      seccomp::compile(json{{"defaultAction", "SCMP_ACT_ALLOW"}, {"syscalls", {trap}}}, nullptr)
          .ok());
}

TEST_CASE("seccomp compiles every known architecture", "[seccomp][compile]") {
  json archs = seccomp::features()["archs"];
  REQUIRE(archs.size() >= 17);
  json j{{"defaultAction", "SCMP_ACT_ERRNO"},
         {"architectures", archs},
         {"syscalls",
          {{{"names", {"read", "write", "exit_group", "socket"}}, {"action", "SCMP_ACT_ALLOW"}}}}};
  std::vector<std::string> w;
  auto r = seccomp::compile(j, &w);
  REQUIRE(r.ok());
  REQUIRE(has_arch_check(*r, AUDIT_ARCH_X86_64));
  REQUIRE(has_arch_check(*r, AUDIT_ARCH_I386));
  REQUIRE(has_arch_check(*r, AUDIT_ARCH_AARCH64));
  REQUIRE(has_arch_check(*r, AUDIT_ARCH_RISCV64));
  REQUIRE(has_arch_check(*r, AUDIT_ARCH_MIPSEL64));
  // libseccomp cannot mix byte orders in a filter: big-endian ones are skipped with a
  // warning on a little-endian host (runc fails the whole container instead).
#if __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
  REQUIRE_FALSE(has_arch_check(*r, AUDIT_ARCH_S390X));
  REQUIRE(std::find(w.begin(), w.end(),
                    "seccomp: architecture SCMP_ARCH_S390X ignored: its byte order differs from "
                    "the host's") != w.end());
#endif
  // Each architecture also gets its ENOSYS section.
  REQUIRE(has_ret(*r, SECCOMP_RET_ERRNO | ENOSYS));

  // Just one foreign architecture: the native one is still in the filter.
  j["architectures"] = {"SCMP_ARCH_AARCH64"};
  r = seccomp::compile(j, nullptr);
  REQUIRE(r.ok());
  REQUIRE(has_arch_check(*r, AUDIT_ARCH_AARCH64));
}

TEST_CASE("seccomp flags map to SECCOMP_FILTER_FLAG_*", "[seccomp][compile]") {
  json j = json::parse(R"({"defaultAction": "SCMP_ACT_ALLOW",
      "syscalls": [{"names": ["mkdir"], "action": "SCMP_ACT_ERRNO"}]})");
  REQUIRE(seccomp::compile(j, nullptr)->flags == 0);
  j["flags"] = {"SECCOMP_FILTER_FLAG_LOG", "SECCOMP_FILTER_FLAG_SPEC_ALLOW",
                "SECCOMP_FILTER_FLAG_TSYNC"};
  auto r = seccomp::compile(j, nullptr);
  REQUIRE(r.ok());
  REQUIRE(r->flags == (seccomp::kFlagLog | seccomp::kFlagSpecAllow));  // TSYNC ignored

  // The flags reach the kernel: LOG + SPEC_ALLOW load fine.
  auto e = run_filtered(*r, [] { return 0; });
  REQUIRE(e.exited);
  REQUIRE(e.code == 0);

  // WAIT_KILLABLE_RECV only means something with a listener.
  std::vector<std::string> w;
  j["flags"] = {"SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV"};
  r = seccomp::compile(j, &w);
  REQUIRE(r.ok());
  REQUIRE(r->flags == 0);
  REQUIRE(w == std::vector<std::string>{"seccomp flag SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV "
                                        "ignored: no SCMP_ACT_NOTIFY rule"});
  j["syscalls"][0]["action"] = "SCMP_ACT_NOTIFY";
  j["listenerPath"] = "/run/agent.sock";
  w.clear();
  r = seccomp::compile(j, &w);
  REQUIRE(r.ok());
  REQUIRE(r->needs_notify);
  bool kernel_has =
      seccomp::features()["supportedFlags"].dump().find("WAIT_KILLABLE_RECV") != std::string::npos;
  REQUIRE(((r->flags & seccomp::kFlagWaitKillableRecv) != 0) == kernel_has);
  REQUIRE((r->flags & seccomp::kFlagNewListener) != 0);
  REQUIRE(w.empty() == kernel_has);
}

TEST_CASE("seccomp skips unknown syscalls with a warning", "[seccomp][compile]") {
  json j = json::parse(R"({"defaultAction": "SCMP_ACT_ERRNO",
      "syscalls": [{"names": ["read", "no_such_syscall", "chown32", "no_such_syscall"],
                    "action": "SCMP_ACT_ALLOW"}]})");
  std::vector<std::string> w;
  auto r = seccomp::compile(j, &w);
  REQUIRE(r.ok());
  // chown32 is unknown on x86_64 but known to libseccomp (i386): not warned about.
  REQUIRE(w == std::vector<std::string>{"seccomp: unknown syscall \"no_such_syscall\" ignored"});
  // A null warnings pointer is fine.
  REQUIRE(seccomp::compile(j, nullptr).ok());
}

TEST_CASE("seccomp: a rule with the default action is skipped like runc", "[seccomp][compile]") {
  json j = json::parse(R"({"defaultAction": "SCMP_ACT_ERRNO", "defaultErrnoRet": 1,
      "syscalls": [{"names": ["mkdir"], "action": "SCMP_ACT_ERRNO", "errnoRet": 1},
                   {"names": ["rmdir"], "action": "SCMP_ACT_ERRNO", "errnoRet": 2}]})");
  auto r = seccomp::compile(j, nullptr);
  REQUIRE(r.ok());  // libseccomp alone would refuse the first rule (EACCES)
  REQUIRE(has_ret(*r, SECCOMP_RET_ERRNO | 2));
}

TEST_CASE("seccomp: the default profile compiles without surprises", "[seccomp][compile]") {
  json d = seccomp::default_profile();
  REQUIRE(d["defaultAction"] == "SCMP_ACT_ERRNO");
  REQUIRE(d["syscalls"].size() > 5);
  std::vector<std::string> w;
  auto r = seccomp::compile(d, &w);
  REQUIRE(r.ok());
  REQUIRE(r->flags == 0);
  REQUIRE_FALSE(r->needs_notify);
  REQUIRE(r->insns.size() < BPF_MAXINSNS);
  for (auto& s : w) REQUIRE(s.find("unknown syscall") != std::string::npos);
  std::string all = d.dump();
  for (const char* denied : {"\"mount\"", "\"reboot\"", "\"kexec_load\"", "\"unshare\"",
                             "\"setns\"", "\"bpf\"", "\"ptrace\"", "\"keyctl\"", "\"add_key\"",
                             "\"init_module\"", "\"pivot_root\"", "\"open_by_handle_at\""})
    REQUIRE(all.find(denied) == std::string::npos);
}

TEST_CASE("seccomp cache: the second compile is a hit with identical instructions",
          "[seccomp][cache]") {
  TempDir tmp;
  std::string dir = tmp.path + "/cache";
  json j = seccomp::default_profile();
  j["syscalls"][0]["names"].push_back("no_such_syscall");
  std::vector<std::string> w1, w2, w3;
  auto fresh = seccomp::compile(j, &w1);
  REQUIRE(fresh.ok());

  auto first = seccomp::compile_cached(j, dir, &w2);
  REQUIRE(first.ok());
  std::string file = dir + "/" + seccomp::cache_key(j) + ".bpf";
  REQUIRE(path_exists(file));
  REQUIRE(same_insns(first->insns, fresh->insns));
  REQUIRE(w2 == w1);
  ino_t ino = inode_of(file);
  REQUIRE(ino != 0);

  auto second = seccomp::compile_cached(j, dir, &w3);
  REQUIRE(second.ok());
  REQUIRE(same_insns(second->insns, fresh->insns));
  REQUIRE(w3 == w1);               // warnings survive the cache
  REQUIRE(inode_of(file) == ino);  // a hit: the file was not rewritten

  // A different profile has a different key and its own file.
  json k = j;
  k["defaultErrnoRet"] = 13;
  REQUIRE(seccomp::cache_key(k) != seccomp::cache_key(j));
  auto other = seccomp::compile_cached(k, dir, nullptr);
  REQUIRE(other.ok());
  REQUIRE_FALSE(same_insns(other->insns, fresh->insns));
  REQUIRE(path_exists(dir + "/" + seccomp::cache_key(k) + ".bpf"));
}

TEST_CASE("seccomp cache: a hit is really read from the file", "[seccomp][cache]") {
  TempDir tmp;
  json a = json::parse(R"({"defaultAction": "SCMP_ACT_ALLOW",
      "syscalls": [{"names": ["mkdir"], "action": "SCMP_ACT_ERRNO"}]})");
  json b = a;
  b["syscalls"][0]["errnoRet"] = 38;
  REQUIRE(seccomp::compile_cached(a, tmp.path, nullptr).ok());
  auto pb = seccomp::compile_cached(b, tmp.path, nullptr);
  REQUIRE(pb.ok());
  // Put b's program under a's key (rewriting the key inside the file): a's next
  // compile_cached returns b's program, proving libseccomp was not run.
  std::string fa = tmp.path + "/" + seccomp::cache_key(a) + ".bpf";
  auto blob = read_file(tmp.path + "/" + seccomp::cache_key(b) + ".bpf");
  REQUIRE(blob.ok());
  std::string s = *blob;
  s.replace(16, 64, seccomp::cache_key(a));
  REQUIRE(write_file(fa, s).ok());
  auto pa = seccomp::compile_cached(a, tmp.path, nullptr);
  REQUIRE(pa.ok());
  REQUIRE(same_insns(pa->insns, pb->insns));
}

TEST_CASE("seccomp cache: corrupt entries are recompiled and replaced", "[seccomp][cache]") {
  TempDir tmp;
  json j = json::parse(R"({"defaultAction": "SCMP_ACT_ALLOW",
      "syscalls": [{"names": ["mkdir"], "action": "SCMP_ACT_ERRNO"}]})");
  auto good = seccomp::compile(j, nullptr);
  std::string file = tmp.path + "/" + seccomp::cache_key(j) + ".bpf";
  for (std::string junk : {std::string(), std::string("CRSCMPv1"), std::string(200, 'x')}) {
    REQUIRE(write_file(file, junk, O_WRONLY | O_CREAT | O_TRUNC).ok());
    auto r = seccomp::compile_cached(j, tmp.path, nullptr);
    REQUIRE(r.ok());
    REQUIRE(same_insns(r->insns, good->insns));
    auto again = read_file(file);
    REQUIRE(again.ok());
    REQUIRE(again->size() > 80);
  }
  // Truncated file (valid header, missing instructions)
  auto blob = read_file(file);
  REQUIRE(write_file(file, blob->substr(0, blob->size() - 3)).ok());
  auto r = seccomp::compile_cached(j, tmp.path, nullptr);
  REQUIRE(same_insns(r->insns, good->insns));
}

TEST_CASE("seccomp cache: an unwritable cache directory is only a warning", "[seccomp][cache]") {
  TempDir tmp;
  REQUIRE(write_file(tmp.path + "/file", "", O_WRONLY | O_CREAT).ok());
  json j = json::parse(R"({"defaultAction": "SCMP_ACT_ALLOW"})");
  std::vector<std::string> w;
  auto r = seccomp::compile_cached(j, tmp.path + "/file/cache", &w);
  REQUIRE(r.ok());
  REQUIRE(w.size() == 1);
  REQUIRE(w[0].rfind("seccomp cache: ", 0) == 0);
  // Invalid profiles fail before touching the cache.
  auto bad = seccomp::compile_cached(json::object(), tmp.path + "/c", nullptr);
  REQUIRE_FALSE(bad.ok());
  REQUIRE_FALSE(path_exists(tmp.path + "/c"));
}

TEST_CASE("sha256 matches the FIPS 180-2 test vectors", "[seccomp][sha256]") {
  using crunner::Sha256;
  REQUIRE(Sha256::hex("") == "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
  REQUIRE(Sha256::hex("abc") == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
  REQUIRE(Sha256::hex("abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq") ==
          "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1");
  Sha256 s;
  std::string chunk(1000, 'a');
  for (int i = 0; i < 1000; i++) s.update(chunk);
  REQUIRE(s.hexdigest() == "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0");
  // Updates split across block boundaries give the one-shot digest (values: Python's hashlib).
  std::string bytes;
  for (int r = 0; r < 5; r++)
    for (int i = 0; i < 256; i++) bytes.push_back(static_cast<char>(i));
  const char* want = "d414b085826eb06778483ba35564dc849e643359f69ed9747878ba6e54985bed";
  REQUIRE(Sha256::hex(bytes) == want);
  Sha256 parts;
  size_t at = 0;
  for (size_t n : {0, 1, 62, 1, 64, 65, 127, 0, 3}) {
    parts.update(std::string_view(bytes).substr(at, n));
    at += n;
  }
  parts.update(bytes.data() + at, bytes.size() - at);
  REQUIRE(parts.hexdigest() == want);
  REQUIRE(Sha256::hex("crunner seccomp cache v1\n") ==
          "05dc0126a83a2f74c08015f8ac2af77365034c8c9df0faabd425bbe04ea2b431");
}

TEST_CASE("seccomp features lists what this build and kernel support", "[seccomp]") {
  json f = seccomp::features();
  REQUIRE(f["enabled"] == true);
  REQUIRE(f["actions"].size() == 9);
  REQUIRE(f["operators"] == json::array({"SCMP_CMP_EQ", "SCMP_CMP_GE", "SCMP_CMP_GT", "SCMP_CMP_LE",
                                         "SCMP_CMP_LT", "SCMP_CMP_MASKED_EQ", "SCMP_CMP_NE"}));
  auto has = [](const json& arr, const char* s) {
    return std::find(arr.begin(), arr.end(), s) != arr.end();
  };
  REQUIRE(has(f["actions"], "SCMP_ACT_KILL_PROCESS"));
  REQUIRE(has(f["archs"], "SCMP_ARCH_X86_64"));
  REQUIRE(has(f["archs"], "SCMP_ARCH_AARCH64"));
  REQUIRE(f["knownFlags"].size() == 4);
  REQUIRE(has(f["supportedFlags"], "SECCOMP_FILTER_FLAG_LOG"));
  REQUIRE(has(f["supportedFlags"], "SECCOMP_FILTER_FLAG_TSYNC"));
  REQUIRE(seccomp::libseccomp_version().find('.') != std::string::npos);
}

TEST_CASE("seccomp cache: bounded, least recently used entries go first", "[seccomp][cache]") {
  TempDir tmp;
  auto set_mtime = [](const std::string& path, time_t when) {
    timespec ts[2] = {{when, 0}, {when, 0}};
    REQUIRE(utimensat(AT_FDCWD, path.c_str(), ts, 0) == 0);
  };
  auto fake = [&](size_t i) {
    char name[80];
    std::snprintf(name, sizeof name, "%064zx.bpf", i);
    return tmp.path + "/" + name;
  };
  // A real entry, made old, then hit: the hit makes it recent again.
  json used = json::parse(R"({"defaultAction": "SCMP_ACT_ALLOW"})");
  REQUIRE(seccomp::compile_cached(used, tmp.path, nullptr).ok());
  std::string used_file = tmp.path + "/" + seccomp::cache_key(used) + ".bpf";
  set_mtime(used_file, 1000);
  REQUIRE(seccomp::compile_cached(used, tmp.path, nullptr).ok());
  struct stat st {};
  REQUIRE(stat(used_file.c_str(), &st) == 0);
  REQUIRE(st.st_mtime > 1000);

  // Fill up with older entries; the next miss trims back to the limit, oldest first.
  for (size_t i = 0; i < seccomp::kMaxCacheEntries; i++) {
    REQUIRE(write_file(fake(i), "x", O_WRONLY | O_CREAT | O_TRUNC).ok());
    set_mtime(fake(i), static_cast<time_t>(2000 + i));
  }
  REQUIRE(write_file(tmp.path + "/unrelated", "x", O_WRONLY | O_CREAT | O_TRUNC).ok());
  json fresh = json::parse(R"({"defaultAction": "SCMP_ACT_LOG"})");
  REQUIRE(seccomp::compile_cached(fresh, tmp.path, nullptr).ok());
  size_t count = 0;
  for (size_t i = 0; i < seccomp::kMaxCacheEntries; i++) count += path_exists(fake(i));
  REQUIRE(count == seccomp::kMaxCacheEntries - 2);  // 258 entries -> 256
  REQUIRE_FALSE(path_exists(fake(0)));
  REQUIRE_FALSE(path_exists(fake(1)));
  REQUIRE(path_exists(fake(2)));
  REQUIRE(path_exists(used_file));
  REQUIRE(path_exists(tmp.path + "/" + seccomp::cache_key(fresh) + ".bpf"));
  REQUIRE(path_exists(tmp.path + "/unrelated"));  // not ours: never removed
  REQUIRE(seccomp::cache_dir_for_root("/run/crunner") == "/run/crunner/@seccomp-cache");
}

TEST_CASE("seccomp: spec architectures this libseccomp lacks are a clear error",
          "[seccomp][validate]") {
  json archs = seccomp::features()["archs"];
  if (std::find(archs.begin(), archs.end(), "SCMP_ARCH_LOONGARCH64") != archs.end()) {
    WARN("this libseccomp knows loongarch64");
    return;
  }
  json j{{"defaultAction", "SCMP_ACT_ALLOW"}, {"architectures", {"SCMP_ARCH_LOONGARCH64"}}};
  auto s = seccomp::validate(j);
  REQUIRE_FALSE(s.ok());
  REQUIRE(s.error().what() ==
          "linux.seccomp.architectures[0]: architecture \"SCMP_ARCH_LOONGARCH64\" is not "
          "supported by libseccomp " +
              seccomp::libseccomp_version());
}

TEST_CASE("seccomp cache: files or a directory others could write are never trusted",
          "[seccomp][cache]") {
  TempDir tmp;
  json a = json::parse(R"({"defaultAction": "SCMP_ACT_ALLOW",
      "syscalls": [{"names": ["mkdir"], "action": "SCMP_ACT_ERRNO"}]})");
  json b = a;
  b["syscalls"][0]["errnoRet"] = 38;
  std::string dir = tmp.path + "/cache";
  auto pa = seccomp::compile_cached(a, dir, nullptr);
  auto pb = seccomp::compile_cached(b, dir, nullptr);
  REQUIRE((pa.ok() && pb.ok()));
  // Plant b's program under a's key, as another user might.
  std::string fa = dir + "/" + seccomp::cache_key(a) + ".bpf";
  std::string planted = *read_file(dir + "/" + seccomp::cache_key(b) + ".bpf");
  planted.replace(16, 64, seccomp::cache_key(a));
  auto plant = [&](mode_t mode) {
    unlink(fa.c_str());
    REQUIRE(write_file(fa, planted, O_WRONLY | O_CREAT | O_TRUNC, mode).ok());
    REQUIRE(chmod(fa.c_str(), mode) == 0);
  };
  // Group/world-writable file: ignored, recompiled and replaced.
  plant(0666);
  auto r = seccomp::compile_cached(a, dir, nullptr);
  REQUIRE(same_insns(r->insns, pa->insns));
  // A symlink is not followed.
  unlink(fa.c_str());
  REQUIRE(symlink((dir + "/" + seccomp::cache_key(b) + ".bpf").c_str(), fa.c_str()) == 0);
  r = seccomp::compile_cached(a, dir, nullptr);
  REQUIRE(same_insns(r->insns, pa->insns));
  // A trusted plant is used (the control: the checks above are what refused it).
  plant(0600);
  r = seccomp::compile_cached(a, dir, nullptr);
  REQUIRE(same_insns(r->insns, pb->insns));
  // A world-writable directory: not read, not written, a warning.
  plant(0600);
  REQUIRE(chmod(dir.c_str(), 0777) == 0);
  std::vector<std::string> w;
  r = seccomp::compile_cached(a, dir, &w);
  REQUIRE(same_insns(r->insns, pa->insns));
  REQUIRE(w.size() == 1);
  REQUIRE(w[0].find("writable by others") != std::string::npos);
  REQUIRE(*read_file(fa) == planted);  // left alone
}
