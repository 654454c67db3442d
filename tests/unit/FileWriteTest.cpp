//===- FileWriteTest.cpp - Checked writes and the fault hook --------------===//
///
/// \file
/// runtime/File.cpp: every write error is reported with the file and the
/// reason, an atomic replacement that fails leaves the old file and no
/// temporary one, AppendFile (the --log) keeps what it wrote before a
/// failure and fails on every later write, and the ADJ_FAULT_WRITE hook
/// behaves as documented (ENOSPC after BYTES, EROFS with :ro, from the N-th
/// matching file with @N). Writes to /dev/full give the real ENOSPC.
///
//===----------------------------------------------------------------------===//

#include "runtime/Internal.h"

#include "TestUtil.h"

#include <gtest/gtest.h>

#include <cstdlib>
#include <string>
#include <sys/stat.h>

using adj::test::readFile;
using adj::test::TempDir;
using namespace adj::rt;

namespace {

/// Sets ADJ_FAULT_WRITE for the scope of a test.
struct FaultEnv {
  explicit FaultEnv(const std::string &spec) {
    setenv("ADJ_FAULT_WRITE", spec.c_str(), 1);
  }
  ~FaultEnv() { unsetenv("ADJ_FAULT_WRITE"); }
};

int writeText(const std::string &path, const std::string &text) {
  return writeFileAtomically(path.c_str(), "report",
                             {{text.data(), text.size()}});
}

std::string lastError() { return adj_rt_last_error(); }

} // namespace

TEST(FileWrite, AFullDiskLeavesTheOldFileAndNoTemporary) {
  TempDir dir;
  std::string path = dir.file("r.json");
  ASSERT_EQ(writeText(path, "old"), 0) << lastError();
  FaultEnv fault("r.json:5");
  EXPECT_EQ(writeText(path, std::string(100, 'x')), 1);
  EXPECT_EQ(lastError(),
            "'" + path + "': cannot write report: No space left on device");
  EXPECT_EQ(readFile(path), "old");
  EXPECT_EQ(dir.entries(), 1u);
  // Fewer bytes than the limit go through.
  EXPECT_EQ(writeText(path, "new"), 0) << lastError();
  EXPECT_EQ(readFile(path), "new");
}

TEST(FileWrite, AReadOnlyDirectoryIsNamed) {
  TempDir dir;
  std::string path = dir.file("r.json");
  FaultEnv fault(dir.path() + ":ro");
  EXPECT_EQ(writeText(path, "text"), 1);
  EXPECT_EQ(lastError(),
            "'" + path + "': cannot write report: Read-only file system");
  EXPECT_EQ(dir.entries(), 0u);
}

TEST(FileWrite, AFaultCanStartAtTheNthFile) {
  TempDir dir;
  std::string path = dir.file("ck");
  FaultEnv fault(dir.path() + "@3");
  EXPECT_EQ(writeText(path, "1"), 0) << lastError();
  EXPECT_EQ(writeText(path, "2"), 0) << lastError();
  EXPECT_EQ(writeText(path, "3"), 1);
  EXPECT_EQ(readFile(path), "2");
}

TEST(FileWrite, ADeviceIsWrittenInPlace) {
  EXPECT_EQ(writeText("/dev/null", "text"), 0) << lastError();
  struct stat st;
  ASSERT_EQ(stat("/dev/null", &st), 0);
  EXPECT_TRUE(S_ISCHR(st.st_mode));
  EXPECT_EQ(writeText("/dev/full", "text"), 1);
  EXPECT_EQ(lastError(),
            "'/dev/full': cannot write report: No space left on device");
}

TEST(FileWrite, AnAppendFileKeepsItsRowsAfterAFailure) {
  TempDir dir;
  std::string path = dir.file("log.csv");
  FaultEnv fault("log.csv:10");
  AppendFile log;
  ASSERT_EQ(log.open(path.c_str(), "log"), 0) << lastError();
  EXPECT_EQ(log.write("header\n"), 0) << lastError();
  EXPECT_EQ(log.write("row 1\n"), 1);
  std::string error =
      "'" + path + "': cannot write log: No space left on device";
  EXPECT_EQ(lastError(), error);
  EXPECT_FALSE(log.isOpen());
  EXPECT_EQ(log.write("row 2\n"), 1); // and every later write
  EXPECT_EQ(log.close(), 1);
  EXPECT_EQ(lastError(), error);
  EXPECT_EQ(readFile(path), "header\nrow"); // the 10 bytes that fitted
}

TEST(FileWrite, AnAppendFileTruncatesAndAppends) {
  TempDir dir;
  std::string path = dir.file("log.csv");
  ASSERT_EQ(writeText(path, "an older, longer log\n"), 0) << lastError();
  AppendFile log;
  ASSERT_EQ(log.open(path.c_str(), "log"), 0) << lastError();
  EXPECT_EQ(log.write("a\n"), 0);
  EXPECT_EQ(readFile(path), "a\n"); // written at once, not at close
  EXPECT_EQ(log.write("b\n"), 0);
  EXPECT_EQ(log.close(), 0) << lastError();
  EXPECT_EQ(readFile(path), "a\nb\n");
}
