#include "pesuite/core/run_dir.h"

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <sys/stat.h>
#include <ctime>
#include <filesystem>
#include <iostream>
#include <set>
#include <sstream>

#include "pesuite/core/append_log.h"
#include "pesuite/core/build_info.h"
#include "pesuite/core/atomic_file.h"
#include "pesuite/core/error.h"
#include "pesuite/core/rank.h"

namespace pesuite::core {
namespace fs = std::filesystem;

std::string timestamp_for_path() {
  std::time_t now = std::time(nullptr);
  std::tm tm{};
  localtime_r(&now, &tm);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y-%m-%dT%H-%M-%S", &tm);
  return buf;
}

MetricsLog::MetricsLog(std::string dir) : dir_(std::move(dir)), writes_(dist::is_writer()) {
  const std::string path = dir_ + "/metrics.jsonl";
  // Every complete line is a row; a torn last line (a crash mid-append) is dropped with a note, and
  // the next append cuts it off the file.
  const LogLines lines = read_lines(path);
  for (std::size_t n = 0; n < lines.lines.size(); ++n) {
    if (lines.lines[n].empty()) continue;
    try {
      auto row = nlohmann::ordered_json::parse(lines.lines[n]);
      if (!row.is_object()) throw InputError(where(path, static_cast<std::int64_t>(n + 1)) + ": not a JSON object");
      rows_.push_back(std::move(row));
    } catch (const nlohmann::json::exception& e) {
      throw InputError(where(path, static_cast<std::int64_t>(n + 1)) + ": not a JSON object: " + e.what());
    }
  }
  if (!lines.torn_tail.empty()) {
    dropped_tail_ = lines.torn_tail;
    std::cerr << lines.describe_torn_tail(path) << "\n";
  }
}

void MetricsLog::append(const nlohmann::ordered_json& row) {
  rows_.push_back(row);
  if (dir_.empty() || !writes_) return;
  append_line(dir_ + "/metrics.jsonl", row.dump());
  write_csv();
}

// The CSV is derived from the rows; rewriting it whole keeps its header the union of all columns.
void MetricsLog::write_csv() const {
  std::vector<std::string> columns;
  std::set<std::string> seen;
  for (const auto& r : rows_)
    for (auto it = r.begin(); it != r.end(); ++it)
      if (seen.insert(it.key()).second) columns.push_back(it.key());
  std::ostringstream csv;
  for (std::size_t i = 0; i < columns.size(); ++i) csv << (i ? "," : "") << columns[i];
  if (!columns.empty()) csv << "\n";
  for (const auto& r : rows_) {
    for (std::size_t i = 0; i < columns.size(); ++i) {
      if (i) csv << ",";
      if (!r.contains(columns[i])) continue;
      const auto& v = r[columns[i]];
      csv << (v.is_string() ? v.get<std::string>() : v.dump());
    }
    csv << "\n";
  }
  write_file_atomic(dir_ + "/metrics.csv", csv.str());
}

void MetricsLog::rewrite() const {
  std::ostringstream jsonl;
  for (const auto& r : rows_) jsonl << r.dump() << "\n";
  write_file_atomic(dir_ + "/metrics.jsonl", jsonl.str());
  write_csv();
}

void MetricsLog::truncate_after(const std::string& key, double value) {
  const auto before = rows_.size();
  rows_.erase(std::remove_if(rows_.begin(), rows_.end(),
                             [&](const nlohmann::ordered_json& r) {
                               return r.contains(key) && r[key].is_number() && r[key].get<double>() > value;
                             }),
              rows_.end());
  if (rows_.size() != before && !dir_.empty() && writes_) rewrite();
}

std::pair<std::vector<double>, std::vector<double>> MetricsLog::series(const std::string& x, const std::string& y) const {
  std::vector<double> xs, ys;
  for (const auto& r : rows_)
    if (r.contains(x) && r.contains(y) && r[x].is_number() && r[y].is_number()) {
      xs.push_back(r[x].get<double>());
      ys.push_back(r[y].get<double>());
    }
  return {xs, ys};
}

RunDir::RunDir(std::string path) : path_(std::move(path)), metrics_(path_) {}

RunDir RunDir::create(const std::string& root, const std::string& experiment, std::uint64_t seed, const Config& config,
                      const std::string& device) {
  // Several processes (distributed.h): rank 0 makes the folder, the others write nothing into it.
  if (!dist::is_writer()) return RunDir(dist::share_from_rank0("run_dir", ""));
  const std::string base = root + "/" + experiment + "/" + timestamp_for_path() + "-s" + std::to_string(seed);
  make_dirs(root + "/" + experiment);
  // mkdir is atomic: processes sharing a runs folder (tables run with --claim) never get the same one.
  std::string path = base;
  for (int i = 1; ::mkdir(path.c_str(), 0755) != 0; ++i) {
    if (errno != EEXIST) throw InputError(path + ": cannot create run folder (" + std::strerror(errno) + ")");
    path = base + "-" + std::to_string(i);
  }
  make_dirs(path + "/ckpt");
  make_dirs(path + "/plots");
  write_file_atomic(path + "/config.toml", config.to_toml());
  nlohmann::json env = build_info();
  env["device"] = device;
  env["seed"] = seed;
  env["experiment"] = experiment;
  env["started"] = timestamp_for_path();
  write_file_atomic(path + "/env.json", env.dump(2) + "\n");
  if (dist::is_distributed()) dist::share_from_rank0("run_dir", path);
  return RunDir(path);
}

RunDir RunDir::open(const std::string& path) {
  if (!fs::is_directory(path)) throw InputError(path + ": not a run folder (no such directory)");
  if (!fs::exists(path + "/config.toml")) throw InputError(path + ": not a run folder (no config.toml)");
  return RunDir(path);
}

void RunDir::log(const std::string& line, bool echo) {
  if (!dist::is_writer()) {  // ranks > 0 of a distributed run: their own output only
    if (echo) std::cout << line << std::endl;
    return;
  }
  const std::string dropped = append_line(path_ + "/log.txt", line);
  if (!dropped.empty()) append_line(path_ + "/log.txt", "(" + describe_torn_line("log.txt", dropped) + ")");
  if (echo) std::cout << line << std::endl;
}

}  // namespace pesuite::core
