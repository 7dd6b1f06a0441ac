#include "token/private_file.h"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <string>

namespace tessera::token {
namespace {

namespace fs = std::filesystem;

class PrivateFileTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/tessera-private-file-XXXXXX";
    ASSERT_NE(mkdtemp(tmpl), nullptr);
    dir_ = tmpl;
  }
  void TearDown() override { fs::remove_all(dir_); }

  static mode_t ModeOf(const fs::path& p) {
    struct stat st {};
    EXPECT_EQ(::lstat(p.c_str(), &st), 0) << p;
    return st.st_mode & 07777;
  }

  fs::path dir_;
};

TEST_F(PrivateFileTest, WriteIsOwnerOnlyWhateverTheUmask) {
  for (mode_t mask : {mode_t{0}, mode_t{022}, mode_t{0377}}) {
    const mode_t old = ::umask(mask);
    const std::string path = dir_ / ("f" + std::to_string(mask));
    auto id = WritePrivateFile(path, "secret");
    ::umask(old);
    ASSERT_TRUE(id) << id.error().ToString();
    EXPECT_EQ(ModeOf(path), 0600u) << "umask " << mask;
    EXPECT_FALSE(fs::exists(path + ".tmp"));
    auto read = ReadPrivateFile(path, 100);
    ASSERT_TRUE(read && *read);
    EXPECT_EQ((*read)->bytes, "secret");
    EXPECT_EQ((*read)->identity, *id);
  }
}

TEST_F(PrivateFileTest, ReplacingGivesANewIdentity) {
  const std::string path = dir_ / "f";
  auto a = WritePrivateFile(path, "one");
  auto b = WritePrivateFile(path, "one");
  ASSERT_TRUE(a && b);
  EXPECT_NE(*a, *b);
  auto now = StatFile(path);
  ASSERT_TRUE(now);
  EXPECT_EQ(*now, *b);
}

TEST_F(PrivateFileTest, LinkPlantedAtTheTemporaryNameIsNotFollowed) {
  const std::string path = dir_ / "f";
  const fs::path victim = dir_ / "victim";
  std::ofstream(victim) << "untouched";
  fs::create_symlink(victim, path + ".tmp");
  ASSERT_TRUE(WritePrivateFile(path, "secret"));
  std::ifstream in(victim);
  std::string content((std::istreambuf_iterator<char>(in)), {});
  EXPECT_EQ(content, "untouched");
  EXPECT_EQ(ModeOf(path), 0600u);
}

TEST_F(PrivateFileTest, ReadRefusesWhatOthersCanReadOrWrite) {
  const std::string path = dir_ / "f";
  ASSERT_TRUE(WritePrivateFile(path, "secret"));
  for (mode_t mode : {0640, 0604, 0620, 0602, 0644}) {
    ASSERT_EQ(::chmod(path.c_str(), mode), 0);
    auto read = ReadPrivateFile(path, 100);
    ASSERT_FALSE(read) << std::oct << mode;
    EXPECT_EQ(read.error().code(), Code::kPermissionDenied);
    EXPECT_EQ(read.error().message().find("secret"), std::string::npos);
  }
  ASSERT_EQ(::chmod(path.c_str(), 0400), 0);
  EXPECT_TRUE(ReadPrivateFile(path, 100));
}

TEST_F(PrivateFileTest, ReadOfAMissingFileIsEmptyNotAnError) {
  auto read = ReadPrivateFile(dir_ / "absent", 100);
  ASSERT_TRUE(read);
  EXPECT_FALSE(read->has_value());
  auto st = StatFile(dir_ / "absent");
  ASSERT_FALSE(st);
  EXPECT_EQ(st.error().code(), Code::kNotFound);
}

TEST_F(PrivateFileTest, ReadRefusesOversizedFilesAndDirectories) {
  const std::string path = dir_ / "f";
  ASSERT_TRUE(WritePrivateFile(path, std::string(101, 'x')));
  EXPECT_FALSE(ReadPrivateFile(path, 100));
  EXPECT_TRUE(ReadPrivateFile(path, 101));
  fs::create_directory(dir_ / "d");
  fs::permissions(dir_ / "d", fs::perms::owner_all);
  EXPECT_FALSE(ReadPrivateFile(dir_ / "d", 100));
}

TEST_F(PrivateFileTest, LockExcludesOtherHoldersAlsoInTheSameProcess) {
  const std::string path = dir_ / "lock";
  {
    auto lock = FileLock::Acquire(path);
    ASSERT_TRUE(lock);
    EXPECT_EQ(ModeOf(path), 0600u);
    const int fd = ::open(path.c_str(), O_RDWR | O_CLOEXEC);
    ASSERT_GE(fd, 0);
    EXPECT_NE(::flock(fd, LOCK_EX | LOCK_NB), 0);
    EXPECT_EQ(errno, EWOULDBLOCK);
    ::close(fd);
  }
  const int fd = ::open(path.c_str(), O_RDWR | O_CLOEXEC);
  ASSERT_GE(fd, 0);
  EXPECT_EQ(::flock(fd, LOCK_EX | LOCK_NB), 0);  // released with the FileLock
  ::close(fd);
}

}  // namespace
}  // namespace tessera::token
