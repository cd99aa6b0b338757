#include "image/reference.hpp"

#include <regex>

namespace crunner::image {

bool valid_digest(const std::string& d) {
  if (d.size() != 71 || d.compare(0, 7, "sha256:") != 0) return false;
  for (size_t i = 7; i < d.size(); i++) {
    char c = d[i];
    if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) return false;
  }
  return true;
}

bool valid_repository(const std::string& r) {
  static const std::regex re(
      "[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*(?:/[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*)*");
  return r.size() <= 255 && std::regex_match(r, re);
}

namespace {

bool valid_tag(const std::string& t) {
  static const std::regex re("[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}");
  return std::regex_match(t, re);
}

bool valid_host(const std::string& h) {
  static const std::regex re("[A-Za-z0-9.-]+(?::[0-9]{1,5})?|\\[[0-9A-Fa-f:.]+\\](?::[0-9]{1,5})?");
  return h.size() <= 255 && std::regex_match(h, re);
}

// A ":tag" after the last "/" of rest moves into tag (validated); s is the whole reference,
// for the error.
Status split_tag(const std::string& s, std::string& rest, std::string& tag) {
  auto colon = rest.rfind(':');
  if (colon == std::string::npos || rest.find('/', colon) != std::string::npos) return {};
  tag = rest.substr(colon + 1);
  rest = rest.substr(0, colon);
  if (!valid_tag(tag))
    return invalid_spec("parse image reference `" + s + "`: invalid tag `" + tag + "`");
  return {};
}

Result<Reference> parse_docker(const std::string& s, std::string rest) {
  Reference r;
  r.kind = Reference::Kind::Docker;
  r.original = s;
  // "//host/name" (host may be empty: docker:///busybox) or "name" (docker:busybox).
  std::string host;
  if (rest.compare(0, 2, "//") == 0) {
    rest = rest.substr(2);
    auto slash = rest.find('/');
    if (slash == std::string::npos)
      return invalid_spec("parse image reference `" + s + "`: no image name");
    host = rest.substr(0, slash);
    rest = rest.substr(slash + 1);
  }
  if (auto at = rest.find('@'); at != std::string::npos) {
    r.digest = rest.substr(at + 1);
    rest = rest.substr(0, at);
    if (!valid_digest(r.digest))
      return invalid_spec("parse image reference `" + s + "`: invalid digest `" + r.digest + "`");
  }
  CR_TRY(split_tag(s, rest, r.tag));
  if (r.tag.empty() && r.digest.empty()) r.tag = "latest";
  if (host.empty() || host == "docker.io" || host == "index.docker.io" ||
      host == "registry.hub.docker.com") {
    r.registry = kDockerHub;
    if (rest.find('/') == std::string::npos) rest = "library/" + rest;
  } else {
    if (!valid_host(host))
      return invalid_spec("parse image reference `" + s + "`: invalid registry `" + host + "`");
    r.registry = host;
  }
  if (!valid_repository(rest))
    return invalid_spec("parse image reference `" + s + "`: invalid repository name `" + rest +
                        "`");
  r.repository = rest;
  return r;
}

}  // namespace

Result<Reference> parse_reference(const std::string& s) {
  if (s.empty()) return invalid_spec("parse image reference: empty");
  if (s.size() > 4096) return invalid_spec("parse image reference: longer than 4096 bytes");
  if (s.find('\0') != std::string::npos || s.find('\n') != std::string::npos)
    return invalid_spec("parse image reference: control characters");
  if (s.compare(0, 7, "docker:") == 0) return parse_docker(s, s.substr(7));
  if (s.compare(0, 4, "oci:") == 0) {
    std::string rest = s.substr(4);
    if (rest.compare(0, 2, "//") != 0 || rest.size() < 3 || rest[2] != '/')
      return invalid_spec("parse image reference `" + s + "`: want oci:///absolute/path[:tag]");
    rest = rest.substr(2);
    Reference r;
    r.kind = Reference::Kind::Oci;
    r.original = s;
    CR_TRY(split_tag(s, rest, r.tag));
    r.path = rest;
    return r;
  }
  auto scheme_end = s.find("://");
  if (scheme_end != std::string::npos) {
    std::string scheme = s.substr(0, scheme_end);
    if (scheme == "file" || scheme == "raw") {
      Reference r;
      r.original = s;
      r.path = s.substr(scheme_end + 3);
      if (r.path.empty() || r.path[0] != '/')
        return invalid_spec("parse image reference `" + s + "`: want an absolute path");
      return r;
    }
    return make_error(ErrorKind::Unsupported,
                      "parse image reference `" + s + "`: unsupported scheme `" + scheme + "`");
  }
  if (s[0] != '/')
    return invalid_spec("parse image reference `" + s +
                        "`: a local image must be an absolute path");
  Reference r;
  r.original = s;
  r.path = s;
  return r;
}

}  // namespace crunner::image
