#include "tls_context.h"

#include <fcntl.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>

namespace tessera::server {
namespace {

// Mozilla's "intermediate" TLS 1.2 suites (as in docs/deploy/nginx.conf): forward secret AEAD
// only, so no CBC padding oracles, no RSA key exchange, no SHA-1 MACs. TLS 1.3 keeps OpenSSL's
// defaults, which are all AEAD.
constexpr char kTls12Ciphers[] =
    "ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-RSA-AES128-GCM-SHA256:ECDHE-ECDSA-AES256-GCM-SHA384:"
    "ECDHE-RSA-AES256-GCM-SHA384:ECDHE-ECDSA-CHACHA20-POLY1305:ECDHE-RSA-CHACHA20-POLY1305";

constexpr size_t kMaxPemBytes = 1 << 20;
constexpr std::string_view kCertKey = "server.tls_cert";
constexpr std::string_view kKeyKey = "server.tls_key";

Status TlsError(std::string_view key, const std::string& path, std::string_view what) {
  return Status(Code::kInvalidArgument, Reason::kBadConfig,
                std::string(key) + ": " + path + ": " + std::string(what));
}

// The first OpenSSL error as text ("key values mismatch", "no start line"), and the queue
// cleared; OpenSSL's messages name the defect, never key material.
std::string OpenSslReason() {
  const unsigned long e = ERR_peek_last_error();
  char buf[256] = "rejected by OpenSSL";
  if (e != 0) ERR_error_string_n(e, buf, sizeof buf);
  ERR_clear_error();
  const char* reason = ERR_reason_error_string(e);
  return reason ? reason : buf;
}

// Reads a PEM file whole. For the private key (`secret`), refuses a file that other users may
// read or write: the key is what makes this server the one its certificate names.
Result<std::string> ReadPem(std::string_view key, const std::string& path, bool secret) {
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NOCTTY);
  if (fd < 0) return TlsError(key, path, std::string("cannot open: ") + std::strerror(errno));
  struct FdCloser {
    int fd;
    ~FdCloser() { ::close(fd); }
  } closer{fd};
  struct stat st {};
  if (::fstat(fd, &st) != 0) {
    return TlsError(key, path, std::string("cannot stat: ") + std::strerror(errno));
  }
  if (!S_ISREG(st.st_mode)) return TlsError(key, path, "not a regular file");
  // Checked on the opened file, not the path, so a swap between check and read changes nothing.
  if (secret && (st.st_mode & S_IRWXO) != 0) {
    char mode[8];
    std::snprintf(mode, sizeof mode, "%04o", static_cast<unsigned>(st.st_mode & 07777));
    return TlsError(key, path,
                    std::string("private key file has mode ") + mode +
                        ", which lets other users on this host read or replace it; "
                        "run chmod o= on it (0600, or 0640 with a group such as ssl-cert)");
  }
  if (static_cast<size_t>(st.st_size) > kMaxPemBytes) {
    return TlsError(key, path, "larger than 1 MiB; not a PEM file");
  }
  std::string pem(static_cast<size_t>(st.st_size), '\0');
  size_t done = 0;
  while (done < pem.size()) {
    const ssize_t n = ::read(fd, pem.data() + done, pem.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return TlsError(key, path, std::string("cannot read: ") + std::strerror(errno));
    if (n == 0) break;
    done += static_cast<size_t>(n);
  }
  pem.resize(done);
  return pem;
}

// Wipes a buffer that held the private key, so it does not linger in freed heap memory.
struct PemWiper {
  std::string* pem;
  ~PemWiper() { OPENSSL_cleanse(pem->data(), pem->size()); }
};

struct BioFree {
  void operator()(BIO* b) const { BIO_free(b); }
};

// Loads the leaf certificate and the rest of the chain, in order, from PEM text.
bool UseCertificateChain(SSL_CTX* ctx, const std::string& pem) {
  std::unique_ptr<BIO, BioFree> bio(BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size())));
  if (!bio) return false;
  X509* leaf = PEM_read_bio_X509_AUX(bio.get(), nullptr, nullptr, nullptr);
  if (!leaf) return false;
  const bool ok = SSL_CTX_use_certificate(ctx, leaf) == 1;
  X509_free(leaf);
  if (!ok || SSL_CTX_clear_chain_certs(ctx) != 1) return false;
  while (X509* ca = PEM_read_bio_X509(bio.get(), nullptr, nullptr, nullptr)) {
    if (SSL_CTX_add0_chain_cert(ctx, ca) != 1) {
      X509_free(ca);
      return false;
    }
  }
  // The loop ends on "no start line" after the last certificate: that is the end, not an error.
  const unsigned long last = ERR_peek_last_error();
  if (ERR_GET_LIB(last) == ERR_LIB_PEM && ERR_GET_REASON(last) == PEM_R_NO_START_LINE) {
    ERR_clear_error();
  }
  return ERR_peek_error() == 0;
}

// No terminal prompt for a passphrase: a server must not block there.
int NoPassphrase(char*, int, int, void*) { return 0; }

}  // namespace

Result<SslCtxPtr> MakeTlsServerContext(const std::string& cert_file, const std::string& key_file) {
  if (cert_file.empty() != key_file.empty()) {
    const bool has_cert = !cert_file.empty();
    return Status(Code::kInvalidArgument, Reason::kBadConfig,
                  std::string(has_cert ? kKeyKey : kCertKey) + ": must be set together with " +
                      std::string(has_cert ? kCertKey : kKeyKey));
  }
  TESSERA_ASSIGN_OR_RETURN(const std::string cert_pem,
                           ReadPem(kCertKey, cert_file, /*secret=*/false));
  TESSERA_ASSIGN_OR_RETURN(std::string key_pem, ReadPem(kKeyKey, key_file, /*secret=*/true));
  PemWiper wipe{&key_pem};

  SslCtxPtr ctx(SSL_CTX_new(TLS_server_method()));
  // TLS 1.0 and 1.1 are deprecated (RFC 8996): BEAST, SHA-1 in the handshake, no AEAD.
  if (!ctx || SSL_CTX_set_min_proto_version(ctx.get(), TLS1_2_VERSION) != 1 ||
      SSL_CTX_set_cipher_list(ctx.get(), kTls12Ciphers) != 1) {
    return Status(Code::kInternal, Reason::kCrypto, "OpenSSL refused the TLS settings");
  }
  // No compression (CRIME), no renegotiation (its DoS and its injection attacks), no session
  // tickets (their key never rotates while the process runs, which would undo forward secrecy).
  // The client picks among the suites, all of them strong (Mozilla: prefer_server_ciphers off).
  SSL_CTX_set_options(ctx.get(),
                      SSL_OP_NO_COMPRESSION | SSL_OP_NO_RENEGOTIATION | SSL_OP_NO_TICKET);
  // Idle keep-alive connections give their 34 KiB of TLS buffers back.
  SSL_CTX_set_mode(ctx.get(), SSL_MODE_RELEASE_BUFFERS);

  ERR_clear_error();
  if (!UseCertificateChain(ctx.get(), cert_pem)) {
    return TlsError(kCertKey, cert_file,
                    "no usable PEM certificate chain (" + OpenSslReason() + ")");
  }
  std::unique_ptr<BIO, BioFree> bio(
      BIO_new_mem_buf(key_pem.data(), static_cast<int>(key_pem.size())));
  EVP_PKEY* pkey = bio ? PEM_read_bio_PrivateKey(bio.get(), nullptr, NoPassphrase, nullptr)
                       : nullptr;
  const bool key_ok = pkey && SSL_CTX_use_PrivateKey(ctx.get(), pkey) == 1;
  EVP_PKEY_free(pkey);
  if (!key_ok) {
    if (key_pem.find("ENCRYPTED") != std::string::npos) {
      ERR_clear_error();
      return TlsError(kKeyKey, key_file,
                      "the private key is encrypted; store it without a passphrase (mode 0600)");
    }
    // A key of the certificate's type that does not match it fails here ("key values mismatch").
    return TlsError(kKeyKey, key_file,
                    "no usable PEM private key for the certificate in server.tls_cert " +
                        cert_file + " (" + OpenSslReason() + ")");
  }
  // A key of another type (an EC key for an RSA certificate) loads without complaint; this
  // catches it, so the server never starts with credentials that fail every handshake.
  if (SSL_CTX_check_private_key(ctx.get()) != 1) {
    ERR_clear_error();
    return TlsError(kKeyKey, key_file,
                    "the private key does not match the certificate in server.tls_cert " +
                        cert_file);
  }
  ERR_clear_error();
  return ctx;
}

}  // namespace tessera::server
