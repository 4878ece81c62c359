#include <gtest/gtest.h>

#include <filesystem>

#include "pesuite/heads/atomic_file.h"
#include "pesuite/heads/error.h"
#include "test_util.h"

using namespace pesuite;

TEST(AtomicFile, WritesAndReplaces) {
  test::TempDir dir;
  write_file_atomic(dir / "a/b/c.txt", "one");
  EXPECT_EQ(read_file(dir / "a/b/c.txt"), "one");
  write_file_atomic(dir / "a/b/c.txt", "two");
  EXPECT_EQ(read_file(dir / "a/b/c.txt"), "two");
  EXPECT_EQ(std::distance(std::filesystem::directory_iterator(dir / "a/b"), {}), 1);  // no temporaries left
}

TEST(AtomicFile, UncommittedLeavesNothing) {
  test::TempDir dir;
  write_file_atomic(dir / "keep.txt", "old");
  {
    AtomicFile f(dir / "keep.txt");
    f.write("half-written");
  }  // no commit: as if an error was thrown midway
  EXPECT_EQ(read_file(dir / "keep.txt"), "old");
  EXPECT_EQ(std::distance(std::filesystem::directory_iterator(dir.str()), {}), 1);
}

TEST(AtomicFile, ClearErrors) {
  test::TempDir dir;
  EXPECT_THROW(read_file(dir / "nope"), InputError);
  EXPECT_THROW(read_file(dir.str()), InputError);
  EXPECT_THROW(AtomicFile f(dir.str()), InputError);
  write_file_atomic(dir / "file", "x");
  EXPECT_THROW(make_dirs(dir / "file"), InputError);
}
