#include "pesuite/core/table_units.h"

#include <cerrno>
#include <cstring>
#include <csignal>
#include <fcntl.h>
#include <filesystem>
#include <limits>
#include <iostream>
#include <unistd.h>

#include <nlohmann/json.hpp>

#include "pesuite/core/atomic_file.h"
#include "pesuite/core/config.h"
#include "pesuite/core/error.h"

namespace pesuite::core {

namespace {

constexpr int kUnitFormat = 1;

// Unit names become file names: keep them to a safe alphabet.
std::string file_stem(const std::string& name) {
  std::string out = name;
  for (auto& c : out)
    if (!(std::isalnum(static_cast<unsigned char>(c)) || c == '-' || c == '_' || c == '+' || c == '.')) c = '_';
  return out;
}

// Whether a saved unit ran `now`'s config. Units saved by an older config writer (another quoting
// style, e.g. 'x' before "x") hold the same config in other text: compared after rewriting.
static bool same_config(const std::string& saved, const std::string& now) {
  if (saved == now) return true;
  try {
    return Config::from_toml_string(saved, "saved unit").to_toml() == now;
  } catch (const std::exception&) {
    return false;
  }
}

std::optional<UnitValues> load_unit(const std::string& path, const std::string& config_text) {
  if (!std::filesystem::exists(path)) return std::nullopt;
  nlohmann::json j;
  try {
    j = nlohmann::json::parse(read_file(path));
  } catch (const nlohmann::json::exception& e) {
    throw InputError(path + ": not a saved table unit (" + e.what() + "); delete it to run the unit again");
  }
  if (j.value("format", 0) != kUnitFormat || !j.contains("config") || !j.contains("metrics"))
    throw InputError(path + ": not a saved table unit of this version (format " + std::to_string(kUnitFormat) +
                     "); delete it to run the unit again");
  if (!same_config(j["config"].get<std::string>(), config_text)) {
    std::cout << "unit " << path << " was run with another config; running it again" << std::endl;
    return std::nullopt;
  }
  UnitValues v;
  try {
    // JSON has no NaN: nlohmann writes a non-finite value (a diverged loss, an undefined metric)
    // as null; it reads back as NaN, which the tables print as "-".
    for (const auto& [name, values] : j["metrics"].items()) {
      auto& out = v.metrics[name];
      for (const auto& x : values) out.push_back(x.is_null() ? std::numeric_limits<double>::quiet_NaN() : x.get<double>());
    }
    if (j.contains("notes")) v.notes = j["notes"].get<std::map<std::string, std::string>>();
  } catch (const nlohmann::json::exception& e) {
    throw InputError(path + ": malformed metrics or notes (" + e.what() + ")");
  }
  return v;
}

void save_unit(const std::string& path, const std::string& name, const std::string& config_text, const UnitValues& v) {
  nlohmann::json j;
  j["format"] = kUnitFormat;
  j["unit"] = name;
  j["metrics"] = v.metrics;
  j["notes"] = v.notes;
  j["config"] = config_text;
  write_file_atomic(path, j.dump(1) + "\n");
}

// A claim left by a process that no longer runs (killed by a time limit) on this machine.
bool claim_is_stale(const std::string& path) {
  std::int64_t pid = 0;
  try {
    pid = std::stoll(read_file(path));
  } catch (const std::exception&) {
    return false;  // being written, or not ours to judge
  }
  return pid > 0 && ::kill(static_cast<pid_t>(pid), 0) != 0 && errno == ESRCH;
}

// O_EXCL creation is atomic on local file systems: exactly one process gets the unit.
bool try_claim(const std::string& path) {
  int fd = ::open(path.c_str(), O_CREAT | O_EXCL | O_WRONLY, 0644);
  if (fd < 0 && errno == EEXIST && claim_is_stale(path)) {
    std::filesystem::remove(path);
    fd = ::open(path.c_str(), O_CREAT | O_EXCL | O_WRONLY, 0644);
  }
  if (fd < 0) {
    if (errno == EEXIST) return false;
    throw InputError(path + ": cannot create claim file (" + std::strerror(errno) + ")");
  }
  const std::string pid = std::to_string(::getpid()) + "\n";
  [[maybe_unused]] auto n = ::write(fd, pid.data(), pid.size());
  ::close(fd);
  return true;
}

}  // namespace

std::string unit_fingerprint(const Config& config) {
  Config c = config;
  if (c.contains("device")) c.set("device", toml::value<std::string>("(any)"), "unit fingerprint");
  return c.to_toml();
}

std::pair<int, int> parse_shard(const std::string& text) {
  const auto slash = text.find('/');
  try {
    if (slash != std::string::npos) {
      std::size_t a = 0, b = 0;
      const int i = std::stoi(text.substr(0, slash), &a);
      const int n = std::stoi(text.substr(slash + 1), &b);
      if (a == slash && b == text.size() - slash - 1 && n >= 1 && i >= 0 && i < n) return {i, n};
    }
  } catch (const std::exception&) {
  }
  throw InputError("--shard '" + text + "': expected i/n with 0 <= i < n (e.g. 0/4)");
}

UnitRunner::UnitRunner(const TableOptions& options)
    : dir_(options.out_dir + "/units"),
      reuse_(options.resume || options.claim || options.assemble || options.shard_count > 1),
      claim_(options.claim),
      assemble_(options.assemble),
      shard_index_(options.shard_index),
      shard_count_(options.shard_count) {
  if (shard_count_ < 1 || shard_index_ < 0 || shard_index_ >= shard_count_)
    throw InputError("--shard " + std::to_string(shard_index_) + "/" + std::to_string(shard_count_) + ": expected 0 <= i < n");
  make_dirs(dir_);
}

std::optional<UnitValues> UnitRunner::run(const std::string& name, const std::string& config_text,
                                          const std::function<UnitValues()>& compute) {
  const std::size_t index = seen_++;
  const std::string stem = dir_ + "/" + file_stem(name);
  if (reuse_)
    if (auto saved = load_unit(stem + ".json", config_text)) {
      ++reused_;
      return saved;
    }
  if (assemble_ || index % static_cast<std::size_t>(shard_count_) != static_cast<std::size_t>(shard_index_)) return std::nullopt;
  if (claim_) {
    if (!try_claim(stem + ".claim")) return std::nullopt;
    // Another process may have finished it between our look and our claim.
    if (auto saved = load_unit(stem + ".json", config_text)) {
      ++reused_;
      return saved;
    }
  }
  UnitValues v = compute();
  save_unit(stem + ".json", name, config_text, v);
  if (claim_) std::filesystem::remove(stem + ".claim");
  ++computed_;
  return v;
}

std::string UnitRunner::partial_note(std::size_t total) const {
  const std::size_t have = units_in_table();
  if (have >= total) return "";
  std::string note = " [partial: " + std::to_string(have) + " of " + std::to_string(total) + " runs";
  if (assemble_) note += " saved so far; the others have not run (run the table with --resume or --claim)";
  else if (shard_count_ > 1 || claim_) note += "; the others are other processes', then assemble with --assemble";
  return note + "]";
}

std::string UnitRunner::provenance() const {
  if (reused_ == 0) return "";
  return std::to_string(reused_) + " of the " + std::to_string(units_in_table()) +
         " runs were read from " + dir_ + " (run earlier, by --resume, --shard or --claim); their wall times are their own.";
}

}  // namespace pesuite::core
