#include "core/log.h"

#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdlib>
#include <fstream>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "core/json.h"

namespace tessera::log {
namespace {

std::string Escaped(std::string_view s) {
  std::string out;
  AppendJsonEscaped(out, s);
  return out;
}

// Whatever the input, the escaped text inside quotes is one valid JSON string that decodes to
// the input's valid parts.
void ExpectValidJsonString(std::string_view input) {
  const std::string doc = "\"" + Escaped(input) + "\"";
  auto parsed = json::ParseStrict(doc);
  ASSERT_TRUE(parsed) << doc;
  EXPECT_TRUE(parsed->is_string());
}

TEST(AppendJsonEscaped, EscapesWhatCouldBreakALine) {
  EXPECT_EQ(Escaped("plain /v1/auth"), "plain /v1/auth");
  EXPECT_EQ(Escaped("a\"b\\c"), "a\\\"b\\\\c");
  EXPECT_EQ(Escaped("x\r\n{\"event\":1}"), "x\\u000d\\u000a{\\\"event\\\":1}");
  EXPECT_EQ(Escaped(std::string_view("\0\x1f\x7f", 3)), "\\u0000\\u001f\\u007f");
}

TEST(AppendJsonEscaped, KeepsValidUtf8AndReplacesTheRest) {
  EXPECT_EQ(Escaped("Jos\xc3\xa9 \xf0\x9f\x94\x91"), "Jos\xc3\xa9 \xf0\x9f\x94\x91");
  EXPECT_EQ(Escaped("\xc3"), "\\ufffd");                  // truncated sequence
  EXPECT_EQ(Escaped("\xc0\xaf"), "\\ufffd\\ufffd");       // overlong '/'
  EXPECT_EQ(Escaped("\xed\xa0\x80"), "\\ufffd\\ufffd\\ufffd");  // a surrogate
  EXPECT_EQ(Escaped("\xf4\x90\x80\x80"), "\\ufffd\\ufffd\\ufffd\\ufffd");  // > U+10FFFF
  EXPECT_EQ(Escaped("\xff"), "\\ufffd");
  for (std::string_view s : {"\xe2\x82", "a\xe2\x82\xac", "\xf0\x9f\x94", "\x80\x80 x", "\xc3\x28"}) {
    ExpectValidJsonString(s);
  }
}

TEST(Timestamp, IsRfc3339UtcWithMilliseconds) {
  const auto t = std::chrono::system_clock::time_point(std::chrono::milliseconds(1795000000123));
  EXPECT_EQ(Timestamp(t), "2026-11-18T11:06:40.123Z");
}

TEST(ToLine, ReplacesInvalidUtf8InsteadOfThrowing) {
  nlohmann::json j = {{"ua", std::string("bad \xff byte")}};
  EXPECT_EQ(ToLine(j), "{\"ua\":\"bad \xef\xbf\xbd byte\"}");
}

class LogFileTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/tessera-log-XXXXXX";
    ASSERT_NE(mkdtemp(tmpl), nullptr);
    dir_ = tmpl;
  }
  void TearDown() override { std::system(("rm -rf " + dir_).c_str()); }
  std::vector<std::string> Lines(const std::string& path) {
    std::ifstream in(path);
    std::vector<std::string> out;
    for (std::string line; std::getline(in, line);) out.push_back(line);
    return out;
  }
  std::string dir_;
};

TEST_F(LogFileTest, AuditEventsAreLinesOfJsonInAPrivateFile) {
  const std::string path = dir_ + "/audit.log";
  auto audit = AuditLog::Open(path);
  ASSERT_TRUE(audit);
  (*audit)->Record("login.failed", {{"username", "eve\n{\"event\":\"x\"}"}, {"ip", "::1"}});
  (*audit)->Record("logout");
  struct stat st {};
  ASSERT_EQ(stat(path.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600u);
  const auto lines = Lines(path);
  ASSERT_EQ(lines.size(), 2u);
  auto first = json::ParseStrict(lines[0]);
  ASSERT_TRUE(first);
  EXPECT_EQ((*first)["log"], "audit");
  EXPECT_EQ((*first)["event"], "login.failed");
  EXPECT_EQ((*first)["username"], "eve\n{\"event\":\"x\"}");
  EXPECT_EQ((*first)["ip"], "::1");
  EXPECT_TRUE((*first)["ts"].is_string());
}

TEST_F(LogFileTest, ConcurrentWritersNeverInterleaveLines) {
  const std::string path = dir_ + "/audit.log";
  auto a = AuditLog::Open(path);
  auto b = AuditLog::Open(path);  // like the CLI and the server appending to one file
  ASSERT_TRUE(a && b);
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    AuditLog* log = (t % 2 ? *a : *b).get();
    threads.emplace_back([log, t] {
      for (int i = 0; i < 200; ++i) log->Record("e", {{"t", t}, {"pad", std::string(500, 'x')}});
    });
  }
  for (auto& t : threads) t.join();
  const auto lines = Lines(path);
  ASSERT_EQ(lines.size(), 800u);
  for (const auto& l : lines) ASSERT_TRUE(json::ParseStrict(l)) << l.substr(0, 80);
}

TEST_F(LogFileTest, AccessLogIsFlushedInTheBackgroundAndOnClose) {
  const std::string path = dir_ + "/access.log";
  auto log = AccessLog::Open(path);
  ASSERT_TRUE(log);
  ASSERT_NE(log->get(), nullptr);
  (*log)->Append("{\"n\":1}");
  for (int i = 0; i < 50 && Lines(path).empty(); ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  EXPECT_EQ(Lines(path), std::vector<std::string>{"{\"n\":1}"});
  (*log)->Append("{\"n\":2}");
  log->reset();  // the destructor flushes what is left
  EXPECT_EQ(Lines(path).size(), 2u);
}

TEST_F(LogFileTest, OffMeansNoLogAndABadPathIsAnError) {
  auto off = AccessLog::Open("off");
  ASSERT_TRUE(off);
  EXPECT_EQ(off->get(), nullptr);
  auto bad = AuditLog::Open(dir_ + "/missing/dir/audit.log");
  ASSERT_FALSE(bad);
  EXPECT_NE(bad.error().message().find("missing/dir/audit.log"), std::string::npos);
}

}  // namespace
}  // namespace tessera::log
