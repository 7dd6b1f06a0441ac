#include "token/private_file.h"

#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <utility>

namespace tessera::token {
namespace {

Status IoError(const std::string& what, const std::string& path) {
  return Status(Code::kUnavailable, Reason::kIo, what + " " + path + ": " + std::strerror(errno));
}

FileIdentity IdentityOf(const struct stat& st) {
  return {.device = static_cast<uint64_t>(st.st_dev),
          .inode = static_cast<uint64_t>(st.st_ino),
          .size = static_cast<int64_t>(st.st_size),
          .mtime_ns = static_cast<int64_t>(st.st_mtim.tv_sec) * 1000000000 + st.st_mtim.tv_nsec};
}

// Closes `fd` on every path out of a function.
class Fd {
 public:
  explicit Fd(int fd) : fd_(fd) {}
  ~Fd() {
    if (fd_ >= 0) ::close(fd_);
  }
  Fd(const Fd&) = delete;
  Fd& operator=(const Fd&) = delete;
  int get() const { return fd_; }
  // Closes now and reports the error close(2) may return (a deferred write error).
  bool Close() { return ::close(std::exchange(fd_, -1)) == 0; }

 private:
  int fd_;
};

bool WriteAll(int fd, std::string_view bytes) {
  while (!bytes.empty()) {
    const ssize_t n = ::write(fd, bytes.data(), bytes.size());
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return false;
    bytes.remove_prefix(static_cast<size_t>(n));
  }
  return true;
}

Status SyncDirectoryOf(const std::string& path) {
  const std::string parent = std::filesystem::path(path).parent_path().string();
  const std::string dir = parent.empty() ? std::string(".") : parent;
  Fd fd(::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  if (fd.get() < 0) return IoError("cannot open", dir);
  // The rename is durable only once the directory entry is on disk.
  if (::fsync(fd.get()) != 0) return IoError("cannot sync", dir);
  return Status::Ok();
}

}  // namespace

Result<FileIdentity> StatFile(const std::string& path) {
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0) {
    if (errno == ENOENT) return Status(Code::kNotFound, Reason::kIo, path + " does not exist");
    return IoError("cannot stat", path);
  }
  return IdentityOf(st);
}

Result<std::optional<PrivateFile>> ReadPrivateFile(const std::string& path, size_t max_bytes) {
  Fd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
  if (fd.get() < 0) {
    if (errno == ENOENT) return std::optional<PrivateFile>();
    return IoError("cannot open", path);
  }
  struct stat st {};
  if (::fstat(fd.get(), &st) != 0) return IoError("cannot stat", path);
  if (!S_ISREG(st.st_mode)) {
    return Status(Code::kPermissionDenied, Reason::kIo, path + " is not a regular file");
  }
  // Private keys readable by others are as good as published: refuse them (KM-02).
  if ((st.st_mode & 077) != 0) {
    return Status(Code::kPermissionDenied, Reason::kIo,
                  path + " is accessible to group or others; make it owner-only (chmod 600)");
  }
  if (static_cast<uint64_t>(st.st_size) > max_bytes) {
    return Status(Code::kInvalidArgument, Reason::kTooLarge, path + " is too large");
  }
  PrivateFile file;
  file.identity = IdentityOf(st);
  file.bytes.resize(static_cast<size_t>(st.st_size));
  size_t got = 0;
  while (got < file.bytes.size()) {
    const ssize_t n = ::read(fd.get(), file.bytes.data() + got, file.bytes.size() - got);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return IoError("cannot read", path);
    if (n == 0) break;
    got += static_cast<size_t>(n);
  }
  // Files are only ever replaced by rename, never rewritten in place, so a short read means
  // someone else truncated it: treat the content as what it now is.
  file.bytes.resize(got);
  return std::optional<PrivateFile>(std::move(file));
}

Result<FileIdentity> WritePrivateFile(const std::string& path, std::string_view bytes) {
  const std::string tmp = path + ".tmp";
  // A leftover of a writer that crashed; the caller's lock guarantees no writer is live.
  if (::unlink(tmp.c_str()) != 0 && errno != ENOENT) return IoError("cannot remove", tmp);
  // O_EXCL | O_NOFOLLOW: never write through a link planted at the temporary name.
  Fd fd(::open(tmp.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600));
  if (fd.get() < 0) return IoError("cannot create", tmp);
  // 0600 at creation already (the umask can only take bits away); fchmod makes it exactly 0600
  // even under a umask that would deny the owner.
  struct stat st {};
  bool ok = ::fchmod(fd.get(), 0600) == 0 && WriteAll(fd.get(), bytes) && ::fsync(fd.get()) == 0 &&
            ::fstat(fd.get(), &st) == 0;
  Status status = ok ? Status::Ok() : IoError("cannot write", tmp);
  if (ok && !fd.Close()) status = IoError("cannot write", tmp);
  if (status.ok() && ::rename(tmp.c_str(), path.c_str()) != 0) {
    status = IoError("cannot rename over", path);
  }
  if (!status.ok()) {
    ::unlink(tmp.c_str());
    return status;
  }
  TESSERA_RETURN_IF_ERROR(SyncDirectoryOf(path));
  return IdentityOf(st);  // rename keeps the inode, size and mtime of the temporary file
}

Result<FileLock> FileLock::Acquire(const std::string& path) {
  const int fd = ::open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0600);
  if (fd < 0) return IoError("cannot open", path);
  FileLock lock(fd);
  while (::flock(fd, LOCK_EX) != 0) {
    if (errno != EINTR) return IoError("cannot lock", path);
  }
  return lock;
}

FileLock::FileLock(FileLock&& other) noexcept : fd_(std::exchange(other.fd_, -1)) {}

FileLock::~FileLock() {
  if (fd_ >= 0) ::close(fd_);  // releases the lock
}

}  // namespace tessera::token
