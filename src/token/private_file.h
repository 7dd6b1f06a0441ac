// Files that hold secrets (the signing keyset): written 0600 from the first byte and atomically,
// read only when no one but the owner can read them, and locked across processes with flock(2).
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "tessera/result.h"

namespace tessera::token {

// What tells one version of a file from another without reading it. A replacing rename always
// brings a new inode; size and mtime (nanoseconds) catch an inode number reused later.
struct FileIdentity {
  uint64_t device = 0;
  uint64_t inode = 0;
  int64_t size = 0;
  int64_t mtime_ns = 0;
  friend bool operator==(const FileIdentity&, const FileIdentity&) = default;
};

struct PrivateFile {
  std::string bytes;
  FileIdentity identity;  // of the very file the bytes came from
};

// The identity of the file at `path`; kNotFound when there is none.
Result<FileIdentity> StatFile(const std::string& path);

// Reads the file at `path`; nullopt when it does not exist. kPermissionDenied when group or
// others may read or write it, or it is not a regular file: a key others could read is a leaked
// key, so it is not used (as ssh refuses a private key with loose permissions).
Result<std::optional<PrivateFile>> ReadPrivateFile(const std::string& path, size_t max_bytes);

// Replaces the file at `path` with `bytes` so that a reader, or a crash at any point, sees the
// old content or the new, never a mix: a temporary file created 0600 (never readable by others,
// whatever the umask), written, fsync'ed, renamed over `path`, then the directory fsync'ed.
// REQUIRES: the caller holds the FileLock that guards `path` (the temporary name is fixed).
Result<FileIdentity> WritePrivateFile(const std::string& path, std::string_view bytes);

// An exclusive flock(2) on a lock file (created 0600), released when the object dies. flock
// locks belong to the open file description, so two FileLocks exclude each other also within one
// process.
class FileLock {
 public:
  // Blocks until the lock is held.
  static Result<FileLock> Acquire(const std::string& path);

  FileLock(FileLock&& other) noexcept;
  FileLock& operator=(FileLock&&) = delete;
  FileLock(const FileLock&) = delete;
  ~FileLock();

 private:
  explicit FileLock(int fd) : fd_(fd) {}
  int fd_;
};

}  // namespace tessera::token
