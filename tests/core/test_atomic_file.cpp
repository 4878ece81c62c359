#include <gtest/gtest.h>

#include <filesystem>

#include "pesuite/core/atomic_file.h"
#include "pesuite/core/error.h"
#include "test_util.h"

using namespace pesuite;

TEST(AtomicFile, WritesAndReplaces) {
  test::TempDir dir;
  pesuite::core::write_file_atomic(dir / "a/b/c.txt", "one");
  EXPECT_EQ(pesuite::core::read_file(dir / "a/b/c.txt"), "one");
  pesuite::core::write_file_atomic(dir / "a/b/c.txt", "two");
  EXPECT_EQ(pesuite::core::read_file(dir / "a/b/c.txt"), "two");
  EXPECT_EQ(std::distance(std::filesystem::directory_iterator(dir / "a/b"), {}), 1);  // no temporaries left
}

TEST(AtomicFile, UncommittedLeavesNothing) {
  test::TempDir dir;
  pesuite::core::write_file_atomic(dir / "keep.txt", "old");
  {
    pesuite::core::AtomicFile f(dir / "keep.txt");
    f.write("half-written");
  }  // no commit: as if an error was thrown midway
  EXPECT_EQ(pesuite::core::read_file(dir / "keep.txt"), "old");
  EXPECT_EQ(std::distance(std::filesystem::directory_iterator(dir.str()), {}), 1);
}

TEST(AtomicFile, ClearErrors) {
  test::TempDir dir;
  EXPECT_THROW(pesuite::core::read_file(dir / "nope"), pesuite::core::InputError);
  EXPECT_THROW(pesuite::core::read_file(dir.str()), pesuite::core::InputError);
  EXPECT_THROW(pesuite::core::AtomicFile f(dir.str()), pesuite::core::InputError);
  pesuite::core::write_file_atomic(dir / "file", "x");
  EXPECT_THROW(pesuite::core::make_dirs(dir / "file"), pesuite::core::InputError);
}
