#include "io.h"

#include <cstdio>
#include <fstream>
#include <iostream>
#include <iterator>

namespace tessera::cli {
namespace {

Result<std::string> ReadStream(std::istream& in, size_t max_bytes, const std::string& what) {
  std::string out;
  char buf[8192];
  while (in.read(buf, sizeof buf) || in.gcount() > 0) {
    out.append(buf, static_cast<size_t>(in.gcount()));
    if (out.size() > max_bytes) {
      return InvalidArgument(Reason::kTooLarge, what + " is larger than the limit");
    }
  }
  return out;
}

}  // namespace

Result<std::string> ReadFile(const std::string& path, size_t max_bytes) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return Status(Code::kNotFound, Reason::kIo, "cannot read " + path);
  return ReadStream(in, max_bytes, path);
}

Result<std::string> ReadStdin(size_t max_bytes) {
  return ReadStream(std::cin, max_bytes, "standard input");
}

Result<std::string> ArgOrStdin(const std::string& arg, size_t max_bytes) {
  std::string value;
  if (arg == "-") {
    TESSERA_ASSIGN_OR_RETURN(value, ReadStdin(max_bytes));
  } else {
    value = arg;
  }
  while (!value.empty() && (value.back() == '\n' || value.back() == '\r')) value.pop_back();
  return value;
}

int Fail(int code, std::string_view message) {
  std::cerr << "tessera: " << message << '\n';
  return code;
}

}  // namespace tessera::cli
