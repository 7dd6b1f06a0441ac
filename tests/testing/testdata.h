// Helpers for tests that read the test vectors under tests/vectors.
#pragma once

#include <cstdlib>
#include <fstream>
#include <sstream>
#include <stdexcept>
#include <string>

namespace tessera::testing {

// Directory tests/vectors (set by CMake through TESSERA_TESTDATA).
inline std::string TestdataDir() {
  const char* dir = std::getenv("TESSERA_TESTDATA");
  if (!dir || !*dir) throw std::runtime_error("TESSERA_TESTDATA is not set");
  return dir;
}

inline std::string ReadTestFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw std::runtime_error("cannot read " + path);
  std::ostringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

inline std::string FromHex(const std::string& hex) {
  if (hex.size() % 2) throw std::runtime_error("odd hex length");
  std::string out;
  out.reserve(hex.size() / 2);
  for (size_t i = 0; i < hex.size(); i += 2) {
    out.push_back(static_cast<char>(std::stoi(hex.substr(i, 2), nullptr, 16)));
  }
  return out;
}

}  // namespace tessera::testing
