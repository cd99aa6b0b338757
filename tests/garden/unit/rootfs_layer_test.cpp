#include "garden/rootfs/rootfs_layer.hpp"

#include <fcntl.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include <catch2/catch.hpp>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <vector>

using json = nlohmann::json;
using namespace garden;

namespace {

struct TempDir {
  std::string path;
  TempDir() {
    char tmpl[] = "/tmp/crunner-test-garden-layer-XXXXXX";
    path = mkdtemp(tmpl);
  }
  ~TempDir() {
    unmount_under(path);
    std::error_code ec;
    std::filesystem::remove_all(path, ec);
  }
};

void write(const std::string& path, size_t n) {
  std::ofstream f(path, std::ios::binary);
  std::string data(n, 'x');
  f << data;
}

bool mounted(const std::string& path) {
  std::ifstream f("/proc/self/mountinfo");
  std::string line;
  while (std::getline(f, line))
    if (line.find(" " + path + " ") != std::string::npos) return true;
  return false;
}

}  // namespace

TEST_CASE("disk limits parse like garden's DiskLimits", "[garden][layer]") {
  std::string err;
  auto d = parse_disk_limits(json::parse(R"({"byte_hard":100,"inode_hard":5,"scope":1})"), err);
  CHECK(err.empty());
  CHECK(d.byte_hard == 100);
  CHECK(d.inode_hard == 5);
  CHECK(d.scope == 1);
  CHECK(d.limited());
  d = parse_disk_limits(json(), err);
  CHECK(err.empty());
  CHECK_FALSE(d.limited());
  d = parse_disk_limits(json::parse(R"({"byte_soft":10,"inode_soft":2})"), err);
  CHECK(err.empty());
  CHECK_FALSE(d.limited());  // soft limits alone enforce nothing
  for (const char* bad :
       {R"({"byte_hard":-1})", R"({"scope":2})", R"({"inode_hard":"x"})", R"([1])"}) {
    err.clear();
    parse_disk_limits(json::parse(bad), err);
    CHECK_FALSE(err.empty());
  }
}

TEST_CASE("tree usage counts blocks and inodes, hard links once", "[garden][layer]") {
  TempDir t;
  std::filesystem::create_directories(t.path + "/a/b");
  write(t.path + "/a/f", 100000);
  REQUIRE(link((t.path + "/a/f").c_str(), (t.path + "/a/b/g").c_str()) == 0);
  REQUIRE(symlink("f", (t.path + "/a/s").c_str()) == 0);
  Usage u = tree_usage(t.path);
  CHECK(u.inodes == 4);  // a, a/b, f (= g), s
  struct stat st;
  REQUIRE(stat((t.path + "/a/f").c_str(), &st) == 0);
  CHECK(u.bytes >= static_cast<unsigned long long>(st.st_blocks) * 512);
  CHECK(u.bytes < 2 * static_cast<unsigned long long>(st.st_blocks) * 512 + 3 * 8192);
}

TEST_CASE("unmount_under unmounts nested mounts, deepest first", "[garden][layer]") {
  if (geteuid() != 0) return;
  TempDir t;
  std::string a = t.path + "/a", b = a + "/b";
  std::filesystem::create_directories(a);
  REQUIRE(mount("tmpfs", a.c_str(), "tmpfs", 0, "size=1m") == 0);
  std::filesystem::create_directories(b);
  REQUIRE(mount("tmpfs", b.c_str(), "tmpfs", 0, "size=1m") == 0);
  CHECK(mounted(a));
  CHECK(mounted(b));
  CHECK(unmount_under(t.path).empty());
  CHECK_FALSE(mounted(a));
  CHECK_FALSE(mounted(b));
}

TEST_CASE("a limited layer is a loop file system that goes away with its mounts",
          "[garden][layer]") {
  if (geteuid() != 0) return;
  TempDir t;
  std::string image = t.path + "/image", cdir = t.path + "/c";
  std::filesystem::create_directories(image + "/etc");
  std::filesystem::create_directories(cdir);
  write(image + "/etc/f", 5000);
  DiskLimits dl;
  dl.byte_hard = 4 << 20;
  dl.scope = 1;
  Layer l;
  std::string err = create_layer(cdir, image, dl, l);
  REQUIRE(err.empty());
  CHECK(l.limited);
  CHECK(mounted(cdir + "/layer"));
  CHECK(mounted(cdir + "/rootfs"));
  // The image shows through; writes land in the layer, not in the image.
  CHECK(std::ifstream(cdir + "/rootfs/etc/f").good());  // closed again: nothing holds it
  write(cdir + "/rootfs/etc/new", 300000);
  CHECK_FALSE(std::filesystem::exists(image + "/etc/new"));
  Usage own = layer_usage(cdir, true, l.base);
  CHECK(own.bytes >= 300000);
  CHECK(own.inodes >= 2);  // etc (copied up) and new
  CHECK(loops_under(cdir).size() == 1);
  CHECK(unmount_under(cdir).empty());
  CHECK_FALSE(mounted(cdir + "/layer"));
  CHECK(wait_loops_released(cdir));  // autoclear: the device goes with its last unmount
  // An exclusive limit too small for a file system at all is refused, nothing mounted.
  std::string c2 = t.path + "/c2";
  std::filesystem::create_directories(c2);
  dl.byte_hard = 4096;
  err = create_layer(c2, image, dl, l);
  CHECK_FALSE(err.empty());
  CHECK_FALSE(mounted(c2 + "/layer"));
  CHECK_FALSE(mounted(c2 + "/rootfs"));
}

TEST_CASE("limited layers of one shape are copies of one template file system", "[garden][layer]") {
  if (geteuid() != 0) return;
  TempDir t;
  std::string image = t.path + "/image", templates = t.path + "/templates";
  std::filesystem::create_directories(image + "/etc");
  DiskLimits dl;
  dl.byte_hard = 4 << 20;
  dl.inode_hard = 1000;
  dl.scope = 1;
  std::vector<std::string> cdirs = {t.path + "/c1", t.path + "/c2"};
  std::vector<Layer> layers(2);
  ino_t template_ino = 0;
  for (size_t i = 0; i < cdirs.size(); ++i) {
    std::filesystem::create_directories(cdirs[i]);
    REQUIRE(create_layer(cdirs[i], image, dl, layers[i], false, templates).empty());
    // One template, made by the first create and used as it is by the second.
    std::vector<std::filesystem::path> files;
    for (auto& e : std::filesystem::directory_iterator(templates)) files.push_back(e.path());
    REQUIRE(files.size() == 1);
    struct stat st;
    REQUIRE(stat(files[0].c_str(), &st) == 0);
    if (i == 0) template_ino = st.st_ino;
    CHECK(st.st_ino == template_ino);
  }
  // Each layer is a file system of its own with the whole limit free.
  write(cdirs[0] + "/rootfs/etc/mine", 1 << 20);
  CHECK_FALSE(std::filesystem::exists(cdirs[1] + "/rootfs/etc/mine"));
  CHECK(layer_usage(cdirs[0], true, layers[0].base).bytes >= (1 << 20));
  CHECK(layer_usage(cdirs[1], true, layers[1].base).bytes < (64 << 10));
  CHECK(layers[0].base.bytes == layers[1].base.bytes);
  CHECK(layers[0].base.inodes == layers[1].base.inodes);
  struct statvfs sv;
  REQUIRE(statvfs((cdirs[1] + "/layer").c_str(), &sv) == 0);
  CHECK(static_cast<unsigned long long>(sv.f_bavail) * sv.f_frsize >= dl.byte_hard);
  CHECK(sv.f_files <= 1100);  // the inode limit holds in the copy
  CHECK(loops_under(t.path).size() == 2);
  CHECK(unmount_under(t.path).empty());
  CHECK(wait_loops_released(t.path));
}
