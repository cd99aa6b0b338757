#include "image/source.hpp"

#include <sys/stat.h>
#include <unistd.h>

#include <nlohmann/json.hpp>

#include "base/eintr.hpp"
#include "base/file.hpp"
#include "base/sha256.hpp"

namespace crunner::image {

namespace {

// Layers from a manifest + config: chain ids from the config's diff_ids.
Result<ResolvedImage> layers_of(const Manifest& m, const std::string& config_body) {
  ResolvedImage img;
  CR_ASSIGN(img.config, parse_config(config_body));
  if (img.config.diff_ids.size() != m.layers.size())
    return invalid_spec("image config lists " + std::to_string(img.config.diff_ids.size()) +
                        " diff ids for " + std::to_string(m.layers.size()) + " layers");
  auto chains = chain_ids(img.config.diff_ids);
  for (size_t i = 0; i < m.layers.size(); i++) {
    const auto& d = m.layers[i];
    if (d.media_type.find("nondistributable") != std::string::npos ||
        d.media_type.find("foreign") != std::string::npos)
      return make_error(ErrorKind::Unsupported,
                        "layer " + d.digest + ": foreign layers are not supported");
    img.layers.push_back(Layer{d.digest, chains[i], d.size});
  }
  return img;
}

class DockerSource : public Source {
 public:
  DockerSource(const Reference& ref, const RegistryOptions& opts) : ref_(ref), reg_(ref, opts) {}

  Result<ResolvedImage> resolve() override {
    CR_ASSIGN(auto got, reg_.manifest(ref_.manifest_ref()));
    CR_ASSIGN(ManifestKind kind, manifest_kind(got.second, got.first));
    if (kind == ManifestKind::Index) {
      CR_ASSIGN(auto entries, parse_index(got.first));
      CR_ASSIGN(Descriptor d, select_platform(entries, kOs, kArch));
      CR_ASSIGN(got, reg_.manifest(d.digest));
      CR_ASSIGN(kind, manifest_kind(got.second, got.first));
      if (kind != ManifestKind::Manifest)
        return invalid_spec("manifest " + d.digest + " is an index inside an index");
    }
    CR_ASSIGN(Manifest m, parse_manifest(got.first));
    CR_ASSIGN(std::string cfg, reg_.blob_bytes(m.config.digest, m.config.size, kMaxConfigBytes));
    return layers_of(m, cfg);
  }

  Status fetch(const Layer& l, int fd) override { return reg_.blob(l.digest, l.size, fd); }

 private:
  Reference ref_;
  Registry reg_;
};

// Copies `path` to `fd` while hashing; checks the digest (and size when >= 0).
Status copy_verified(const std::string& path, const std::string& digest, int64_t size, int fd,
                     int64_t max) {
  CR_ASSIGN(UniqueFd in, open_path(path, O_RDONLY | O_NOFOLLOW));
  Sha256 h;
  char buf[1 << 16];
  int64_t total = 0;
  for (;;) {
    ssize_t n = CR_RETRY(read(in.get(), buf, sizeof buf));
    if (n < 0) return sys_error("read `" + path + "`");
    if (n == 0) break;
    total += n;
    if ((size >= 0 && total > size) || total > max)
      return invalid_spec("read `" + path + "`: larger than expected");
    h.update(buf, static_cast<size_t>(n));
    if (fd >= 0) CR_TRY(write_all(fd, buf, static_cast<size_t>(n)));
  }
  std::string got = "sha256:" + h.hexdigest();
  if (!digest.empty() && got != digest)
    return invalid_spec("verify blob " + digest + " (`" + path + "`): digest mismatch (got " + got +
                        ")");
  if (size >= 0 && total != size)
    return invalid_spec("verify blob " + digest + ": size " + std::to_string(total) +
                        ", manifest says " + std::to_string(size));
  return {};
}

class OciSource : public Source {
 public:
  explicit OciSource(const Reference& ref) : ref_(ref) {}

  Result<std::string> read_blob(const std::string& digest, int64_t size, size_t max) {
    if (!valid_digest(digest)) return invalid_spec("invalid digest `" + digest + "`");
    std::string path = ref_.path + "/blobs/sha256/" + digest.substr(7);
    if (size < 0 || static_cast<size_t>(size) > max)
      return invalid_spec("blob " + digest + " is too large");
    CR_ASSIGN(std::string body, read_file(path));
    if (static_cast<int64_t>(body.size()) != size || "sha256:" + Sha256::hex(body) != digest)
      return invalid_spec("verify blob " + digest + " (`" + path + "`): digest mismatch");
    return body;
  }

  Result<ResolvedImage> resolve() override {
    auto idx = read_file(ref_.path + "/index.json");
    if (!idx.ok())
      return make_error(ErrorKind::NotFound,
                        "Image source doesn't exist: `" + ref_.path + "/index.json`");
    CR_ASSIGN(auto entries, parse_index(*idx));
    std::vector<Descriptor> picked;
    for (auto& e : entries)
      if (ref_.tag.empty() || e.ref_name == ref_.tag) picked.push_back(e);
    if (picked.empty())
      return make_error(ErrorKind::NotFound,
                        "oci layout `" + ref_.path + "` has no image tagged `" + ref_.tag + "`");
    Descriptor d = picked[0];
    if (picked.size() > 1) {
      CR_ASSIGN(d, select_platform(picked, kOs, kArch));
    }
    CR_ASSIGN(std::string body, read_blob(d.digest, d.size, kMaxManifestBytes));
    CR_ASSIGN(ManifestKind kind, manifest_kind(d.media_type, body));
    if (kind == ManifestKind::Index) {
      CR_ASSIGN(auto inner, parse_index(body));
      CR_ASSIGN(Descriptor m, select_platform(inner, kOs, kArch));
      CR_ASSIGN(body, read_blob(m.digest, m.size, kMaxManifestBytes));
    }
    CR_ASSIGN(Manifest m, parse_manifest(body));
    CR_ASSIGN(std::string cfg, read_blob(m.config.digest, m.config.size, kMaxConfigBytes));
    return layers_of(m, cfg);
  }

  Status fetch(const Layer& l, int fd) override {
    return copy_verified(ref_.path + "/blobs/sha256/" + l.digest.substr(7), l.digest, l.size, fd,
                         INT64_MAX);
  }

 private:
  Reference ref_;
};

// A tar archive (CF stacks) is one layer keyed by the archive's own digest; a directory is
// used in place.
class LocalSource : public Source {
 public:
  explicit LocalSource(const Reference& ref) : ref_(ref) {}

  Result<ResolvedImage> resolve() override {
    struct stat st;
    if (stat(ref_.path.c_str(), &st) < 0)
      return make_error(ErrorKind::NotFound, "Image source doesn't exist");
    ResolvedImage img;
    if (S_ISDIR(st.st_mode)) {
      img.directory = ref_.path;
      return img;
    }
    if (!S_ISREG(st.st_mode))
      return invalid_spec("invalid base image: `" + ref_.path + "` is not a tar file");
    CR_ASSIGN(UniqueFd fd, open_path(ref_.path, O_RDONLY));
    Sha256 h;
    char buf[1 << 16];
    int64_t total = 0;
    for (;;) {
      ssize_t n = CR_RETRY(read(fd.get(), buf, sizeof buf));
      if (n < 0) return sys_error("read `" + ref_.path + "`");
      if (n == 0) break;
      total += n;
      h.update(buf, static_cast<size_t>(n));
    }
    std::string d = "sha256:" + h.hexdigest();
    img.layers.push_back(Layer{d, d, total});
    img.config.env.clear();
    return img;
  }

  Status fetch(const Layer& l, int fd) override {
    return copy_verified(ref_.path, l.digest, l.size, fd, INT64_MAX);
  }

 private:
  Reference ref_;
};

}  // namespace

Result<std::unique_ptr<Source>> make_source(const Reference& ref, const RegistryOptions& opts) {
  switch (ref.kind) {
    case Reference::Kind::Docker:
      return std::unique_ptr<Source>(new DockerSource(ref, opts));
    case Reference::Kind::Oci:
      return std::unique_ptr<Source>(new OciSource(ref));
    case Reference::Kind::Local:
      return std::unique_ptr<Source>(new LocalSource(ref));
  }
  return make_error(ErrorKind::Internal, "unknown source kind");
}

}  // namespace crunner::image
