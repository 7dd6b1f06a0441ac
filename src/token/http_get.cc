#include "token/http_get.h"

#include <arpa/inet.h>
#include <curl/curl.h>

#include <algorithm>
#include <atomic>
#include <cctype>
#include <memory>
#include <mutex>

#include "core/json.h"

namespace tessera::token {
namespace {

Status Unavailable(std::string message) {
  return Status(Code::kUnavailable, Reason::kIo, std::move(message));
}

// curl_global_init is not safe to race with other threads using curl; once per process.
void InitCurlOnce() {
  static std::once_flag once;
  std::call_once(once, [] { curl_global_init(CURL_GLOBAL_DEFAULT); });
}

struct Body {
  std::string data;
  size_t limit = 0;
  bool too_large = false;
};

// A body over the limit aborts the transfer (returning less than given makes curl fail with
// CURLE_WRITE_ERROR): a chunked or lying response cannot make us buffer more than the limit.
size_t Append(char* ptr, size_t size, size_t n, void* user) {
  auto* body = static_cast<Body*>(user);
  size_t bytes = size * n;
  if (bytes > body->limit - body->data.size()) {
    body->too_large = true;
    return 0;
  }
  body->data.append(ptr, bytes);
  return bytes;
}

// Progress callback: a non-zero return aborts the transfer (CURLE_ABORTED_BY_CALLBACK).
int Cancelled(void* user, curl_off_t, curl_off_t, curl_off_t, curl_off_t) {
  return static_cast<const std::atomic<bool>*>(user)->load() ? 1 : 0;
}

bool EqualsIgnoreCase(std::string_view a, std::string_view b) {
  return std::equal(a.begin(), a.end(), b.begin(), b.end(), [](char x, char y) {
    return std::tolower(static_cast<unsigned char>(x)) ==
           std::tolower(static_cast<unsigned char>(y));
  });
}

std::string_view Trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return s;
}

bool IsLoopbackHost(const std::string& host) {
  // curl reports an IPv6 host in brackets. A name other than "localhost" could resolve anywhere,
  // and one that merely starts with "127." ("127.0.0.1.evil.test") is a name.
  in_addr v4{};
  if (inet_pton(AF_INET, host.c_str(), &v4) == 1) return (ntohl(v4.s_addr) >> 24) == 127;
  return EqualsIgnoreCase(host, "localhost") || host == "[::1]";
}

using CurlUrl = std::unique_ptr<CURLU, decltype(&curl_url_cleanup)>;

// One part of a parsed URL; nullopt when it is absent.
std::optional<std::string> UrlPart(CURLU* url, CURLUPart part) {
  char* value = nullptr;
  if (curl_url_get(url, part, &value, 0) != CURLUE_OK) return std::nullopt;
  std::string s(value);
  curl_free(value);
  return s;
}

}  // namespace

Status CheckKeyUrl(std::string_view url, bool allow_plain_http) {
  auto bad = [&](std::string_view why) {
    return InvalidArgument(Reason::kBadConfig,
                           "key URL \"" + std::string(url) + "\": " + std::string(why));
  };
  CurlUrl parsed(curl_url(), curl_url_cleanup);
  if (!parsed) return InternalError(Reason::kIo, "cannot parse a URL: out of memory");
  if (url.find('\0') != std::string_view::npos ||
      curl_url_set(parsed.get(), CURLUPART_URL, std::string(url).c_str(), 0) != CURLUE_OK) {
    return bad("not an absolute URL");
  }
  // Checked before the URL is echoed anywhere else, so credentials never reach a log.
  if (UrlPart(parsed.get(), CURLUPART_USER) || UrlPart(parsed.get(), CURLUPART_PASSWORD)) {
    return InvalidArgument(Reason::kBadConfig, "a key URL must not contain credentials");
  }
  std::optional<std::string> scheme = UrlPart(parsed.get(), CURLUPART_SCHEME);
  std::optional<std::string> host = UrlPart(parsed.get(), CURLUPART_HOST);
  if (!host || host->empty()) return bad("no host");
  if (scheme == "https") return Status::Ok();
  if (scheme != "http") return bad("only http and https are fetched");
  if (!allow_plain_http && !IsLoopbackHost(*host)) {
    return bad("plain http is only accepted for a loopback host; use https");
  }
  return Status::Ok();
}

Result<HttpGetResponse> HttpGet(const std::string& url, const HttpGetOptions& options) {
  InitCurlOnce();
  std::unique_ptr<CURL, decltype(&curl_easy_cleanup)> curl(curl_easy_init(), curl_easy_cleanup);
  std::unique_ptr<curl_slist, decltype(&curl_slist_free_all)> headers(
      curl_slist_append(nullptr, ("Accept: " + options.accept).c_str()), curl_slist_free_all);
  if (!curl || !headers) return InternalError(Reason::kIo, "cannot start an HTTP request");
  if (!options.authorization.empty()) {
    // A field value with a line break would smuggle fields of its own.
    if (options.authorization.find_first_of("\r\n") != std::string::npos) {
      return InvalidArgument(Reason::kBadConfig, "an Authorization value with a line break");
    }
    curl_slist* more =
        curl_slist_append(headers.get(), ("Authorization: " + options.authorization).c_str());
    if (!more) return InternalError(Reason::kIo, "cannot start an HTTP request");
  }
  CURL* h = curl.get();
  Body body{.limit = options.max_body_bytes};
  char error[CURL_ERROR_SIZE] = {};
  curl_easy_setopt(h, CURLOPT_URL, url.c_str());
  curl_easy_setopt(h, CURLOPT_PROTOCOLS_STR, "http,https");
  curl_easy_setopt(h, CURLOPT_FOLLOWLOCATION, 0L);  // a redirect could lead to anyone's keys
  curl_easy_setopt(h, CURLOPT_SSL_VERIFYPEER, 1L);  // the defaults, stated: never turned off
  curl_easy_setopt(h, CURLOPT_SSL_VERIFYHOST, 2L);
  if (!options.ca_file.empty()) curl_easy_setopt(h, CURLOPT_CAINFO, options.ca_file.c_str());
  curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);  // timeouts without SIGALRM: safe in threads
  curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT_MS, static_cast<long>(options.connect_timeout_ms));
  curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, static_cast<long>(options.total_timeout_ms));
  curl_easy_setopt(h, CURLOPT_MAXFILESIZE_LARGE, static_cast<curl_off_t>(options.max_body_bytes));
  curl_easy_setopt(h, CURLOPT_HTTPHEADER, headers.get());
  curl_easy_setopt(h, CURLOPT_USERAGENT, "tessera-verifier");
  curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, Append);
  curl_easy_setopt(h, CURLOPT_WRITEDATA, &body);
  curl_easy_setopt(h, CURLOPT_ERRORBUFFER, error);
  if (options.cancel) {
    curl_easy_setopt(h, CURLOPT_NOPROGRESS, 0L);
    curl_easy_setopt(h, CURLOPT_XFERINFOFUNCTION, Cancelled);
    // The callback only reads the flag; curl's API takes a non-const pointer.
    curl_easy_setopt(h, CURLOPT_XFERINFODATA, const_cast<std::atomic<bool>*>(options.cancel));
  }

  if (options.cancel && options.cancel->load()) return Unavailable("GET " + url + ": cancelled");
  CURLcode rc = curl_easy_perform(h);
  if (rc == CURLE_ABORTED_BY_CALLBACK) return Unavailable("GET " + url + ": cancelled");
  if (body.too_large || rc == CURLE_FILESIZE_EXCEEDED) {
    return ResourceExhausted(Reason::kTooLarge, "GET " + url + ": response larger than " +
                                                    std::to_string(options.max_body_bytes) +
                                                    " bytes");
  }
  if (rc != CURLE_OK) {
    return Unavailable("GET " + url + ": " + (error[0] ? error : curl_easy_strerror(rc)));
  }
  long status = 0;
  curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &status);
  if (status != 200 && !(options.any_status && (status < 300 || status >= 400))) {
    return Unavailable("GET " + url + ": HTTP status " + std::to_string(status) +
                       (status >= 300 && status < 400 ? " (redirects are not followed)" : ""));
  }
  HttpGetResponse response{.status = status, .body = std::move(body.data)};
  curl_header* field = nullptr;
  for (size_t i = 0; curl_easy_header(h, "Cache-Control", i, CURLH_HEADER, -1, &field) == CURLHE_OK;
       ++i) {
    if (!response.cache_control.empty()) response.cache_control += ", ";
    response.cache_control += field->value;
  }
  return response;
}

Result<std::string> DiscoverUrl(const std::string& issuer, std::string_view member,
                                const HttpGetOptions& options, bool allow_plain_http) {
  std::string_view base = issuer;
  while (base.ends_with('/')) base.remove_suffix(1);
  const std::string url = std::string(base) + "/.well-known/openid-configuration";
  TESSERA_RETURN_IF_ERROR(CheckKeyUrl(url, allow_plain_http));
  HttpGetOptions get = options;
  get.accept = "application/json";
  get.authorization.clear();
  get.any_status = false;
  TESSERA_ASSIGN_OR_RETURN(HttpGetResponse response, HttpGet(url, get));
  auto doc = json::ParseStrict(response.body);
  if (!doc || !doc->is_object()) {
    return InvalidArgument(Reason::kBadJson, url + ": not a JSON object");
  }
  auto found_issuer = doc->find("issuer");
  if (found_issuer == doc->end() || !found_issuer->is_string() ||
      found_issuer->get_ref<const std::string&>() != issuer) {
    std::string found =
        found_issuer == doc->end()
            ? "none"
            : found_issuer->dump(-1, ' ', true, nlohmann::json::error_handler_t::replace);
    return InvalidArgument(
        Reason::kIssuerMismatch,
        url + ": the document's issuer is " + found.substr(0, 200) + ", not \"" + issuer + "\"");
  }
  auto value = doc->find(member);
  if (value == doc->end() || !value->is_string()) {
    return InvalidArgument(Reason::kBadJson, url + ": no " + std::string(member) + " string");
  }
  TESSERA_RETURN_IF_ERROR(CheckKeyUrl(value->get_ref<const std::string&>(), allow_plain_http));
  return value->get<std::string>();
}

std::optional<int64_t> CacheMaxAge(std::string_view cache_control) {
  std::optional<int64_t> max_age;
  bool uncacheable = false;
  while (!cache_control.empty()) {
    size_t comma = cache_control.find(',');
    std::string_view directive = Trim(cache_control.substr(0, comma));
    cache_control = comma == std::string_view::npos ? "" : cache_control.substr(comma + 1);
    size_t eq = directive.find('=');
    std::string_view name = Trim(directive.substr(0, eq));
    if (EqualsIgnoreCase(name, "no-store") || EqualsIgnoreCase(name, "no-cache")) {
      uncacheable = true;
    } else if (EqualsIgnoreCase(name, "max-age")) {
      std::string_view value = eq == std::string_view::npos ? "" : Trim(directive.substr(eq + 1));
      // RFC 9111 section 5.2: senders use the token form; recipients accept the quoted one.
      if (value.size() >= 2 && value.front() == '"' && value.back() == '"') {
        value = value.substr(1, value.size() - 2);
      }
      int64_t seconds = 0;
      bool valid = !value.empty();
      for (char c : value) {
        if (c < '0' || c > '9') valid = false;
        // RFC 9111 section 1.2.2: a value too large to represent counts as 2^31.
        seconds = std::min<int64_t>(seconds * 10 + (c - '0'), int64_t{1} << 31);
      }
      // An invalid max-age makes the response stale (RFC 9111 section 4.2.1).
      max_age = valid ? seconds : 0;
    }
  }
  if (uncacheable) return 0;
  return max_age;
}

}  // namespace tessera::token
