// Stream-in and stream-out: tar archives unpacked or packed by the container's own tar,
// run with `runtime exec` inside the container's namespaces as the requested user, so
// paths are resolved in the container's mount namespace, never from the host side.
#include "garden/api/server.hpp"
#include "garden/bundle/process_spec.hpp"
#include "libcontainer/utils.hpp"

#include <unistd.h>

namespace garden {

namespace {

std::string query(const Request& req, const char* k) {
  auto it = req.query.find(k);
  return it == req.query.end() ? "" : it->second;
}

}  // namespace

// Runs args in the container (foreground exec) as user u, in directory cwd. With a body
// stream, stdin is the request body as it arrives.
static CmdResult exec_in(const Runtime& rt, const std::string& handle, const json& meta,
                         const std::string& dir, const User& u, const std::string& cwd,
                         const std::vector<std::string>& args, BodySource* input,
                         std::string& err) {
  json spec = {{"path", args[0]}, {"args", json::array()}, {"dir", cwd}};
  for (size_t i = 1; i < args.size(); ++i) spec["args"].push_back(args[i]);
  json pj = build_process(spec, meta, u);
  std::string pfile = dir + "/stream-" + new_uuid() + ".json";
  if (auto st = crunner::write_file_atomic(pfile, pj.dump()); !st) {
    err = st.error().what();
    return {};
  }
  auto argv = rt.base();
  argv.insert(argv.end(), {"exec", "--process", pfile, handle});
  CmdResult r;
  if (input)
    r = run_cmd_streaming(argv, [input](char* buf, size_t cap, std::string& e) -> long {
      long n = input->read(buf, cap);
      if (n < 0) e = input->error();
      return n;
    });
  else
    r = run_cmd(argv);
  unlink(pfile.c_str());
  return r;
}

namespace {

// Guardian's nstar (rundmc/nstar/nstar.c, rundmc/nstar.go): the user defaults to root, the
// tar runs as that user in the user's home directory, so a relative path is relative to it.
std::string in_home(const User& u, const std::string& path) {
  if (!path.empty() && path[0] == '/') return path;
  std::string home = u.home.empty() ? "/" : u.home;
  return home + (home.back() == '/' ? "" : "/") + path;
}

std::string cmd_failure(const CmdResult& r) {
  std::string out = crunner::trim(r.err.empty() ? r.out : r.err);
  return "exit status " + std::to_string(r.status) + ". Output: " + out;
}

}  // namespace

Response Server::stream_in(const std::string& handle, const Request& req) {
  auto c = find(handle);
  if (!c) return unknown_handle(handle);
  ActiveGuard g(c);
  std::string dest = query(req, "destination");
  json meta;
  {
    std::lock_guard<std::mutex> lk(c->mu);
    meta = c->meta;
  }
  std::string user = query(req, "user");
  if (user.empty()) user = "root";
  User u;
  std::string err;
  if (!resolve_user(meta.value("rootfs", ""), user, u, err))
    return error_response("", "error streaming in: " + err, handle);
  std::string path = in_home(u, dest);
  // nstar: the destination and its missing parents are created by root, owned by the user.
  bool privileged = meta.value("privileged", false);
  err = make_dir_as(c->dir, path, host_id(u.uid, privileged), host_id(u.gid, privileged),
                    "error streaming in: create destination");
  if (!err.empty()) return error_response("", err, handle);
  CmdResult r = exec_in(runtime_, handle, meta, c->dir, u, path, {"tar", "-x", "-o", "-f", "-"},
                        req.body_stream, err);
  if (!err.empty()) return error_response("", "error streaming in: " + err, handle);
  if (!r.input_err.empty()) return error_response("", "error streaming in: " + r.input_err, handle);
  if (r.status != 0) return error_response("", "error streaming in: " + cmd_failure(r), handle);
  return json_response(200, json::object());
}

Response Server::stream_out(const std::string& handle, const Request& req) {
  auto c = find(handle);
  if (!c) return unknown_handle(handle);
  ActiveGuard g(c);
  std::string src = query(req, "source");
  json meta;
  {
    std::lock_guard<std::mutex> lk(c->mu);
    meta = c->meta;
  }
  std::string user = query(req, "user");
  if (user.empty()) user = "root";
  User u;
  std::string err;
  if (!resolve_user(meta.value("rootfs", ""), user, u, err))
    return error_response("", "error streaming out: " + err, handle);
  // nstar.go: "dir/" packs the directory's contents as "./..."; otherwise the last path
  // component is packed from its parent directory.
  std::string path = in_home(u, src);
  std::string parent, name;
  if (path.size() > 1 && path.back() == '/') {
    parent = path;
    name = ".";
  } else {
    std::string s = path;
    while (s.size() > 1 && s.back() == '/') s.pop_back();
    auto slash = s.rfind('/');
    parent = slash == 0 ? "/" : s.substr(0, slash);
    name = s.substr(slash + 1);
  }
  CmdResult r = exec_in(runtime_, handle, meta, c->dir, u, parent, {"tar", "-c", "-f", "-", name},
                        nullptr, err);
  if (!err.empty()) return error_response("", "error streaming out: " + err, handle);
  if (r.status != 0) return error_response("", "error streaming out: " + cmd_failure(r), handle);
  Response resp;
  resp.status = 200;
  resp.content_type = "application/x-tar";
  resp.body = std::move(r.out);
  return resp;
}

}  // namespace garden
