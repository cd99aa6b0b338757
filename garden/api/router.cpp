// Maps method + path to a route handler, following garden's routes table.
#include <iostream>

#include "base/text.hpp"
#include "garden/api/decode.hpp"
#include "garden/api/server.hpp"

namespace garden {

Response Server::handle(Request& req) {
  std::vector<std::string> seg;
  for (auto& s : crunner::split(req.path, '/'))
    if (!s.empty()) seg.push_back(s);
  Response r;
  try {
    r = route(req, seg);
  } catch (const std::exception& e) {
    r = error_response("", e.what());
  } catch (...) {
    r = error_response("", "internal error");
  }
  if (cfg_.log_level == "debug" || (r.status >= 500 && cfg_.log_level != "error"))
    std::cerr << "garden-shim: " << req.method << " " << req.path << " -> " << r.status
              << (r.status >= 300 ? " " + r.body : "") << "\n";
  return r;
}

Response Server::route(Request& req, const std::vector<std::string>& seg) {
  const std::string& m = req.method;
  size_t n = seg.size();
  if (n == 1 && seg[0] == "ping" && m == "GET") return json_response(200, json::object());
  if (n == 1 && seg[0] == "capacity" && m == "GET") return capacity();
  if (n == 0 || seg[0] != "containers")
    return error_response("", "no route for " + m + " " + req.path);
  if (n == 1) {
    if (m == "GET") return list(req);
    if (m == "POST") return create(req);
  }
  if (n == 2 && m == "GET" && seg[1] == "bulk_info") return bulk_info(req);
  if (n == 2 && m == "GET" && seg[1] == "bulk_metrics") return bulk_metrics(req);
  if (n >= 2) {
    const std::string& h = seg[1];
    // Handles and process ids become depot paths and runtime ids: refuse bad ones first.
    bool proc_route = n >= 3 && seg[2] == "processes";
    std::string bad = check_id("handle", h);
    if (bad.empty() && proc_route && n >= 4) bad = check_id("process id", seg[3]);
    if (!bad.empty()) {
      Response r = bad_request(bad);
      r.hijack_route = proc_route;
      return r;
    }
    if (n == 2 && m == "DELETE") return destroy(h);
    const std::string what = n >= 3 ? seg[2] : "";
    if (n == 3 && what == "info" && m == "GET") return info(h);
    if (n == 3 && what == "stop" && m == "PUT") return stop(h, req);
    if (n == 3 && what == "metrics" && m == "GET") return metrics(h);
    if (n == 3 && what == "grace_time" && m == "PUT") return grace_time(h, req);
    if (n == 3 && what == "files" && m == "PUT") return stream_in(h, req);
    if (n == 3 && what == "files" && m == "GET") return stream_out(h, req);
    if (n == 4 && what == "limits" && m == "GET") return limits(h, seg[3]);
    if ((n == 3 || n == 4) && what == "properties") return properties(h, req, n == 4 ? seg[3] : "");
    if (n == 3 && what == "processes" && m == "POST") {
      // Errors of run, like its success, never announce "Connection: close" (framing rule).
      Response r = run(h, req);
      r.hijack_route = true;
      return r;
    }
    if (n == 4 && what == "processes" && m == "GET") return attach(h, seg[3]);
    if (n == 7 && what == "processes" && seg[4] == "attaches" && m == "GET")
      return attach_stream(h, seg[3], seg[5], seg[6]);
    if (n == 4 && what == "net" && seg[3] == "in" && m == "POST") return net_in(h, req);
    if (n == 4 && what == "net" && seg[3] == "out" && m == "POST") return net_out(h, req, false);
    if (n == 5 && what == "net" && seg[3] == "out" && seg[4] == "bulk" && m == "POST")
      return net_out(h, req, true);
  }
  return error_response("", "no route for " + m + " " + req.path);
}

}  // namespace garden
