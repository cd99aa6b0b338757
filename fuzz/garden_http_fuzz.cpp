// libFuzzer target: garden-shim's request path as far as it goes without a live runtime.
// The input is one connection's bytes: parsed whole (as the fuzz corpus's seeds are) and
// again fed in pieces the way the server reads a socket (the first byte picks the piece
// size), which must agree; then the route's ids and JSON body are decoded as the routes do.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>

#include "base/text.hpp"
#include "garden/api/decode.hpp"
#include "garden/http/http_io.hpp"
#include "garden/http/http_server.hpp"
#include "garden/http/request_parser.hpp"

namespace {

using json = nlohmann::json;

// The server's reading loop without the socket: header, then a body of at most limit
// bytes, the input delivered piece bytes at a time.
bool parse_in_pieces(std::string_view data, size_t piece, garden::RequestHead& head,
                     std::string& body) {
  garden::RequestParser rp(garden::kMaxHeader);
  std::string in;
  size_t fed = 0;
  auto feed = [&] {
    if (fed >= data.size()) return false;
    size_t n = std::min(piece, data.size() - fed);
    in.append(data.data() + fed, n);
    fed += n;
    return true;
  };
  std::string err;
  while (!rp.header_done()) {
    size_t n = rp.put_header(in, err);
    in.erase(0, n);
    if (!err.empty()) return false;
    if (rp.header_done()) break;
    if (!feed()) return false;
  }
  head = rp.head();
  if (head.has_length && head.content_length > garden::kMaxJsonBody) return false;
  char out[4096];
  while (!rp.body_done()) {
    size_t got = 0;
    size_t n = rp.put_body(in, out, sizeof out, &got, err);
    in.erase(0, n);
    if (!err.empty()) return false;
    body.append(out, got);
    if (body.size() > garden::kMaxJsonBody) return false;
    if (n == 0 && got == 0 && !feed()) return false;
  }
  return true;
}

void decode_route(const garden::RequestHead& head, const std::string& body) {
  std::vector<std::string> seg;
  for (auto& s : crunner::split(head.path, '/'))
    if (!s.empty()) seg.push_back(s);
  (void)garden::streams_body(head);
  if (seg.size() >= 2) {
    (void)garden::check_id("handle", seg[1]);
    if (seg.size() >= 4) (void)garden::check_id("process id", seg[3]);
  }
  auto it = head.query.find("handles");
  if (it != head.query.end())
    for (auto& h : crunner::split(it->second, ',')) (void)garden::check_id("handle", h);
  json j = json::parse(body.empty() ? "{}" : body, nullptr, false);
  if (j.is_discarded()) return;
  std::string e1 = garden::check_container_spec(j);
  std::string e2 = garden::check_process_spec(j);
  (void)garden::check_grace_time(j);
  // Messages name a field and stay printable and bounded whatever the input.
  for (const std::string& e : {e1, e2}) {
    if (e.size() > 4096) abort();
    for (char c : e)
      if (static_cast<unsigned char>(c) < 0x20) abort();
  }
  garden::drop_nulls(j);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view in(reinterpret_cast<const char*>(data), size);
  garden::RequestHead whole_head;
  std::string whole_body, err;
  garden::parse_request(in, garden::kMaxJsonBody, whole_head, whole_body, err);
  bool whole_ok = err.empty();
  if (whole_ok) decode_route(whole_head, whole_body);
  if (size > 0) {
    size_t piece = static_cast<size_t>(data[0] % 64) + 1;
    garden::RequestHead head;
    std::string body;
    bool ok = parse_in_pieces(in, piece, head, body);
    // Reading in pieces must give the request that parsing it whole gives.
    if (ok != whole_ok) abort();
    if (ok && (head.method != whole_head.method || head.path != whole_head.path ||
               head.query != whole_head.query || body != whole_body))
      abort();
  }
  (void)garden::url_decode(std::string(in), true);
  return 0;
}
