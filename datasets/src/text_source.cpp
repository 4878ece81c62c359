#include "pesuite/datasets/text_source.h"

#include <zip.h>
#include <zlib.h>

#include <algorithm>
#include <cerrno>
#include <charconv>
#include <cmath>
#include <cstdlib>
#include <cstring>

#include "pesuite/core/atomic_file.h"
#include "pesuite/core/error.h"
#include "pesuite/core/parse.h"

namespace pesuite::datasets {

using core::ends_with;

TextFile read_gzip(const std::string& path) {
  const std::string raw = core::read_file(path);
  TextFile out{path, {}};
  z_stream zs{};
  if (inflateInit2(&zs, 15 + 32) != Z_OK) throw core::InputError(core::where(path) + ": zlib init failed");
  zs.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(raw.data()));
  zs.avail_in = static_cast<uInt>(raw.size());
  char buf[1 << 16];
  int rc = Z_OK;
  while (true) {
    zs.next_out = reinterpret_cast<Bytef*>(buf);
    zs.avail_out = sizeof buf;
    rc = inflate(&zs, Z_NO_FLUSH);
    out.data.append(buf, sizeof buf - zs.avail_out);
    if (rc == Z_STREAM_END) {
      // Concatenated gzip members are legal (gzip -c a b): continue with the next one.
      if (zs.avail_in > 0) {
        inflateReset(&zs);
        continue;
      }
      break;
    }
    if (rc != Z_OK) break;
    if (zs.avail_in == 0 && zs.avail_out != 0) {
      rc = Z_BUF_ERROR;
      break;
    }
  }
  inflateEnd(&zs);
  if (rc != Z_STREAM_END) {
    const auto lines = std::count(out.data.begin(), out.data.end(), '\n');
    throw core::InputError(core::where(path, lines + 1) + ": " +
                     (rc == Z_DATA_ERROR ? "corrupt gzip data" : "truncated gzip stream (ends inside this line)"));
  }
  return out;
}

TextFile read_text_file(const std::string& path) {
  if (ends_with(path, ".gz")) return read_gzip(path);
  return TextFile{path, core::read_file(path)};
}

ZipArchive::ZipArchive(const std::string& path) : path_(path) {
  int err = 0;
  zip_t* z = zip_open(path.c_str(), ZIP_RDONLY, &err);
  if (!z) {
    zip_error_t ze;
    zip_error_init_with_code(&ze, err);
    const std::string msg = zip_error_strerror(&ze);
    zip_error_fini(&ze);
    throw core::InputError(core::where(path) + ": cannot open zip archive (" + msg + ")");
  }
  zip_ = z;
  const zip_int64_t n = zip_get_num_entries(z, 0);
  for (zip_int64_t i = 0; i < n; ++i)
    if (const char* name = zip_get_name(z, static_cast<zip_uint64_t>(i), 0)) members_.emplace_back(name);
}

ZipArchive::~ZipArchive() {
  if (zip_) zip_discard(static_cast<zip_t*>(zip_));
}

std::string ZipArchive::find_suffix(const std::string& suffix) const {
  for (const auto& m : members_) {
    // Match the file name part (official TU zips use "DS//DS_A.txt").
    const auto slash = m.find_last_of('/');
    const std::string base = slash == std::string::npos ? m : m.substr(slash + 1);
    if (base == suffix || (ends_with(base, suffix) && suffix.front() == '_') || (ends_with(base, suffix) && suffix.front() == '.'))
      return m;
  }
  return "";
}

TextFile ZipArchive::read(const std::string& member) const {
  auto* z = static_cast<zip_t*>(zip_);
  zip_stat_t st;
  if (member.empty() || zip_stat(z, member.c_str(), 0, &st) != 0)
    throw core::InputError(core::where(path_) + ": zip member '" + member + "' is missing");
  zip_file_t* f = zip_fopen(z, member.c_str(), 0);
  if (!f) throw core::InputError(core::where(path_) + ": cannot open zip member '" + member + "'");
  // The size in the zip's directory is not trusted for the allocation (a damaged or hostile archive
  // may claim gigabytes): the member is read in chunks and only what inflates is kept.
  TextFile out{path_ + ":" + member, {}};
  char buf[1 << 16];
  zip_int64_t got = 0;
  while ((got = zip_fread(f, buf, sizeof buf)) > 0) {
    if (static_cast<zip_uint64_t>(out.data.size()) + static_cast<zip_uint64_t>(got) > st.size) break;  // longer than declared
    out.data.append(buf, static_cast<std::size_t>(got));
  }
  zip_fclose(f);
  if (got != 0 || static_cast<zip_uint64_t>(out.data.size()) != st.size)
    throw core::InputError(core::where(path_) + ": zip member '" + member + "' is truncated or corrupt (the directory says " +
                           std::to_string(st.size) + " bytes, " + std::to_string(out.data.size()) + " inflated)");
  return out;
}

LineCursor::LineCursor(std::string name, const std::string& data, std::string comment_chars)
    : name_(std::move(name)), comment_(std::move(comment_chars)), data_(data) {}

bool LineCursor::next() {
  while (pos_ < data_.size()) {
    const std::size_t end = std::min(data_.find('\n', pos_), data_.size());
    std::string_view l(data_.data() + pos_, end - pos_);
    pos_ = end + 1;
    ++line_;
    while (!l.empty() && (l.back() == '\r' || l.back() == ' ' || l.back() == '\t')) l.remove_suffix(1);
    std::size_t s = 0;
    while (s < l.size() && (l[s] == ' ' || l[s] == '\t')) ++s;
    l.remove_prefix(s);
    if (l.empty() || comment_.find(l.front()) != std::string::npos) continue;
    cur_ = l;
    return true;
  }
  return false;
}

void LineCursor::fail(const std::string& message) const { throw core::InputError(core::where(name_, line_) + ": " + message); }

std::vector<std::string_view> LineCursor::fields(char sep, std::size_t expect) const {
  std::vector<std::string_view> out;
  auto trim = [](std::string_view f) {
    while (!f.empty() && (f.front() == ' ' || f.front() == '\t')) f.remove_prefix(1);
    while (!f.empty() && (f.back() == ' ' || f.back() == '\t')) f.remove_suffix(1);
    return f;
  };
  if (sep == ' ') {
    std::size_t i = 0;
    while (i < cur_.size()) {
      while (i < cur_.size() && (cur_[i] == ' ' || cur_[i] == '\t')) ++i;
      std::size_t j = i;
      while (j < cur_.size() && cur_[j] != ' ' && cur_[j] != '\t') ++j;
      if (j > i) out.push_back(cur_.substr(i, j - i));
      i = j;
    }
  } else {
    std::size_t i = 0;
    while (true) {
      const std::size_t j = cur_.find(sep, i);
      out.push_back(trim(cur_.substr(i, j == std::string_view::npos ? std::string_view::npos : j - i)));
      if (j == std::string_view::npos) break;
      i = j + 1;
    }
  }
  if (expect > 0 && out.size() != expect)
    fail("expected " + std::to_string(expect) + " column" + (expect > 1 ? "s" : "") + ", got " + std::to_string(out.size()));
  return out;
}

std::int64_t LineCursor::to_int(std::string_view f) const {
  std::int64_t v = 0;
  const char* b = f.data();
  const char* e = f.data() + f.size();
  if (!f.empty() && *b == '+') ++b;
  auto [p, ec] = std::from_chars(b, e, v);
  if (ec != std::errc() || p != e || b == e) fail("'" + std::string(f) + "' is not an integer");
  return v;
}

double LineCursor::to_double(std::string_view f) const {
  const std::string s(f);
  char* end = nullptr;
  errno = 0;
  const double v = std::strtod(s.c_str(), &end);
  if (s.empty() || end != s.c_str() + s.size()) fail("'" + s + "' is not a number");
  return v;
}

std::vector<std::int64_t> LineCursor::ints(char sep, std::size_t expect) const {
  std::vector<std::int64_t> out;
  for (auto f : fields(sep, expect)) out.push_back(to_int(f));
  return out;
}

std::vector<double> LineCursor::doubles(char sep, std::size_t expect) const {
  std::vector<double> out;
  for (auto f : fields(sep, expect)) out.push_back(to_double(f));
  return out;
}

}  // namespace pesuite::datasets
