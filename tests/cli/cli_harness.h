// Runs the real `tessera` binary (TESSERA_BIN) in a temporary directory and captures its exit
// code, stdout and stderr.
#pragma once

#include <gtest/gtest.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "tessera/jose/jwk.h"

namespace tessera {

namespace fs = std::filesystem;

struct Outcome {
  int code = -1;
  std::string out, err;
};

inline std::string Quote(const std::string& s) {
  std::string q = "'";
  for (char c : s) q += c == '\'' ? std::string("'\\''") : std::string(1, c);
  return q + "'";
}

inline std::string Slurp(const fs::path& p) {
  std::ifstream in(p);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

class Cli : public ::testing::Test {
 protected:
  void SetUp() override {
    const char* bin = std::getenv("TESSERA_BIN");
    ASSERT_TRUE(bin && *bin) << "TESSERA_BIN not set";
    bin_ = bin;
    char tmpl[] = "/tmp/tessera-cli-XXXXXX";
    ASSERT_NE(mkdtemp(tmpl), nullptr);
    dir_ = tmpl;
  }
  void TearDown() override { fs::remove_all(dir_); }

  Outcome Tessera(const std::vector<std::string>& args, const std::string& stdin_text = "") {
    std::ofstream(dir_ / "in") << stdin_text;
    std::string cmd = Quote(bin_);
    for (const auto& a : args) cmd += " " + Quote(a);
    cmd += " <" + Quote(dir_ / "in") + " >" + Quote(dir_ / "out") + " 2>" + Quote(dir_ / "err");
    const int status = std::system(cmd.c_str());
    Outcome r;
    r.code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
    r.out = Slurp(dir_ / "out");
    r.err = Slurp(dir_ / "err");
    return r;
  }

  std::string Write(const std::string& name, const std::string& content) {
    std::ofstream(dir_ / name) << content;
    return dir_ / name;
  }

  // A private key file and the matching public JWKS file for `alg`.
  std::pair<std::string, std::string> KeyFiles(const std::string& alg) {
    Outcome gen = Tessera({"keys", "generate", "--alg", alg, "--kid", "k1"});
    EXPECT_EQ(gen.code, 0) << gen.err;
    auto key = jose::Jwk::Parse(gen.out);
    EXPECT_TRUE(key);
    std::string pub = key->is_symmetric() ? key->ToJson(true) : key->ToJson(false);
    return {Write(alg + ".jwk", gen.out), Write(alg + ".jwks", "{\"keys\":[" + pub + "]}")};
  }

  std::string bin_;
  fs::path dir_;
};

}  // namespace tessera
