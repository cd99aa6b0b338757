// The systemd driver's pure parts (cgroupsPath, slices, properties) and the D-Bus wire
// format. The driver against a real systemd: tests/integration/test_systemd.py in the guest.
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <catch2/catch.hpp>
#include <cstdlib>
#include <cstring>
#include <thread>

#include "cgroups/dbus.hpp"
#include "cgroups/manager.hpp"
#include "cgroups/systemd.hpp"
#include "cgroups_fake.hpp"

using namespace crunner;
using namespace crunner::cgroups;
namespace sd = crunner::cgroups::systemd;

namespace {
// A listening unix socket at path (a fake D-Bus server), or -1.
int listen_unix(const std::string& path) {
  int srv = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (srv < 0) return -1;
  sockaddr_un sa{};
  sa.sun_family = AF_UNIX;
  strncpy(sa.sun_path, path.c_str(), sizeof sa.sun_path - 1);
  if (bind(srv, reinterpret_cast<sockaddr*>(&sa), sizeof sa) < 0 || listen(srv, 2) < 0) {
    close(srv);
    return -1;
  }
  return srv;
}
}  // namespace

TEST_CASE("systemd: cgroupsPath slice:prefix:name and runc's defaults", "[cgroups][systemd]") {
  auto d = sd::parse_cgroups_path("", "abc");
  REQUIRE(d.ok());
  CHECK(d->slice == "system.slice");
  CHECK(d->prefix == "crunner");
  CHECK(sd::unit_name(*d) == "crunner-abc.scope");
  CHECK(*sd::unit_cgroup_path(*d) == "/system.slice/crunner-abc.scope");
  CHECK(sd::parse_cgroups_path("", "abc", true)->slice == "user.slice");
  auto k = sd::parse_cgroups_path("kubepods-besteffort.slice:cri-containerd:0123", "x");
  REQUIRE(k.ok());
  CHECK(*sd::unit_cgroup_path(*k) ==
        "/kubepods.slice/kubepods-besteffort.slice/cri-containerd-0123.scope");
  auto noprefix = sd::parse_cgroups_path(
      ":"
      ":n",
      "x");  // empty slice and prefix
  REQUIRE(noprefix.ok());
  CHECK(sd::unit_name(*noprefix) == "n.scope");
  CHECK(*sd::unit_cgroup_path(*noprefix) == "/system.slice/n.scope");
  CHECK(*sd::unit_cgroup_path(*sd::parse_cgroups_path("-.slice:p:n", "x")) == "/p-n.scope");
  for (const char* bad :
       {"a:b", "a:b:c:d", "bad:p:n", "a--b.slice:p:n", "-a.slice:p:n", "system.slice:p:x/y",
        "system.slice:p:", "system.slice:p:..", "system.slice:p:n.slice", "a/b.slice:p:n"}) {
    auto r = sd::parse_cgroups_path(bad, "x");
    INFO(bad);
    REQUIRE_FALSE(r.ok());
    CHECK(r.error().kind == ErrorKind::InvalidSpec);
  }
}

TEST_CASE("systemd: slice expansion as systemd nests them", "[cgroups][systemd]") {
  CHECK(*sd::expand_slice("-.slice") == "/");
  CHECK(*sd::expand_slice("system.slice") == "/system.slice");
  CHECK(*sd::expand_slice("a-b-c.slice") == "/a.slice/a-b.slice/a-b-c.slice");
  CHECK_FALSE(sd::expand_slice(".slice").ok());
  CHECK_FALSE(sd::expand_slice("a-.slice").ok());
  CHECK_FALSE(sd::expand_slice("a.scope").ok());
}

TEST_CASE("systemd: cpu lists as systemd's little-endian bitmask", "[cgroups][systemd]") {
  CHECK(*sd::range_to_bits("0") == std::vector<uint8_t>{0x01});
  CHECK(*sd::range_to_bits("0-3,8") == std::vector<uint8_t>{0x0f, 0x01});
  CHECK(*sd::range_to_bits("9") == std::vector<uint8_t>{0x00, 0x02});
  CHECK_FALSE(sd::range_to_bits("3-1").ok());
  CHECK_FALSE(sd::range_to_bits("x").ok());
  CHECK_FALSE(sd::range_to_bits("100000").ok());
}

namespace {
const dbus::Property* find(const std::vector<dbus::Property>& v, const std::string& name) {
  for (auto& p : v)
    if (p.name == name) return &p;
  return nullptr;
}
}  // namespace

TEST_CASE("systemd: resources as unit properties (runc's mapping)", "[cgroups][systemd]") {
  Resources r;
  r.memory.limit = 64 << 20;
  r.memory.swap = 96 << 20;
  r.cpu.shares = 1024;
  r.cpu.quota = 33333;  // 33.3% -> rounded up to 340 ms per second
  r.cpu.period = 100000;
  r.cpu.cpus = "0-1";
  r.pids_limit = -1;
  auto v2 = sd::resource_properties(r, true, 252, "", nullptr);
  REQUIRE(v2.ok());
  CHECK(std::get<uint64_t>(find(*v2, "MemoryMax")->value) == 64u << 20);
  CHECK(std::get<uint64_t>(find(*v2, "MemorySwapMax")->value) == 32u << 20);
  CHECK(std::get<uint64_t>(find(*v2, "CPUWeight")->value) == 39);  // cpu_shares_to_weight
  CHECK(std::get<uint64_t>(find(*v2, "CPUQuotaPerSecUSec")->value) == 340000);
  CHECK(std::get<uint64_t>(find(*v2, "CPUQuotaPeriodUSec")->value) == 100000);
  CHECK(std::get<uint64_t>(find(*v2, "TasksMax")->value) == UINT64_MAX);
  CHECK(std::get<std::vector<uint8_t>>(find(*v2, "AllowedCPUs")->value) ==
        std::vector<uint8_t>{0x03});
  CHECK(find(*v2, "MemoryLimit") == nullptr);
  auto v1 = sd::resource_properties(r, false, 252, "", nullptr);
  REQUIRE(v1.ok());
  CHECK(std::get<uint64_t>(find(*v1, "MemoryLimit")->value) == 64u << 20);
  CHECK(std::get<uint64_t>(find(*v1, "CPUShares")->value) == 1024);
  CHECK(find(*v1, "MemoryMax") == nullptr);
  // Old systemd: no period / AllowedCPUs, with warnings.
  std::vector<std::string> w;
  auto old = sd::resource_properties(r, true, 239, "", &w);
  REQUIRE(old.ok());
  CHECK(find(*old, "CPUQuotaPeriodUSec") == nullptr);
  CHECK(find(*old, "AllowedCPUs") == nullptr);
  CHECK(w.size() == 2);
  // Quota "unlimited" is USEC_INFINITY.
  Resources q;
  q.cpu.quota = -1;
  CHECK(
      std::get<uint64_t>(
          find(*sd::resource_properties(q, true, 252, "", nullptr), "CPUQuotaPerSecUSec")->value) ==
      UINT64_MAX);
}

TEST_CASE("systemd: device rules as DevicePolicy/DeviceAllow", "[cgroups][systemd]") {
  const std::string procdev =
      "Character devices:\n  1 mem\n  5 /dev/tty\n136 pts\n\nBlock devices:\n  7 loop\n";
  std::vector<std::string> w;
  auto props = sd::device_properties(default_device_rules(), procdev, &w);
  REQUIRE(props.size() == 3);
  CHECK(std::get<std::string>(props[0].value) == "strict");
  CHECK(std::get<dbus::DeviceAllow>(props[1].value).empty());  // reset, then the list
  auto allow = std::get<dbus::DeviceAllow>(props[2].value);
  auto has = [&](const std::string& path, const std::string& perms) {
    for (auto& [p, m] : allow)
      if (p == path && m == perms) return true;
    return false;
  };
  CHECK(has("/dev/char/1:3", "rwm"));  // /dev/null
  CHECK(has("char-pts", "rwm"));       // 136:*
  CHECK(has("char-*", "m"));           // mknod of any char device
  CHECK(has("block-*", "m"));
  // allow-all: policy auto; a deny-list: deny-all with a warning.
  DeviceRule all{true, 'a', kWildcard, kWildcard, "rwm"};
  auto a = sd::device_properties({all}, procdev, nullptr);
  CHECK(std::get<std::string>(a[0].value) == "auto");
  DeviceRule deny_null{false, 'c', 1, 3, "rwm"};
  w.clear();
  auto d = sd::device_properties({all, deny_null}, procdev, &w);
  CHECK(std::get<std::string>(d[0].value) == "strict");
  CHECK(w.size() == 1);
  // A later deny takes permissions back from an allowed device.
  DeviceRule none{false, 'a', kWildcard, kWildcard, "rwm"};
  DeviceRule zero{true, 'c', 1, 5, "rwm"}, zero_w{false, 'c', 1, 5, "w"};
  auto z = sd::device_properties({none, zero, zero_w}, procdev, nullptr);
  REQUIRE(z.size() == 3);
  CHECK(std::get<dbus::DeviceAllow>(z[2].value) == dbus::DeviceAllow{{"/dev/char/1:5", "rm"}});
}

TEST_CASE("d-bus: a call marshals and parses back", "[cgroups][systemd]") {
  dbus::Writer w;
  w.str("crunner-x.scope");
  w.str("replace");
  dbus::write_properties(w, {{"Delegate", true},
                             {"PIDs", std::vector<uint32_t>{42}},
                             {"MemoryMax", uint64_t{1} << 30},
                             {"DeviceAllow", dbus::DeviceAllow{{"char-pts", "rwm"}}}});
  std::string msg = dbus::build_call(7, "org.freedesktop.systemd1", "/org/freedesktop/systemd1",
                                     "org.freedesktop.systemd1.Manager", "StartTransientUnit",
                                     "ssa(sv)a(sa(sv))", w.data());
  CHECK(msg.size() % 8 == w.data().size() % 8);  // the body starts 8-aligned
  auto len = dbus::message_length(msg);
  REQUIRE(len.ok());
  CHECK(*len == msg.size());
  auto m = dbus::parse_message(msg);
  REQUIRE(m.ok());
  CHECK(m->type == 1);
  CHECK(m->serial == 7);
  CHECK(m->path == "/org/freedesktop/systemd1");
  CHECK(m->member == "StartTransientUnit");
  CHECK(m->signature == "ssa(sv)a(sa(sv))");
  dbus::Reader r(m->body);
  CHECK(*r.str() == "crunner-x.scope");
  CHECK(*r.str() == "replace");
  uint32_t arr = *r.u32();
  CHECK(arr > 0);
  REQUIRE(r.align(8).ok());
  CHECK(*r.str() == "Delegate");
  CHECK(*r.sig() == "b");
  CHECK(*r.u32() == 1);
  REQUIRE(r.align(8).ok());
  CHECK(*r.str() == "PIDs");
  CHECK(*r.sig() == "au");
  CHECK(*r.u32() == 4);
  CHECK(*r.u32() == 42);
  REQUIRE(r.align(8).ok());
  CHECK(*r.str() == "MemoryMax");
  CHECK(*r.sig() == "t");
  CHECK(*r.u64() == uint64_t{1} << 30);
  // Truncated and oversized messages are errors, not reads past the end.
  CHECK_FALSE(dbus::parse_message(std::string_view(msg).substr(0, msg.size() - 1)).ok());
  std::string huge = msg;
  uint32_t big = 0x7fffffff;
  memcpy(&huge[4], &big, 4);
  CHECK_FALSE(dbus::message_length(huge).ok());
  dbus::Reader over(std::string_view("\xff\xff\xff\x7f", 4));
  CHECK_FALSE(over.str().ok());
}

TEST_CASE("d-bus: a server that refuses auth or never answers", "[cgroups][systemd]") {
  testing::FakeTree t;
  std::string path = t.path("bus.sock");
  int srv = listen_unix(path);
  REQUIRE(srv >= 0);
  std::thread peer([srv] {
    int c = accept(srv, nullptr, nullptr);
    char buf[256];
    (void)!read(c, buf, sizeof buf);
    (void)!write(c, "REJECTED EXTERNAL\r\n", 19);
    close(c);
    c = accept(srv, nullptr, nullptr);  // the second one gets no answer at all
    (void)!read(c, buf, sizeof buf);
    sleep(1);
    close(c);
  });
  auto refused = dbus::Connection::open(path, false, std::chrono::milliseconds(5000));
  REQUIRE_FALSE(refused.ok());
  CHECK(refused.error().what().find("refused") != std::string::npos);
  auto silent = dbus::Connection::open(path, false, std::chrono::milliseconds(200));
  REQUIRE_FALSE(silent.ok());
  CHECK(silent.error().what().find("no answer") != std::string::npos);
  peer.join();
  close(srv);
  CHECK_FALSE(dbus::Connection::open(t.path("none.sock"), false, std::chrono::seconds(1)).ok());
}

TEST_CASE("d-bus: AUTH and BEGIN go out in one write, before the first message",
          "[cgroups][systemd]") {
  // sd-bus servers (systemd 252) stall when BEGIN arrives together with the first call;
  // sent with AUTH, BEGIN is consumed before any call exists.
  testing::FakeTree t;
  std::string path = t.path("bus.sock");
  int srv = listen_unix(path);
  REQUIRE(srv >= 0);
  std::string first;
  std::thread peer([srv, &first] {
    int c = accept(srv, nullptr, nullptr);
    usleep(200 * 1000);  // whatever the client sends before it waits for OK is here now
    char buf[512];
    ssize_t n = read(c, buf, sizeof buf);
    if (n > 0) first.assign(buf, static_cast<size_t>(n));
    (void)!write(c, "OK 0123456789abcdef0123456789abcdef\r\n", 37);
    usleep(200 * 1000);
    close(c);
  });
  auto c = dbus::Connection::open(path, false, std::chrono::milliseconds(5000));
  peer.join();
  close(srv);
  REQUIRE(c.ok());
  CHECK(first.find("AUTH EXTERNAL ") != std::string::npos);
  CHECK(first.size() >= 7);
  CHECK(first.compare(first.size() - 7, 7, "BEGIN\r\n") == 0);
}

TEST_CASE("systemd driver: no reachable systemd is a clear error before anything exists",
          "[cgroups][systemd]") {
  if (access("/run/systemd/private", F_OK) == 0) {
    WARN("systemd runs here: the unreachable case is not testable");
    return;
  }
  testing::FakeTree t;
  t.file("marker", "");
  ManagerOptions o;
  o.root = t.root();
  o.mode = Mode::Unified;
  o.systemd_marker = t.path("marker");
  setenv("DBUS_SYSTEM_BUS_ADDRESS", ("unix:path=" + t.path("no-bus")).c_str(), 1);
  auto m = make_manager("", "abc", true, o);
  REQUIRE(m.ok());
  CHECK((*m)->path() == "/system.slice/crunner-abc.scope");
  auto c = (*m)->create();
  unsetenv("DBUS_SYSTEM_BUS_ADDRESS");
  REQUIRE_FALSE(c.ok());
  CHECK(c.error().what().find("cannot reach systemd over d-bus") != std::string::npos);
  CHECK(c.error().what().find(t.path("no-bus")) != std::string::npos);
  CHECK_FALSE(t.exists("system.slice"));
  auto j = (*m)->to_json();
  CHECK(j["driver"] == "systemd");
  CHECK(j["unit"] == "crunner-abc.scope");
  auto loaded = load_manager(j);
  REQUIRE(loaded.ok());
  CHECK((*loaded)->path() == "/system.slice/crunner-abc.scope");
  CHECK((*loaded)->to_json() == j);
  // rootless: the user manager is not implemented, and says so.
  o.rootless = true;
  auto rl = make_manager("", "abc", true, o);
  REQUIRE_FALSE(rl.ok());
  CHECK(rl.error().what().find("rootless") != std::string::npos);
}
