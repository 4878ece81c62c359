#pragma once
// Append-only text logs (metrics.jsonl, log.txt) that a crash never leaves unreadable. A writer
// sends each whole line ("text\n") in checked write() calls on an O_APPEND descriptor and fsyncs
// it, so a line is on disk complete or (killed mid-write, power lost, disk full) a torn tail
// without its '\n'. Readers keep every complete line and report the torn tail; the next append
// cuts the torn tail off first, so it never glues onto the next line.
//
//   pesuite::core::append_line(run + "/log.txt", "epoch 3 loss 0.25");
//   auto lines = pesuite::core::read_lines(run + "/metrics.jsonl");
//   if (!lines.torn_tail.empty()) std::cerr << lines.describe_torn_tail(path) << "\n";
#include <cstdint>
#include <string>
#include <vector>

namespace pesuite::core {

struct LogLines {
  std::vector<std::string> lines;  // every complete line, without its '\n'
  std::string torn_tail;           // bytes after the last '\n' (a line a crash cut short), "" if none
  // "<path>: dropped a torn last line (N bytes, '...') left by an interrupted write; K complete lines kept"
  std::string describe_torn_tail(const std::string& path) const;
};

// "<path>: dropped a torn last line (N bytes, '<start of it>') left by an interrupted write"
std::string describe_torn_line(const std::string& path, const std::string& tail);

// The lines of `path` (no file: none); InputError when it cannot be read.
LogLines read_lines(const std::string& path);

// Appends `line` and '\n' to `path` (created if missing), checked and (unless !sync) fsynced. When the file ends in a torn line, that is cut off first and returned (else "").
// InputError naming the file on any failed write.
std::string append_line(const std::string& path, const std::string& line, bool sync = true);

}  // namespace pesuite::core
