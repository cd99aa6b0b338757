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

// Runs args in the container (foreground exec) with input on stdin.
// With a body stream, stdin is the request body as it arrives.
static CmdResult exec_in(const Runtime& rt, const std::string& handle, const json& meta,
                         const std::string& dir, const std::string& user,
                         const std::vector<std::string>& args, BodySource* input,
                         std::string& err) {
  User u;
  if (!resolve_user(meta.value("rootfs", ""), user, u, err)) return {};
  json spec = {{"path", args[0]}, {"args", json::array()}, {"dir", "/"}};
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

Response Server::stream_in(const std::string& handle, const Request& req) {
  auto c = find(handle);
  if (!c) return unknown_handle(handle);
  ActiveGuard g(c);
  std::string dest = query(req, "destination");
  if (dest.empty() || dest[0] != '/')
    return error_response("", "stream-in needs an absolute destination", handle);
  json meta;
  {
    std::lock_guard<std::mutex> lk(c->mu);
    meta = c->meta;
  }
  std::string err;
  CmdResult r = exec_in(runtime_, handle, meta, c->dir, query(req, "user"),
                        {"/bin/sh", "-c", "mkdir -p \"$0\" && exec tar -x -f - -C \"$0\"", dest},
                        req.body_stream, err);
  if (!err.empty()) return error_response("", err, handle);
  if (!r.input_err.empty())
    return error_response("", "stream in to `" + dest + "`: " + r.input_err, handle);
  if (r.status != 0)
    return error_response("", "stream in to `" + dest + "`: " + (r.err.empty() ? r.out : r.err),
                          handle);
  return json_response(200, json::object());
}

Response Server::stream_out(const std::string& handle, const Request& req) {
  auto c = find(handle);
  if (!c) return unknown_handle(handle);
  ActiveGuard g(c);
  std::string src = query(req, "source");
  if (src.empty() || src[0] != '/')
    return error_response("", "stream-out needs an absolute source", handle);
  json meta;
  {
    std::lock_guard<std::mutex> lk(c->mu);
    meta = c->meta;
  }
  std::vector<std::string> args;
  if (src.size() > 1 && src.back() == '/') {
    args = {"tar", "-c", "-f", "-", "-C", src, "."};
  } else {
    std::string s = src;
    while (s.size() > 1 && s.back() == '/') s.pop_back();
    auto slash = s.rfind('/');
    std::string parent = slash == 0 ? "/" : s.substr(0, slash);
    args = {"tar", "-c", "-f", "-", "-C", parent, s.substr(slash + 1)};
  }
  std::string err;
  CmdResult r = exec_in(runtime_, handle, meta, c->dir, query(req, "user"), args, nullptr, err);
  if (!err.empty()) return error_response("", err, handle);
  if (r.status != 0)
    return error_response("", "stream out of `" + src + "`: " + crunner::trim(r.err), handle);
  Response resp;
  resp.status = 200;
  resp.content_type = "application/x-tar";
  resp.body = std::move(r.out);
  return resp;
}

}  // namespace garden
