// Stream-in and stream-out, resolved in the container's mount namespace, never from the host
// side, as the requested user: stream-in's archive is unpacked by garden-nstar (Guardian's
// nstar: joins the init's namespaces, extracts with libarchive, extended attributes kept);
// stream-out's is packed by the container's own tar, run with `runtime exec`.
#include "base/file.hpp"
#include "base/text.hpp"
#include "garden/api/server.hpp"
#include "garden/bundle/process_spec.hpp"

#include <unistd.h>

#include <memory>
#include <optional>

namespace garden {

namespace {

std::string query(const Request& req, const char* k) {
  auto it = req.query.find(k);
  return it == req.query.end() ? "" : it->second;
}

}  // namespace

// Runs args in the container (foreground exec) as user u, in directory cwd. With a body
// stream, stdin is the request body as it arrives; with a sink, stdout goes to it as the
// command writes it.
static CmdResult exec_in(const Runtime& rt, const std::string& handle, const json& meta,
                         const std::string& dir, const User& u, const std::string& cwd,
                         const std::vector<std::string>& args, BodySource* input,
                         const OutputSink* sink, std::string& err) {
  json spec = {{"path", args[0]}, {"args", json::array()}, {"dir", cwd}};
  for (size_t i = 1; i < args.size(); ++i) spec["args"].push_back(args[i]);
  json pj = build_process(spec, meta, u);
  std::string pfile = dir + "/stream-" + new_uuid() + ".json";
  if (auto st = crunner::write_file_atomic(pfile, pj.dump(), 0644, crunner::Durability::Rename);
      !st) {
    err = st.error().what();
    return {};
  }
  auto argv = rt.base();
  argv.insert(argv.end(), {"exec", "--process", pfile, handle});
  InputSource from_body = [input](char* buf, size_t cap, std::string& e) -> long {
    long n = input->read(buf, cap);
    if (n < 0) e = input->error();
    return n;
  };
  CmdResult r = run_cmd_streaming(argv, input ? &from_body : nullptr, sink);
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

// Stream-out's body is held back up to this size before its head is sent, so that a tar
// that fails at once (a missing source) is still answered with an error.
constexpr size_t kStreamOutHoldBack = 64 << 10;

}  // namespace

// What stream-in and stream-out share: the container (marked busy while g lives), its meta,
// the user (default root) and the path of the query parameter `param` resolved in its home.
struct Server::StreamCall {
  std::shared_ptr<Container> c;
  std::shared_ptr<ActiveGuard> g;
  json meta;
  User u;
  std::string path;
};

std::optional<Response> Server::stream_call(const std::string& handle, const Request& req,
                                            const char* param, const char* what, StreamCall& call) {
  call.c = find(handle);
  if (!call.c) return unknown_handle(handle);
  call.g = std::make_shared<ActiveGuard>(call.c);
  {
    std::lock_guard<std::mutex> lk(call.c->mu);
    call.meta = call.c->meta;
  }
  std::string user = query(req, "user");
  if (user.empty()) user = "root";
  std::string err;
  if (!resolve_user(call.meta.value("rootfs", ""), user, call.u, err))
    return error_response("", std::string(what) + ": " + err, handle);
  call.path = in_home(call.u, query(req, param));
  return std::nullopt;
}

Response Server::stream_in(const std::string& handle, const Request& req) {
  StreamCall call;
  if (auto failed = stream_call(handle, req, "destination", "error streaming in", call))
    return *failed;
  const User& u = call.u;
  // nstar: the destination and its missing parents are created by root, owned by the user.
  bool privileged = call.meta.value("privileged", false);
  std::string err =
      make_dir_as(call.c->dir, call.path, host_id(u.uid, privileged), host_id(u.gid, privileged),
                  "error streaming in: create destination");
  if (!err.empty()) return error_response("", err, handle);
  long long pid = 0;
  if (!crunner::read_i64_file(call.c->dir + "/init.pid", pid) || pid <= 0)
    return error_response("", "error streaming in: the container's init pid is unknown", handle);
  BodySource* body = req.body_stream;
  InputSource from_body = [body](char* buf, size_t cap, std::string& e) -> long {
    long n = body->read(buf, cap);
    if (n < 0) e = body->error();
    return n;
  };
  CmdResult r = run_cmd_streaming({cfg_.bin_dir + "/garden-nstar", std::to_string(pid),
                                   std::to_string(u.uid), std::to_string(u.gid), call.path},
                                  body ? &from_body : nullptr, nullptr);
  if (!r.input_err.empty()) return error_response("", "error streaming in: " + r.input_err, handle);
  if (r.status != 0) return error_response("", "error streaming in: " + cmd_failure(r), handle);
  return json_response(200, json::object());
}

// The tar's output is sent as it comes, in chunks (Garden's server streams it the same way),
// so memory stays bounded whatever the size; a client that stops reading is dropped after
// the send timeout, which stops the tar.
Response Server::stream_out(const std::string& handle, const Request& req) {
  auto call = std::make_shared<StreamCall>();
  if (auto failed = stream_call(handle, req, "source", "error streaming out", *call))
    return *failed;
  // nstar.go: "dir/" packs the directory's contents as "./..."; otherwise the last path
  // component is packed from its parent directory.
  const std::string& path = call->path;
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
  Response resp;
  resp.status = 200;
  resp.content_type = "application/x-tar";
  resp.produce = [this, handle, call, parent, name](const Emit& emit, Response& failed) {
    std::string held;
    bool sent = false, client_ok = true;
    OutputSink sink = [&](const char* data, size_t len) {
      if (!sent) {
        held.append(data, len);
        if (held.size() < kStreamOutHoldBack) return true;
        sent = true;
        client_ok = emit(held.data(), held.size());
        std::string().swap(held);
        return client_ok;
      }
      return client_ok = emit(data, len);
    };
    std::string err;
    CmdResult r = exec_in(runtime_, handle, call->meta, call->c->dir, call->u, parent,
                          {"tar", "-c", "-f", "-", name}, nullptr, &sink, err);
    if (!sent && (!err.empty() || r.status != 0)) {
      failed = error_response("", "error streaming out: " + (err.empty() ? cmd_failure(r) : err),
                              handle);
      return false;
    }
    if (!client_ok || !err.empty() || r.status != 0) return false;
    return held.empty() || emit(held.data(), held.size());
  };
  return resp;
}

}  // namespace garden
