#include <archive.h>
#include <archive_entry.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <sys/xattr.h>
#include <unistd.h>

#include <catch2/catch.hpp>
#include <cstdlib>
#include <string>

#include "base/fd.hpp"
#include "image/tree.hpp"
#include "image/unpack.hpp"

using namespace crunner;
using namespace crunner::image;

namespace {

struct Entry {
  std::string path;
  mode_t type;
  std::string data;       // file contents
  std::string link = "";  // symlink target or hard link target
};

// A tar (in a temp file) with the given entries; returns its fd at offset 0.
int make_tar(const std::string& dir, const std::vector<Entry>& entries) {
  std::string path = dir + "/layer.tar";
  struct archive* a = archive_write_new();
  archive_write_set_format_pax_restricted(a);
  archive_write_open_filename(a, path.c_str());
  for (const auto& e : entries) {
    struct archive_entry* ae = archive_entry_new();
    archive_entry_set_pathname(ae, e.path.c_str());
    if (e.type == 0) {
      archive_entry_set_filetype(ae, AE_IFREG);
      archive_entry_set_hardlink(ae, e.link.c_str());
      archive_entry_set_size(ae, 0);
    } else {
      archive_entry_set_filetype(ae, e.type);
      archive_entry_set_size(ae, static_cast<la_int64_t>(e.data.size()));
      if (e.type == AE_IFLNK) archive_entry_set_symlink(ae, e.link.c_str());
    }
    archive_entry_set_perm(ae, 0644);
    archive_write_header(a, ae);
    if (!e.data.empty()) archive_write_data(a, e.data.data(), e.data.size());
    archive_entry_free(ae);
  }
  archive_write_close(a);
  archive_write_free(a);
  return open(path.c_str(), O_RDONLY | O_CLOEXEC);
}

struct Tmp {
  std::string path;
  Tmp() {
    char t[] = "/tmp/crimg-unit-XXXXXX";
    path = mkdtemp(t);
    mkdir((path + "/layer").c_str(), 0755);
    mkdir((path + "/outside").c_str(), 0755);
  }
  ~Tmp() { (void)remove_tree(path); }
  Result<UnpackStats> unpack(const std::vector<Entry>& e) {
    UniqueFd fd(make_tar(path, e));
    UniqueFd dir(open((path + "/layer").c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
    return unpack_layer(fd.get(), dir.get(), IdMap{});
  }
};

}  // namespace

TEST_CASE("unpack refuses entries that escape the layer", "[image][unpack]") {
  Tmp t;
  auto r = t.unpack({{"../outside/x", AE_IFREG, "x"}});
  REQUIRE_FALSE(r.ok());
  CHECK(r.error().what().find("escapes the layer") != std::string::npos);
  CHECK(access((t.path + "/outside/x").c_str(), F_OK) != 0);

  // A symlink to outside, then a file "through" it: never followed.
  Tmp t2;
  r = t2.unpack({{"evil", AE_IFLNK, "", t2.path + "/outside"}, {"evil/x", AE_IFREG, "x"}});
  REQUIRE_FALSE(r.ok());
  CHECK(r.error().what().find("symlinks are never followed") != std::string::npos);
  CHECK(access((t2.path + "/outside/x").c_str(), F_OK) != 0);

  // Relative symlink climbing out, then a write through it.
  Tmp t3;
  r = t3.unpack({{"up", AE_IFLNK, "", "../outside"}, {"up/y", AE_IFREG, "y"}});
  REQUIRE_FALSE(r.ok());
  CHECK(access((t3.path + "/outside/y").c_str(), F_OK) != 0);

  // A hard link to a file outside the layer.
  Tmp t4;
  r = t4.unpack({{"hl", 0, "", "../outside/secret"}});
  REQUIRE_FALSE(r.ok());
  CHECK(r.error().what().find("escapes the layer") != std::string::npos);

  // A hard link through a symlink.
  Tmp t5;
  r = t5.unpack({{"d", AE_IFLNK, "", "/etc"}, {"hl", 0, "", "d/passwd"}});
  REQUIRE_FALSE(r.ok());
}

TEST_CASE("unpack turns whiteouts into overlayfs form", "[image][unpack]") {
  Tmp t;
  auto r = t.unpack({{"dir/", AE_IFDIR, ""},
                     {"dir/.wh.gone", AE_IFREG, ""},
                     {"opq/.wh..wh..opq", AE_IFREG, ""},
                     {"abs", AE_IFLNK, "", "/etc/passwd"}});
  REQUIRE(r.ok());
  CHECK(r->whiteouts == 1);
  CHECK(r->opaque == 1);
  struct stat st;
  REQUIRE(lstat((t.path + "/layer/dir/gone").c_str(), &st) == 0);
  CHECK(S_ISCHR(st.st_mode));
  CHECK(st.st_rdev == 0);
  char v[8] = {};
  REQUIRE(getxattr((t.path + "/layer/opq").c_str(), "trusted.overlay.opaque", v, sizeof v) == 1);
  CHECK(v[0] == 'y');
  char link[64] = {};
  REQUIRE(readlink((t.path + "/layer/abs").c_str(), link, sizeof link) > 0);
  CHECK(std::string(link) == "/etc/passwd");
  CHECK_FALSE(t.unpack({{".wh...", AE_IFREG, ""}}).ok());
}
