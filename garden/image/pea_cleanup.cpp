// cleanup_pea on its own: garden-dadoo (static, without garden-core) runs it when a pea
// exits, so it needs only the runtime, the plugin runner and the unmounting.
#include "base/file.hpp"
#include "garden/image/pea.hpp"
#include "garden/image/plugin.hpp"
#include "garden/rootfs/rootfs_layer.hpp"
#include "garden/runtime/runtime.hpp"

namespace garden::image {

using json = nlohmann::json;

std::string cleanup_pea(const std::string& dir, const std::string& runtime_bin) {
  auto text = crunner::read_file(dir + "/pea.json");
  if (!text) return "";
  json j = json::parse(*text, nullptr, false);
  if (!j.is_object() || !j.contains("runtime_root") || !j["runtime_root"].is_string() ||
      !j.contains("id") || !j["id"].is_string())
    return "read `" + dir + "/pea.json`: malformed";
  std::string first;
  Runtime rt(runtime_bin, j["runtime_root"].get<std::string>());
  if (std::string e = rt.remove(j["id"].get<std::string>()); !e.empty())
    first = "runtime delete: " + e;
  if (j.contains("unmount") && j["unmount"].is_array())
    for (auto& m : j["unmount"])
      if (m.is_string())
        if (std::string e = unmount_under(m.get<std::string>()); !e.empty() && first.empty())
          first = e;
  if (j.contains("plugin_delete") && j["plugin_delete"].is_array())
    for (auto& argv : j["plugin_delete"]) {
      if (!argv.is_array() || argv.empty()) continue;
      std::vector<std::string> av;
      for (auto& a : argv)
        if (a.is_string()) av.push_back(a.get<std::string>());
      CmdResult r = run_cmd(av, "", false, kMaxOutput);
      if (r.status != 0 && first.empty()) first = run_error("destroy", r.status, r.out, r.err);
    }
  return first;
}

}  // namespace garden::image
