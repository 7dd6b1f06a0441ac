// Drives the real `tessera` binary (TESSERA_BIN) through the CLI contract of docs/design.md: output,
// exit codes 0 / 1 / 2, and nothing secret on stderr.
#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <nlohmann/json.hpp>
#include <sys/socket.h>

#include <algorithm>
#include <filesystem>
#include <fstream>

#include "cli/cli_harness.h"
#include "tessera/jose/jwk.h"
#include "tessera/jose/jwks.h"
#include "tessera/jose/jwt.h"

namespace tessera {
namespace {

TEST_F(Cli, KeysGeneratePrintsAPrivateJwkForEveryAlg) {
  for (const char* alg : {"HS256", "HS384", "HS512", "RS256", "PS256", "ES256", "ES384", "ES512",
                          "EdDSA"}) {
    Outcome r = Tessera({"keys", "generate", "--alg", alg});
    ASSERT_EQ(r.code, 0) << alg << r.err;
    auto key = jose::Jwk::Parse(r.out);
    ASSERT_TRUE(key) << alg;
    EXPECT_TRUE(key->is_private());
    EXPECT_EQ(jose::AlgName(*key->alg()), alg);
    EXPECT_EQ(key->kid(), key->Thumbprint());
  }
}

TEST_F(Cli, UsageErrorsExitWithTwo) {
  EXPECT_EQ(Tessera({}).code, 2);
  EXPECT_EQ(Tessera({"frobnicate"}).code, 2);
  EXPECT_EQ(Tessera({"keys", "generate"}).code, 2);
  EXPECT_EQ(Tessera({"keys", "generate", "--alg", "none"}).code, 2);
  EXPECT_EQ(Tessera({"jwt", "verify", "tok"}).code, 2);  // --jwks missing
  EXPECT_EQ(Tessera({"jwt", "verify", "--jwks", "/nonexistent", "tok"}).code, 2);
  EXPECT_EQ(Tessera({"jwt", "sign", "--jwk", "/nonexistent", "{}"}).code, 2);
  EXPECT_EQ(Tessera({"--help"}).code, 0);
}

TEST_F(Cli, SignThenVerifyPrintsThePayload) {
  auto [jwk, jwks] = KeyFiles("ES256");
  Outcome sign = Tessera({"jwt", "sign", "--jwk", jwk, "-"},
                     "{\"sub\":\"alice\", \"iss\":\"me\", \"aud\":\"api\", \"exp\":4102444800}\n");
  ASSERT_EQ(sign.code, 0) << sign.err;
  const std::string token = sign.out.substr(0, sign.out.find('\n'));
  Outcome verify = Tessera({"jwt", "verify", "--jwks", jwks, "--iss", "me", "--aud", "api", token});
  ASSERT_EQ(verify.code, 0) << verify.err;
  EXPECT_EQ(verify.out, "{\"sub\":\"alice\",\"iss\":\"me\",\"aud\":\"api\",\"exp\":4102444800}\n");
  // The token also verifies through the library with the same key set.
  auto set = jose::Jwks::Parse(Slurp(jwks));
  ASSERT_TRUE(set);
  jose::JwtVerifier v(std::make_shared<jose::Jwks>(*set), {.audiences = {"api"}});
  EXPECT_TRUE(v.Verify(token, 1800000000));
  // Token from standard input.
  EXPECT_EQ(Tessera({"jwt", "verify", "--jwks", jwks, "--aud", "api", "-"}, token + "\n").code, 0);
}

TEST_F(Cli, VerifyDeniesWithOneAndAReason) {
  auto [jwk, jwks] = KeyFiles("HS256");
  Outcome sign = Tessera({"jwt", "sign", "--jwk", jwk, R"({"exp":2000000000,"iss":"me"})"});
  ASSERT_EQ(sign.code, 0);
  const std::string token = sign.out.substr(0, sign.out.size() - 1);
  auto verify = [&](std::vector<std::string> extra) {
    std::vector<std::string> args = {"jwt", "verify", "--jwks", jwks};
    args.insert(args.end(), extra.begin(), extra.end());
    args.push_back(token);
    return Tessera(args);
  };
  EXPECT_EQ(verify({"--now", "1999999999"}).code, 0);
  Outcome expired = verify({"--now", "2000000000"});
  EXPECT_EQ(expired.code, 1);
  EXPECT_NE(expired.err.find("expired"), std::string::npos) << expired.err;
  EXPECT_TRUE(expired.out.empty());
  EXPECT_EQ(verify({"--now", "2000000000", "--leeway", "5"}).code, 0);
  EXPECT_EQ(verify({"--alg", "HS512"}).code, 1);
  EXPECT_EQ(verify({"--alg", "HS512", "--alg", "HS256"}).code, 0);
  EXPECT_EQ(verify({"--iss", "you"}).code, 1);
  EXPECT_EQ(verify({"--typ", "at+jwt"}).code, 1);
  EXPECT_EQ(verify({"--typ", "jwt"}).code, 0);
  EXPECT_EQ(verify({"--alg", "nonsense"}).code, 2);
  Outcome garbage = Tessera({"jwt", "verify", "--jwks", jwks, "not.a.token"});
  EXPECT_EQ(garbage.code, 1);
  std::string tampered = token;
  tampered[tampered.size() - 5] = tampered[tampered.size() - 5] == 'A' ? 'B' : 'A';
  EXPECT_EQ(Tessera({"jwt", "verify", "--jwks", jwks, tampered}).code, 1);
}

TEST_F(Cli, SignRefusesBadClaimsAndPublicKeysWithoutLeakingTheKey) {
  auto [jwk, jwks] = KeyFiles("ES256");
  const std::string d = nlohmann::json::parse(Slurp(jwk))["d"];
  for (const char* claims : {"[1]", "{", R"({"a":1,"a":2})"}) {
    Outcome r = Tessera({"jwt", "sign", "--jwk", jwk, claims});
    EXPECT_EQ(r.code, 2) << claims;
    EXPECT_EQ(r.err.find(d), std::string::npos);
    EXPECT_TRUE(r.out.empty());
  }
  auto set = nlohmann::json::parse(Slurp(jwks));
  const std::string pub = Write("pub.jwk", set["keys"][0].dump());
  EXPECT_EQ(Tessera({"jwt", "sign", "--jwk", pub, "{}"}).code, 2);
  EXPECT_EQ(Tessera({"jwt", "sign", "--jwk", jwk, "--alg", "ES384", "{}"}).code, 2);
}

TEST_F(Cli, DecodeSaysPlainlyItDidNotVerify) {
  auto [jwk, jwks] = KeyFiles("EdDSA");
  Outcome sign = Tessera({"jwt", "sign", "--jwk", jwk, R"({"sub":"bob","exp":1})"});
  ASSERT_EQ(sign.code, 0);
  Outcome decode = Tessera({"jwt", "decode", sign.out.substr(0, sign.out.size() - 1)});
  ASSERT_EQ(decode.code, 0) << decode.err;
  auto j = nlohmann::json::parse(decode.out);
  EXPECT_EQ(j["verified"], false);
  EXPECT_EQ(j["header"]["alg"], "EdDSA");
  EXPECT_EQ(j["payload"]["sub"], "bob");
  EXPECT_NE(decode.err.find("NOT VERIFIED"), std::string::npos);
  EXPECT_EQ(Tessera({"jwt", "decode", "garbage"}).code, 1);
}

TEST_F(Cli, VerifyReportsSkippedKeys) {
  auto [jwk, jwks] = KeyFiles("ES256");
  auto set = nlohmann::json::parse(Slurp(jwks));
  set["keys"].push_back({{"kty", "RSA"}, {"kid", "tiny"}, {"n", "AQAB"}, {"e", "AQAB"}});
  const std::string mixed = Write("mixed.jwks", set.dump());
  Outcome sign = Tessera({"jwt", "sign", "--jwk", jwk, R"({"exp":4102444800})"});
  Outcome r = Tessera({"jwt", "verify", "--jwks", mixed, sign.out.substr(0, sign.out.size() - 1)});
  EXPECT_EQ(r.code, 0) << r.err;
  EXPECT_NE(r.err.find("skipped key 1 (kid tiny)"), std::string::npos) << r.err;
}


// `tessera serve` startup failures follow the CLI contract: 2 for a configuration that cannot
// work, 1 for a store, file or port that fails; one line a person can act on, never a secret.
class ServeStartup : public Cli {
 protected:
  Outcome Serve(std::vector<std::string> args) {
    // A server that wrongly starts is stopped by timeout (exit 124), failing the test.
    const std::string bin = bin_;
    args.insert(args.begin(), {"20", bin, "serve"});
    bin_ = "timeout";
    Outcome r = Tessera(args);
    bin_ = bin;
    return r;
  }
  static size_t Lines(const std::string& s) { return std::count(s.begin(), s.end(), '\n'); }
};

TEST_F(ServeStartup, StoreUrlsWithPasswordsAreRedactedInErrors) {
  const std::string config = Write("redis.toml",
                                   "[session]\nstore = \"redis://admin:hunter2-secret@127.0.0.1:6379/0\"\n"
                                   "[users]\nstore = \"postgresql://app:pg-secret@db.example/app\"\n");
  Outcome r = Serve({"--config", config, "--data", (dir_ / "data").string(),
                     "--listen", "127.0.0.1:0"});
  // Neither store can be reached (db.example does not resolve): the start fails on the first,
  // with exit code 1 as for any store that cannot be opened.
  EXPECT_EQ(r.code, 1) << r.err;
  EXPECT_EQ(r.err.find("hunter2-secret"), std::string::npos) << r.err;
  EXPECT_EQ(r.err.find("pg-secret"), std::string::npos) << r.err;
  EXPECT_EQ(r.out.find("secret"), std::string::npos) << r.out;
  EXPECT_NE(r.err.find("store"), std::string::npos) << r.err;
  EXPECT_EQ(Lines(r.err), 1u) << r.err;
}

// A Redis that cannot be reached stops the start (no silent fallback to this host's files), in
// one line that names the store and not its password.
TEST_F(ServeStartup, AnUnreachableRedisStopsTheStartWithoutItsPassword) {
  const std::string config =
      Write("redis-down.toml", "[session]\nstore = \"redis://:hunter2-secret@127.0.0.1:1/0\"\n");
  Outcome r = Serve({"--config", config, "--data", (dir_ / "data").string(),
                     "--listen", "127.0.0.1:0"});
  EXPECT_EQ(r.code, 1) << r.err;
  EXPECT_EQ(r.err.find("hunter2-secret"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("session.store"), std::string::npos) << r.err;
  EXPECT_EQ(Lines(r.err), 1u) << r.err;
}

TEST_F(ServeStartup, APortInUseExitsWithOne) {
  const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  ASSERT_GE(fd, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ASSERT_EQ(::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr), 0);
  ASSERT_EQ(::listen(fd, 1), 0);
  socklen_t len = sizeof addr;
  ASSERT_EQ(::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len), 0);
  const std::string port = std::to_string(ntohs(addr.sin_port));
  Outcome r = Serve({"--data", (dir_ / "data").string(), "--listen", "127.0.0.1:" + port});
  ::close(fd);
  EXPECT_EQ(r.code, 1) << r.err;
  EXPECT_NE(r.err.find(port), std::string::npos) << r.err;
  EXPECT_EQ(Lines(r.err), 1u) << r.err;
}

TEST_F(ServeStartup, AnUnusableDataDirectoryExitsWithOne) {
  const std::string not_a_dir = Write("plain-file", "x");
  Outcome r = Serve({"--data", not_a_dir + "/data", "--listen", "127.0.0.1:0"});
  EXPECT_EQ(r.code, 1) << r.err;
  EXPECT_NE(r.err.find(not_a_dir), std::string::npos) << r.err;
  EXPECT_EQ(Lines(r.err), 1u) << r.err;
}

// The defect: a key file of the wrong length was silently replaced by a new key, which forgot what
// the old one keyed (every known device, the audit names). It is refused, and left as it was.
TEST_F(ServeStartup, AKeyFileOfTheWrongLengthIsRefusedAndKept) {
  const std::string data = (dir_ / "data").string();
  std::filesystem::create_directories(data);
  for (const char* file : {"audit-name.key", "device-cookie.key"}) {
    std::filesystem::remove(data + "/audit-name.key");
    std::filesystem::remove(data + "/device-cookie.key");
    const std::string path = data + "/" + file;
    {
      std::ofstream out(path, std::ios::binary);
      out << "only 17 bytes...\n";
    }
    std::filesystem::permissions(path, std::filesystem::perms::owner_read |
                                           std::filesystem::perms::owner_write);
    Outcome r = Serve({"--data", data, "--listen", "127.0.0.1:0"});
    EXPECT_EQ(r.code, 1) << r.err;
    EXPECT_NE(r.err.find(path + " holds 17 bytes, not a 32-byte key"), std::string::npos) << r.err;
    EXPECT_EQ(Lines(r.err), 1u) << r.err;
    EXPECT_EQ(std::filesystem::file_size(path), 17u);
  }
}

TEST_F(ServeStartup, ABadValueExitsWithTwo) {
  const std::string config = Write("bad.toml", "[session]\nidle_timeout = \"forever\"\n");
  Outcome r = Serve({"--config", config, "--data", (dir_ / "data").string()});
  EXPECT_EQ(r.code, 2) << r.err;
  EXPECT_NE(r.err.find("session.idle_timeout"), std::string::npos) << r.err;
}

// The first-user hint is a command that works when pasted, and only while there is no account.
TEST_F(ServeStartup, TheFirstUserHintWorksWhenPasted) {
  const std::string data = (dir_ / "data").string();
  // A short run, stopped by SIGINT (a graceful stop), shows what serve prints at start.
  const std::string bin = bin_;
  bin_ = "timeout";
  Outcome first = Tessera({"-s", "INT", "3", bin, "serve", "--data", data, "--listen", "127.0.0.1:0"});
  bin_ = bin;
  const std::string marker = "add the first with: ";
  const size_t at = first.out.find(marker);
  ASSERT_NE(at, std::string::npos) << first.out;
  std::string command = first.out.substr(at + marker.size());
  command = command.substr(0, command.find('\n'));
  // The command, as printed, with NAME filled in and the password on stdin.
  const size_t name_at = command.find(" NAME ");
  ASSERT_NE(name_at, std::string::npos) << command;
  command.replace(name_at, 6, " alice ");
  const std::string pasted = "cd " + Quote(fs::current_path()) + " && " + command +
                             " --password-stdin < " + Quote(Write("pw", "a long and unlisted passphrase 7f3\n")) +
                             " > /dev/null 2>&1";
  EXPECT_EQ(WEXITSTATUS(std::system(pasted.c_str())), 0) << pasted;
  bin_ = "timeout";
  Outcome second = Tessera({"-s", "INT", "3", bin, "serve", "--data", data, "--listen", "127.0.0.1:0"});
  bin_ = bin;
  EXPECT_NE(second.out.find("listening on"), std::string::npos) << second.out;
  EXPECT_EQ(second.out.find(marker), std::string::npos) << second.out;
}

}  // namespace
}  // namespace tessera
