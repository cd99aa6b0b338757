#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <catch2/catch.hpp>
#include <cstdlib>
#include <functional>
#include <string>

#include "base/fd.hpp"
#include "base/file.hpp"
#include "base/safepath.hpp"

using namespace crunner;

namespace {

// A temp tree: <base>/root is the "rootfs", <base>/outside must never be reached.
struct Tree {
  std::string base, root, outside;
  UniqueFd rootfd;
  Tree() {
    char tmpl[] = "/tmp/crunner-safepath-XXXXXX";
    REQUIRE(mkdtemp(tmpl) != nullptr);
    base = tmpl;
    root = base + "/root";
    outside = base + "/outside";
    REQUIRE(mkdir(root.c_str(), 0755) == 0);
    REQUIRE(mkdir(outside.c_str(), 0755) == 0);
    REQUIRE(mkdir((root + "/etc").c_str(), 0755) == 0);
    REQUIRE(write_file(root + "/etc/marker", "inside", O_WRONLY | O_CREAT | O_TRUNC).ok());
    REQUIRE(write_file(outside + "/marker", "outside", O_WRONLY | O_CREAT | O_TRUNC).ok());
    rootfd.reset(open(root.c_str(), O_PATH | O_DIRECTORY | O_CLOEXEC));
    REQUIRE(rootfd.valid());
  }
  ~Tree() {
    rootfd.reset();
    std::string cmd = "rm -rf '" + base + "'";
    (void)std::system(cmd.c_str());
  }
  void link(const std::string& target, const std::string& name) {
    REQUIRE(symlink(target.c_str(), (root + "/" + name).c_str()) == 0);
  }
  // Path of an fd relative to the base, to see where it landed.
  std::string where(int fd) {
    char buf[4096];
    ssize_t n = readlink(proc_fd_path(fd).c_str(), buf, sizeof buf);
    REQUIRE(n > 0);
    std::string p(buf, static_cast<size_t>(n));
    REQUIRE(p.rfind(base, 0) == 0);
    return p.substr(base.size());
  }
};

using Resolver = Result<UniqueFd> (*)(int, const std::string&, Create);

void both(const std::function<void(Resolver, const char*)>& f) {
  f(&resolve_in_root, "openat2");
  f(&walk_in_root, "walk");
}

}  // namespace

TEST_CASE("clean_path is lexical and absolute", "[safepath]") {
  REQUIRE(clean_path("") == "/");
  REQUIRE(clean_path("/") == "/");
  REQUIRE(clean_path("/a/./b//../c/") == "/a/c");
  REQUIRE(clean_path("/../../etc") == "/etc");
  REQUIRE(clean_path("a/b") == "/a/b");
}

TEST_CASE("plain paths resolve inside the root", "[safepath]") {
  Tree t;
  both([&](Resolver r, const char* name) {
    INFO(name);
    auto fd = r(t.rootfd.get(), "/etc/marker", Create::None);
    REQUIRE(fd.ok());
    REQUIRE(t.where(fd->get()) == "/root/etc/marker");
    auto rootfd = r(t.rootfd.get(), "/", Create::None);
    REQUIRE(rootfd.ok());
    REQUIRE(t.where(rootfd->get()) == "/root");
    auto missing = r(t.rootfd.get(), "/nope/x", Create::None);
    REQUIRE_FALSE(missing.ok());
    REQUIRE(missing.error().err == ENOENT);
    REQUIRE(missing.error().what() == "resolve `/nope/x`: no such file or directory");
  });
}

TEST_CASE("absolute symlinks restart at the root and not at the host /", "[safepath]") {
  Tree t;
  t.link(t.outside, "abs");           // /abs -> <host path of outside>
  t.link("/etc", "etclink");          // /etclink -> /etc
  t.link("/../../../etc", "dotdot");  // /dotdot -> /../../../etc
  both([&](Resolver r, const char* name) {
    INFO(name);
    auto fd = r(t.rootfd.get(), "/etclink/marker", Create::None);
    REQUIRE(fd.ok());
    REQUIRE(t.where(fd->get()) == "/root/etc/marker");
    fd = r(t.rootfd.get(), "/dotdot/marker", Create::None);
    REQUIRE(fd.ok());
    REQUIRE(t.where(fd->get()) == "/root/etc/marker");
    // The host path of `outside` does not exist inside the root.
    auto esc = r(t.rootfd.get(), "/abs/marker", Create::None);
    REQUIRE_FALSE(esc.ok());
    REQUIRE(esc.error().err == ENOENT);
  });
}

TEST_CASE("../.. symlinks and .. components stop at the root", "[safepath]") {
  Tree t;
  REQUIRE(mkdir((t.root + "/a").c_str(), 0755) == 0);
  REQUIRE(symlink("../../../../outside", (t.root + "/a/up").c_str()) == 0);
  REQUIRE(symlink("../../etc", (t.root + "/a/etc2").c_str()) == 0);
  both([&](Resolver r, const char* name) {
    INFO(name);
    auto fd = r(t.rootfd.get(), "/a/etc2/marker", Create::None);
    REQUIRE(fd.ok());
    REQUIRE(t.where(fd->get()) == "/root/etc/marker");
    fd = r(t.rootfd.get(), "../../../etc/marker", Create::None);
    REQUIRE(fd.ok());
    REQUIRE(t.where(fd->get()) == "/root/etc/marker");
    auto esc = r(t.rootfd.get(), "/a/up/marker", Create::None);
    REQUIRE_FALSE(esc.ok());
  });
}

TEST_CASE("creating resolves symlinks inside the root before creating", "[safepath]") {
  Tree t;
  t.link(t.outside + "/newdir", "escape-abs");
  t.link("../../../outside/newdir2", "escape-rel");
  both([&](Resolver r, const char* name) {
    INFO(name);
    std::string sfx = name;
    // A missing directory chain through an absolute symlink is created in the root.
    auto fd = r(t.rootfd.get(), "/escape-abs/sub-" + sfx, Create::Dir);
    REQUIRE(fd.ok());
    REQUIRE(t.where(fd->get()) == "/root" + t.outside + "/newdir/sub-" + sfx);
    fd = r(t.rootfd.get(), "/escape-rel/f-" + sfx, Create::File);
    REQUIRE(fd.ok());
    REQUIRE(t.where(fd->get()) == "/root/outside/newdir2/f-" + sfx);
    struct stat st;
    REQUIRE(fstat(fd->get(), &st) == 0);
    REQUIRE(S_ISREG(st.st_mode));
    // A dangling symlink as the last component: its target is created inside.
    fd = r(t.rootfd.get(), "/escape-abs", Create::Dir);
    REQUIRE(fd.ok());
    REQUIRE(t.where(fd->get()) == "/root" + t.outside + "/newdir");
  });
  // Nothing appeared outside.
  REQUIRE_FALSE(path_exists(t.outside + "/newdir"));
  REQUIRE_FALSE(path_exists(t.outside + "/newdir2"));
}

TEST_CASE("symlink loops fail with ELOOP", "[safepath]") {
  Tree t;
  t.link("/loop2", "loop1");
  t.link("/loop1", "loop2");
  both([&](Resolver r, const char* name) {
    INFO(name);
    auto fd = r(t.rootfd.get(), "/loop1/x", Create::Dir);
    REQUIRE_FALSE(fd.ok());
    REQUIRE(fd.error().err == ELOOP);
  });
}

TEST_CASE("a file in the middle of a path is ENOTDIR", "[safepath]") {
  Tree t;
  auto fd = walk_in_root(t.rootfd.get(), "/etc/marker/x", Create::Dir);
  REQUIRE_FALSE(fd.ok());
  REQUIRE(fd.error().err == ENOTDIR);
  fd = resolve_in_root(t.rootfd.get(), "/etc/marker/x", Create::Dir);
  REQUIRE_FALSE(fd.ok());
  REQUIRE(fd.error().err == ENOTDIR);
}

TEST_CASE("resolve_parent_in_root does not follow the last component", "[safepath]") {
  Tree t;
  t.link("/etc", "proc");
  auto p = resolve_parent_in_root(t.rootfd.get(), "/proc", Create::None);
  REQUIRE(p.ok());
  REQUIRE(p->name == "proc");
  REQUIRE(t.where(p->dir.get()) == "/root");
  struct stat st;
  REQUIRE(fstatat(p->dir.get(), p->name.c_str(), &st, AT_SYMLINK_NOFOLLOW) == 0);
  REQUIRE(S_ISLNK(st.st_mode));
  REQUIRE_FALSE(resolve_parent_in_root(t.rootfd.get(), "/", Create::None).ok());
}

TEST_CASE("mkdir_all_in_root gives only the directories it creates to the owner", "[safepath]") {
  Tree t;
  REQUIRE(mkdir((t.root + "/home").c_str(), 0755) == 0);
  t.link("/home", "h");
  struct stat before;
  REQUIRE(stat((t.root + "/home").c_str(), &before) == 0);
  auto fd = mkdir_all_in_root(t.rootfd.get(), "/h/u/work", 4321, 8765);
  REQUIRE(fd.ok());
  REQUIRE(t.where(fd->get()) == "/root/home/u/work");
  for (const char* made : {"/home/u", "/home/u/work"}) {
    struct stat st;
    REQUIRE(stat((t.root + made).c_str(), &st) == 0);
    REQUIRE(S_ISDIR(st.st_mode));
    REQUIRE(st.st_uid == 4321);
    REQUIRE(st.st_gid == 8765);
  }
  struct stat after;
  REQUIRE(stat((t.root + "/home").c_str(), &after) == 0);
  REQUIRE(after.st_uid == before.st_uid);
  REQUIRE(after.st_gid == before.st_gid);
  // Again: everything exists, nothing changes hands.
  REQUIRE(chown((t.root + "/home/u").c_str(), 0, 0) == 0);
  REQUIRE(mkdir_all_in_root(t.rootfd.get(), "/h/u/work", 4321, 8765).ok());
  struct stat kept;
  REQUIRE(stat((t.root + "/home/u").c_str(), &kept) == 0);
  REQUIRE(kept.st_uid == 0);
}

TEST_CASE("mkdir_all_in_root stays in the root and wants a directory", "[safepath]") {
  Tree t;
  t.link(t.outside + "/made", "escape");
  auto fd = mkdir_all_in_root(t.rootfd.get(), "/escape/x", 0, 0);
  REQUIRE(fd.ok());
  REQUIRE(t.where(fd->get()) == "/root" + t.outside + "/made/x");
  REQUIRE_FALSE(path_exists(t.outside + "/made"));
  auto file = mkdir_all_in_root(t.rootfd.get(), "/etc/marker", 0, 0);
  REQUIRE_FALSE(file.ok());
  REQUIRE(file.error().err == ENOTDIR);
  REQUIRE(file.error().what() == "resolve `/etc/marker`: not a directory");
}

TEST_CASE("open_in_root opens inside the root with the flags asked", "[safepath]") {
  Tree t;
  t.link(t.outside + "/marker", "abs");
  t.link("../../outside/marker", "rel");
  t.link("/etc/marker", "in");
  auto fd = open_in_root(t.rootfd.get(), "in", O_RDONLY);
  REQUIRE(fd.ok());
  auto text = read_fd(fd->get());
  REQUIRE(text.ok());
  REQUIRE(*text == "inside");
  REQUIRE((fcntl(fd->get(), F_GETFD) & FD_CLOEXEC) != 0);
  REQUIRE((fcntl(fd->get(), F_GETFL) & O_PATH) == 0);
  for (const char* esc : {"abs", "rel"}) {
    INFO(esc);
    auto e = open_in_root(t.rootfd.get(), esc, O_RDONLY);
    REQUIRE_FALSE(e.ok());
    REQUIRE(e.error().err == ENOENT);
  }
  auto created = open_in_root(t.rootfd.get(), "new", O_WRONLY | O_CREAT);
  REQUIRE_FALSE(created.ok());
  REQUIRE(created.error().err == EINVAL);
  REQUIRE_FALSE(path_exists(t.root + "/new"));
}
