// The bytes a hostile or broken Redis (or whatever answers on its port) could send: fed to the
// reply parser in chunks of a size the input picks, as a socket would deliver them. Every reply
// that parses is written back as RESP and must parse again to the same reply; the parser must
// never crash, hang or buffer past its bound.
#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>

#include "store/redis/client.h"

namespace {

using tessera::store::redis::Reply;
using tessera::store::redis::ReplyParser;

constexpr size_t kMaxReplyBytes = size_t{1} << 16;

void Encode(const Reply& r, std::string& out) {
  switch (r.type) {
    case Reply::Type::kNil:
      out += "$-1\r\n";
      break;
    case Reply::Type::kStatus:
      out += "+" + r.str + "\r\n";
      break;
    case Reply::Type::kError:
      out += "-" + r.str + "\r\n";
      break;
    case Reply::Type::kInteger:
      out += ":" + std::to_string(r.integer) + "\r\n";
      break;
    case Reply::Type::kString:
      out += "$" + std::to_string(r.str.size()) + "\r\n" + r.str + "\r\n";
      break;
    case Reply::Type::kArray:
      out += "*" + std::to_string(r.elements.size()) + "\r\n";
      for (const Reply& e : r.elements) Encode(e, out);
      break;
  }
}

bool Same(const Reply& a, const Reply& b) {
  if (a.type != b.type || a.str != b.str || a.integer != b.integer ||
      a.elements.size() != b.elements.size()) {
    return false;
  }
  for (size_t i = 0; i < a.elements.size(); ++i) {
    if (!Same(a.elements[i], b.elements[i])) return false;
  }
  return true;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  const size_t chunk = 1 + data[0] % 64;
  std::string_view rest(reinterpret_cast<const char*>(data) + 1, size - 1);
  ReplyParser parser(kMaxReplyBytes);
  while (!rest.empty()) {
    const std::string_view piece = rest.substr(0, chunk);
    rest.remove_prefix(piece.size());
    if (!parser.Feed(piece).ok()) return 0;  // past the bound: the connection would break
    while (true) {
      auto next = parser.Next();
      if (!next) return 0;  // not RESP: the connection would break
      if (!*next) break;
      std::string again;
      Encode(**next, again);
      // At least the first parser's bounds (bytes and elements), and room for the encoding.
      ReplyParser check(std::max(again.size() + 1, kMaxReplyBytes));
      if (!check.Feed(again).ok()) std::abort();
      auto round = check.Next();
      if (!round || !*round || !Same(**round, **next)) std::abort();
    }
  }
  return 0;
}
