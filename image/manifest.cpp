#include "image/manifest.hpp"

#include <nlohmann/json.hpp>

#include "base/sha256.hpp"
#include "image/reference.hpp"

namespace crunner::image {

using nlohmann::json;

namespace {

Result<json> parse_json(const std::string& body, const char* what) {
  try {
    json j = json::parse(body);
    if (!j.is_object()) return invalid_spec(std::string("parse ") + what + ": not a JSON object");
    return j;
  } catch (const std::exception& e) {
    return invalid_spec(std::string("parse ") + what + ": " + e.what());
  }
}

std::string str(const json& j, const char* key) {
  auto it = j.find(key);
  return it != j.end() && it->is_string() ? it->get<std::string>() : std::string();
}

Result<Descriptor> descriptor(const json& j, const char* what) {
  if (!j.is_object())
    return invalid_spec(std::string("parse ") + what + ": descriptor is not an object");
  Descriptor d;
  d.media_type = str(j, "mediaType");
  d.digest = str(j, "digest");
  if (!valid_digest(d.digest))
    return invalid_spec(std::string("parse ") + what + ": invalid digest `" + d.digest + "`");
  auto sz = j.find("size");
  if (sz == j.end() || !sz->is_number_integer() || sz->get<int64_t>() < 0)
    return invalid_spec(std::string("parse ") + what + ": descriptor " + d.digest +
                        " has no valid size");
  d.size = sz->get<int64_t>();
  if (auto p = j.find("platform"); p != j.end() && p->is_object()) {
    d.os = str(*p, "os");
    d.arch = str(*p, "architecture");
    d.variant = str(*p, "variant");
  }
  if (auto a = j.find("annotations"); a != j.end() && a->is_object())
    d.ref_name = str(*a, "org.opencontainers.image.ref.name");
  return d;
}

}  // namespace

Result<ManifestKind> manifest_kind(const std::string& media_type, const std::string& body) {
  std::string mt = media_type.substr(0, media_type.find(';'));
  if (mt == kMediaOciIndex || mt == kMediaDockerList) return ManifestKind::Index;
  if (mt == kMediaOciManifest || mt == kMediaDockerManifest) return ManifestKind::Manifest;
  CR_ASSIGN(json j, parse_json(body, "manifest"));
  std::string inner = str(j, "mediaType");
  if (inner == kMediaOciIndex || inner == kMediaDockerList ||
      (inner.empty() && j.contains("manifests")))
    return ManifestKind::Index;
  if (inner == kMediaOciManifest || inner == kMediaDockerManifest ||
      (inner.empty() && j.contains("layers")))
    return ManifestKind::Manifest;
  if (j.value("schemaVersion", 0) == 1)
    return make_error(ErrorKind::Unsupported,
                      "parse manifest: docker schema 1 manifests are not supported");
  return make_error(ErrorKind::Unsupported,
                    "parse manifest: unsupported media type `" + (mt.empty() ? inner : mt) + "`");
}

Result<std::vector<Descriptor>> parse_index(const std::string& body) {
  CR_ASSIGN(json j, parse_json(body, "image index"));
  auto m = j.find("manifests");
  if (m == j.end() || !m->is_array())
    return invalid_spec("parse image index: no `manifests` array");
  if (m->size() > 4096) return invalid_spec("parse image index: more than 4096 manifests");
  std::vector<Descriptor> out;
  for (const auto& e : *m) {
    CR_ASSIGN(Descriptor d, descriptor(e, "image index"));
    out.push_back(std::move(d));
  }
  return out;
}

Result<Descriptor> select_platform(const std::vector<Descriptor>& entries, const std::string& os,
                                   const std::string& arch) {
  const Descriptor* found = nullptr;
  std::string have;
  for (const auto& d : entries) {
    if (d.os == os && d.arch == arch) {
      // Prefer an entry without a variant (amd64 has none); else the first.
      if (!found || (!found->variant.empty() && d.variant.empty())) found = &d;
    }
    if (!d.os.empty()) {
      if (!have.empty()) have += ", ";
      have += d.os + "/" + d.arch + (d.variant.empty() ? "" : "/" + d.variant);
    }
  }
  if (!found)
    return make_error(ErrorKind::NotFound,
                      "select manifest: no image for " + os + "/" + arch +
                          (have.empty() ? std::string(" (the index names no platforms)")
                                        : " (the index has " + have + ")"));
  return *found;
}

Result<Manifest> parse_manifest(const std::string& body) {
  CR_ASSIGN(json j, parse_json(body, "manifest"));
  Manifest m;
  auto c = j.find("config");
  if (c == j.end()) return invalid_spec("parse manifest: no `config`");
  CR_ASSIGN(m.config, descriptor(*c, "manifest config"));
  auto l = j.find("layers");
  if (l == j.end() || !l->is_array()) return invalid_spec("parse manifest: no `layers` array");
  if (l->size() > 512) return invalid_spec("parse manifest: more than 512 layers");
  for (const auto& e : *l) {
    CR_ASSIGN(Descriptor d, descriptor(e, "manifest layer"));
    m.layers.push_back(std::move(d));
  }
  return m;
}

Result<ImageConfig> parse_config(const std::string& body) {
  CR_ASSIGN(json j, parse_json(body, "image config"));
  ImageConfig ic;
  if (auto c = j.find("config"); c != j.end() && c->is_object()) {
    if (auto e = c->find("Env"); e != c->end() && e->is_array())
      for (const auto& v : *e)
        if (v.is_string()) ic.env.push_back(v.get<std::string>());
    ic.user = str(*c, "User");
    ic.workdir = str(*c, "WorkingDir");
  }
  auto r = j.find("rootfs");
  if (r == j.end() || !r->is_object()) return invalid_spec("parse image config: no `rootfs`");
  auto d = r->find("diff_ids");
  if (d == r->end() || !d->is_array())
    return invalid_spec("parse image config: no `rootfs.diff_ids`");
  for (const auto& v : *d) {
    if (!v.is_string() || !valid_digest(v.get<std::string>()))
      return invalid_spec("parse image config: invalid diff id in `rootfs.diff_ids`");
    ic.diff_ids.push_back(v.get<std::string>());
  }
  return ic;
}

std::vector<std::string> chain_ids(const std::vector<std::string>& diff_ids) {
  std::vector<std::string> out;
  for (const auto& d : diff_ids) {
    if (out.empty())
      out.push_back(d);
    else
      out.push_back("sha256:" + Sha256::hex(out.back() + " " + d));
  }
  return out;
}

}  // namespace crunner::image
