// The image plugin client (garden/image/): argv as Guardian builds it, the parsing and
// validation of the plugin's output, error texts in Guardian's words, peas' bundles.
#include <catch2/catch.hpp>

#include "garden/image/pea.hpp"
#include "garden/image/plugin.hpp"

using json = nlohmann::json;
using namespace garden::image;
using V = std::vector<std::string>;

TEST_CASE("image plugin create argv: unprivileged, limited, with credentials", "[image]") {
  Plugin p{"/bin/plugin", {"--store", "/s", "--log-level=debug"}};
  json spec = {
      {"image",
       {{"uri", "docker://reg:5000/busybox#1.36"}, {"username", "u"}, {"password", "p w"}}}};
  auto r = create_request(spec, "docker://reg:5000/busybox#1.36", "h1", false, 1000, true);
  CHECK(create_argv(p, r) == V{"/bin/plugin",
                               "--store",
                               "/s",
                               "--log-level=debug",
                               "create",
                               "--uid-mapping",
                               "0:4294967294:1",
                               "--gid-mapping",
                               "0:4294967294:1",
                               "--uid-mapping",
                               "1:1:4294967293",
                               "--gid-mapping",
                               "1:1:4294967293",
                               "--disk-limit-size-bytes",
                               "1000",
                               "--exclude-image-from-quota",
                               "--username",
                               "u",
                               "--password",
                               "p w",
                               "docker://reg:5000/busybox:1.36",
                               "h1"});
}

TEST_CASE("image plugin create argv: privileged, total scope, no credentials", "[image]") {
  Plugin p{"/bin/plugin", {}};
  auto r = create_request(json::object(), "/some/dir", "h2", true, 4096, false);
  CHECK(create_argv(p, r) ==
        V{"/bin/plugin", "create", "--disk-limit-size-bytes", "4096", "/some/dir", "h2"});
  // No limit: no quota flags, even with an exclusive scope.
  r = create_request(json::object(), "docker:///busybox", "h3", true, 0, true);
  CHECK(create_argv(p, r) == V{"/bin/plugin", "create", "docker:///busybox", "h3"});
}

TEST_CASE("image plugin delete and stats argv", "[image]") {
  Plugin p{"/bin/plugin", {"--store=/s"}};
  CHECK(delete_argv(p, "h") == V{"/bin/plugin", "--store=/s", "delete", "h"});
  CHECK(stats_argv(p, "h") == V{"/bin/plugin", "--store=/s", "stats", "h"});
}

TEST_CASE("image plugin create output: a runtime spec fragment", "[image]") {
  ImageSpec s;
  std::string err;
  REQUIRE(parse_create_output(
      R"({"root":{"path":"/store/images/h/rootfs"},"process":{"env":["A=1","PATH=/bin"],
          "user":{"uid":0,"gid":0},"cwd":"/"},
          "mounts":[{"destination":"/","type":"overlay","source":"overlay",
                     "options":["lowerdir=/l","upperdir=/u","workdir=/w"]}]})",
      s, err));
  CHECK(err.empty());
  CHECK(s.root_path == "/store/images/h/rootfs");
  CHECK(s.env == V{"A=1", "PATH=/bin"});
  REQUIRE(s.mounts.size() == 1);
  CHECK(s.mounts[0]["type"] == "overlay");
  CHECK(s.mounts[0]["options"].size() == 3);
}

TEST_CASE("image plugin create output: the deprecated fields win, as in Guardian", "[image]") {
  ImageSpec s;
  std::string err;
  REQUIRE(parse_create_output(
      R"({"rootfs":"/new","root":{"path":"/old"},"process":{"env":["A=old"]},
          "image":{"config":{"Env":["A=new"]}}})",
      s, err));
  CHECK(s.root_path == "/new");
  CHECK(s.env == V{"A=new"});
  CHECK(s.mounts.empty());
}

TEST_CASE("image plugin create output: malformed or hostile output is refused", "[image]") {
  ImageSpec s;
  std::string err;
  auto refused = [&](const std::string& out, const std::string& why) {
    INFO(out);
    CHECK_FALSE(parse_create_output(out, s, err));
    CHECK(err.rfind("parsing image plugin create: ", 0) == 0);
    CHECK(err.find(why) != std::string::npos);
  };
  refused("not json", "expected a JSON object");
  refused("[1]", "expected a JSON object");
  refused("{}", "no root.path");
  refused(R"({"root":{"path":"relative"}})", "not an absolute path");
  refused(R"({"root":{"path":"/a/../../etc"}})", "not an absolute path");
  refused(R"({"root":{"path":7}})", "root.path must be a string");
  refused(R"({"root":"/x"})", "root must be an object");
  refused(R"({"root":{"path":"/r"},"process":{"env":"A=1"}})", "process.env must be an array");
  refused(R"({"root":{"path":"/r"},"process":{"env":["novalue"]}})", "KEY=VALUE");
  refused(R"({"root":{"path":"/r"},"process":{"env":[1]}})", "KEY=VALUE");
  refused(R"({"root":{"path":"/r"},"process":{"user":"root"}})", "process.user");
  refused(R"({"root":{"path":"/r"},"mounts":{}})", "mounts must be an array");
  refused(R"({"root":{"path":"/r"},"mounts":[{"destination":"rel"}]})", "mounts[0].destination");
  refused(R"({"root":{"path":"/r"},"mounts":[{"destination":"/a","options":"ro"}]})",
          "mounts[0].options");
  refused(R"({"root":{"path":"/r"},"mounts":[{"destination":"/a","source":["x"]}]})",
          "mounts[0].source");
  refused(R"({"root":{"path":"/r"},"image":{"config":{"Env":{}}}})", "image.config.Env");
  // Too much: more mounts than allowed, and output past the size bound.
  json many = {{"root", {{"path", "/r"}}}, {"mounts", json::array()}};
  for (int i = 0; i < 300; ++i) many["mounts"].push_back({{"destination", "/m"}});
  refused(many.dump(), "more than 256 mounts");
  refused(std::string(kMaxOutput + 1, ' '), "output exceeds");
  // The quoted output is bounded.
  std::string big = "{\"root\":{\"path\":\"" + std::string(100000, 'a') + "\"}}";
  CHECK_FALSE(parse_create_output(big, s, err));
  CHECK(err.size() < 2200);  // two quotes of at most 1 KiB each
}

TEST_CASE("image plugin stats output", "[image]") {
  DiskUsage u;
  std::string err;
  REQUIRE(parse_stats_output(
      R"({"disk_usage":{"total_bytes_used":1000,"exclusive_bytes_used":24}})", u, err));
  CHECK(u.total_bytes == 1000);
  CHECK(u.exclusive_bytes == 24);
  REQUIRE(parse_stats_output("{}", u, err));
  CHECK(u.total_bytes == 0);
  CHECK_FALSE(parse_stats_output(R"({"disk_usage":{"total_bytes_used":-1}})", u, err));
  CHECK(err.find("parsing stats: ") == 0);
  CHECK(err.find("non-negative integer") != std::string::npos);
  CHECK_FALSE(parse_stats_output(R"({"disk_usage":{"total_bytes_used":"1"}})", u, err));
  CHECK_FALSE(parse_stats_output("oops", u, err));
}

TEST_CASE("image plugin errors in Guardian's words", "[image]") {
  CHECK(run_error("create", 1, "image not found\n", "{\"log\":1}\n") ==
        "running image plugin create: image not found: exit status 1");
  // Nothing on stdout: the last line of stderr says why.
  CHECK(run_error("destroy", 2, "", "a\nlast words\n") ==
        "running image plugin destroy: last words: exit status 2");
  CHECK(run_error("metrics", 3, "", "") == "running image plugin metrics: exit status 3");
}

TEST_CASE("the image a container spec names", "[image]") {
  std::string err;
  CHECK(spec_image_uri({{"rootfs", "raw:///a"}}, err) == "raw:///a");
  CHECK(spec_image_uri({{"image", {{"uri", "docker:///b"}}}}, err) == "docker:///b");
  CHECK(spec_image_uri(json::object(), err).empty());
  CHECK(err.empty());
  spec_image_uri({{"rootfs", "/a"}, {"image", {{"uri", "docker:///b"}}}}, err);
  CHECK(err == "Cannot provide both Image.URI and RootFSPath");
  err.clear();
  spec_image_uri({{"image", {{"uri", 5}}}}, err);
  CHECK(err == "invalid container spec: image.uri must be a string");
  std::string path;
  CHECK(is_raw("raw:///x/y", &path));
  CHECK(path == "/x/y");
  CHECK_FALSE(is_raw("docker:///x"));
}

TEST_CASE("which plugin a container gets", "[image]") {
  Plugins ps;
  std::string err;
  CHECK(ps.for_container(false, err) == nullptr);
  CHECK(err == "creating create command: no image_plugin provided");
  ps.unprivileged.path = "/u";
  CHECK(ps.for_container(false, err) == &ps.unprivileged);
  CHECK(ps.for_container(true, err) == nullptr);
  CHECK(err == "creating create command: no privileged_image_plugin provided");
  ps.privileged.path = "/p";
  CHECK(ps.for_container(true, err) == &ps.privileged);
}

TEST_CASE("a pea's bundle joins the container's namespaces", "[image]") {
  PeaParams pp;
  pp.handle = "box";
  pp.id = "task-1";
  pp.rootfs = "/tmp";
  pp.image_env = {"FROM_IMAGE=1"};
  pp.init_pid = 4242;
  pp.init_path = "/bin/true";
  pp.hosts_file = pp.resolv_file = "/etc/hostname";
  pp.cgroup_parent = "garden";
  garden::User u{"root", 0, 0, "/root"};
  json ps = {{"path", "/bin/sh"},
             {"env", {"FROM_SPEC=1"}},
             {"limits", {{"memory_limits", {{"limit_in_bytes", 64 << 20}}}}}};
  std::string err;
  json c = pea_config(ps, pp, u, err);
  REQUIRE(err.empty());
  json want = json::array({{{"type", "mount"}},
                           {{"type", "network"}, {"path", "/proc/4242/ns/net"}},
                           {{"type", "ipc"}, {"path", "/proc/4242/ns/ipc"}},
                           {{"type", "pid"}, {"path", "/proc/4242/ns/pid"}},
                           {{"type", "uts"}, {"path", "/proc/4242/ns/uts"}},
                           {{"type", "user"}, {"path", "/proc/4242/ns/user"}}});
  CHECK(c["linux"]["namespaces"] == want);
  // The joined user namespace's mappings stay in the bundle (runc refuses one without).
  json maps = json::array();
  for (auto& m : garden::image::unprivileged_id_mappings())
    maps.push_back({{"containerID", m.container_id}, {"hostID", m.host_id}, {"size", m.size}});
  CHECK(c["linux"]["uidMappings"] == maps);
  CHECK(c["linux"]["gidMappings"] == maps);
  CHECK_FALSE(c.contains("hostname"));
  CHECK(c["linux"]["cgroupsPath"] == "garden/peas@box/task-1");
  CHECK(c["linux"]["resources"]["memory"]["limit"] == 64 << 20);
  CHECK(c["process"]["cwd"] == "/");
  auto env = c["process"]["env"];
  REQUIRE(env.size() >= 2);
  CHECK(env[0] == "FROM_IMAGE=1");
  CHECK(std::find(env.begin(), env.end(), "FROM_SPEC=1") != env.end());
  CHECK(c["root"]["path"] == "/tmp");
  pp.privileged = true;
  c = pea_config(ps, pp, u, err);
  for (auto& n : c["linux"]["namespaces"]) CHECK(n["type"] != "user");
  CHECK_FALSE(c["linux"].contains("uidMappings"));
}

TEST_CASE("pea ids", "[image]") {
  CHECK(is_pea({{"image", {{"uri", "docker:///b"}}}}));
  CHECK(is_pea({{"image", {{"username", "u"}}}}));
  CHECK_FALSE(is_pea({{"image", {{"uri", ""}}}}));
  CHECK_FALSE(is_pea({{"path", "/bin/sh"}}));
  CHECK(valid_pea_id("0b5e-aa.x_+1"));
  CHECK_FALSE(valid_pea_id(""));
  CHECK_FALSE(valid_pea_id(".."));
  CHECK_FALSE(valid_pea_id("a/b"));
  CHECK_FALSE(valid_pea_id(std::string(129, 'a')));
}

TEST_CASE(
    "a pea's cgroup: nested in its container's, outside it when the spec overrides its "
    "limits (Guardian's OverrideContainerLimits, even empty)",
    "[image]") {
  PeaParams pp;
  pp.handle = "box";
  pp.id = "task-1";
  pp.rootfs = "/tmp";
  pp.init_pid = 4242;
  pp.init_path = "/bin/true";
  pp.hosts_file = pp.resolv_file = "/etc/hostname";
  pp.cgroup_parent = "garden";
  garden::User u{"root", 0, 0, "/root"};
  json limited = {{"path", "/bin/sh"},
                  {"limits", {{"memory_limits", {{"limit_in_bytes", 64 << 20}}}}}};
  json cpu = {{"path", "/bin/sh"}, {"limits", {{"cpu_limits", {{"weight", 100}}}}}};
  json empty = {{"path", "/bin/sh"}, {"limits", json::object()}};
  json plain = {{"path", "/bin/sh"}};
  std::string err;
  CHECK(pea_config(plain, pp, u, err)["linux"]["cgroupsPath"] == "garden/box/pea-task-1");
  json c = pea_config(limited, pp, u, err);
  CHECK(c["linux"]["cgroupsPath"] == "garden/peas@box/task-1");
  CHECK(c["linux"]["resources"]["memory"]["limit"] == 64 << 20);
  CHECK(pea_config(cpu, pp, u, err)["linux"]["cgroupsPath"] == "garden/peas@box/task-1");
  c = pea_config(empty, pp, u, err);
  CHECK(c["linux"]["cgroupsPath"] == "garden/peas@box/task-1");
  CHECK_FALSE(c["linux"]["resources"].contains("memory"));
  CHECK_FALSE(c["linux"]["resources"].contains("pids"));
  CHECK(err.empty());
}
