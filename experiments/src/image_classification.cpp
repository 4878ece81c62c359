#include "pesuite/experiments/image_classification.h"

#include <chrono>
#include <cmath>
#include <filesystem>

#include "pesuite/datasets/idx.h"
#include "pesuite/experiments/run_dir.h"
#include "pesuite/experiments/trainer.h"
#include "pesuite/heads/error.h"
#include "pesuite/heads/runtime.h"
#include "pesuite/vision/vit.h"
#ifdef PESUITE_HAVE_OPENCV
#include "pesuite/experiments/plot.h"
#endif

namespace pesuite::experiments {

Config image_classification_defaults() {
  return Config::from_toml_string(R"(
experiment = "fmnist-vit"
seed = 0
device = "auto"

[data]
train = "idx:/usr/share/datasets/fashion-mnist?split=train"
test = "idx:/usr/share/datasets/fashion-mnist?split=test"
train_limit = 0        # 0 = every image
test_limit = 0
mean = 0.2860          # Fashion-MNIST pixel statistics
std = 0.3530

[model]
name = "vit_tiny_patch4_28"
pe = "learned"          # any heads/ registry spec: none, learned, sincos2d, fourier, rope2d, alibi2d, peg, ...
pe_after_blocks = [0]   # where a conditional encoding (peg) runs
class_token = true      # false: global average pooling (CPVT-GAP)
drop_path = 0.0

[train]
epochs = 1
batch_size = 128
lr = 1e-3
min_lr_ratio = 0.01
weight_decay = 0.05
warmup_fraction = 0.1
label_smoothing = 0.1
clip_grad_norm = 1.0
hflip = true
checkpoint_every = 0    # steps; 0 = at the end only

[eval]
sizes = [28, 44, 56]    # test input sizes (1x, ~1.5x: the nearest multiple of the patch, 2x), no fine-tuning
batch_size = 500
)", "<image-classification defaults>");
}

namespace {

datasets::ImageClassificationSet load_set(const std::string& spec_text, std::int64_t limit) {
  auto spec = datasets::parse_spec(spec_text);
  if (spec.format != "idx")
    throw InputError("dataset spec '" + spec_text + "': image classification reads idx: so far (got '" + spec.format + "')");
  if (limit > 0) spec.params["limit"] = std::to_string(limit);
  return datasets::load_idx_dataset(spec);
}

// uint8 [N, H, W] -> float [N, 1, H, W], normalised.
torch::Tensor to_input(const torch::Tensor& images, double mean, double std) {
  return ((images.to(torch::kFloat32) / 255.0 - mean) / std).unsqueeze(1);
}

double accuracy(vision::ViT& model, const torch::Tensor& images, const torch::Tensor& labels, std::int64_t size,
                std::int64_t batch, const torch::Device& device) {
  torch::NoGradGuard no_grad;
  model->eval();
  std::int64_t correct = 0;
  for (std::int64_t i = 0; i < images.size(0); i += batch) {
    auto x = images.slice(0, i, std::min(i + batch, images.size(0))).to(device);
    if (x.size(-1) != size)
      x = torch::nn::functional::interpolate(
          x, torch::nn::functional::InterpolateFuncOptions().size(std::vector<int64_t>{size, size}).mode(torch::kBilinear).align_corners(false));
    auto pred = model(x).argmax(1).cpu();
    correct += pred.eq(labels.slice(0, i, i + pred.size(0))).sum().item<std::int64_t>();
  }
  model->train();
  return static_cast<double>(correct) / images.size(0);
}

}  // namespace

ClassificationResult run_image_classification(const Config& cfg, const std::string& runs_root) {
  const auto seed = static_cast<std::uint64_t>(cfg.get_int("seed"));
  const torch::Device device = runtime::parse_device(cfg.get_string("device"));
  // Everything that can be wrong in the config is found before training starts.
  auto train = load_set(cfg.get_string("data.train"), cfg.get_int("data.train_limit"));
  auto test = load_set(cfg.get_string("data.test"), cfg.get_int("data.test_limit"));
  const double mean = cfg.get_double("data.mean"), std = cfg.get_double("data.std");
  const auto num_classes = static_cast<std::int64_t>(train.classes.size());
  runtime::seed_all(seed);
  vision::ViT model = vision::create_vit(cfg.get_string("model.name"), [&](vision::ViTOptions& o) {
    o.num_classes(num_classes).pe(cfg.get_string("model.pe")).pe_after_blocks(cfg.get_ints("model.pe_after_blocks"))
        .class_token(cfg.get_bool("model.class_token")).drop_path(cfg.get_double("model.drop_path"));
  });
  if (model->options.in_chans() != 1 || train.images.size(1) != model->options.img_size())
    throw InputError("model '" + cfg.get_string("model.name") + "' expects " + std::to_string(model->options.in_chans()) +
                     "x" + std::to_string(model->options.img_size()) + "px inputs; " + cfg.get_string("data.train") +
                     " has 1x" + std::to_string(train.images.size(1)) + "px images");
  const auto eval_sizes = cfg.get_ints("eval.sizes");
  for (auto s : eval_sizes)
    if (s % model->options.patch_size() != 0)
      throw InputError("config eval.sizes: " + std::to_string(s) + " is not a multiple of the patch size " +
                       std::to_string(model->options.patch_size()));
  model->to(device);

  const auto batch = cfg.get_int("train.batch_size");
  const auto n = train.images.size(0);
  const auto steps_per_epoch = std::max<std::int64_t>(1, n / batch);
  const auto total = steps_per_epoch * cfg.get_int("train.epochs");
  torch::optim::AdamW optimizer({torch::optim::OptimizerParamGroup(model->decay_parameters()),
                                 torch::optim::OptimizerParamGroup(model->no_decay_parameters())},
                                torch::optim::AdamWOptions(cfg.get_double("train.lr")).weight_decay(cfg.get_double("train.weight_decay")));
  static_cast<torch::optim::AdamWOptions&>(optimizer.param_groups()[1].options()).weight_decay(0.0);
  LrSchedule schedule = LrSchedule::warmup_cosine(cfg.get_double("train.lr"),
                                                  static_cast<std::int64_t>(cfg.get_double("train.warmup_fraction") * total),
                                                  total, cfg.get_double("train.min_lr_ratio"));

  RunDir run = RunDir::create(runs_root, cfg.get_string("experiment"), seed, cfg, device.str());
  run.log("run " + run.path() + ": " + cfg.get_string("model.name") + " + " + cfg.get_string("model.pe") + ", " +
              std::to_string(n) + " training images, " + std::to_string(total) + " steps",
          false);
  TrainerOptions topts;
  topts.total_steps = total;
  topts.checkpoint_every = cfg.get_int("train.checkpoint_every");
  topts.clip_grad_norm = cfg.get_double("train.clip_grad_norm");
  topts.ckpt_dir = run.ckpt_dir();
  topts.label = cfg.get_string("model.pe");
  topts.data_seed = seed;
  Trainer trainer(*model, optimizer, schedule, topts);

  const auto train_x = to_input(train.images, mean, std);
  const bool hflip = cfg.get_bool("train.hflip");
  const double smoothing = cfg.get_double("train.label_smoothing");
  // The batch of a step is a function of (seed, epoch, step): resume replays exactly.
  torch::Tensor order;
  std::int64_t order_epoch = -1;
  double running = 0;
  auto loss_fn = [&](std::int64_t step, std::mt19937_64&) {
    const auto epoch = step / steps_per_epoch, k = step % steps_per_epoch;
    if (epoch != order_epoch) {
      auto g = torch::make_generator<at::CPUGeneratorImpl>(seed * 1000003 + epoch);
      order = torch::randperm(n, g);
      order_epoch = epoch;
    }
    auto idx = order.slice(0, k * batch, (k + 1) * batch);
    auto x = train_x.index_select(0, idx);
    if (hflip) {
      auto g = torch::make_generator<at::CPUGeneratorImpl>(seed * 7919 + step);
      auto flip = torch::rand({x.size(0)}, g) < 0.5;
      x = torch::where(flip.view({-1, 1, 1, 1}), x.flip({3}), x);
    }
    auto y = train.labels.index_select(0, idx).to(device);
    auto logits = model(x.to(device));
    // Label smoothing: (1 - e) * CE + e * mean over classes of -log p.
    auto logp = torch::log_softmax(logits, 1);
    auto loss = (1 - smoothing) * torch::nll_loss(logp, y) - smoothing * logp.mean(1).mean();
    return loss;
  };
  auto on_step = [&](TrainState& st, double loss) {
    running = st.step == 1 ? loss : 0.98 * running + 0.02 * loss;
    if (st.step % 20 == 0 || st.step == total)
      run.metrics().append({{"step", st.step}, {"epoch", static_cast<double>(st.step) / steps_per_epoch},
                            {"train_loss", running}, {"lr", schedule.lr_at(st.step - 1)}});
    return true;
  };
  const auto t0 = std::chrono::steady_clock::now();
  trainer.fit(loss_fn, on_step);
  ClassificationResult result;
  result.train_seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  result.train_images_per_second = total * batch / std::max(1e-9, result.train_seconds);
  result.run_path = run.path();

  const auto test_x = to_input(test.images, mean, std);
  nlohmann::ordered_json row{{"step", total}};
  for (auto s : eval_sizes) {
    result.accuracy_at_size[s] = accuracy(model, test_x, test.labels, s, cfg.get_int("eval.batch_size"), device);
    row["test_acc@" + std::to_string(s)] = result.accuracy_at_size[s];
  }
  row["train_seconds"] = result.train_seconds;
  row["train_images_per_second"] = result.train_images_per_second;
  run.metrics().append(row);
  run.log("test accuracy " + row.dump(), false);
#ifdef PESUITE_HAVE_OPENCV
  auto [xs, ys] = run.metrics().series("step", "train_loss");
  plot::line_plot(run.plots_dir() + "/train_loss.png", {{"train_loss", xs, ys}}, {"training loss", "step", "loss"});
#endif
  return result;
}

}  // namespace pesuite::experiments
