#pragma once
// The one model registry over both frontends: every model a config's model.name may name and
// `pesuite list models` shows, with its frontend, the pipeline that trains it, and a factory that
// builds it from plain options. The rows come from the frontends' own tables (vision: the ViT
// presets of vit.h; graph: the architectures of gnn.h), so a model added there is listed and
// buildable here with nothing else to touch. It lives in pesuite::experiments because that is
// the one library that sees both frontends.
//
//   auto vit = pesuite::experiments::create_model("cpvt_tiny", {{"num_classes", "10"}, {"pe", "peg"}});
//   auto gnn = pesuite::experiments::create_model("gps", {{"in_dim", "9"}, {"out_dim", "1"}, {"pe", "rwse:steps=16"}});
//   auto* typed = dynamic_cast<pesuite::vision::ViTImpl*>(vit.get());
//   for (const auto& m : pesuite::experiments::models()) std::cout << m.name << "  " << m.frontend << "\n";
#include <torch/torch.h>

#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "pesuite/core/params.h"

namespace pesuite::experiments {

using ModelOptions = std::map<std::string, std::string>;

struct ModelRow {
  std::string name;
  std::string frontend;  // "vision" | "graph"
  std::string pipeline;  // pipelines.h
  std::string help;
  std::vector<core::ParamInfo> options;  // what create() takes, with defaults (0 / "" = the preset's)
  std::function<std::shared_ptr<torch::nn::Module>(const core::Params&)> create;
};

const std::vector<ModelRow>& models();
const ModelRow& model(const std::string& name);  // InputError listing the valid names
// Builds `name` with `options` checked against its row (unknown keys, wrong types: InputError).
std::shared_ptr<torch::nn::Module> create_model(const std::string& name, const ModelOptions& options = {});

}  // namespace pesuite::experiments
