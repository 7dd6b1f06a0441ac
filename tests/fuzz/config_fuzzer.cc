// libFuzzer target: the configuration as an operator (or whoever can write its file or the
// environment) gives it: the TOML file and TESSERA_* variables through LoadConfig.
//
// Input: zero or more lines "NAME=value" (taken as TESSERA_NAME), a line "---", then the TOML
// file. Without a "---" line the whole input is the file.
//
// Properties beyond "no crash, no sanitizer report" (the fuzzer aborts when one fails):
//  - round trip: an accepted configuration, described (DescribeConfig: the TOML that
//    `serve --print-config` prints) and loaded again, is accepted and describes the same;
//  - a refusal is kInvalidArgument with a message (never kIo: the file is always readable).
#include <sys/mman.h>
#include <unistd.h>

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <string_view>

#include "tessera/config.h"

namespace {

[[noreturn]] void Fail(const char* what) {
  std::fprintf(stderr, "config_fuzzer: invariant violated: %s\n", what);
  std::abort();
}

// The file lives in memory: one memfd, rewritten for every load, read through /proc.
class MemFile {
 public:
  MemFile() : fd_(::memfd_create("tessera-config-fuzz", MFD_CLOEXEC)) {
    if (fd_ < 0) Fail("memfd_create failed");
    path_ = "/proc/self/fd/" + std::to_string(fd_);
  }
  const std::string& Write(std::string_view text) {
    if (::ftruncate(fd_, 0) != 0 ||
        ::pwrite(fd_, text.data(), text.size(), 0) != static_cast<ssize_t>(text.size())) {
      Fail("cannot write the memfd");
    }
    return path_;
  }

 private:
  int fd_;
  std::string path_;
};

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static MemFile file;
  std::string_view input(reinterpret_cast<const char*>(data), size);
  tessera::ConfigSources sources;
  if (const size_t sep = input.find("\n---\n");
      sep != std::string_view::npos || input.starts_with("---\n")) {
    std::string_view env = input.starts_with("---\n") ? std::string_view() : input.substr(0, sep);
    input = input.starts_with("---\n") ? input.substr(4) : input.substr(sep + 5);
    while (!env.empty()) {
      const size_t nl = env.find('\n');
      const std::string_view line = env.substr(0, nl);
      env = nl == std::string_view::npos ? std::string_view() : env.substr(nl + 1);
      const size_t eq = line.find('=');
      if (eq == std::string_view::npos) continue;
      sources.env["TESSERA_" + std::string(line.substr(0, eq))] = std::string(line.substr(eq + 1));
    }
  }
  sources.file = file.Write(input);
  auto config = tessera::LoadConfig(sources);
  if (!config) {
    if (config.error().code() != tessera::Code::kInvalidArgument)
      Fail("a refusal that is not kInvalidArgument");
    if (config.error().message().empty()) Fail("a refusal without a message");
    return 0;
  }
  const std::string described = tessera::DescribeConfig(*config);
  tessera::ConfigSources again;
  again.file = file.Write(described);
  auto reloaded = tessera::LoadConfig(again);
  if (!reloaded) {
    std::fprintf(stderr, "%s\n---\n%s\n", described.c_str(), reloaded.error().message().c_str());
    Fail("the described configuration is refused");
  }
  if (tessera::DescribeConfig(*reloaded) != described)
    Fail("the round trip changes the configuration");
  return 0;
}
