#include "context.h"

#include "crypto/hash.h"
#include "crypto/random.h"

namespace tessera::server {

OAuthClients::OAuthClients(const Config& config) {
  for (const std::string& c : config.token.clients) {
    // Validated by LoadConfig: "ID:" and 64 lowercase hex digits.
    const size_t colon = c.find(':');
    std::string hash;
    for (size_t i = colon + 1; i + 1 < c.size(); i += 2) {
      hash.push_back(static_cast<char>(std::stoi(c.substr(i, 2), nullptr, 16)));
    }
    secrets_[c.substr(0, colon)] = std::move(hash);
  }
}

std::optional<std::string> OAuthClients::Check(std::string_view id, std::string_view secret) const {
  static const std::string kDummy(32, '\0');
  auto it = secrets_.find(id);
  const std::string& want = it == secrets_.end() ? kDummy : it->second;
  const bool match = crypto::ConstantTimeEquals(crypto::Sha256(secret), want);
  if (!match || it == secrets_.end()) return std::nullopt;
  return it->first;
}

Context::Context(AppDeps deps)
    : d(deps),
      identity(*deps.config),
      auth(Authenticator::Deps{deps.config, deps.users, deps.session_manager, deps.verifier,
                               &identity, deps.clock}),
      clients(*deps.config),
      audit_names(std::make_unique<crypto::HmacKey>(
          crypto::Hash::kSha256,
          deps.audit_name_key.empty() ? crypto::RandomString(32) : deps.audit_name_key)),
      device_cookies(*deps.config, deps.device_cookie_key.empty() ? crypto::RandomString(32)
                                                                  : deps.device_cookie_key) {}

nlohmann::json Context::RequestFields(const HttpRequest& request) const {
  return {{"ip", identity.ClientIp(request)},
          {"user_agent", std::string(request.Header("User-Agent").substr(0, 256))}};
}

std::string Context::SessionCookie(std::string_view value, int64_t max_age) const {
  const auto& c = d.config->cookie;
  std::string s = c.name;
  s += '=';
  s += value;
  s += "; Path=/; Max-Age=" + std::to_string(max_age) + "; HttpOnly";
  if (c.secure) s += "; Secure";
  s += c.same_site == SameSite::kStrict ? "; SameSite=Strict"
       : c.same_site == SameSite::kLax  ? "; SameSite=Lax"
                                        : "; SameSite=None";
  return s;
}

}  // namespace tessera::server
