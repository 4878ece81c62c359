#pragma once
// Files another library writes by path (a profiler trace), made atomic like write_file_atomic:
// hand the library a temporary name beside the target, then publish_file() fsyncs that file and
// renames it onto the target, so a reader never sees it half-written.
//
//   const auto tmp = pesuite::core::temporary_path_for("trace.json");
//   result->save(tmp);
//   pesuite::core::publish_file(tmp, "trace.json");   // InputError naming both on failure
#include <string>

namespace pesuite::core {

std::string temporary_path_for(const std::string& path);  // "<path>.tmp<pid>-<random>"
void publish_file(const std::string& tmp_path, const std::string& path);  // the temporary is removed on failure

}  // namespace pesuite::core
