#pragma once
// Finding what a run left behind: the run folder and checkpoint that `--resume` / `--ckpt` name, the
// config the run was trained with, the JSON a trainer put in a checkpoint's metadata ("extra").
// Shared by the image trainers (classifier, head pose, CLIP, VLM) so that every command reads runs alike.
//
//   auto [run, ckpt] = pesuite::core::resolve_run_or_checkpoint("runs/cpvt/2026-12-06T10-00-00-s0");
//   core::Config cfg = pesuite::core::run_config(run, my_defaults());            // <run>/config.toml over them
//   core::Config same = pesuite::core::checkpoint_config(ckpt, my_defaults(), "head-pose");
#include <nlohmann/json.hpp>

#include <string>
#include <utility>

#include "pesuite/core/config.h"

namespace pesuite::core {

// `path` is a run folder (its ckpt/last.safetensors) or a checkpoint file inside one
// (<run>/ckpt/<file>): {run folder, checkpoint}. InputError when the checkpoint does not exist.
std::pair<std::string, std::string> resolve_run_or_checkpoint(const std::string& path);

// `defaults` with the run's config.toml merged over them; `run_or_checkpoint` as above. InputError
// when the folder has no config.toml ("not a run folder of <command>" where a command is named).
Config run_config(const std::string& run_or_checkpoint, Config defaults, const std::string& command = "");

// The metadata entry "extra" of a safetensors checkpoint as JSON ({} when absent); InputError
// naming the file when it is not JSON.
nlohmann::json checkpoint_extra(const std::string& checkpoint);

// The config a checkpoint was trained with, over `defaults`: the config text saved in its "extra"
// metadata, else the config.toml of the run folder it sits in. Neither: `defaults` alone when `what`
// is empty, else an InputError "not a <what> checkpoint".
Config checkpoint_config(const std::string& checkpoint, Config defaults, const std::string& what = "");

}  // namespace pesuite::core
