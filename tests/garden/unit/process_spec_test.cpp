#include "garden/bundle/process_spec.hpp"

#include <sys/stat.h>
#include <unistd.h>

#include <catch2/catch.hpp>
#include <filesystem>
#include <fstream>

using json = nlohmann::json;
using namespace garden;

namespace {

struct Rootfs {
  std::string path;
  Rootfs() {
    char tmpl[] = "/tmp/crunner-test-garden-unit-XXXXXX";
    path = mkdtemp(tmpl);
    mkdir((path + "/etc").c_str(), 0755);
    std::ofstream(path + "/etc/passwd")
        << "root:x:0:0:root:/root:/bin/sh\nvcap:x:2000:3000::/home/vcap:/bin/sh\n"
           "nohome:x:5:5::::\n";
    std::ofstream(path + "/etc/group") << "root:x:0:\nstaff:x:50:\n";
  }
  ~Rootfs() {
    std::error_code ec;
    std::filesystem::remove_all(path, ec);
  }
};

}  // namespace

TEST_CASE("users resolve from the container's passwd and group", "[garden]") {
  Rootfs r;
  User u;
  std::string err;
  REQUIRE(resolve_user(r.path, "", u, err));
  CHECK((u.name == "root" && u.uid == 0 && u.home == "/root"));
  REQUIRE(resolve_user(r.path, "vcap", u, err));
  CHECK((u.uid == 2000 && u.gid == 3000 && u.home == "/home/vcap"));
  REQUIRE(resolve_user(r.path, "2000", u, err));
  CHECK(u.name == "vcap");
  REQUIRE(resolve_user(r.path, "vcap:staff", u, err));
  CHECK(u.gid == 50);
  REQUIRE(resolve_user(r.path, "1234:99", u, err));
  CHECK((u.uid == 1234 && u.gid == 99 && u.home == "/"));
  REQUIRE(resolve_user(r.path, "nohome", u, err));
  CHECK(u.home == "/");
  CHECK_FALSE(resolve_user(r.path, "ghost", u, err));
  CHECK(err.find("ghost") != std::string::npos);
  CHECK_FALSE(resolve_user(r.path, "vcap:nogroup", u, err));
}

TEST_CASE("passwd is read inside the rootfs even through an absolute symlink", "[garden]") {
  Rootfs r;
  mkdir((r.path + "/real").c_str(), 0755);
  std::ofstream(r.path + "/real/passwd") << "inside:x:77:77::/in:/bin/sh\n";
  unlink((r.path + "/etc/passwd").c_str());
  REQUIRE(symlink("/real/passwd", (r.path + "/etc/passwd").c_str()) == 0);
  User u;
  std::string err;
  REQUIRE(resolve_user(r.path, "inside", u, err));
  CHECK(u.uid == 77);
}

TEST_CASE("process.json: args, env order, cwd, caps, rlimits, tty", "[garden]") {
  User root{"root", 0, 0, "/root"}, vcap{"vcap", 2000, 3000, "/home/vcap"};
  json meta = {{"env", {"C=1", "PATH=/cpath"}}, {"privileged", false}};
  json spec = {{"path", "/bin/ls"}, {"args", {"-l", "/"}}, {"env", {"S=2"}}};
  json p = build_process(spec, meta, root);
  CHECK(p["args"] == json::array({"/bin/ls", "-l", "/"}));
  CHECK(p["env"] == json::array({"C=1", "PATH=/cpath", "S=2", "USER=root"}));
  CHECK(p["cwd"] == "/root");
  CHECK(p["user"] == json({{"uid", 0}, {"gid", 0}, {"additionalGids", json::array()}}));
  CHECK(p["terminal"] == false);
  CHECK_FALSE(p["capabilities"]["effective"].empty());
  CHECK_FALSE(p.contains("rlimits"));

  json p2 = build_process({{"path", "x"},
                           {"user", "vcap"},
                           {"dir", "/tmp"},
                           {"rlimits", {{"nofile", 99}}},
                           {"tty", {{"window_size", {{"columns", 80}, {"rows", 24}}}}}},
                          json::object(), vcap);
  CHECK(p2["cwd"] == "/tmp");
  CHECK(p2["env"] == json::array({"PATH=/usr/local/bin:/usr/bin:/bin", "USER=vcap"}));
  CHECK(p2["capabilities"]["effective"].empty());
  CHECK(p2["capabilities"]["inheritable"] == p2["capabilities"]["bounding"]);
  CHECK_FALSE(p2["capabilities"]["bounding"].empty());
  CHECK(p2["rlimits"] == json::parse(R"([{"type":"RLIMIT_NOFILE","soft":99,"hard":99}])"));
  CHECK(p2["terminal"] == true);
  CHECK(p2["consoleSize"] == json({{"height", 24}, {"width", 80}}));
}
