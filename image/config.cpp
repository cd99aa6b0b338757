#include "image/config.hpp"

#include <yaml-cpp/depthguard.h>
#include <yaml-cpp/yaml.h>

#include <set>

#include "base/file.hpp"
#include "base/text.hpp"

namespace crunner::image {

namespace {

// Walks the document yaml-cpp parsed; every error names the file, the line and the key.
struct Walker {
  const std::string& name;
  Config& c;

  Error err(const YAML::Mark& m, const std::string& msg) const {
    std::string where = "invalid config file `" + name + "`";
    if (!m.is_null()) where += " line " + std::to_string(m.line + 1);
    return invalid_spec(where + ": " + msg);
  }

  Status text(const YAML::Node& v, const std::string& full, std::optional<std::string>& out) {
    if (!v.IsScalar()) return err(v.Mark(), "`" + full + "` wants a string");
    out = v.Scalar();
    return {};
  }

  Status number(const YAML::Node& v, const std::string& full, std::optional<uint64_t>& out) {
    unsigned long long n = 0;
    if (!v.IsScalar() || !parse_u64(v.Scalar(), n))
      return err(v.Mark(), "`" + full + "` wants a number");
    out = n;
    return {};
  }

  Status boolean(const YAML::Node& v, const std::string& full, std::optional<bool>& out) {
    bool b = false;
    if (!v.IsScalar() || !YAML::convert<bool>::decode(v, b))
      return err(v.Mark(), "`" + full + "` wants true or false");
    out = b;
    return {};
  }

  Status list(const YAML::Node& v, const std::string& full, std::vector<std::string>& out) {
    if (v.IsNull()) return {};  // `key:` with nothing after it: an empty list
    if (!v.IsSequence()) return err(v.Mark(), "`" + full + "` wants a list");
    for (const auto& item : v) {
      if (!item.IsScalar()) return err(item.Mark(), "`" + full + "` wants a list of strings");
      out.push_back(item.Scalar());
    }
    return {};
  }

  // One mapping's keys, each once; `section` is "" for the top level.
  Status mapping(const YAML::Node& m, const std::string& section) {
    if (m.IsNull()) return {};  // `create:` with no keys under it
    if (!m.IsMap())
      return err(m.Mark(), section.empty() ? std::string("want a mapping of GrootFS's keys")
                                           : "`" + section + "` wants a mapping");
    std::set<std::string> seen;
    for (const auto& kv : m) {
      const YAML::Node& k = kv.first;
      const YAML::Node& v = kv.second;
      if (!k.IsScalar()) return err(k.Mark(), "a key that is not a string");
      std::string key = k.Scalar();
      std::string full = section.empty() ? key : section + "." + key;
      if (!seen.insert(key).second) return err(k.Mark(), "key `" + full + "` given twice");
      if (section.empty() && (key == "init" || key == "create" || key == "clean")) {
        CR_TRY(mapping(v, key));
        continue;
      }
      if (full == "store" || full == "store_path")
        CR_TRY(text(v, full, c.store));
      else if (full == "log_level")
        CR_TRY(text(v, full, c.log_level));
      else if (full == "init.store_size_bytes")
        CR_TRY(number(v, full, c.store_size_bytes));
      else if (full == "init.uid_mappings")
        CR_TRY(list(v, full, c.uid_mappings));
      else if (full == "init.gid_mappings")
        CR_TRY(list(v, full, c.gid_mappings));
      else if (full == "create.disk_limit_size_bytes")
        CR_TRY(number(v, full, c.disk_limit_size_bytes));
      else if (full == "create.exclude_image_from_quota")
        CR_TRY(boolean(v, full, c.exclude_image_from_quota));
      else if (full == "create.without_mount")
        CR_TRY(boolean(v, full, c.without_mount));
      else if (full == "create.with_mount") {
        std::optional<bool> w;
        CR_TRY(boolean(v, full, w));
        c.without_mount = !*w;
      } else if (full == "create.insecure_registries")
        CR_TRY(list(v, full, c.insecure_registries));
      else if (full == "create.registry_mirror")
        CR_TRY(text(v, full, c.registry_mirror));
      else if (full == "clean.threshold_bytes")
        CR_TRY(number(v, full, c.clean_threshold_bytes));
      else
        return err(k.Mark(), "unknown key `" + full + "` (crunner-image does not implement it)");
    }
    return {};
  }
};

}  // namespace

Result<Config> parse_config_text(const std::string& text, const std::string& name) {
  Config c;
  Walker w{name, c};
  YAML::Node root;
  try {
    root = YAML::Load(text);
  } catch (const YAML::DeepRecursion& e) {  // yaml-cpp's own message is "bad file"
    return w.err(e.mark, "nesting deeper than yaml-cpp allows");
  } catch (const YAML::Exception& e) {
    return w.err(e.mark, e.msg);
  }
  CR_TRY(w.mapping(root, ""));
  return c;
}

Result<Config> load_config(const std::string& path) {
  auto s = read_file(path);
  if (!s.ok()) return std::move(s).error().context("invalid config path");
  if (s->size() > (1 << 20))
    return invalid_spec("invalid config file `" + path + "`: larger than 1 MiB");
  return parse_config_text(*s, path);
}

}  // namespace crunner::image
