#pragma once
// Reading the text files graph datasets come in, wherever they sit: a plain file, a gzip file
// (read_gzip: a truncated stream is an InputError, never silently short data), or a zip member
// (ZipArchive, libzip). LineCursor then walks lines with numbers and parses fields, so that every
// malformed value is reported as "file:line: ...".
//
//   pesuite::datasets::ZipArchive zip("/data/MUTAG.zip");
//   auto text = zip.read(zip.find_suffix("_A.txt"));           // "MUTAG//MUTAG_A.txt"
//   pesuite::datasets::LineCursor lines(zip.path() + ":" + text.name, text.data);
//   while (lines.next()) { auto f = lines.ints(',', 2); ... }   // exactly 2 integer columns
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

namespace pesuite::datasets {

struct TextFile {
  std::string name;  // shown in error messages (path, or archive:member)
  std::string data;
};

TextFile read_text_file(const std::string& path);  // plain, or gzip when the name ends in .gz
TextFile read_gzip(const std::string& path);

class ZipArchive {
 public:
  explicit ZipArchive(const std::string& path);  // core::InputError when missing or not a zip
  ~ZipArchive();
  ZipArchive(const ZipArchive&) = delete;
  ZipArchive& operator=(const ZipArchive&) = delete;
  const std::string& path() const { return path_; }
  const std::vector<std::string>& members() const { return members_; }
  // The member whose name ends with `suffix` (after any folder), or "" when none.
  std::string find_suffix(const std::string& suffix) const;
  TextFile read(const std::string& member) const;  // core::InputError naming archive and member

 private:
  std::string path_;
  void* zip_ = nullptr;
  std::vector<std::string> members_;
};

// Lines of a text with 1-based numbers; blank lines and lines starting with a comment character
// are skipped.
class LineCursor {
 public:
  LineCursor(std::string name, const std::string& data, std::string comment_chars = "");
  bool next();  // false at the end
  std::int64_t line() const { return line_; }
  const std::string& name() const { return name_; }
  std::string_view text() const { return cur_; }
  // Fields split by `sep` (' ' = any run of blanks/tabs), trimmed. `expect` > 0: exact count.
  std::vector<std::string_view> fields(char sep, std::size_t expect = 0) const;
  std::vector<std::int64_t> ints(char sep, std::size_t expect = 0) const;
  std::vector<double> doubles(char sep, std::size_t expect = 0) const;
  std::int64_t to_int(std::string_view field) const;  // core::InputError "file:line: ..."
  double to_double(std::string_view field) const;     // accepts nan / inf (OGB missing labels)
  [[noreturn]] void fail(const std::string& message) const;

 private:
  std::string name_, comment_;
  const std::string& data_;
  std::size_t pos_ = 0;
  std::int64_t line_ = 0;
  std::string_view cur_;
};

}  // namespace pesuite::datasets
