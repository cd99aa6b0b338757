#include <catch2/catch.hpp>

#include "image/reference.hpp"

using namespace crunner::image;

TEST_CASE("docker references: registry, repository, tag, digest", "[image][reference]") {
  auto r = parse_reference("docker:///busybox");
  REQUIRE(r.ok());
  CHECK(r->registry == kDockerHub);
  CHECK(r->repository == "library/busybox");
  CHECK(r->tag == "latest");
  CHECK(r->manifest_ref() == "latest");

  r = parse_reference("docker://127.0.0.1:5000/team/app:v1.2");
  REQUIRE(r.ok());
  CHECK(r->registry == "127.0.0.1:5000");
  CHECK(r->repository == "team/app");
  CHECK(r->tag == "v1.2");

  std::string d = "sha256:" + std::string(64, 'a');
  r = parse_reference("docker://reg.example:443/app@" + d);
  REQUIRE(r.ok());
  CHECK(r->digest == d);
  CHECK(r->tag.empty());
  CHECK(r->manifest_ref() == d);

  r = parse_reference("docker:///cloudfoundry/cflinuxfs4");
  REQUIRE(r.ok());
  CHECK(r->repository == "cloudfoundry/cflinuxfs4");
  r = parse_reference("docker://docker.io/nginx");
  REQUIRE(r.ok());
  CHECK(r->registry == kDockerHub);
  CHECK(r->repository == "library/nginx");
}

TEST_CASE("invalid docker references are refused with the reason", "[image][reference]") {
  auto bad = [](const std::string& s) {
    auto r = parse_reference(s);
    REQUIRE_FALSE(r.ok());
    return r.error().what();
  };
  CHECK(bad("docker:///Upper/Case").find("invalid repository name") != std::string::npos);
  CHECK(bad("docker:///app@sha256:zz").find("invalid digest") != std::string::npos);
  CHECK(bad("docker:///app:bad/tag").find("invalid repository name") != std::string::npos);
  CHECK(bad("docker:///app:-x").find("invalid tag") != std::string::npos);
  CHECK(bad("docker://host").find("no image name") != std::string::npos);
  CHECK(bad("docker:///../etc").find("invalid repository name") != std::string::npos);
  CHECK(bad("http://x/y").find("unsupported scheme") != std::string::npos);
  CHECK(bad("relative/path").find("absolute path") != std::string::npos);
  CHECK(bad("").find("empty") != std::string::npos);
}

TEST_CASE("oci and local references", "[image][reference]") {
  auto r = parse_reference("oci:///var/images/layout:v2");
  REQUIRE(r.ok());
  CHECK(r->kind == Reference::Kind::Oci);
  CHECK(r->path == "/var/images/layout");
  CHECK(r->tag == "v2");
  r = parse_reference("oci:///var/images/lay:out/dir");
  REQUIRE(r.ok());
  CHECK(r->path == "/var/images/lay:out/dir");
  CHECK(r->tag.empty());
  CHECK_FALSE(parse_reference("oci://relative").ok());
  r = parse_reference("/var/vcap/packages/cflinuxfs4/rootfs.tar");
  REQUIRE(r.ok());
  CHECK(r->kind == Reference::Kind::Local);
}
