// tessera jwt sign | verify | decode.
#include <nlohmann/json.hpp>

#include <iostream>
#include <memory>

#include "commands.h"
#include "io.h"
#include "tessera/clock.h"
#include "tessera/jose/jwks.h"
#include "tessera/jose/jwt.h"

namespace tessera::cli {
namespace {

struct SignArgs {
  std::string jwk_file, alg, kid, claims;
};

struct VerifyArgs {
  std::string jwks_file, iss, typ, token;
  std::vector<std::string> algs, auds;
  std::optional<int64_t> now;
  int64_t leeway = 0;
};

int Sign(const SignArgs& a) {
  auto text = ReadFile(a.jwk_file);
  if (!text) return Fail(kExitUsage, text.error().message());
  auto key = jose::Jwk::Parse(*text);
  if (!key) return Fail(kExitUsage, "--jwk: " + key.error().ToString());
  if (!a.kid.empty()) key = key->WithKid(a.kid);
  std::optional<jose::Alg> alg;
  if (!a.alg.empty()) {
    alg = jose::AlgFromName(a.alg);
    if (!alg) return Fail(kExitUsage, "unknown --alg " + a.alg);
  }
  auto signer = jose::JwtSigner::Create(std::move(key).value(), alg);
  if (!signer) return Fail(kExitUsage, signer.error().ToString());
  auto claims = ArgOrStdin(a.claims);
  if (!claims) return Fail(kExitUsage, claims.error().message());
  auto token = signer->Sign(*claims);
  if (!token) return Fail(kExitUsage, "claims: " + token.error().ToString());
  std::cout << *token << '\n';
  return kExitOk;
}

int Verify(const VerifyArgs& a) {
  auto text = ReadFile(a.jwks_file);
  if (!text) return Fail(kExitUsage, text.error().message());
  auto keys = jose::Jwks::Parse(*text);
  if (!keys) return Fail(kExitUsage, "--jwks: " + keys.error().ToString());
  for (const auto& s : keys->skipped()) {
    std::cerr << "tessera: warning: skipped key " << s.index
              << (s.kid.empty() ? "" : " (kid " + s.kid + ")") << ": " << s.status.ToString()
              << '\n';
  }
  jose::JwtVerifyOptions opts;
  for (const auto& name : a.algs) {
    const auto alg = jose::AlgFromName(name);
    if (!alg) return Fail(kExitUsage, "unknown --alg " + name);
    opts.algs.Add(*alg);
  }
  if (!a.iss.empty()) opts.issuers.push_back(a.iss);
  opts.audiences = a.auds;
  opts.typ = a.typ;
  opts.leeway_seconds = a.leeway;
  auto token = ArgOrStdin(a.token);
  if (!token) return Fail(kExitUsage, token.error().message());
  jose::JwtVerifier verifier(std::make_shared<jose::Jwks>(std::move(keys).value()), opts);
  const int64_t now = a.now.value_or(SystemClock::Instance().NowSeconds());
  auto claims = verifier.Verify(*token, now);
  if (!claims) return Fail(kExitDenied, "invalid token: " + claims.error().ToString());
  std::cout << claims->payload << '\n';
  return kExitOk;
}

int Decode(const std::string& token_arg) {
  auto token = ArgOrStdin(token_arg);
  if (!token) return Fail(kExitUsage, token.error().message());
  auto decoded = jose::DecodeUnverified(*token);
  if (!decoded) return Fail(kExitDenied, "not a decodable JWT: " + decoded.error().ToString());
  std::cerr << "tessera: NOT VERIFIED. Anyone can read (and forge) these fields; trust them only "
               "after `tessera jwt verify`.\n";
  nlohmann::ordered_json out;
  out["verified"] = false;
  out["header"] = nlohmann::json::parse(decoded->header_json);
  out["payload"] = nlohmann::json::parse(decoded->payload_json);
  std::cout << out.dump(2) << '\n';
  return kExitOk;
}

}  // namespace

void RegisterJwt(CLI::App& app, Action* run) {
  CLI::App* jwt = app.add_subcommand("jwt", "Sign, verify and decode JWTs");
  jwt->require_subcommand(1);

  auto s = std::make_shared<SignArgs>();
  CLI::App* sign = jwt->add_subcommand("sign", "Sign claims with a private JWK; prints the token");
  sign->add_option("--jwk", s->jwk_file, "File with the private JWK")->required();
  sign->add_option("--alg", s->alg, "Algorithm (default: the key's)");
  sign->add_option("--kid", s->kid, "Key ID to put in the header (default: the key's)");
  sign->add_option("claims", s->claims, "Claims JSON object, or - for standard input")->required();
  sign->callback([run, s] { *run = [s] { return Sign(*s); }; });

  auto v = std::make_shared<VerifyArgs>();
  CLI::App* verify =
      jwt->add_subcommand("verify", "Verify a JWT; prints its payload when valid (exit 0)");
  verify->add_option("--jwks", v->jwks_file, "File with the key set (RFC 7517)")->required();
  verify->add_option("--alg", v->algs, "Accepted algorithm (repeatable)");
  verify->add_option("--iss", v->iss, "Required issuer");
  verify->add_option("--aud", v->auds, "This verifier's audience (repeatable)");
  verify->add_option("--now", v->now, "Current time, Unix seconds (default: the clock)");
  verify->add_option("--leeway", v->leeway, "Allowed clock skew in seconds")
      ->check(CLI::Range(0, 86400));
  verify->add_option("--typ", v->typ, "Required header typ, e.g. at+jwt");
  verify->add_option("token", v->token, "The token, or - for standard input")->required();
  verify->callback([run, v] { *run = [v] { return Verify(*v); }; });

  auto token = std::make_shared<std::string>();
  CLI::App* decode = jwt->add_subcommand("decode", "Show header and payload, NOT verified");
  decode->add_option("token", *token, "The token, or - for standard input")->required();
  decode->callback([run, token] { *run = [token] { return Decode(*token); }; });
}

}  // namespace tessera::cli
