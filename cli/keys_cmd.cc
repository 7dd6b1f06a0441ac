// tessera keys generate --alg ALG [--kid KID]: prints a new private JWK.
// tessera keys list | rotate [--immediate] | revoke KID: the server's signing keyset in the data
// directory (<data>/signing-keys.json), safe while servers run on it: they pick up a change
// within seconds. Nothing here prints or logs private key material.
#include <cstdio>
#include <iostream>

#include "commands.h"
#include "context.h"
#include "io.h"
#include "tessera/clock.h"
#include "tessera/jose/jwk.h"
#include "tessera/token/keyset.h"

namespace tessera::cli {
namespace {

struct KeysetArgs {
  DataOptions data;
  bool immediate = false;
  std::string kid;
};

// A corrupt or world-readable key file is a configuration problem (2); a missing key or a
// failed write is a refusal (1).
int ExitFor(const Status& s) {
  return s.code() == Code::kInvalidArgument || s.code() == Code::kPermissionDenied ? kExitUsage
                                                                                   : kExitDenied;
}

std::string TimeOrDash(int64_t t) { return t == 0 ? "-" : FormatTime(t); }

constexpr const char* kListRow = "%-43s %-6s %-8s %-20s %-20s %-20s %s\n";

int List(const KeysetArgs& a) {
  auto config = LoadCliConfig(a.data);
  if (!config) return Fail(kExitUsage, config.error().message());
  const int64_t now = SystemClock::Instance().NowSeconds();
  std::printf(kListRow, "KID", "ALG", "STATE", "CREATED", "ACTIVATES", "RETIRES", "EXPIRES");
  auto storage = store::OpenKeysetStorage(*config);
  if (!storage) return Fail(ExitFor(storage.error()), storage.error().message());
  const std::string where = (*storage)->name();
  auto keys = token::Keyset::Load(std::move(*storage), KeysetOptionsFor(*config));
  if (!keys && keys.error().code() == Code::kNotFound) {
    std::fflush(stdout);
    std::cerr << "tessera: no signing keys in "
              << (config->token.keyset_secret_file.empty() ? config->server.data : where)
              << " yet; `tessera serve` or `tessera keys rotate` creates them\n";
    return kExitOk;
  }
  if (!keys) return Fail(ExitFor(keys.error()), keys.error().message());
  for (const token::KeyInfo& k : (*keys)->List(now)) {
    std::printf(kListRow, k.kid.c_str(), std::string(jose::AlgName(k.alg)).c_str(),
                std::string(token::KeyStateName(k.state)).c_str(), FormatTime(k.created_at).c_str(),
                FormatTime(k.activates_at).c_str(), TimeOrDash(k.retired_at).c_str(),
                TimeOrDash(k.expires_at).c_str());
  }
  return kExitOk;
}

int Rotate(const KeysetArgs& a) {
  auto config = LoadCliConfig(a.data);
  if (!config) return Fail(kExitUsage, config.error().message());
  if (Status s = EnsureDataDir(config->server.data); !s.ok()) return Fail(kExitDenied, s.message());
  const int64_t now = SystemClock::Instance().NowSeconds();
  auto storage = store::OpenKeysetStorage(*config);
  if (!storage) return Fail(ExitFor(storage.error()), storage.error().message());
  auto keys = token::Keyset::LoadOrCreate(std::move(*storage), KeysetOptionsFor(*config), now);
  if (!keys) return Fail(ExitFor(keys.error()), keys.error().message());
  auto r = (*keys)->Rotate(now, {.immediate = a.immediate});
  if (!r) return Fail(ExitFor(r.error()), r.error().message());
  const std::string alg(jose::AlgName(r->key.alg));
  if (!r->created) {
    std::cout << "a rotation is already pending: key " << r->key.kid() << " (" << alg
              << ") is published and signs from " << FormatTime(r->key.activates_at) << '\n';
    return kExitOk;
  }
  OpenCliAudit(*config)->Record("key.rotated", {{"kid", r->key.kid()},
                                                {"alg", alg},
                                                {"activates_at", r->key.activates_at},
                                                {"immediate", a.immediate},
                                                {"by", "cli"}});
  std::cout << "new key " << r->key.kid() << " (" << alg << "): published now, signs from "
            << FormatTime(r->key.activates_at) << (a.immediate ? " (immediately)" : "") << '\n';
  return kExitOk;
}

int Revoke(const KeysetArgs& a) {
  auto config = LoadCliConfig(a.data);
  if (!config) return Fail(kExitUsage, config.error().message());
  const int64_t now = SystemClock::Instance().NowSeconds();
  auto storage = store::OpenKeysetStorage(*config);
  if (!storage) return Fail(ExitFor(storage.error()), storage.error().message());
  auto keys = token::Keyset::Load(std::move(*storage), KeysetOptionsFor(*config));
  if (!keys) return Fail(ExitFor(keys.error()), keys.error().message());
  auto r = (*keys)->Revoke(a.kid, now);
  if (!r) return Fail(ExitFor(r.error()), r.error().message());
  nlohmann::json fields = {{"kid", r->revoked.kid()},
                           {"alg", std::string(jose::AlgName(r->revoked.alg))},
                           {"by", "cli"}};
  if (r->replacement) fields["replacement"] = r->replacement->kid();
  auto audit = OpenCliAudit(*config);
  audit->Record("key.revoked", std::move(fields));
  std::cout << "revoked key " << r->revoked.kid()
            << ": unpublished; tokens it signed are rejected as soon as each server reloads "
               "the key set (within seconds)\n";
  if (r->replacement) {
    const std::string alg(jose::AlgName(r->replacement->alg));
    audit->Record("key.rotated", {{"kid", r->replacement->kid()},
                                  {"alg", alg},
                                  {"activates_at", r->replacement->activates_at},
                                  {"immediate", true},
                                  {"by", "cli"}});
    std::cout << "new key " << r->replacement->kid() << " (" << alg << ") signs from now\n";
  }
  return kExitOk;
}

}  // namespace

void RegisterKeys(CLI::App& app, Action* run) {
  CLI::App* keys = app.add_subcommand("keys", "Signing keys");
  keys->require_subcommand(1);
  CLI::App* gen = keys->add_subcommand("generate", "Print a new private JWK");
  auto alg = std::make_shared<std::string>();
  auto kid = std::make_shared<std::string>();
  gen->add_option("--alg", *alg,
                  "HS256 HS384 HS512 RS256 RS384 RS512 PS256 PS384 PS512 ES256 "
                  "ES384 ES512 EdDSA")
      ->required();
  gen->add_option("--kid", *kid, "Key ID (default: the RFC 7638 thumbprint)");
  gen->callback([run, alg, kid] {
    *run = [alg, kid] {
      const auto a = jose::AlgFromName(*alg);
      if (!a) return Fail(kExitUsage, "unknown --alg " + *alg);
      auto key = jose::Jwk::Generate(*a, *kid);
      if (!key) return Fail(kExitUsage, key.error().ToString());
      std::cout << key->ToJson(/*include_private=*/true) << '\n';
      return kExitOk;
    };
  });

  auto list = std::make_shared<KeysetArgs>();
  CLI::App* list_cmd = keys->add_subcommand("list", "List the server's signing keys and states");
  AddDataOptions(list_cmd, &list->data);
  list_cmd->callback([run, list] { *run = [list] { return List(*list); }; });

  auto rotate = std::make_shared<KeysetArgs>();
  CLI::App* rotate_cmd = keys->add_subcommand(
      "rotate", "Add a signing key: published now, signing in 5 minutes (or at once)");
  AddDataOptions(rotate_cmd, &rotate->data);
  rotate_cmd->add_flag("--immediate", rotate->immediate,
                       "Sign with the new key at once (verifiers with a cached key set refetch)");
  rotate_cmd->callback([run, rotate] { *run = [rotate] { return Rotate(*rotate); }; });

  auto revoke = std::make_shared<KeysetArgs>();
  CLI::App* revoke_cmd = keys->add_subcommand(
      "revoke", "Emergency: unpublish a key at once (a signing key is replaced at once)");
  AddDataOptions(revoke_cmd, &revoke->data);
  AddIdArgument(revoke_cmd, &revoke->kid, "kid", "KID from `keys list`");
  revoke_cmd->callback([run, revoke] { *run = [revoke] { return Revoke(*revoke); }; });
}

}  // namespace tessera::cli
