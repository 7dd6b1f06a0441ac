// tessera keys generate --alg ALG [--kid KID]: prints a new private JWK.
#include <iostream>

#include "commands.h"
#include "io.h"
#include "tessera/jose/jwk.h"

namespace tessera::cli {

void RegisterKeys(CLI::App& app, Action* run) {
  CLI::App* keys = app.add_subcommand("keys", "Signing keys");
  keys->require_subcommand(1);
  CLI::App* gen = keys->add_subcommand("generate", "Print a new private JWK");
  auto alg = std::make_shared<std::string>();
  auto kid = std::make_shared<std::string>();
  gen->add_option("--alg", *alg, "HS256 HS384 HS512 RS256 RS384 RS512 PS256 PS384 PS512 ES256 "
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
}

}  // namespace tessera::cli
