#pragma once
// A run folder, as DESIGN.md lays it out:
//   runs/<experiment>/<date>-s<seed>/
//     config.toml   the resolved config        env.json   git sha, torch version, device, threads
//     metrics.jsonl one JSON object per row    metrics.csv the same rows as CSV
//     ckpt/         *.safetensors              log.txt    what the run printed
//     plots/        *.png
//
//   auto run = pesuite::core::RunDir::create("runs", "csl-gine+lap", seed, cfg, device);
//   run.log("epoch 1 loss 0.3");
//   run.metrics().append({{"epoch", 1}, {"train_loss", 0.3}});
//   auto resumed = pesuite::core::RunDir::open(run.path());   // to resume
#include <nlohmann/json.hpp>

#include <cstdint>
#include <fstream>
#include <string>
#include <vector>

#include "pesuite/core/config.h"

namespace pesuite::core {

// Rows of metrics (columns keep their order), appended to metrics.jsonl as they come (whole lines,
// checked and fsynced: append_log.h) and mirrored in metrics.csv (rewritten atomically, columns =
// union of keys in first-seen order). Loading keeps every complete line; a torn last line left by a
// crash is dropped, said on stderr and kept in dropped_tail().
class MetricsLog {
 public:
  MetricsLog() = default;
  explicit MetricsLog(std::string dir);  // loads existing rows (resume)
  void append(const nlohmann::ordered_json& row);
  // Drops rows whose `key` is above `value` (rows logged after the checkpoint we resume from).
  void truncate_after(const std::string& key, double value);
  const std::vector<nlohmann::ordered_json>& rows() const { return rows_; }
  const std::string& dropped_tail() const { return dropped_tail_; }  // "" unless a torn line was dropped
  // The series of `y` against `x` over rows that have both.
  std::pair<std::vector<double>, std::vector<double>> series(const std::string& x, const std::string& y) const;

 private:
  void rewrite() const;
  void write_csv() const;
  std::string dir_;
  bool writes_ = true;  // false on ranks > 0 of a distributed run (rank.h): rows kept in memory only
  std::vector<nlohmann::ordered_json> rows_;
  std::string dropped_tail_;
};

class RunDir {
 public:
  // Creates a new folder runs/<experiment>/<date>-s<seed>[-N] with config.toml and env.json. In a
  // distributed run rank 0 creates it and the other ranks get its path; they never write into it
  // (log() only echoes, metrics stay in memory).
  static RunDir create(const std::string& root, const std::string& experiment, std::uint64_t seed,
                       const Config& config, const std::string& device);
  // Opens an existing run folder (to resume or evaluate); InputError when it is not one.
  static RunDir open(const std::string& path);

  const std::string& path() const { return path_; }
  std::string ckpt_dir() const { return path_ + "/ckpt"; }
  std::string plots_dir() const { return path_ + "/plots"; }
  std::string file(const std::string& name) const { return path_ + "/" + name; }

  // Appends a line to log.txt, checked and fsynced (and echoes it to stdout when `echo`). A torn
  // last line left by a crash is cut off first, and a note of what was cut follows the line.
  void log(const std::string& line, bool echo = true);
  MetricsLog& metrics() { return metrics_; }

 private:
  explicit RunDir(std::string path);
  std::string path_;
  MetricsLog metrics_;
};

// Local date-time as 2026-11-25T18-03-07 (safe in file names).
std::string timestamp_for_path();

}  // namespace pesuite::core
