#include <fcntl.h>

#include <catch2/catch.hpp>
#include <string>

#include "base/file.hpp"
#include "temp_dir.hpp"

using namespace crunner;
using namespace crunner::testing;

TEST_CASE("read_i64_file: one integer, white space around it", "[file]") {
  TempDir t;
  REQUIRE_FALSE(t.path.empty());
  auto put = [&](const std::string& name, const std::string& text) {
    REQUIRE(write_file(t.path + "/" + name, text, O_WRONLY | O_CREAT | O_TRUNC).ok());
    return t.path + "/" + name;
  };
  long long v = 7;
  REQUIRE(read_i64_file(put("pid", "4242\n"), v));
  REQUIRE(v == 4242);
  REQUIRE(read_i64_file(put("neg", "  -3 \n"), v));
  REQUIRE(v == -3);
  for (const char* bad : {"", "\n", "12 13", "12abc", "x", "99999999999999999999"}) {
    INFO(bad);
    v = 7;
    REQUIRE_FALSE(read_i64_file(put("bad", bad), v));
    REQUIRE(v == 7);
  }
  v = 7;
  REQUIRE_FALSE(read_i64_file(t.path + "/missing", v));
  REQUIRE(v == 7);
}
