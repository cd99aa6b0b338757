#include "image/config.hpp"

#include "libcontainer/utils.hpp"

namespace crunner::image {

namespace {

std::string unquote(std::string v) {
  v = trim(v);
  if (v.size() >= 2 &&
      ((v.front() == '"' && v.back() == '"') || (v.front() == '\'' && v.back() == '\'')))
    return v.substr(1, v.size() - 2);
  return v;
}

}  // namespace

Result<Config> parse_config_text(const std::string& text, const std::string& name) {
  Config c;
  std::string section;  // "", "init", "create", "clean"
  std::vector<std::string>* list = nullptr;
  int lineno = 0;
  auto err = [&](const std::string& m) {
    return invalid_spec("invalid config file `" + name + "` line " + std::to_string(lineno) + ": " +
                        m);
  };
  for (auto& raw : split(text, '\n')) {
    lineno++;
    std::string line = raw;
    if (auto h = line.find(" #"); h != std::string::npos) line = line.substr(0, h);
    if (trim(line).empty() || trim(line)[0] == '#' || trim(line) == "---") continue;
    size_t indent = line.find_first_not_of(' ');
    std::string body = trim(line);
    if (body.compare(0, 2, "- ") == 0) {
      if (!list) return err("a list item outside a list");
      list->push_back(unquote(body.substr(2)));
      continue;
    }
    list = nullptr;
    auto colon = body.find(':');
    if (colon == std::string::npos) return err("want `key: value`");
    std::string key = trim(body.substr(0, colon));
    std::string val = trim(body.substr(colon + 1));
    if (indent == 0) section.clear();
    std::string full = section.empty() ? key : section + "." + key;
    if (indent == 0 && val.empty() && (key == "init" || key == "create" || key == "clean")) {
      section = key;
      continue;
    }
    if (indent > 0 && section.empty()) return err("unexpected indentation");
    auto num = [&](std::optional<uint64_t>& out) -> Status {
      unsigned long long n;
      if (!parse_u64(unquote(val), n)) return err("`" + full + "` wants a number");
      out = n;
      return {};
    };
    auto boolean = [&](std::optional<bool>& out) -> Status {
      std::string v = unquote(val);
      if (v == "true")
        out = true;
      else if (v == "false")
        out = false;
      else
        return err("`" + full + "` wants true or false");
      return {};
    };
    auto lst = [&](std::vector<std::string>& out) -> Status {
      if (val.empty()) {
        list = &out;
        return {};
      }
      if (val == "[]") return {};
      if (val.front() == '[' && val.back() == ']') {
        for (auto& s : split(val.substr(1, val.size() - 2), ','))
          if (!trim(s).empty()) out.push_back(unquote(s));
        return {};
      }
      return err("`" + full + "` wants a list");
    };
    if (full == "store" || full == "store_path")
      c.store = unquote(val);
    else if (full == "log_level")
      c.log_level = unquote(val);
    else if (full == "init.store_size_bytes")
      CR_TRY(num(c.store_size_bytes));
    else if (full == "init.uid_mappings")
      CR_TRY(lst(c.uid_mappings));
    else if (full == "init.gid_mappings")
      CR_TRY(lst(c.gid_mappings));
    else if (full == "create.disk_limit_size_bytes")
      CR_TRY(num(c.disk_limit_size_bytes));
    else if (full == "create.exclude_image_from_quota")
      CR_TRY(boolean(c.exclude_image_from_quota));
    else if (full == "create.without_mount")
      CR_TRY(boolean(c.without_mount));
    else if (full == "create.with_mount") {
      std::optional<bool> w;
      CR_TRY(boolean(w));
      c.without_mount = !*w;
    } else if (full == "create.insecure_registries")
      CR_TRY(lst(c.insecure_registries));
    else if (full == "create.registry_mirror")
      c.registry_mirror = unquote(val);
    else if (full == "clean.threshold_bytes")
      CR_TRY(num(c.clean_threshold_bytes));
    else
      return err("unknown key `" + full + "` (crunner-image does not implement it)");
  }
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
