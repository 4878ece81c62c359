// Checkpoint and resume: 2N steps == N steps, stop, resume, N steps (bitwise, CPU), with dropout,
// AdamW (weight decay, amsgrad), warm-up + cosine, and batches drawn from the checkpointed RNG.
// A NaN loss stops training and keeps the last good checkpoint.
#include <gtest/gtest.h>

#include "pesuite/core/trainer.h"
#include "pesuite/core/error.h"
#include "pesuite/core/safetensors.h"
#include "test_util.h"

using namespace pesuite;
using namespace pesuite::core;

namespace {

struct Harness {
  torch::nn::Sequential model{torch::nn::Linear(6, 16), torch::nn::ReLU(), torch::nn::Dropout(0.3),
                              torch::nn::Linear(16, 3)};
  torch::optim::AdamW opt{model->parameters(), torch::optim::AdamWOptions(1e-2).weight_decay(0.05).amsgrad(true)};
  pesuite::core::LrSchedule sched = pesuite::core::LrSchedule::warmup_cosine(1e-2, 5, 40, 0.1);
};

torch::Tensor batch_loss(torch::nn::Sequential& model, std::mt19937_64& rng) {
  // The batch depends on the data RNG: resume must restore it exactly.
  const auto seed = static_cast<std::int64_t>(rng() % 100000);
  auto g = torch::make_generator<at::CPUGeneratorImpl>(seed);
  auto x = torch::randn({8, 6}, g);
  auto y = torch::randint(0, 3, {8}, g);
  return torch::nn::functional::cross_entropy(model->forward(x), y);
}

pesuite::core::TrainerOptions options(std::int64_t total, const std::string& dir, std::uint64_t seed = 0, std::int64_t every = 0) {
  pesuite::core::TrainerOptions o;
  o.total_steps = total;
  o.ckpt_dir = dir;
  o.data_seed = seed;
  o.checkpoint_every = every;
  return o;
}

}  // namespace

TEST(Trainer, ResumeIsBitwiseIdentical) {
  test::TempDir dir;
  torch::manual_seed(0);
  Harness full;
  pesuite::core::Trainer t_full(*full.model, full.opt, full.sched, options(40, dir / "full", 7));
  t_full.fit([&](std::int64_t, std::mt19937_64& rng) { return batch_loss(full.model, rng); });

  torch::manual_seed(0);
  Harness first;
  pesuite::core::Trainer t_first(*first.model, first.opt, first.sched, options(20, dir / "half", 7));
  t_first.fit([&](std::int64_t, std::mt19937_64& rng) { return batch_loss(first.model, rng); });

  torch::manual_seed(123);  // a different process state: everything must come from the checkpoint
  Harness second;
  pesuite::core::Trainer t_second(*second.model, second.opt, second.sched, options(40, dir / "half", 99));
  t_second.resume(dir / "half/last.safetensors");
  EXPECT_EQ(t_second.state().step, 20);
  t_second.fit([&](std::int64_t, std::mt19937_64& rng) { return batch_loss(second.model, rng); });

  auto a = core::module_state(*full.model), b = core::module_state(*second.model);
  for (const auto& [name, t] : a) EXPECT_TRUE(torch::equal(t, b.at(name))) << name;
  // And the optimiser moments too.
  auto fa = core::load_safetensors(dir / "full/last.safetensors");
  auto fb = core::load_safetensors(dir / "half/last.safetensors");
  for (const auto& [name, t] : fa.tensors)
    if (name.rfind("optim.", 0) == 0) EXPECT_TRUE(torch::equal(t, fb.tensors.at(name))) << name;
  EXPECT_EQ(fa.metadata.at("step"), "40");
}

TEST(Trainer, NanLossStopsAndKeepsLastGoodCheckpoint) {
  test::TempDir dir;
  torch::manual_seed(0);
  Harness s;
  pesuite::core::Trainer t(*s.model, s.opt, s.sched, options(30, dir.str(), 0, 5));
  try {
    t.fit([&](std::int64_t step, std::mt19937_64& rng) {
      auto loss = batch_loss(s.model, rng);
      return step == 12 ? loss * std::numeric_limits<float>::quiet_NaN() : loss;
    });
    FAIL() << "no exception";
  } catch (const pesuite::core::TrainingDiverged& e) {
    EXPECT_NE(std::string(e.what()).find("step 12: loss is nan"), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find("last.safetensors"), std::string::npos) << e.what();
  }
  auto ck = core::load_safetensors(dir / "last.safetensors");
  EXPECT_EQ(ck.metadata.at("step"), "10");
  for (const auto& [name, v] : ck.tensors)
    if (v.is_floating_point()) EXPECT_TRUE(torch::isfinite(v).all().item<bool>()) << name;
}

TEST(Trainer, CheckpointMismatchIsInputError) {
  test::TempDir dir;
  Harness s;
  pesuite::core::Trainer t(*s.model, s.opt, s.sched, options(2, dir.str()));
  t.fit([&](std::int64_t, std::mt19937_64& rng) { return batch_loss(s.model, rng); });
  torch::nn::Sequential other(torch::nn::Linear(6, 4));
  torch::optim::AdamW opt(other->parameters());
  pesuite::core::LrSchedule sched = pesuite::core::LrSchedule::constant(1e-3);
  std::mt19937_64 rng;
  EXPECT_THROW(pesuite::core::load_checkpoint(dir / "last.safetensors", *other, opt, sched, rng), pesuite::core::InputError);
}

TEST(LrSchedule, WarmupCosineAndPlateau) {
  auto s = pesuite::core::LrSchedule::warmup_cosine(1.0, 10, 110, 0.0);
  EXPECT_DOUBLE_EQ(s.lr_at(0), 0.1);
  EXPECT_DOUBLE_EQ(s.lr_at(9), 1.0);
  EXPECT_NEAR(s.lr_at(60), 0.5, 1e-12);
  EXPECT_NEAR(s.lr_at(110), 0.0, 1e-12);
  auto p = pesuite::core::LrSchedule::plateau(1.0, 0.5, 2);
  for (double v : {1.0, 0.9, 0.9, 0.9}) p.observe(v);
  EXPECT_DOUBLE_EQ(p.lr_at(0), 1.0);
  p.observe(0.9);  // third bad epoch > patience 2
  EXPECT_DOUBLE_EQ(p.lr_at(0), 0.5);
  pesuite::core::LrSchedule q = pesuite::core::LrSchedule::constant(3);
  q.load_state(p.state(), "test");
  EXPECT_DOUBLE_EQ(q.lr_at(0), 0.5);
}
