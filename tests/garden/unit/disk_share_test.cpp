// Where a pea's and its container's overlay upper/work dirs are found (the disk limit they
// share is proven in the XFS guest, tests/garden/guest_xfs.py): the overlay mounted at the
// rootfs (mountinfo, whose options escape ',' as \054), else a "/" overlay among the
// plugin's mounts; anything else is no overlay.
#include <unistd.h>

#include <catch2/catch.hpp>
#include <filesystem>
#include <fstream>

#include "garden/image/disk_share.hpp"

using json = nlohmann::json;
using garden::image::overlay_dirs;
using garden::image::OverlayDirs;

TEST_CASE("disk share: the overlay dirs of a rootfs", "[image]") {
  char tmpl[] = "/tmp/crunner-test-garden-disk-share-XXXXXX";
  std::string dir = mkdtemp(tmpl);
  std::string mi = dir + "/mountinfo";
  std::ofstream(mi) << "22 1 0:21 / / rw - ext4 /dev/sda1 rw\n"
                       "90 22 0:50 / /s/images/a/rootfs rw,relatime - overlay overlay "
                       "rw,lowerdir=/s/l/1,upperdir=/s/images/a\\054b/diff,workdir=/s/images/a/"
                       "work,uuid=on\n";
  OverlayDirs d;
  SECTION("mounted: from mountinfo, unescaped") {
    REQUIRE(overlay_dirs("/s/images/a/rootfs", json::array(), d, mi));
    CHECK(d.upper == "/s/images/a,b/diff");
    CHECK(d.work == "/s/images/a/work");
  }
  SECTION("left to the runtime: the \"/\" overlay of the plugin's mounts") {
    json mounts = json::parse(R"([{"destination":"/dev","type":"tmpfs","options":[]},
      {"destination":"/","type":"overlay","source":"overlay",
       "options":["lowerdir=/x/1:/x/2","upperdir=/x/up","workdir=/x/wk"]}])");
    REQUIRE(overlay_dirs("/x/rootfs", mounts, d, mi));
    CHECK(d.upper == "/x/up");
    CHECK(d.work == "/x/wk");
  }
  SECTION("a plain directory is no overlay") {
    CHECK_FALSE(overlay_dirs("/plain/rootfs", json::array(), d, mi));
    CHECK_FALSE(overlay_dirs("/plain/rootfs", json::parse(R"([{"destination":"/","type":"bind",
      "options":["upperdir=/u","workdir=/w"]}])"),
                             d, mi));
  }
  std::filesystem::remove_all(dir);
}
