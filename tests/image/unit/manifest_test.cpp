#include <catch2/catch.hpp>

#include "image/manifest.hpp"

using namespace crunner::image;

namespace {
std::string dg(char c) {
  return "sha256:" + std::string(64, c);
}
}  // namespace

TEST_CASE("manifest lists resolve to linux/amd64", "[image][manifest]") {
  std::string idx =
      R"({"schemaVersion":2,"mediaType":"application/vnd.docker.distribution.manifest.list.v2+json",
    "manifests":[
      {"mediaType":"application/vnd.docker.distribution.manifest.v2+json","digest":")" +
      dg('a') + R"(","size":10,
       "platform":{"os":"linux","architecture":"arm64","variant":"v8"}},
      {"mediaType":"application/vnd.docker.distribution.manifest.v2+json","digest":")" +
      dg('b') + R"(","size":11,
       "platform":{"os":"linux","architecture":"amd64"}},
      {"mediaType":"application/vnd.docker.distribution.manifest.v2+json","digest":")" +
      dg('c') + R"(","size":12,
       "platform":{"os":"windows","architecture":"amd64"}}]})";
  auto k = manifest_kind("application/vnd.docker.distribution.manifest.list.v2+json", idx);
  REQUIRE(k.ok());
  CHECK(*k == ManifestKind::Index);
  auto e = parse_index(idx);
  REQUIRE(e.ok());
  auto d = select_platform(*e, "linux", "amd64");
  REQUIRE(d.ok());
  CHECK(d->digest == dg('b'));
  auto none = select_platform(*e, "linux", "s390x");
  REQUIRE_FALSE(none.ok());
  CHECK(none.error().what().find("linux/arm64/v8, linux/amd64, windows/amd64") !=
        std::string::npos);
}

TEST_CASE("media types come from the header or, failing that, the body", "[image][manifest]") {
  CHECK(*manifest_kind("application/vnd.oci.image.index.v1+json", "{}") == ManifestKind::Index);
  CHECK(*manifest_kind("application/vnd.oci.image.manifest.v1+json; charset=utf-8", "{}") ==
        ManifestKind::Manifest);
  CHECK(*manifest_kind("", R"({"schemaVersion":2,"layers":[]})") == ManifestKind::Manifest);
  CHECK(*manifest_kind("application/json", R"({"schemaVersion":2,"manifests":[]})") ==
        ManifestKind::Index);
  auto v1 = manifest_kind("application/json", R"({"schemaVersion":1,"fsLayers":[]})");
  REQUIRE_FALSE(v1.ok());
  CHECK(v1.error().what().find("schema 1") != std::string::npos);
}

TEST_CASE("manifests and configs are validated", "[image][manifest]") {
  std::string m =
      R"({"schemaVersion":2,"config":{"mediaType":"x","digest":")" + dg('c') +
      R"(","size":5},"layers":[{"mediaType":"application/vnd.oci.image.layer.v1.tar+gzip","digest":")" +
      dg('1') + R"(","size":100}]})";
  auto pm = parse_manifest(m);
  REQUIRE(pm.ok());
  CHECK(pm->layers.size() == 1);
  CHECK(pm->layers[0].size == 100);
  CHECK_FALSE(parse_manifest(R"({"config":{"digest":"sha256:short","size":1},"layers":[]})").ok());
  CHECK_FALSE(
      parse_manifest(R"({"config":{"digest":")" + dg('c') + R"(","size":-1},"layers":[]})").ok());
  CHECK_FALSE(parse_manifest("not json").ok());

  auto c = parse_config(
      R"({"config":{"Env":["A=1"],"User":"1000","WorkingDir":"/w"},"rootfs":{"type":"layers","diff_ids":[")" +
      dg('1') + R"(",")" + dg('2') + R"("]}})");
  REQUIRE(c.ok());
  CHECK(c->env == std::vector<std::string>{"A=1"});
  CHECK(c->user == "1000");
  CHECK(c->workdir == "/w");
  auto ch = chain_ids(c->diff_ids);
  REQUIRE(ch.size() == 2);
  CHECK(ch[0] == dg('1'));
  CHECK(ch[1] != dg('2'));
  CHECK(ch[1].size() == 71);
}
