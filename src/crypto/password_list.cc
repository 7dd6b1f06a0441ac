#include "crypto/password_list.h"

#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <vector>

namespace tessera::crypto {
namespace {

// Every kSampleEvery-th entry is kept decoded in the index: the bisection lands on one of them and
// at most kSampleEvery - 1 front-coded entries are decoded after it.
constexpr size_t kSampleEvery = 16;
// The format's cap on the shared-prefix length ('0' + 78 is '~', the last printable character).
constexpr size_t kMaxShared = 78;

// data/common-passwords/common-passwords.fc: entries sorted bytewise, one a line, each line one
// character '0' + n (n: bytes shared with the previous entry), then the rest of the entry, then
// "\n" (README.md there).
struct Index {
  std::string_view data;
  std::string samples;                // the sampled entries, concatenated
  std::vector<uint32_t> sample_ends;  // where sampled entry k ends in `samples`
  std::vector<uint32_t> next_line;    // where the line after sampled entry k starts in `data`
  size_t count = 0;
  size_t longest = 0;

  std::string_view Sample(size_t k) const {
    const size_t begin = k == 0 ? 0 : sample_ends[k - 1];
    return std::string_view(samples).substr(begin, sample_ends[k] - begin);
  }
};

// A list that does not decode is a broken build, and a policy that quietly accepted every password
// would be worse than no server: stop.
[[noreturn]] void Corrupt(size_t entry) {
  std::fprintf(stderr, "tessera: the embedded common-password list is corrupt at entry %zu\n",
               entry);
  std::abort();
}

Index Decode() {
  Index index;
  const std::span<const EmbeddedFile> files = EmbeddedPasswordListFiles();
  if (files.size() != 1) Corrupt(0);
  index.data = files[0].Data();
  const std::string_view data = index.data;
  std::string current;
  size_t pos = 0;
  while (pos < data.size()) {
    const size_t end = data.find('\n', pos);
    if (end == std::string_view::npos || end == pos) Corrupt(index.count);
    const auto code = static_cast<unsigned char>(data[pos]);
    if (code < '0' || code > '0' + kMaxShared) Corrupt(index.count);
    const size_t shared = code - '0';
    if (shared > current.size()) Corrupt(index.count);
    std::string previous = current;
    current.resize(shared);
    current.append(data.substr(pos + 1, end - pos - 1));
    // Strictly increasing, so bisection is sound and there are no duplicates.
    if (current.empty() || (index.count > 0 && !(previous < current))) Corrupt(index.count);
    pos = end + 1;
    if (index.count % kSampleEvery == 0) {
      index.samples += current;
      index.sample_ends.push_back(static_cast<uint32_t>(index.samples.size()));
      index.next_line.push_back(static_cast<uint32_t>(pos));
    }
    index.longest = std::max(index.longest, current.size());
    ++index.count;
  }
  if (index.count == 0) Corrupt(0);
  index.samples.shrink_to_fit();
  return index;
}

const Index& GetIndex() {
  static const Index index = Decode();  // thread-safe one-time initialisation (C++11 and later)
  return index;
}

}  // namespace

std::string FoldAsciiCase(std::string_view s) {
  std::string out(s);
  for (char& c : out) {
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
  }
  return out;
}

bool IsCommonPassword(std::string_view password) {
  const Index& index = GetIndex();
  if (password.empty() || password.size() > index.longest) return false;
  const std::string wanted = FoldAsciiCase(password);
  // The last sampled entry <= wanted (std::string comparison is bytewise, unsigned, like the
  // generator's sort).
  size_t lo = 0;
  size_t hi = index.sample_ends.size();
  while (lo < hi) {
    const size_t mid = lo + (hi - lo) / 2;
    if (index.Sample(mid) <= std::string_view(wanted)) {
      lo = mid + 1;
    } else {
      hi = mid;
    }
  }
  if (lo == 0) return false;  // before the first entry
  const size_t k = lo - 1;
  std::string current(index.Sample(k));
  if (current == wanted) return true;
  size_t pos = index.next_line[k];
  for (size_t i = 1; i < kSampleEvery && pos < index.data.size(); ++i) {
    const size_t end = index.data.find('\n', pos);
    current.resize(static_cast<unsigned char>(index.data[pos]) - size_t{'0'});
    current.append(index.data.substr(pos + 1, end - pos - 1));
    pos = end + 1;
    if (current == wanted) return true;
    if (current > wanted) return false;
  }
  return false;
}

size_t CommonPasswordCount() { return GetIndex().count; }

}  // namespace tessera::crypto
