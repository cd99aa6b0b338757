// state.json loading: StateStore::load() of arbitrary bytes written as a container's
// state.json, then what every command derives from it (status, the OCI state document,
// the cgroup manager, the spec kept in it).
#include <sys/stat.h>
#include <unistd.h>

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>

#include "base/file.hpp"
#include "libcontainer/container.hpp"
#include "libcontainer/spec.hpp"
#include "libcontainer/state.hpp"

static std::string g_root;

// libFuzzer ends a bounded run with exit(): remove the scratch root then, so CI runs leave
// no /tmp/crunner-state-fuzz-* behind.
static void remove_root() {
  if (g_root.empty()) return;
  std::string c1 = g_root + "/c1";
  unlink((c1 + "/state.json").c_str());
  rmdir(c1.c_str());
  rmdir(g_root.c_str());
}

static const std::string& root() {
  if (g_root.empty()) {
    char tmpl[] = "/tmp/crunner-state-fuzz-XXXXXX";
    char* d = mkdtemp(tmpl);
    if (!d) abort();
    g_root = d;
    mkdir((g_root + "/c1").c_str(), 0700);
    std::atexit(remove_root);
  }
  return g_root;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  crunner::StateStore store(root());
  if (!crunner::write_file(store.dir("c1") + "/state.json",
                           std::string_view(reinterpret_cast<const char*>(data), size),
                           O_WRONLY | O_CREAT | O_TRUNC, 0600))
    abort();
  auto s = store.load("c1");
  if (!s) return 0;
  // Never signal or touch a real process or cgroup from here: status derivation reads
  // /proc only, and the manager is only described.
  auto st = crunner::derive_status(*s, store, false);
  (void)crunner::oci_state(*s, st).dump();
  (void)s->to_json().dump();
  if (s->config.is_object()) {
    auto sp = crunner::spec::parse_spec(s->config.dump());
    (void)sp;
  }
  if (!s->cgroup.is_null()) {
    auto m = crunner::cgroups::load_manager(s->cgroup);
    if (m && *m) (void)(*m)->path();
  }
  return 0;
}
