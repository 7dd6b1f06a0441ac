#include "config/values.h"

#include <gtest/gtest.h>

#include <chrono>
#include <string>

namespace tessera::config_internal {
namespace {

using std::chrono::seconds;

TEST(ParseDuration, AcceptsEachUnit) {
  EXPECT_EQ(*ParseDuration("90s"), seconds(90));
  EXPECT_EQ(*ParseDuration("30m"), seconds(30 * 60));
  EXPECT_EQ(*ParseDuration("12h"), seconds(12 * 3600));
  EXPECT_EQ(*ParseDuration("14d"), seconds(14 * 86400));
  EXPECT_EQ(*ParseDuration("1d"), seconds(86400));
  EXPECT_EQ(*ParseDuration("1s"), seconds(1));
}

TEST(ParseDuration, ZeroIsADuration) {
  // Zero is syntactically fine; keys that need a positive duration say so themselves.
  EXPECT_EQ(*ParseDuration("0s"), seconds(0));
  EXPECT_EQ(*ParseDuration("0d"), seconds(0));
}

TEST(ParseDuration, LeadingZerosAreDecimal) { EXPECT_EQ(*ParseDuration("007m"), seconds(420)); }

TEST(ParseDuration, MaximumIsAcceptedAndOneMoreIsNot) {
  EXPECT_EQ(*ParseDuration("36500d"), kMaxDuration);
  EXPECT_EQ(*ParseDuration("3153600000s"), kMaxDuration);
  EXPECT_EQ(*ParseDuration("52560000m"), kMaxDuration);
  EXPECT_EQ(*ParseDuration("876000h"), kMaxDuration);
  for (const char* text : {"36501d", "3153600001s", "52560001m", "876001h"}) {
    Result<seconds> d = ParseDuration(text);
    ASSERT_FALSE(d) << text;
    EXPECT_NE(d.error().message().find("too long"), std::string::npos) << d.error().message();
  }
}

TEST(ParseDuration, OverflowIsTooLongNotWrapped) {
  for (const char* text : {"9223372036854775807s", "9223372036854775808s",
                           "18446744073709551616s", "99999999999999999999999999d",
                           "106751991167301d"}) {
    Result<seconds> d = ParseDuration(text);
    ASSERT_FALSE(d) << text;
    EXPECT_NE(d.error().message().find("too long"), std::string::npos) << d.error().message();
  }
}

TEST(ParseDuration, NegativeIsRefusedAsNegative) {
  Result<seconds> d = ParseDuration("-5m");
  ASSERT_FALSE(d);
  EXPECT_NE(d.error().message().find("negative"), std::string::npos);
  EXPECT_FALSE(ParseDuration("-0s"));
}

TEST(ParseDuration, BareNumberNeedsAUnit) {
  Result<seconds> d = ParseDuration("90");
  ASSERT_FALSE(d);
  EXPECT_NE(d.error().message().find("no unit"), std::string::npos);
}

TEST(ParseDuration, RefusesEverythingElse) {
  for (const char* text : {"", "s", "m", "+5m", " 5m", "5m ", "5 m", "5M", "5S", "5H", "5D",
                           "1.5h", "1h30m", "5x", "5mm", "5ms", "5min", "5w", "5y", "0x10s",
                           "1e3s", "５s"}) {
    Result<seconds> d = ParseDuration(text);
    EXPECT_FALSE(d) << "\"" << text << "\"";
    if (!d) {
      EXPECT_EQ(d.error().code(), Code::kInvalidArgument);
    }
  }
  // An embedded NUL (as from a TOML "\u0000" escape) is not cut off.
  EXPECT_FALSE(ParseDuration(std::string_view("5s\0", 3)));
}

TEST(ParseDuration, MessageQuotesTheValueAndGivesExamples) {
  Result<seconds> d = ParseDuration("5x");
  ASSERT_FALSE(d);
  EXPECT_EQ(d.error().message(), "\"5x\" is not a duration (use 90s, 30m, 12h, 14d)");
}

TEST(FormatDuration, PicksTheLargestExactUnit) {
  EXPECT_EQ(FormatDuration(seconds(0)), "0s");
  EXPECT_EQ(FormatDuration(seconds(90)), "90s");
  EXPECT_EQ(FormatDuration(seconds(5400)), "90m");
  EXPECT_EQ(FormatDuration(seconds(3600)), "1h");
  EXPECT_EQ(FormatDuration(seconds(86400)), "1d");
  EXPECT_EQ(FormatDuration(seconds(86401)), "86401s");
  EXPECT_EQ(FormatDuration(kMaxDuration), "36500d");
}

TEST(FormatDuration, RoundTripsThroughParse) {
  for (int64_t s : {0L, 1L, 59L, 60L, 61L, 3599L, 3600L, 86399L, 86400L, 1209600L, 3153600000L}) {
    EXPECT_EQ(*ParseDuration(FormatDuration(seconds(s))), seconds(s)) << s;
  }
}

TEST(ParseRate, AcceptsUnitWordsAndDurations) {
  EXPECT_EQ(*ParseRate("5/min"), (Rate{5, seconds(60)}));
  EXPECT_EQ(*ParseRate("20/minute"), (Rate{20, seconds(60)}));
  EXPECT_EQ(*ParseRate("1/s"), (Rate{1, seconds(1)}));
  EXPECT_EQ(*ParseRate("1/sec"), (Rate{1, seconds(1)}));
  EXPECT_EQ(*ParseRate("1/second"), (Rate{1, seconds(1)}));
  EXPECT_EQ(*ParseRate("3/h"), (Rate{3, seconds(3600)}));
  EXPECT_EQ(*ParseRate("3/hour"), (Rate{3, seconds(3600)}));
  EXPECT_EQ(*ParseRate("2/d"), (Rate{2, seconds(86400)}));
  EXPECT_EQ(*ParseRate("2/day"), (Rate{2, seconds(86400)}));
  EXPECT_EQ(*ParseRate("100/15m"), (Rate{100, seconds(900)}));
  EXPECT_EQ(*ParseRate("10/1d"), (Rate{10, seconds(86400)}));
  EXPECT_EQ(*ParseRate("1000000/s"), (Rate{1000000, seconds(1)}));
}

TEST(ParseRate, RefusesZeroNegativeAndOutOfRange) {
  for (const char* text : {"0/min", "-1/min", "1000001/min", "5/0s", "5/2d", "5/86401s",
                           "99999999999999999999999/min"}) {
    EXPECT_FALSE(ParseRate(text)) << text;
  }
  EXPECT_NE(ParseRate("0/min").error().message().find("positive"), std::string::npos);
  EXPECT_NE(ParseRate("5/0s").error().message().find("positive"), std::string::npos);
}

TEST(ParseRate, RefusesMalformed) {
  for (const char* text : {"", "5", "5/", "/min", "5/week", "5/ min", "5 /min", "5/Min",
                           "5/m/s", "five/min", "5/1.5h", "5/min ", "5//min", "5/m"}) {
    EXPECT_FALSE(ParseRate(text)) << "\"" << text << "\"";
  }
}

TEST(FormatRate, RoundTripsThroughParse) {
  for (Rate r : {Rate{5, seconds(60)}, Rate{1, seconds(1)}, Rate{3, seconds(3600)},
                 Rate{2, seconds(86400)}, Rate{100, seconds(900)}, Rate{7, seconds(45)}}) {
    EXPECT_EQ(*ParseRate(FormatRate(r)), r) << FormatRate(r);
  }
  EXPECT_EQ(FormatRate(Rate{5, seconds(60)}), "5/min");
  EXPECT_EQ(FormatRate(Rate{100, seconds(900)}), "100/15m");
}

TEST(ParseHostPort, AcceptsIpv4Ipv6AndNames) {
  EXPECT_EQ(*ParseHostPort("127.0.0.1:8080"), (HostPort{"127.0.0.1", 8080}));
  EXPECT_EQ(*ParseHostPort("0.0.0.0:80"), (HostPort{"0.0.0.0", 80}));
  EXPECT_EQ(*ParseHostPort("[::1]:8080"), (HostPort{"::1", 8080}));
  EXPECT_EQ(*ParseHostPort("[::]:0"), (HostPort{"::", 0}));
  EXPECT_EQ(*ParseHostPort("[2001:db8::7]:443"), (HostPort{"2001:db8::7", 443}));
  EXPECT_EQ(*ParseHostPort("localhost:65535"), (HostPort{"localhost", 65535}));
  EXPECT_EQ(*ParseHostPort("auth-1.example.com:443"), (HostPort{"auth-1.example.com", 443}));
}

TEST(ParseHostPort, RefusesMalformed) {
  for (const char* text :
       {"", "8080", ":8080", "127.0.0.1", "127.0.0.1:", "127.0.0.1:65536", "127.0.0.1:-1",
        "127.0.0.1:+80", "127.0.0.1:8080 ", " 127.0.0.1:8080", "127.0.0.1:80a", "::1:8080",
        "[::1]", "[::1]8080", "[::1", "[zz]:80", "[127.0.0.1]:80", "[fe80::1%eth0]:80",
        "127.0.0.256:80", "1.2.3:80", "-bad.example:80", "bad-.example:80", "a_b:80",
        "a..b:80", "http://127.0.0.1:80", "127.0.0.1:99999999999999999999"}) {
    EXPECT_FALSE(ParseHostPort(text)) << "\"" << text << "\"";
  }
}

TEST(ParseHostPort, Ipv6WithoutBracketsGetsAHint) {
  Result<HostPort> hp = ParseHostPort("::1:8080");
  ASSERT_FALSE(hp);
  EXPECT_NE(hp.error().message().find("brackets"), std::string::npos);
}

TEST(FormatHostPort, BracketsIpv6) {
  EXPECT_EQ(FormatHostPort({"::1", 9000}), "[::1]:9000");
  EXPECT_EQ(FormatHostPort({"127.0.0.1", 8080}), "127.0.0.1:8080");
  EXPECT_EQ(FormatHostPort({"localhost", 0}), "localhost:0");
}

TEST(CheckAddressOrCidr, AcceptsAddressesAndRanges) {
  for (const char* text : {"10.0.0.1", "10.0.0.0/8", "0.0.0.0/0", "192.168.1.1/32", "::1",
                           "fd00::/8", "::/0", "2001:db8::/128"}) {
    EXPECT_TRUE(CheckAddressOrCidr(text).ok()) << text;
  }
  for (const char* text : {"", "10.0.0.0/33", "fd00::/129", "10.0.0.0/", "10.0.0.0/-1",
                           "proxy.example", "10.0.0.0/8/8", "10.0.0.1 ", "[::1]", "*"}) {
    EXPECT_FALSE(CheckAddressOrCidr(text).ok()) << text;
  }
}

TEST(CheckOrigin, AcceptsSchemeHostPortOnly) {
  for (const char* text : {"https://app.example", "http://localhost:3000", "https://[::1]:8443",
                           "http://127.0.0.1:8080"}) {
    EXPECT_TRUE(CheckOrigin(text).ok()) << text;
  }
  for (const char* text : {"*", "null", "", "app.example", "https://app.example/",
                           "https://app.example/path", "https://app.example?x", "ftp://x.example",
                           "https://", "https://app.example:99999", "https://u@app.example",
                           "HTTPS://app.example"}) {
    EXPECT_FALSE(CheckOrigin(text).ok()) << text;
  }
}

TEST(CheckIssuer, AcceptsHttpUrlsWithoutQueryOrFragment) {
  for (const char* text : {"http://127.0.0.1:8080", "https://id.example", "https://id.example/t1",
                           "https://[::1]:8443/"}) {
    EXPECT_TRUE(CheckIssuer(text).ok()) << text;
  }
  for (const char* text : {"", "id.example", "ftp://id.example", "https://", "https://id.example?x",
                           "https://id.example#x", "https://id example", "https://:80"}) {
    EXPECT_FALSE(CheckIssuer(text).ok()) << text;
  }
}

TEST(CheckCookieName, AcceptsTokensOnly) {
  for (const char* text : {"__Host-tessera_session", "sid", "a!#$%&'*+-.^_`|~z"}) {
    EXPECT_TRUE(CheckCookieName(text).ok()) << text;
  }
  for (const char* text : {"", "a b", "a=b", "a;b", "a,b", "\"a\"", "a\tb", "é"}) {
    EXPECT_FALSE(CheckCookieName(text).ok()) << text;
  }
  EXPECT_FALSE(CheckCookieName(std::string(257, 'a')).ok());
  EXPECT_TRUE(CheckCookieName(std::string(256, 'a')).ok());
}

TEST(CheckStoreUrls, SyntaxOnly) {
  EXPECT_TRUE(CheckRedisUrl("redis://127.0.0.1:6379/0").ok());
  EXPECT_TRUE(CheckRedisUrl("rediss://:pw@cache.example:6380").ok());
  EXPECT_FALSE(CheckRedisUrl("redis://").ok());
  EXPECT_FALSE(CheckRedisUrl("redis:///0").ok());
  EXPECT_FALSE(CheckRedisUrl("redis://:pw@/0").ok());
  EXPECT_FALSE(CheckRedisUrl("redis://a b").ok());
  EXPECT_FALSE(CheckRedisUrl("redis:/x").ok());
  EXPECT_TRUE(CheckRedisUrl("redis+sentinel://10.0.0.5:26379,10.0.0.6:26379/mymaster/0").ok());
  EXPECT_TRUE(CheckRedisUrl("rediss+sentinel://:p/w@s1/mymaster").ok());
  EXPECT_FALSE(CheckRedisUrl("redis+sentinel://10.0.0.5:26379").ok());  // no primary named
  EXPECT_FALSE(CheckRedisUrl("redis+sentinel://10.0.0.5:26379/").ok());
  EXPECT_FALSE(CheckRedisUrl("redis+sentinel://:p/w@s1").ok());
  EXPECT_FALSE(CheckRedisUrl("redis+sentinel:///mymaster").ok());
  EXPECT_TRUE(CheckRedisUrl("redis+cluster://10.0.0.5:6379,10.0.0.6:6379").ok());
  EXPECT_TRUE(CheckRedisUrl("rediss+cluster://:pw@c1:6380?ca_file=/etc/ca.pem").ok());
  EXPECT_FALSE(CheckRedisUrl("redis+cluster://").ok());
  EXPECT_FALSE(CheckRedisUrl("redis+clusters://h:6379").ok());
  EXPECT_TRUE(CheckPostgresUrl("postgresql://u:pw@db.example/tessera").ok());
  EXPECT_TRUE(CheckPostgresUrl("postgres://db/tessera?sslmode=require").ok());
  EXPECT_TRUE(CheckPostgresUrl("postgresql://").ok());  // libpq: the local socket
  EXPECT_FALSE(CheckPostgresUrl("postgresql:/db").ok());
  EXPECT_FALSE(CheckPostgresUrl("postgresql://db /x").ok());
}

TEST(RedactUrl, HidesPasswordsOnly) {
  EXPECT_EQ(RedactUrl("redis://:hunter2@127.0.0.1:6379/0"), "redis://:REDACTED@127.0.0.1:6379/0");
  EXPECT_EQ(RedactUrl("postgresql://u:hunter2@db/x"), "postgresql://u:REDACTED@db/x");
  EXPECT_EQ(RedactUrl("postgresql://db/x?sslmode=require&password=hunter2&user=u"),
            "postgresql://db/x?sslmode=require&password=REDACTED&user=u");
  EXPECT_EQ(RedactUrl("postgresql://db/x?password=hunter2"), "postgresql://db/x?password=REDACTED");
  EXPECT_EQ(RedactUrl("postgresql://u@db/x"), "postgresql://u@db/x");
  EXPECT_EQ(RedactUrl("redis://127.0.0.1:6379/0"), "redis://127.0.0.1:6379/0");
  EXPECT_EQ(RedactUrl("sqlite"), "sqlite");
  // A password with '@' in it: the authority ends at the last '@'.
  EXPECT_EQ(RedactUrl("redis://u:a@b@host/0"), "redis://u:REDACTED@host/0");
  EXPECT_EQ(RedactUrl("redis://:a/b@host/0"), "redis://:REDACTED@host/0");
  // Mistyped URLs still lose their password.
  EXPECT_EQ(RedactUrl("redis//:hunter2@cache"), "redis//:REDACTED@cache");
  EXPECT_EQ(RedactUrl("redis:hunter2@cache"), "redis:REDACTED@cache");
  // redis-cli reads a userinfo without ':' as the password.
  EXPECT_EQ(RedactUrl("redis://hunter2@cache/0"), "redis://REDACTED@cache/0");
  EXPECT_EQ(RedactUrl("redis+sentinel://s1,s2/m?sentinel_user=w&sentinel_password=hunter2"),
            "redis+sentinel://s1,s2/m?sentinel_user=w&sentinel_password=REDACTED");
}

TEST(TomlQuote, EscapesQuotesBackslashesAndControls) {
  EXPECT_EQ(TomlQuote("plain"), "\"plain\"");
  EXPECT_EQ(TomlQuote("a\"b\\c"), "\"a\\\"b\\\\c\"");
  EXPECT_EQ(TomlQuote("a\nb\tc"), "\"a\\nb\\tc\"");
  EXPECT_EQ(TomlQuote(std::string_view("\0\x1f\x7f", 3)), "\"\\u0000\\u001F\\u007F\"");
  EXPECT_EQ(TomlQuote("é"), "\"é\"");
}

}  // namespace
}  // namespace tessera::config_internal
