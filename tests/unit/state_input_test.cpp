// Bounded reads of caller-named files, the state store's lock against a deleted
// container, corrupt state files and the provisional record (issue 10, defects 4-7).
#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <catch2/catch.hpp>
#include <cstdlib>
#include <string>

#include "base/file.hpp"
#include "base/proc.hpp"
#include "base/time.hpp"
#include "libcontainer/flag_checks.hpp"
#include "libcontainer/state.hpp"

using namespace crunner;

namespace {

struct TempDir {
  std::string path;
  TempDir() {
    char t[] = "/tmp/crunner-unit-state-XXXXXX";
    REQUIRE(mkdtemp(t));
    path = t;
  }
  ~TempDir() { (void)system(("rm -rf '" + path + "'").c_str()); }
};

}  // namespace

TEST_CASE("read_regular_file refuses devices, fifos and oversized files", "[file]") {
  auto z = read_regular_file("/dev/zero");
  REQUIRE_FALSE(z.ok());
  REQUIRE(z.error().what() == "read `/dev/zero`: not a regular file");

  TempDir d;
  std::string fifo = d.path + "/fifo";
  REQUIRE(mkfifo(fifo.c_str(), 0600) == 0);
  auto f = read_regular_file(fifo);  // must not block waiting for a writer
  REQUIRE_FALSE(f.ok());
  REQUIRE(f.error().what().find("not a regular file") != std::string::npos);

  std::string big = d.path + "/big";
  REQUIRE(write_file(big, std::string(100, 'x'), O_WRONLY | O_CREAT | O_TRUNC).ok());
  auto b = read_regular_file(big, 99);
  REQUIRE_FALSE(b.ok());
  REQUIRE(b.error().what() == "read `" + big + "`: larger than 99 bytes");
  REQUIRE(*read_regular_file(big, 100) == std::string(100, 'x'));

  // read_fd's own bound (a pipe has no size to check up front).
  int p[2];
  REQUIRE(pipe(p) == 0);
  REQUIRE(write(p[1], "abcdef", 6) == 6);
  close(p[1]);
  auto r = read_fd(p[0], 5);
  close(p[0]);
  REQUIRE_FALSE(r.ok());
  REQUIRE(r.error().what() == "read: larger than 5 bytes");
}

TEST_CASE("check_pid_file and check_preserve_fds", "[flags]") {
  TempDir d;
  REQUIRE(check_pid_file("").ok());
  REQUIRE(check_pid_file(d.path + "/new").ok());
  REQUIRE(write_file(d.path + "/old", "1", O_WRONLY | O_CREAT | O_TRUNC).ok());
  REQUIRE(check_pid_file(d.path + "/old").ok());
  auto dev = check_pid_file("/dev/null");
  REQUIRE_FALSE(dev.ok());
  REQUIRE(dev.error().what() == "--pid-file `/dev/null`: exists and is not a regular file");

  REQUIRE(check_preserve_fds(0).ok());
  REQUIRE_FALSE(check_preserve_fds(-1).ok());
  auto many = check_preserve_fds(100000);
  REQUIRE_FALSE(many.ok());
  REQUIRE(many.error().what().find("is not open") != std::string::npos);
}

TEST_CASE("StateStore: corrupt files, provisional records, lock of a deleted container",
          "[state]") {
  TempDir d;
  StateStore store(d.path);
  REQUIRE(store.create_dir("c1").ok());
  std::string file = store.dir("c1") + "/state.json";

  REQUIRE(write_file(file, "{\"id\": \"c1\", \"pid\": ", O_WRONLY | O_CREAT | O_TRUNC).ok());
  auto bad = store.load("c1");
  REQUIRE_FALSE(bad.ok());
  REQUIRE(bad.error().what().find("corrupt state file `" + file + "`: ") == 0);
  REQUIRE(bad.error().what().find("parse error") != std::string::npos);

  REQUIRE(write_file(file, "{\"id\": \"other\", \"pid\": 0}", O_WRONLY | O_TRUNC).ok());
  REQUIRE_FALSE(store.load("c1").ok());

  ContainerState s;
  s.id = "c1";
  s.pid = getpid();
  s.start_time = process_start_time(getpid());
  s.created = now_rfc3339_nano();
  s.provisional = true;
  REQUIRE(store.save(s).ok());
  auto l = store.load("c1");
  REQUIRE(l.ok());
  REQUIRE(l->provisional);
  REQUIRE(derive_status(*l, store, false) == ContainerStatus::Creating);
  s.provisional = false;
  REQUIRE(store.save(s).ok());
  REQUIRE(derive_status(*store.load("c1"), store, false) == ContainerStatus::Running);

  // A lock taken on a directory that is then removed reads "does not exist".
  int fd = open(store.dir("c1").c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  REQUIRE(fd >= 0);
  REQUIRE(store.remove("c1").ok());
  struct stat st;
  REQUIRE(fstat(fd, &st) == 0);
  REQUIRE(st.st_nlink == 0);
  close(fd);
  REQUIRE(store.create_dir("c2").ok());
  {
    auto lk = store.lock("c2");
    REQUIRE(lk.ok());
  }
  REQUIRE(store.remove("c2").ok());
  auto gone = store.lock("c2");
  REQUIRE_FALSE(gone.ok());
  REQUIRE(gone.error().kind == ErrorKind::NotFound);
}
