#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <catch2/catch.hpp>

#include "base/error.hpp"
#include "base/file.hpp"
#include "base/text.hpp"
#include "base/time.hpp"

using namespace crunner;

static Result<int> half(int x) {
  if (x % 2) return invalid_spec("odd: " + std::to_string(x));
  return x / 2;
}
static Result<int> quarter(int x) {
  CR_ASSIGN(int h, half(x));
  CR_ASSIGN(int q, half(h));
  return q;
}

TEST_CASE("Result carries values and errors with context", "[error]") {
  REQUIRE(quarter(8).ok());
  REQUIRE(*quarter(8) == 2);
  auto r = quarter(6);
  REQUIRE_FALSE(r.ok());
  REQUIRE(r.error().what() == "odd: 3");
  Error e = sys_error("mount `proc` to `/proc`", EACCES);
  e.context("create container");
  REQUIRE(e.what() == "create container: mount `proc` to `/proc`: permission denied");
  REQUIRE(e.kind == ErrorKind::Permission);
}

TEST_CASE("string helpers", "[text]") {
  REQUIRE(split("a,b,,c", ',') == std::vector<std::string>{"a", "b", "", "c"});
  REQUIRE(trim("  x y \n") == "x y");
  unsigned long long v;
  REQUIRE(parse_u64("123", v));
  REQUIRE(v == 123);
  REQUIRE_FALSE(parse_u64("-1", v));
  REQUIRE_FALSE(parse_u64("12a", v));
  REQUIRE(rfc3339_nano(0, 500000000) == "1970-01-01T00:00:00.5Z");
  // The calendar arithmetic (no gmtime_r): a leap day, a century, nanoseconds trimmed.
  REQUIRE(rfc3339_nano(1700000000, 0) == "2023-11-14T22:13:20Z");
  REQUIRE(rfc3339_nano(951868799, 123456789) == "2000-02-29T23:59:59.123456789Z");
  REQUIRE(rfc3339_nano(4102444800, 10) == "2100-01-01T00:00:00.00000001Z");
}

TEST_CASE("mkdir_p creates the missing levels only, and names the one it cannot", "[utils]") {
  char tmpl[] = "/tmp/crunner-mkdirp-XXXXXX";
  REQUIRE(mkdtemp(tmpl) != nullptr);
  std::string base = tmpl;
  REQUIRE(mkdir_p(base + "/a/b/c/").ok());
  struct stat st;
  REQUIRE(stat((base + "/a/b/c").c_str(), &st) == 0);
  REQUIRE(S_ISDIR(st.st_mode));
  REQUIRE(mkdir_p(base + "/a/b/c").ok());  // exists: nothing to do
  REQUIRE(mkdir_p(base + "/a//d").ok());
  REQUIRE(stat((base + "/a/d").c_str(), &st) == 0);
  // A file on the way: ENOTDIR, naming the directory asked for.
  int fd = open((base + "/f").c_str(), O_WRONLY | O_CREAT | O_CLOEXEC, 0644);
  REQUIRE(fd >= 0);
  close(fd);
  auto r = mkdir_p(base + "/f/x/y");
  REQUIRE_FALSE(r.ok());
  REQUIRE(r.error().err == ENOTDIR);
  REQUIRE(r.error().what().find(base + "/f/x/y") != std::string::npos);
  REQUIRE(system(("rm -rf " + base).c_str()) == 0);
}
