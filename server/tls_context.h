// The TLS server context of server.tls_cert / server.tls_key, built with OpenSSL alone (no Asio),
// so the checks on the files stay out of the Beast translation unit: TLS 1.2+, Mozilla
// "intermediate" suites, no compression, renegotiation or tickets; the key file must not be
// readable by other users, must not be encrypted, and must match the certificate.
#pragma once

#include <openssl/ssl.h>

#include <memory>
#include <string>

#include "tessera/result.h"

namespace tessera::server {

struct SslCtxFree {
  void operator()(SSL_CTX* ctx) const { SSL_CTX_free(ctx); }
};
using SslCtxPtr = std::unique_ptr<SSL_CTX, SslCtxFree>;

// Errors: kInvalidArgument (kBadConfig) naming the config key and the file; kInternal when
// OpenSSL refuses the fixed settings.
Result<SslCtxPtr> MakeTlsServerContext(const std::string& cert_file, const std::string& key_file);

}  // namespace tessera::server
