// The OAuth 2.0 wire formats the token endpoints speak (RFC 6749): form-encoded request bodies
// and HTTP Basic client credentials. Pure functions over strings, tested on their own.
#pragma once

#include <map>
#include <optional>
#include <string>
#include <string_view>

namespace tessera::server {

// Parses an application/x-www-form-urlencoded body (WHATWG URL "application/x-www-form-urlencoded
// parser": '&'-separated name=value, '+' is a space, %XX escapes). nullopt when an escape is
// malformed, a name repeats (RFC 6749 section 3.2: parameters MUST NOT be included more than
// once), a name or value holds a NUL, or there are more than `max_params` parameters.
std::optional<std::map<std::string, std::string, std::less<>>> ParseForm(std::string_view body,
                                                                         size_t max_params = 32);

// Percent-decodes `s` (and '+' as a space when `plus_is_space`); nullopt on a malformed escape or
// a decoded NUL.
std::optional<std::string> PercentDecode(std::string_view s, bool plus_is_space);

struct BasicCredentials {
  std::string id;      // form-decoded (RFC 6749 section 2.3.1)
  std::string secret;  // form-decoded
  // As sent: many clients (curl -u) do not form-encode, and a secret with '+' or '%' would
  // otherwise never match.
  std::string raw_id;
  std::string raw_secret;
};

// The client credentials of an `Authorization: Basic ...` header value (RFC 7617), with the id and
// secret form-decoded as RFC 6749 section 2.3.1 says (and as sent). nullopt when the value is not
// Basic, the base64 is malformed, there is no ':', or the id does not form-decode.
std::optional<BasicCredentials> ParseBasicAuthorization(std::string_view header);

// The token of an `Authorization: Bearer TOKEN` header value (RFC 6750 section 2.1: scheme
// case-insensitive, one space, a token68). nullopt otherwise.
std::optional<std::string_view> ParseBearerAuthorization(std::string_view header);

}  // namespace tessera::server
