// Request identity without sockets: cookies, the client address behind trusted proxies, and the
// RFC 6454 origin comparison of the CSRF check.
#include "request_identity.h"

#include <gtest/gtest.h>

namespace tessera::server {
namespace {

HttpRequest Req(std::vector<std::pair<std::string, std::string>> headers,
                std::string peer = "127.0.0.1") {
  HttpRequest r;
  r.method = "POST";
  r.target = "/v1/logout";
  r.headers = std::move(headers);
  r.peer_ip = std::move(peer);
  return r;
}

Config WithProxies(std::vector<std::string> proxies, bool tls = false) {
  Config c;
  c.server.trusted_proxies = std::move(proxies);
  if (tls) {
    c.server.tls_cert = "cert.pem";
    c.server.tls_key = "key.pem";
  }
  return c;
}

TEST(OriginTest, ParsesTheTripleWithDefaultPorts) {
  auto a = Origin::Parse("https://Auth.Example");
  ASSERT_TRUE(a);
  EXPECT_EQ(a->scheme, "https");
  EXPECT_EQ(a->host, "auth.example");
  EXPECT_EQ(a->port, 443);
  EXPECT_EQ(*a, *Origin::Parse("https://auth.example:443"));
  EXPECT_EQ(Origin::Parse("http://h")->port, 80);
  EXPECT_EQ(Origin::Parse("http://[::1]:8080")->host, "[::1]");
  for (const char* bad : {"null", "", "auth.example", "ftp://h", "https://", "https://h/",
                          "https://h:0", "https://h:65536", "https://h:x", "https://u@h",
                          "https://h?q", "https://h:"}) {
    EXPECT_FALSE(Origin::Parse(bad)) << bad;
  }
}

// The defect: the check compared hosts only, so an http:// page passed where https:// is the
// origin. Each part of the triple must match.
TEST(RequestIdentityTest, OriginMustMatchSchemeHostAndPort) {
  const RequestIdentity tls(WithProxies({}, /*tls=*/true));
  auto with = [](std::string origin, std::string host) {
    return Req({{"Origin", std::move(origin)}, {"Host", std::move(host)}});
  };
  EXPECT_TRUE(tls.OriginAllowed(with("https://auth.example", "auth.example")));
  EXPECT_TRUE(tls.OriginAllowed(with("https://auth.example:443", "auth.example")));
  EXPECT_TRUE(tls.OriginAllowed(with("https://AUTH.example", "auth.example:443")));
  EXPECT_FALSE(tls.OriginAllowed(with("http://auth.example", "auth.example")));       // scheme
  EXPECT_FALSE(tls.OriginAllowed(with("https://auth.example:8443", "auth.example")));  // port
  EXPECT_FALSE(tls.OriginAllowed(with("https://evil.example", "auth.example")));       // host
  EXPECT_FALSE(tls.OriginAllowed(with("https://auth.example.evil", "auth.example")));
  EXPECT_FALSE(tls.OriginAllowed(with("null", "auth.example")));

  const RequestIdentity plain(WithProxies({}));
  EXPECT_TRUE(plain.OriginAllowed(with("http://127.0.0.1:8080", "127.0.0.1:8080")));
  EXPECT_FALSE(plain.OriginAllowed(with("https://127.0.0.1:8080", "127.0.0.1:8080")));
  EXPECT_FALSE(plain.OriginAllowed(with("http://127.0.0.1:8081", "127.0.0.1:8080")));
  EXPECT_FALSE(plain.OriginAllowed(with("http://127.0.0.1", "127.0.0.1:8080")));
}

TEST(RequestIdentityTest, ForwardedProtoCountsOnlyFromATrustedProxy) {
  const RequestIdentity id(WithProxies({"10.0.0.0/8"}));
  auto via = [](std::string peer) {
    return Req({{"Origin", "https://app.example"},
                {"Host", "app.example"},
                {"X-Forwarded-Proto", "https"}},
               std::move(peer));
  };
  EXPECT_EQ(id.Scheme(via("10.1.2.3")), "https");
  EXPECT_TRUE(id.OriginAllowed(via("10.1.2.3")));
  // A client that is not the proxy cannot claim https to pass the check.
  EXPECT_EQ(id.Scheme(via("192.0.2.7")), "http");
  EXPECT_FALSE(id.OriginAllowed(via("192.0.2.7")));
}

TEST(RequestIdentityTest, AllowedOriginsCompareAsTriples) {
  Config c;
  c.server.allowed_origins = {"https://app.example"};
  const RequestIdentity id(c);
  auto from = [](std::string origin) {
    return Req({{"Origin", std::move(origin)}, {"Host", "auth.example"}});
  };
  EXPECT_TRUE(id.OriginAllowed(from("https://app.example")));
  EXPECT_TRUE(id.OriginAllowed(from("https://app.example:443")));
  EXPECT_FALSE(id.OriginAllowed(from("http://app.example")));
  EXPECT_FALSE(id.OriginAllowed(from("https://app.example:444")));
}

TEST(RequestIdentityTest, NoOriginIsRefusedOnlyWhenTheBrowserSaysCrossSite) {
  const RequestIdentity id(WithProxies({}));
  EXPECT_TRUE(id.OriginAllowed(Req({{"Host", "h"}})));
  EXPECT_TRUE(id.OriginAllowed(Req({{"Host", "h"}, {"Sec-Fetch-Site", "same-origin"}})));
  EXPECT_FALSE(id.OriginAllowed(Req({{"Host", "h"}, {"Sec-Fetch-Site", "cross-site"}})));
}

TEST(RequestIdentityTest, ClientIpBelievesForwardedForOnlyFromProxies) {
  const RequestIdentity id(WithProxies({"127.0.0.1", "10.0.0.0/8", "fd00::/8"}));
  // From a trusted proxy: the nearest hop that is not a proxy, from the right.
  EXPECT_EQ(id.ClientIp(Req({{"X-Forwarded-For", "203.0.113.9, 198.51.100.2, 10.0.0.5"}})),
            "198.51.100.2");
  EXPECT_EQ(id.ClientIp(Req({{"X-Forwarded-For", "2001:db8::1"}}, "fd00::2")), "2001:db8::1");
  // Garbage hops are skipped, never believed.
  EXPECT_EQ(id.ClientIp(Req({{"X-Forwarded-For", "203.0.113.9, not-an-ip"}})), "203.0.113.9");
  // All hops trusted, or none sent: the peer.
  EXPECT_EQ(id.ClientIp(Req({{"X-Forwarded-For", "10.0.0.1"}})), "127.0.0.1");
  EXPECT_EQ(id.ClientIp(Req({})), "127.0.0.1");
  // From anyone else the header is ignored.
  EXPECT_EQ(id.ClientIp(Req({{"X-Forwarded-For", "203.0.113.9"}}, "192.0.2.1")), "192.0.2.1");
}

TEST(IpRangeTest, MatchesAddressesAndRanges) {
  auto v4 = IpRange::Parse("10.0.0.0/8");
  ASSERT_TRUE(v4);
  EXPECT_TRUE(v4->Contains("10.255.1.1"));
  EXPECT_TRUE(v4->Contains("::ffff:10.1.1.1"));
  EXPECT_FALSE(v4->Contains("11.0.0.1"));
  auto v6 = IpRange::Parse("2001:db8::/32");
  ASSERT_TRUE(v6);
  EXPECT_TRUE(v6->Contains("2001:db8:ffff::1"));
  EXPECT_FALSE(v6->Contains("2001:db9::1"));
  EXPECT_FALSE(IpRange::Parse("10.0.0.0/33"));
  EXPECT_FALSE(IpRange::Parse("10.0.0.0/"));
  EXPECT_FALSE(IpRange::Parse("example.com"));
}

TEST(CookieValueTest, FindsTheNamedCookieAcrossHeaders) {
  HttpRequest r = Req({{"Cookie", "a=1; b=2"}, {"Cookie", "sid=xyz; c=3"}});
  EXPECT_EQ(CookieValue(r, "sid"), "xyz");
  EXPECT_EQ(CookieValue(r, "b"), "2");
  EXPECT_EQ(CookieValue(r, "d"), "");
  EXPECT_EQ(CookieValue(Req({{"Cookie", "sidx=1; xsid=2"}}), "sid"), "");
}

}  // namespace
}  // namespace tessera::server
