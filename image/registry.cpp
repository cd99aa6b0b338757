#include "image/registry.hpp"

#include <nettle/base64.h>
#include <nlohmann/json.hpp>

#include <algorithm>
#include <cstring>

#include "base/file.hpp"
#include "base/sha256.hpp"
#include "base/text.hpp"
#include "image/manifest.hpp"

namespace crunner::image {

namespace {

constexpr const char* kInsecureText =
    "This registry is insecure. To pull images from this registry, please use the "
    "--insecure-registry option.";

struct CurlGlobal {
  CurlGlobal() { curl_global_init(CURL_GLOBAL_DEFAULT); }
};

std::string lower(std::string s) {
  std::transform(s.begin(), s.end(), s.begin(), [](unsigned char c) { return std::tolower(c); });
  return s;
}

// key="value" pairs of a WWW-Authenticate challenge, after the scheme word.
std::vector<std::pair<std::string, std::string>> challenge_params(const std::string& s) {
  std::vector<std::pair<std::string, std::string>> out;
  size_t i = s.find(' ');
  if (i == std::string::npos) return out;
  while (i < s.size()) {
    while (i < s.size() && (s[i] == ' ' || s[i] == ',')) i++;
    size_t eq = s.find('=', i);
    if (eq == std::string::npos) break;
    std::string key = lower(trim(s.substr(i, eq - i)));
    std::string val;
    i = eq + 1;
    if (i < s.size() && s[i] == '"') {
      i++;
      while (i < s.size() && s[i] != '"') {
        if (s[i] == '\\' && i + 1 < s.size()) i++;
        val += s[i++];
      }
      i++;
    } else {
      size_t end = s.find(',', i);
      val = trim(s.substr(i, end == std::string::npos ? std::string::npos : end - i));
      i = end == std::string::npos ? s.size() : end;
    }
    out.emplace_back(key, val);
  }
  return out;
}

std::string url_escape(CURL* c, const std::string& s) {
  char* e = curl_easy_escape(c, s.c_str(), static_cast<int>(s.size()));
  std::string r = e ? e : "";
  curl_free(e);
  return r;
}

}  // namespace

// The body of a 2xx response goes to `fd` (hashed, at most `limit` bytes) or to `body`
// (at most `max`); any other status's body goes to `body` (bounded) for the error text.
struct Registry::Transfer {
  long status = 0;
  std::string content_type, www_authenticate, body;
  size_t max = 1 << 20;
  int fd = -1;
  int64_t limit = -1;
  int64_t written = 0;
  Sha256 hash;
  bool overflow = false;
  int write_errno = 0;

  static size_t on_header(char* p, size_t sz, size_t n, void* ud) {
    auto* t = static_cast<Transfer*>(ud);
    std::string line(p, sz * n);
    if (line.compare(0, 5, "HTTP/") == 0) {
      // A new response (after a redirect or 100): forget the previous one's headers.
      auto sp = line.find(' ');
      t->status = sp == std::string::npos ? 0 : std::atol(line.c_str() + sp + 1);
      t->content_type.clear();
      t->www_authenticate.clear();
      return sz * n;
    }
    auto colon = line.find(':');
    if (colon == std::string::npos) return sz * n;
    std::string key = lower(line.substr(0, colon));
    std::string val = trim(line.substr(colon + 1));
    if (key == "content-type") t->content_type = val;
    if (key == "www-authenticate") t->www_authenticate = val;
    return sz * n;
  }

  static size_t on_body(char* p, size_t sz, size_t n, void* ud) {
    auto* t = static_cast<Transfer*>(ud);
    size_t len = sz * n;
    bool ok = t->status >= 200 && t->status < 300;
    if (ok && t->fd >= 0) {
      if (t->limit >= 0 && t->written + static_cast<int64_t>(len) > t->limit) {
        t->overflow = true;
        return 0;
      }
      t->hash.update(p, len);
      if (!write_all(t->fd, p, len).ok()) {
        t->write_errno = errno ? errno : EIO;
        return 0;
      }
      t->written += static_cast<int64_t>(len);
      return len;
    }
    if (t->body.size() + len > t->max) {
      if (ok) {
        t->overflow = true;
        return 0;
      }
      return len;  // an error page: keep its start only
    }
    t->body.append(p, len);
    return len;
  }
};

Registry::Registry(Reference ref, RegistryOptions opts)
    : ref_(std::move(ref)), opts_(std::move(opts)) {
  static CurlGlobal global;
  curl_ = curl_easy_init();
  host_ = ref_.registry;
  if (!opts_.mirror.empty() && ref_.registry == kDockerHub) {
    std::string m = opts_.mirror;
    if (m.compare(0, 7, "http://") == 0) {
      scheme_ = "http";
      m = m.substr(7);
    } else if (m.compare(0, 8, "https://") == 0) {
      scheme_ = "https";
      m = m.substr(8);
    }
    while (!m.empty() && m.back() == '/') m.pop_back();
    host_ = m;
    via_mirror_ = true;
  }
  for (const auto& r : opts_.insecure_registries)
    if (r == host_) insecure_ = true;
}

Registry::~Registry() {
  if (curl_) curl_easy_cleanup(curl_);
}

Error Registry::http_error(const std::string& what, const Transfer& t) const {
  if (t.status == 401 || t.status == 403) {
    if (!opts_.username.empty())
      return make_error(ErrorKind::Permission,
                        "authorization failed: username and password are invalid");
    return make_error(ErrorKind::Permission,
                      ref_.original + " does not exist or you do not have permissions to see it.");
  }
  if (t.status == 404)
    return make_error(ErrorKind::NotFound,
                      ref_.original + " does not exist or you do not have permissions to see it.");
  std::string detail;
  try {
    auto j = nlohmann::json::parse(t.body);
    if (j.contains("errors") && j["errors"].is_array() && !j["errors"].empty() &&
        j["errors"][0].is_object())
      detail = ": " + j["errors"][0].value("message", std::string());
  } catch (...) {
  }
  return make_error(ErrorKind::Internal, what + ": registry " + host_ + " answered " +
                                             std::to_string(t.status) + detail);
}

Status Registry::perform(const std::string& path, const std::vector<std::string>& headers,
                         Transfer& t) {
  if (!curl_) return make_error(ErrorKind::Internal, "initialize libcurl");
  curl_easy_reset(curl_);
  std::string url = path.compare(0, 4, "http") == 0 ? path : base() + path;
  curl_easy_setopt(curl_, CURLOPT_URL, url.c_str());
  curl_easy_setopt(curl_, CURLOPT_PROTOCOLS_STR, "http,https");
  curl_easy_setopt(curl_, CURLOPT_REDIR_PROTOCOLS_STR, "http,https");
  curl_easy_setopt(curl_, CURLOPT_FOLLOWLOCATION, 1L);
  curl_easy_setopt(curl_, CURLOPT_MAXREDIRS, 5L);
  curl_easy_setopt(curl_, CURLOPT_CONNECTTIMEOUT, 30L);
  curl_easy_setopt(curl_, CURLOPT_LOW_SPEED_LIMIT, 1L);
  curl_easy_setopt(curl_, CURLOPT_LOW_SPEED_TIME, 60L);
  curl_easy_setopt(curl_, CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(curl_, CURLOPT_USERAGENT, "crunner-image/0.1");
  if (insecure_) {
    curl_easy_setopt(curl_, CURLOPT_SSL_VERIFYPEER, 0L);
    curl_easy_setopt(curl_, CURLOPT_SSL_VERIFYHOST, 0L);
  }
  struct curl_slist* hl = nullptr;
  for (const auto& h : headers) hl = curl_slist_append(hl, h.c_str());
  // The registry's credentials go to the registry only (not to token realms given as URLs).
  if (!auth_header_.empty() && path.compare(0, 4, "http") != 0)
    hl = curl_slist_append(hl, auth_header_.c_str());
  curl_easy_setopt(curl_, CURLOPT_HTTPHEADER, hl);
  curl_easy_setopt(curl_, CURLOPT_HEADERFUNCTION, &Transfer::on_header);
  curl_easy_setopt(curl_, CURLOPT_HEADERDATA, &t);
  curl_easy_setopt(curl_, CURLOPT_WRITEFUNCTION, &Transfer::on_body);
  curl_easy_setopt(curl_, CURLOPT_WRITEDATA, &t);
  CURLcode rc = curl_easy_perform(curl_);
  curl_slist_free_all(hl);
  long code = 0;
  curl_easy_getinfo(curl_, CURLINFO_RESPONSE_CODE, &code);
  if (code) t.status = code;
  if (t.write_errno) return sys_error("write the blob from " + url, t.write_errno);
  if (t.overflow) return invalid_spec("fetch " + url + ": the response is larger than expected");
  if (rc == CURLE_PEER_FAILED_VERIFICATION) return make_error(ErrorKind::Permission, kInsecureText);
  if (rc != CURLE_OK)
    return make_error(ErrorKind::Syscall, "fetch " + url + ": " + curl_easy_strerror(rc));
  return {};
}

Status Registry::authenticate(const std::string& challenge) {
  std::string scheme = lower(challenge.substr(0, challenge.find(' ')));
  auto params = challenge_params(challenge);
  auto param = [&](const char* k) {
    for (auto& [key, v] : params)
      if (key == k) return v;
    return std::string();
  };
  if (scheme == "basic") {
    if (opts_.username.empty()) return make_error(ErrorKind::Permission, "no credentials");
    std::string creds = opts_.username + ":" + opts_.password;
    if (creds.size() > 4096) return invalid_spec("registry credentials longer than 4096 bytes");
    std::string b64(BASE64_ENCODE_RAW_LENGTH(creds.size()), '\0');
    base64_encode_raw(b64.data(), creds.size(), reinterpret_cast<const uint8_t*>(creds.data()));
    auth_header_ = "Authorization: Basic " + b64;
    return {};
  }
  if (scheme != "bearer")
    return make_error(ErrorKind::Unsupported, "unsupported authentication scheme `" + scheme + "`");
  std::string realm = param("realm");
  if (realm.compare(0, 8, "https://") != 0 && realm.compare(0, 7, "http://") != 0)
    return invalid_spec("authenticate: invalid token realm `" + realm + "`");
  std::string url = realm + (realm.find('?') == std::string::npos ? "?" : "&");
  std::string service = param("service");
  if (!service.empty()) url += "service=" + url_escape(curl_, service) + "&";
  std::string scope = param("scope");
  if (scope.empty()) scope = "repository:" + ref_.repository + ":pull";
  url += "scope=" + url_escape(curl_, scope);
  std::vector<std::string> h;
  Transfer t;
  t.max = 64 << 10;
  // Basic credentials go to the token endpoint only when the user gave them.
  std::string saved = std::move(auth_header_);
  auth_header_.clear();
  if (!opts_.username.empty()) {
    CR_TRY(authenticate("Basic realm=\"token\""));
    h.push_back(auth_header_);
    auth_header_.clear();
  }
  CR_TRY_CTX(perform(url, h, t), "fetch a registry token");
  if (t.status == 401 || t.status == 403) {
    if (!opts_.username.empty())
      return make_error(ErrorKind::Permission,
                        "authorization failed: username and password are invalid");
    return make_error(ErrorKind::Permission,
                      "unable to retrieve auth token: " + std::to_string(t.status));
  }
  if (t.status != 200)
    return make_error(ErrorKind::Internal,
                      "fetch a registry token: status " + std::to_string(t.status));
  try {
    auto j = nlohmann::json::parse(t.body);
    std::string tok = j.value("token", std::string());
    if (tok.empty()) tok = j.value("access_token", std::string());
    if (tok.empty() || tok.find_first_of("\r\n") != std::string::npos)
      return invalid_spec("fetch a registry token: no token in the answer");
    auth_header_ = "Authorization: Bearer " + tok;
  } catch (const std::exception& e) {
    return invalid_spec(std::string("fetch a registry token: ") + e.what());
  }
  return {};
}

Status Registry::connect() {
  if (connected_) return {};
  // Ping /v2/: decides the scheme (HTTPS; plain HTTP only for insecure registries) and
  // fetches the authentication challenge once.
  std::vector<std::string> schemes;
  if (!scheme_.empty())
    schemes = {scheme_};
  else if (insecure_)
    schemes = {"https", "http"};
  else
    schemes = {"https"};
  Error last = make_error(ErrorKind::Internal, "no scheme");
  for (const auto& sc : schemes) {
    scheme_ = sc;
    Transfer t;
    auto st = perform("/v2/", {}, t);
    if (!st.ok()) {
      last = std::move(st).error();
      continue;
    }
    if (t.status == 401 && !t.www_authenticate.empty()) {
      // Basic auth without credentials: the registry's 401 is the answer.
      if (opts_.username.empty() && lower(t.www_authenticate).compare(0, 5, "basic") == 0)
        return http_error("ping " + host_, t);
      if (auto a = authenticate(t.www_authenticate); !a.ok()) {
        // GrootFS's wordings for credentials reach the user as they are.
        if (a.error().kind == ErrorKind::Permission) return std::move(a).error();
        return std::move(a.error().context("authenticate to " + host_));
      }
      if (!opts_.username.empty() || lower(t.www_authenticate).compare(0, 6, "bearer") == 0) {
        Transfer t2;
        CR_TRY(perform("/v2/", {}, t2));
        if (t2.status == 401 || t2.status == 403) return http_error("ping " + host_, t2);
      }
    } else if (t.status == 401) {
      return http_error("ping " + host_, t);
    }
    connected_ = true;
    return {};
  }
  scheme_.clear();
  return last;
}

Result<std::pair<std::string, std::string>> Registry::manifest(const std::string& ref) {
  CR_TRY(connect());
  Transfer t;
  t.max = kMaxManifestBytes;
  std::string accept = std::string("Accept: ") + kMediaOciIndex + ", " + kMediaDockerList + ", " +
                       kMediaOciManifest + ", " + kMediaDockerManifest;
  CR_TRY(perform("/v2/" + ref_.repository + "/manifests/" + ref, {accept}, t));
  if (t.status != 200) return http_error("fetch manifest " + ref, t);
  if (valid_digest(ref)) {
    std::string got = "sha256:" + Sha256::hex(t.body);
    if (got != ref)
      return invalid_spec("verify manifest " + ref + ": digest mismatch (got " + got + ")");
  }
  return std::make_pair(std::move(t.body), std::move(t.content_type));
}

Status Registry::blob(const std::string& digest, int64_t size, int fd) {
  if (!valid_digest(digest)) return invalid_spec("fetch blob: invalid digest `" + digest + "`");
  CR_TRY(connect());
  Transfer t;
  t.fd = fd;
  t.limit = size;
  CR_TRY(perform("/v2/" + ref_.repository + "/blobs/" + digest, {}, t));
  if (t.status != 200) return http_error("fetch blob " + digest, t);
  std::string got = "sha256:" + t.hash.hexdigest();
  if (got != digest)
    return invalid_spec("verify blob " + digest + ": digest mismatch (got " + got + ")");
  if (t.written != size)
    return invalid_spec("verify blob " + digest + ": size " + std::to_string(t.written) +
                        ", manifest says " + std::to_string(size));
  return {};
}

Result<std::string> Registry::blob_bytes(const std::string& digest, int64_t size, size_t max) {
  if (!valid_digest(digest)) return invalid_spec("fetch blob: invalid digest `" + digest + "`");
  if (size < 0 || static_cast<size_t>(size) > max)
    return invalid_spec("fetch blob " + digest + ": size " + std::to_string(size) +
                        " is over the limit");
  CR_TRY(connect());
  Transfer t;
  t.max = max;
  t.limit = size;
  CR_TRY(perform("/v2/" + ref_.repository + "/blobs/" + digest, {}, t));
  if (t.status != 200) return http_error("fetch blob " + digest, t);
  std::string got = "sha256:" + Sha256::hex(t.body);
  if (got != digest)
    return invalid_spec("verify blob " + digest + ": digest mismatch (got " + got + ")");
  return std::move(t.body);
}

}  // namespace crunner::image
