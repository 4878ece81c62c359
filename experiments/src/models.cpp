// The model registry over both frontends (models.h): rows made from each frontend's own table.
#include "pesuite/experiments/models.h"

#include "pesuite/core/error.h"
#include "pesuite/core/registry.h"
#include "pesuite/graph/gnn.h"
#include "pesuite/vision/head_pose_heads.h"
#include "pesuite/vision/resnet.h"
#include "pesuite/vision/clip.h"
#include "pesuite/vision/vit.h"
#include "pesuite/vision/vlm.h"

namespace pesuite::experiments {
namespace {

using core::ParamInfo;

std::vector<ParamInfo> vit_options() {
  return {ParamInfo::integer("num_classes", "0", "classes of the head (0 = the preset's)", 0),
          ParamInfo::integer("img_size", "0", "input side the learned table is laid out for (0 = the preset's)", 0),
          ParamInfo::integer("patch_size", "0", "0 = the preset's", 0),
          ParamInfo::integer("in_chans", "0", "0 = the preset's", 0),
          ParamInfo::integer("dim", "0", "token width (0 = the preset's)", 0),
          ParamInfo::integer("depth", "0", "blocks (0 = the preset's)", 0),
          ParamInfo::integer("heads", "0", "attention heads (0 = the preset's)", 0),
          ParamInfo::text("pe", "", "any attention / token PE of `pesuite list pes` ('' = the preset's)"),
          ParamInfo::real("drop_path", "0", "stochastic depth rate", 0)};
}

std::shared_ptr<torch::nn::Module> create_vit_row(const std::string& name, const core::Params& p) {
  vision::ViT m = vision::create_vit(name, [&](vision::ViTOptions& o) {
    if (p.integer("num_classes") > 0) o.num_classes(p.integer("num_classes"));
    if (p.integer("img_size") > 0) o.img_size(p.integer("img_size"));
    if (p.integer("patch_size") > 0) o.patch_size(p.integer("patch_size"));
    if (p.integer("in_chans") > 0) o.in_chans(p.integer("in_chans"));
    if (p.integer("dim") > 0) o.dim(p.integer("dim"));
    if (p.integer("depth") > 0) o.depth(p.integer("depth"));
    if (p.integer("heads") > 0) o.heads(p.integer("heads"));
    if (!p.text("pe").empty()) o.pe(p.text("pe"));
    o.drop_path(p.real("drop_path"));
  });
  return m.ptr();
}

std::vector<ParamInfo> clip_options() {
  std::vector<ParamInfo> out;
  for (const char* k : {"embed_dim", "image_size", "patch_size", "vision_width", "vision_layers", "vision_heads", "text_width",
                        "text_layers", "text_heads", "context_length"})
    out.push_back(ParamInfo::integer(k, "0", "0 = the preset's", 0));
  return out;
}

std::shared_ptr<torch::nn::Module> create_clip_row(const std::string& name, const core::Params& p) {
  vision::Clip m = vision::create_clip(name, [&](vision::ClipOptions& o) {
    auto get = [&](const char* k) { return p.integer(k); };
    if (get("embed_dim")) o.embed_dim(get("embed_dim"));
    if (get("image_size")) o.image_size(get("image_size"));
    if (get("patch_size")) o.patch_size(get("patch_size"));
    if (get("vision_width")) o.vision_width(get("vision_width"));
    if (get("vision_layers")) o.vision_layers(get("vision_layers"));
    if (get("vision_heads")) o.vision_heads(get("vision_heads"));
    if (get("text_width")) o.text_width(get("text_width"));
    if (get("text_layers")) o.text_layers(get("text_layers"));
    if (get("text_heads")) o.text_heads(get("text_heads"));
    if (get("context_length")) o.context_length(get("context_length"));
  });
  return m.ptr();
}

// A VLM's vocabulary is its training text's (vlm_training.h); a registry row has none, so it takes
// the first vocab_size CLIP ids.
std::vector<ParamInfo> vlm_options() {
  return {ParamInfo::integer("vocab_size", "512", "model ids (3 specials + CLIP ids 0..vocab_size-4); training sets the real one", 4),
          ParamInfo::integer("latents", "0", "resampler latents (0 = the preset's)", 0),
          ParamInfo::integer("lm_width", "0", "0 = the preset's", 0),
          ParamInfo::integer("lm_layers", "0", "0 = the preset's", 0),
          ParamInfo::integer("lm_heads", "0", "0 = the preset's", 0),
          ParamInfo::choice("lm_pe", "rope", "the LM's positions", {"rope", "learned"})};
}

std::shared_ptr<torch::nn::Module> create_vlm_row(const std::string& name, const core::Params& p) {
  std::vector<std::int64_t> ids(static_cast<std::size_t>(p.integer("vocab_size") - vision::VlmVocab::kSpecials));
  for (std::size_t i = 0; i < ids.size(); ++i) ids[i] = static_cast<std::int64_t>(i);
  vision::Vlm m = vision::create_vlm(name, vision::VlmVocab(ids), [&](vision::VlmOptions& o) {
    if (p.integer("latents")) o.latents(p.integer("latents"));
    if (p.integer("lm_width")) o.lm_width(p.integer("lm_width"));
    if (p.integer("lm_layers")) o.lm_layers(p.integer("lm_layers"));
    if (p.integer("lm_heads")) o.lm_heads(p.integer("lm_heads"));
    o.lm_pe(p.text("lm_pe"));
  });
  return m.ptr();
}

std::vector<ParamInfo> gnn_options() {
  return {ParamInfo::integer("in_dim", "1", "node feature columns", 1),
          ParamInfo::integer("edge_dim", "0", "edge feature columns (0 = none)", 0),
          ParamInfo::integer("out_dim", "1", "outputs per graph (or node)", 1),
          ParamInfo::integer("hidden", "64", "width", 1),
          ParamInfo::integer("layers", "4", "layers", 0),
          ParamInfo::integer("heads", "4", "attention heads (gps)", 1),
          ParamInfo::choice("pool", "mean", "graph readout", {"sum", "mean", "none"}),
          ParamInfo::text("pe", "none", "any graph encoding spec of `pesuite list pes`"),
          ParamInfo::integer("pe_in_dim", "0", "encoding columns read (0 = all the spec computes)", 0),
          ParamInfo::integer("pe_dim", "16", "hidden channels of the encoding", 1)};
}

std::shared_ptr<torch::nn::Module> create_gnn_row(const std::string& name, const core::Params& p) {
  graph::GraphModelOptions o;
  o.model(name).in_dim(p.integer("in_dim")).edge_dim(p.integer("edge_dim")).out_dim(p.integer("out_dim"))
      .hidden(p.integer("hidden")).layers(p.integer("layers")).heads(p.integer("heads")).pool(p.text("pool"))
      .pe(p.text("pe")).pe_in_dim(p.integer("pe_in_dim")).pe_dim(p.integer("pe_dim"));
  return graph::GraphModel(o).ptr();
}

// Head-pose models (head_pose_heads.h): one row per head and ResNet ("hopenet-resnet50"), and one
// per head for the ViT presets ("hopenet-vit", the preset chosen by `backbone`).
std::vector<ParamInfo> head_pose_options(bool vit) {
  std::vector<ParamInfo> o{ParamInfo::real("alpha", "1", "hopenet: weight of the expectation's MSE", 0),
                           ParamInfo::integer("img_size", "224", "input side (ViT: the learned table's grid)", 16)};
  if (vit) {
    o.push_back(ParamInfo::text("backbone", "deit_tiny_patch16", "any ViT / DeiT / CPVT preset of `pesuite list models`"));
    o.push_back(ParamInfo::text("pe", "", "any attention / token PE of `pesuite list pes` ('' = the preset's)"));
    o.push_back(ParamInfo::integer("patch_size", "0", "0 = the preset's", 0));
    o.push_back(ParamInfo::integer("dim", "0", "token width (0 = the preset's)", 0));
    o.push_back(ParamInfo::integer("depth", "0", "blocks (0 = the preset's)", 0));
    o.push_back(ParamInfo::integer("heads", "0", "attention heads (0 = the preset's)", 0));
    o.push_back(ParamInfo::real("drop_path", "0", "stochastic depth rate", 0));
  }
  return o;
}

std::shared_ptr<torch::nn::Module> create_head_pose_row(const std::string& head, const std::string& backbone, const core::Params& p) {
  auto o = vision::HeadPoseOptions().head(head).alpha(p.real("alpha")).img_size(p.integer("img_size"));
  if (backbone.empty()) {
    o.backbone(p.text("backbone")).pe(p.text("pe")).patch_size(p.integer("patch_size")).dim(p.integer("dim"));
    o.depth(p.integer("depth")).heads(p.integer("heads")).drop_path(p.real("drop_path"));
    if (vision::is_resnet_backbone(o.backbone()))
      throw core::InputError("model " + head + "-vit: backbone '" + o.backbone() + "' is a ResNet; use the row " + head + "-" + o.backbone());
  } else {
    o.backbone(backbone);
  }
  return vision::HeadPoseNet(o).ptr();
}

const char* head_help(const std::string& head) {
  if (head == "hopenet") return "Hopenet head (three 66-bin classifiers, CE + alpha * MSE of the expectation)";
  if (head == "6d") return "6DRepNet head (6D -> Gram-Schmidt rotation, geodesic loss)";
  return "full-range head (yaw over [-180, 180) as sin / cos, wrapped errors)";
}

}  // namespace

const std::vector<ModelRow>& models() {
  static const std::vector<ModelRow> rows = [] {
    std::vector<ModelRow> out;
    for (const auto& info : vision::list_vit_models()) {
      const std::string name = info.name;
      out.push_back({name, "vision", "image-classification", info.help, vit_options(),
                     [name](const core::Params& p) { return create_vit_row(name, p); }});
    }
    for (const auto& head : vision::head_pose_head_names()) {
      for (const auto& resnet : vision::list_resnets())
        out.push_back({head + "-" + resnet, "vision", "headpose", std::string(head_help(head)) + " on " + resnet, head_pose_options(false),
                       [head, resnet](const core::Params& p) { return create_head_pose_row(head, resnet, p); }});
      out.push_back({head + "-vit", "vision", "headpose", std::string(head_help(head)) + " on any ViT preset (backbone=, pe=)",
                     head_pose_options(true), [head](const core::Params& p) { return create_head_pose_row(head, "", p); }});
    }
    for (const auto& info : vision::list_clip_models()) {
      const std::string name = info.name;
      out.push_back({name, "vision", "clip", info.help, clip_options(),
                     [name](const core::Params& p) { return create_clip_row(name, p); }});
    }
    for (const auto& info : vision::list_vlm_models()) {
      const std::string name = info.name;
      out.push_back({name, "vision", "vlm", info.help, vlm_options(),
                     [name](const core::Params& p) { return create_vlm_row(name, p); }});
    }
    for (const auto& info : graph::graph_models()) {
      const std::string name = info.name;
      out.push_back({name, "graph", "graph", info.help, gnn_options(),
                     [name](const core::Params& p) { return create_gnn_row(name, p); }});
    }
    return out;
  }();
  return rows;
}

const ModelRow& model(const std::string& name) { return core::find_row(models(), name, "model"); }

std::shared_ptr<torch::nn::Module> create_model(const std::string& name, const ModelOptions& options) {
  const ModelRow& row = model(name);
  core::NamedSpec spec;
  spec.text = name;
  spec.name = name;
  spec.params = options;
  return row.create(core::resolve(spec, row.options, "model"));
}

}  // namespace pesuite::experiments
