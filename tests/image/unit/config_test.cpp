// GrootFS's YAML config (--config) read with yaml-cpp: every implemented key in block and
// flow style, and each error naming the file, the line and the key.
#include <catch2/catch.hpp>

#include "image/config.hpp"

using namespace crunner::image;

namespace {

std::string error_of(const std::string& text) {
  auto c = parse_config_text(text, "g.yml");
  REQUIRE(!c.ok());
  return c.error().what();
}

}  // namespace

TEST_CASE("config: every implemented GrootFS key", "[image][config]") {
  auto c = parse_config_text(
      "# GrootFS's keys\n"
      "store: /var/vcap/data/grootfs/store/unprivileged\n"
      "log_level: debug\n"
      "init:\n"
      "  store_size_bytes: 10737418240\n"
      "  uid_mappings:\n"
      "    - \"0:4294967294:1\"\n"
      "    - 1:1:4294967293\n"
      "  gid_mappings: ['0:4294967294:1']\n"
      "create:\n"
      "  disk_limit_size_bytes: 1024\n"
      "  exclude_image_from_quota: yes\n"
      "  with_mount: false\n"
      "  insecure_registries: [\"127.0.0.1:5000\", reg.local]\n"
      "  registry_mirror: https://mirror.local   # a comment\n"
      "clean:\n"
      "  threshold_bytes: 0\n",
      "g.yml");
  REQUIRE(c.ok());
  CHECK(c->store == "/var/vcap/data/grootfs/store/unprivileged");
  CHECK(c->log_level == "debug");
  CHECK(c->store_size_bytes == 10737418240ULL);
  CHECK(c->uid_mappings == std::vector<std::string>{"0:4294967294:1", "1:1:4294967293"});
  CHECK(c->gid_mappings == std::vector<std::string>{"0:4294967294:1"});
  CHECK(c->disk_limit_size_bytes == 1024);
  CHECK(c->exclude_image_from_quota == true);
  CHECK(c->without_mount == true);
  CHECK(c->insecure_registries == std::vector<std::string>{"127.0.0.1:5000", "reg.local"});
  CHECK(c->registry_mirror == "https://mirror.local");
  CHECK(c->clean_threshold_bytes == 0);
}

TEST_CASE("config: empty files, empty sections and empty lists", "[image][config]") {
  auto c = parse_config_text("", "g.yml");
  REQUIRE(c.ok());
  CHECK(!c->store);
  c = parse_config_text("create:\ninit:\n  uid_mappings:\n  gid_mappings: []\n", "g.yml");
  REQUIRE(c.ok());
  CHECK(c->uid_mappings.empty());
  c = parse_config_text("store_path: /s\ncreate:\n  without_mount: true\n", "g.yml");
  REQUIRE(c.ok());
  CHECK(c->store == "/s");
  CHECK(c->without_mount == true);
}

TEST_CASE("config: unknown keys are refused by name and line", "[image][config]") {
  CHECK(error_of("store: /s\nclean:\n  threshold_bytes: 1\n  driver: btrfs\n") ==
        "invalid config file `g.yml` line 4: unknown key `clean.driver` (crunner-image does not "
        "implement it)");
  CHECK(error_of("tardis_bin: /x\n") ==
        "invalid config file `g.yml` line 1: unknown key `tardis_bin` (crunner-image does not "
        "implement it)");
  CHECK(error_of("create: {skip_layer_validation: true}\n") ==
        "invalid config file `g.yml` line 1: unknown key `create.skip_layer_validation` "
        "(crunner-image does not implement it)");
}

TEST_CASE("config: wrong types are refused by key and line", "[image][config]") {
  CHECK(error_of("init:\n  store_size_bytes: lots\n") ==
        "invalid config file `g.yml` line 2: `init.store_size_bytes` wants a number");
  CHECK(error_of("clean:\n  threshold_bytes: -1\n") ==
        "invalid config file `g.yml` line 2: `clean.threshold_bytes` wants a number");
  CHECK(error_of("create:\n  with_mount: maybe\n") ==
        "invalid config file `g.yml` line 2: `create.with_mount` wants true or false");
  CHECK(error_of("create:\n  insecure_registries: reg.local\n") ==
        "invalid config file `g.yml` line 2: `create.insecure_registries` wants a list");
  CHECK(error_of("create:\n  insecure_registries: [[a]]\n") ==
        "invalid config file `g.yml` line 2: `create.insecure_registries` wants a list of "
        "strings");
  CHECK(error_of("store: [a, b]\n") ==
        "invalid config file `g.yml` line 1: `store` wants a string");
  CHECK(error_of("create: 5\n") == "invalid config file `g.yml` line 1: `create` wants a mapping");
  CHECK(error_of("- store\n") ==
        "invalid config file `g.yml` line 1: want a mapping of GrootFS's keys");
  CHECK(error_of("store: /a\nstore: /b\n") ==
        "invalid config file `g.yml` line 2: key `store` given twice");
}

TEST_CASE("config: YAML syntax errors name the line", "[image][config]") {
  std::string e = error_of("store: /s\ncreate:\n  with_mount: [true\n");
  CHECK(e.rfind("invalid config file `g.yml` line ", 0) == 0);
  CHECK(error_of("store: /s\n  x: y\n") == "invalid config file `g.yml` line 2: illegal map value");
  // Nesting deep enough to overflow a recursive parser is refused, not followed.
  e = error_of("store: " + std::string(100000, '[') + std::string(100000, ']') + "\n");
  CHECK(e == "invalid config file `g.yml` line 1: nesting deeper than yaml-cpp allows");
}
