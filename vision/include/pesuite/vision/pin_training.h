#pragma once
// PIN and its baselines on a frozen captioning VLM (vlm.h, vlm_training.h): training (only the
// adapter's parameters), decoding boxes with beam search, mIoU by object size; the engine behind
// the `pin` pipeline, the `pin` table and `pesuite vision pin`.
//
//   auto cfg = pin_defaults();
//   cfg.merge_file("experiments/configs/vision/pin-micro.toml");
//   cfg.apply_set("method=\"vpt\"");
//   PinResult r = run_pin(cfg, "runs");
//   r.sets.at("heldout").miou;  r.trained_parameters;
//   Localiser loc = load_localiser(r.localiser_file);
//   BoxAnswer a = locate(loc, tok, image, "bear");           // a.box (cells), a.pixels, a.text
//
// Methods (config `method`): raw (the prompt alone), random (a uniform random cell box: two cells
// per axis drawn uniformly, sorted), fewshot (eval.shots training scenes with their answers in
// the context before the query, each after its own <image>), vpt, lora, pin (pin.h; trained).
// A training row is "<image>In the image is a {object} located at [x1, y1, x2, y2]." for one
// object of a scene (drawn per step), the loss next-token cross-entropy on the answer's tokens and,
// for the first train.name_fraction of the steps, on the object name's tokens too (as the paper's
// code does). The VLM is frozen: eval mode, no parameter requires grad.
// Evaluation: one query per distinct class of every scene; the answer is decoded with beam search
// (eval.beams, box_answers.h) after the prompt; its IoU is with the best-matching ground-truth box
// of that class (the visible tight box), and its size group is that box's share of the image area
// (eval.medium_area, eval.large_area). An answer that does not parse is IoU 0, counted as malformed.
// Domain shift (data.coco): the same evaluation on real COCO images squashed to the VLM's input,
// queries only for the COCO classes the VLM's vocabulary can name; skipped, with a line in the
// run's log, when the file is not there, names no such class, or the build has no OpenCV.
// The VLM is vlm.ckpt, or the one vlm.pretrain describes (a TOML text over `vlm train`'s
// defaults), pretrained once and cached under core::cache_dir()/vlm/<hash of its config>.
#include <torch/torch.h>

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "pesuite/core/config.h"
#include "pesuite/vision/box_answers.h"
#include "pesuite/vision/clip_training.h"
#include "pesuite/vision/pin.h"
#include "pesuite/vision/vlm.h"
#include "pesuite/vision/vlm_training.h"

namespace pesuite::vision {

core::Config pin_defaults();
std::vector<std::string> pin_dataset_specs(const core::Config& cfg);  // data.train, data.test, data.heldout

// The frozen VLM: eval mode, requires_grad off everywhere.
void freeze_vlm(Vlm& vlm);
// The VLM of a config (vlm.ckpt or the cached pretraining of vlm.pretrain; runs_root for its run).
Vlm pin_vlm(const core::Config& cfg, const std::string& runs_root);

// Prompt ids "<image>In the image is a {object} located at"; name_mask[t] is true at the object's
// tokens. InputError naming the object when the VLM's vocabulary cannot encode it.
std::vector<std::int64_t> localisation_prompt(const VlmVocab& vocab, const ClipTokenizer& tok, const std::string& object,
                                              std::vector<bool>* name_mask = nullptr);
// Training rows (prompt + answer) for one object per image, as TokenBatch (vlm_training.h).
TokenBatch localisation_rows(const VlmVocab& vocab, const ClipTokenizer& tok, const std::vector<std::string>& objects,
                             const std::vector<GridBox>& answers, bool name_in_loss);
torch::Tensor localisation_loss(Vlm& vlm, LocalisationAdapter& adapter, const torch::Tensor& images, const TokenBatch& rows);

struct LocalisationQuery {
  std::int64_t scene = 0;
  std::string object;
  std::vector<PixelBox> boxes;  // every visible instance of the class
};
std::vector<LocalisationQuery> localisation_queries(const ClipScenes& data);

struct LocaliseOptions {
  std::int64_t bins = 16, beams = 3, shots = 0;
  double medium_area = 0.04, large_area = 0.12;
  std::uint64_t seed = 0;
  std::int64_t max_queries = 0;  // 0 = all
};
struct LocalisationResult {
  IouSummary summary;
  std::vector<LocalisationQuery> queries;  // what was asked, in order
  std::vector<double> ious;                // per query: IoU with the best-matching visible box (0: not a box)
  std::vector<std::string> answers;        // per query: decoded text (random: the box's text)
};
// One line per query (scene, object, answer, IoU, the visible boxes in pixels), tab-separated with
// a header: what a run writes as <set>-answers.tsv beside its metrics.
std::string localisation_answers_tsv(const LocalisationResult& r);
// method: raw | pin | vpt | lora (with their adapter) | fewshot (raw adapter, `support` scenes) |
// random (no model needed).
LocalisationResult evaluate_localisation(const std::string& method, Vlm& vlm, LocalisationAdapter* adapter, const ClipTokenizer& tok,
                                         const ClipScenes& data, const ClipScenes* support, const LocaliseOptions& options,
                                         const torch::Device& device);

// The domain-shift set: the images of a coco: spec squashed to size x size (boxes scaled with
// them), only the objects whose class `keep` accepts (the names the VLM's vocabulary can encode)
// and no crowd region; images left without an object are dropped (none left: size() == 0). Labels
// index the spec's 80 category names (classes). InputError for a spec that is not coco:, and
// without OpenCV.
//   auto coco = coco_localisation_scenes("coco:instances.json?images=dir", 32, [&](auto& c) { return can_name(c); });
ClipScenes coco_localisation_scenes(const std::string& spec, std::int64_t size, const std::function<bool(const std::string&)>& keep);
// Whether the VLM's vocabulary encodes `object` (localisation_prompt would accept it).
bool vlm_can_name(const VlmVocab& vocab, const ClipTokenizer& tok, const std::string& object);

// ---- a trained localiser as one file -------------------------------------------------------------
struct Localiser {
  Vlm vlm{nullptr};
  std::shared_ptr<LocalisationAdapter> adapter;
  std::string method;
  std::int64_t bins = 16, beams = 3;
};
// vlm.* and adapter.* tensors, the VLM's metadata, "method", "bins", "beams", the adapter options.
void save_localiser(const std::string& path, const Localiser& loc, const AdapterOptions& options);
// InputError naming the file when it is not one, or when its adapter does not fit its VLM.
Localiser load_localiser(const std::string& path);
struct BoxAnswer {
  std::string text;
  std::optional<GridBox> box;  // nullopt: the answer is not a well-formed box
  PixelBox pixels;
};
// image: float [3, S, S] normalised as the scenes (kClipMean / kClipStd). InputError for another shape.
BoxAnswer locate(Localiser& loc, const ClipTokenizer& tok, const torch::Tensor& image, const std::string& object, const torch::Device& device);

struct PinResult {
  std::string method;
  std::int64_t trained_parameters = 0, steps = 0;
  double train_seconds = 0, final_loss = 0;
  std::map<std::string, IouSummary> sets;  // "test" (training classes), "heldout" (held-out classes), "coco" (data.coco, when there)
  std::string run_path, localiser_file;
};
// Under several ranks (core/distributed.h) each trains the adapter on its queries of every global
// batch, weighted by the global batch's target count (share_of_next_token_loss); rank 0 alone
// evaluates and writes (the other ranks' results have no sets).
PinResult run_pin(const core::Config& config, const std::string& runs_root);

}  // namespace pesuite::vision
