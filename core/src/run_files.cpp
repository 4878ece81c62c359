#include "pesuite/core/run_files.h"

#include <filesystem>

#include "pesuite/core/error.h"
#include "pesuite/core/safetensors.h"

namespace pesuite::core {
namespace fs = std::filesystem;

std::pair<std::string, std::string> resolve_run_or_checkpoint(const std::string& path) {
  if (fs::is_directory(path)) {
    const std::string ckpt = path + "/ckpt/last.safetensors";
    if (!fs::exists(ckpt)) throw InputError(path + ": no checkpoint to resume from (no ckpt/last.safetensors)");
    return {path, ckpt};
  }
  if (!fs::exists(path)) throw InputError(path + ": no such run folder or checkpoint");
  const auto run = fs::path(path).parent_path().parent_path().string();  // <run>/ckpt/<file>
  return {run.empty() ? std::string(".") : run, path};
}

Config run_config(const std::string& run_or_checkpoint, Config defaults, const std::string& command) {
  const auto run = resolve_run_or_checkpoint(run_or_checkpoint).first;
  if (!fs::exists(run + "/config.toml"))
    throw InputError(run + ": not a run folder" + (command.empty() ? "" : " of " + command) + " (no config.toml)");
  defaults.merge_file(run + "/config.toml");
  return defaults;
}

nlohmann::json checkpoint_extra(const std::string& checkpoint) {
  const auto file = load_safetensors(checkpoint);
  const auto it = file.metadata.find("extra");
  if (it == file.metadata.end()) return nlohmann::json::object();
  try {
    return nlohmann::json::parse(it->second);
  } catch (const std::exception& e) {
    throw InputError(checkpoint + ": metadata 'extra' is not JSON (" + e.what() + ")");
  }
}

Config checkpoint_config(const std::string& checkpoint, Config defaults, const std::string& what) {
  const auto extra = checkpoint_extra(checkpoint);
  if (extra.contains("config") && extra["config"].is_string()) {
    defaults.merge_string(extra["config"].get<std::string>(), checkpoint + " (saved config)");
    return defaults;
  }
  const auto run = fs::path(checkpoint).parent_path().parent_path() / "config.toml";
  if (fs::exists(run)) defaults.merge_file(run.string());
  else if (!what.empty()) throw InputError(checkpoint + ": not a " + what + " checkpoint (no saved config, no config.toml beside it)");
  return defaults;
}

}  // namespace pesuite::core
