// The request parser over byte buffers and the decoding of ids and specs (issue 10).
#include <catch2/catch.hpp>
#include <vector>

#include "garden/api/decode.hpp"
#include "garden/http/http_server.hpp"
#include "garden/http/request_parser.hpp"

using json = nlohmann::json;
using namespace garden;

TEST_CASE("a chunked request parses whole, with its query decoded") {
  std::string raw =
      "PUT /containers/h1/files?destination=%2Ftmp&user=a+b HTTP/1.1\r\nHost: x\r\n"
      "Transfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n6\r\n world\r\n0\r\n\r\nNEXT";
  RequestHead head;
  std::string body, err;
  size_t used = parse_request(raw, kMaxJsonBody, head, body, err);
  REQUIRE(err.empty());
  CHECK(head.method == "PUT");
  CHECK(head.path == "/containers/h1/files");
  CHECK(head.query["destination"] == "/tmp");
  CHECK(head.query["user"] == "a b");
  CHECK(head.chunked);
  CHECK(body == "hello world");
  CHECK(raw.substr(used) == "NEXT");
  CHECK(streams_body(head));
}

TEST_CASE("a Content-Length beyond the limit is refused before the body is read") {
  RequestHead head;
  std::string body, err;
  parse_request("POST /containers HTTP/1.1\r\nContent-Length: 100000000000\r\n\r\n{", kMaxJsonBody,
                head, body, err);
  CHECK(err.find("100000000000") != std::string::npos);
  CHECK(body.empty());
}

TEST_CASE("a chunked body beyond the limit is refused") {
  std::string raw = "POST /containers HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n";
  raw += "20\r\n" + std::string(32, 'x') + "\r\n0\r\n\r\n";
  RequestHead head;
  std::string body, err;
  parse_request(raw, 16, head, body, err);
  CHECK(err.rfind("request body", 0) == 0);
}

TEST_CASE("handles and process ids follow runc's id rule") {
  for (const char* ok : {"a", "crunner-test_1.2+3", "-x", "..."}) CHECK(valid_id(ok));
  for (const std::string& bad :
       std::vector<std::string>{"", ".", "..", "a/b", "/", std::string("a\0b", 3), "a\nb", "a b",
                                std::string(256, 'x'), std::string("\x7f")})
    CHECK_FALSE(valid_id(bad));
  CHECK(valid_id(std::string(255, 'x')));
  CHECK_THROWS(depot_child("/depot/containers", ".."));
  CHECK(depot_child("/depot/containers", "h") == "/depot/containers/h");
  CHECK(check_id("handle", "a\nb").find("\\x0a") != std::string::npos);
}

TEST_CASE("a bulk request's handles: in order, empty ones skipped, one invalid fails all") {
  std::vector<std::string> hs{"stale"};
  CHECK(decode_handles({}, hs).empty());
  CHECK(hs.empty());
  CHECK(decode_handles({{"handles", "b,,a,"}}, hs).empty());
  CHECK(hs == std::vector<std::string>{"b", "a"});
  CHECK(decode_handles({{"handles", "a,../x,b"}}, hs) == check_id("handle", "../x"));
  CHECK(hs.empty());
}

TEST_CASE("spec fields are checked with Go's types and ranges, naming the field") {
  auto err = [](const char* s) { return check_container_spec(json::parse(s)); };
  CHECK(err(R"({"handle":"h","limits":{"memory_limits":{"limit_in_bytes":18446744073709551615}}})")
            .empty());
  CHECK(err(R"({"handle":null,"env":null,"limits":{"pid_limits":null}})").empty());
  CHECK(err(R"({"limits":{"memory_limits":{"limit_in_bytes":-1}}})")
            .find("limits.memory_limits.limit_in_bytes") != std::string::npos);
  CHECK(err(R"({"limits":{"memory_limits":{"limit_in_bytes":1e300}}})") != "");
  CHECK(err(R"({"limits":{"memory_limits":{"limit_in_bytes":1.0}}})") != "");
  CHECK(err(R"({"env":[1,2]})").find("env[0]") != std::string::npos);
  CHECK(err(R"({"handle":5})").find("handle") != std::string::npos);
  CHECK(err(R"({"handle":".."})").find("invalid handle") != std::string::npos);
  CHECK(err(R"({"netout_rules":[{"networks":[{"start":"10.0.0.300"}]}]})")
            .find("netout_rules[0].networks[0].start") != std::string::npos);
  CHECK(err(R"({"netout_rules":[{"networks":[{"start":"::1","end":"10.0.0.1"}]}]})").empty());
  CHECK(err("[]").find("expected a JSON object") != std::string::npos);
  auto perr = [](const char* s) { return check_process_spec(json::parse(s)); };
  CHECK(
      perr(R"({"path":"sh","rlimits":{"nofile":1024},"tty":{"window_size":{"rows":24}}})").empty());
  CHECK(
      perr(R"({"path":"sh","tty":{"window_size":{"rows":65536}}})").find("tty.window_size.rows") !=
      std::string::npos);
  CHECK(check_grace_time(json::parse("5")).empty());
  CHECK_FALSE(check_grace_time(json::parse("-5")).empty());
  CHECK_FALSE(check_grace_time(json::parse("9223372036854775808")).empty());
}
