// The captioning VLM (vlm.h) and the localisation adapters (pin.h): shapes, causal masking, the
// zero gates, the resampler's order invariance, which image a token reads, files, vocabulary, and
// PIN's table and MLP against the paper's specification.
#include <gtest/gtest.h>

#include <cmath>
#include <filesystem>

#include "pesuite/core/error.h"
#include "pesuite/vision/pin.h"
#include "pesuite/vision/vlm.h"
#include "test_util.h"

namespace {

using namespace pesuite;
using namespace pesuite::vision;

VlmVocab small_vocab() {
  std::vector<std::int64_t> ids;
  for (std::int64_t i = 0; i < 29; ++i) ids.push_back(100 + 7 * i);
  return VlmVocab(ids);
}

Vlm micro() {
  torch::manual_seed(0);
  Vlm m = create_vlm("vlm_micro_32", small_vocab());
  m->eval();
  return m;
}

void open_gates(Vlm& m, double value) {
  torch::NoGradGuard ng;
  for (auto& b : m->cross_attention_blocks()) {
    b->attn_gate.fill_(value);
    b->ff_gate.fill_(value);
  }
}

torch::Tensor row(std::vector<std::int64_t> ids) { return torch::tensor(ids, torch::kInt64).unsqueeze(0); }

TEST(Vlm, Shapes) {
  auto m = micro();
  EXPECT_EQ(m->vocabulary().size(), 32);
  auto images = torch::randn({2, 3, 32, 32});
  auto tokens = m->vision_tokens(images);
  EXPECT_EQ(tokens.sizes(), (std::vector<std::int64_t>{2, 64, 64}));  // 8 x 8 patches of 4 px
  auto media = m->resample(tokens);
  EXPECT_EQ(media.sizes(), (std::vector<std::int64_t>{2, 16, 64}));
  auto ids = torch::tensor({1, 5, 6, 7, 2, 1, 9, 10, 2, 0}, torch::kInt64).view({2, 5});
  EXPECT_EQ(m(images, ids).sizes(), (std::vector<std::int64_t>{2, 5, 32}));
  EXPECT_EQ(m->vision_tokens(images, torch::randn({3, 64})).sizes(), tokens.sizes());  // VPT prompts dropped at the output
  EXPECT_THROW(m->vision_tokens(torch::randn({2, 1, 32, 32})), core::InputError);      // wrong channel count
  EXPECT_THROW(m->vision_tokens(torch::randn({2, 3, 64, 64})), core::InputError);
  EXPECT_THROW(m->lm_logits(torch::tensor({1, 1, 5}, torch::kInt64).view({1, 3}), media.narrow(0, 0, 1).unsqueeze(1)),
               core::InputError);  // two <image> tokens, one image
}

TEST(Vlm, LogitsAtPositionTDoNotSeeLaterTokens) {
  auto m = micro();
  open_gates(m, 0.7);
  torch::NoGradGuard ng;
  auto images = torch::randn({1, 3, 32, 32});
  auto a = m(images, row({1, 5, 6, 7, 8, 9, 10}));
  auto b = m(images, row({1, 5, 6, 7, 20, 21, 22}));
  EXPECT_TRUE(torch::allclose(a.narrow(1, 0, 4), b.narrow(1, 0, 4), 1e-6, 1e-6));
  EXPECT_GT((a.narrow(1, 4, 3) - b.narrow(1, 4, 3)).abs().max().item<double>(), 1e-3);
}

TEST(Vlm, LearnedPositionsAreCausalToo) {
  torch::manual_seed(1);
  auto m = create_vlm("vlm_micro_32", small_vocab(), [](VlmOptions& o) { o.lm_pe("learned"); });
  m->eval();
  open_gates(m, 0.7);
  torch::NoGradGuard ng;
  auto images = torch::randn({1, 3, 32, 32});
  auto a = m(images, row({1, 5, 6, 7, 8}));
  auto b = m(images, row({1, 5, 6, 30, 31}));
  EXPECT_TRUE(torch::allclose(a.narrow(1, 0, 3), b.narrow(1, 0, 3), 1e-6, 1e-6));
  EXPECT_THROW(m(images, torch::ones({1, 49}, torch::kInt64)), core::InputError);  // beyond the table's 48 rows
}

TEST(Vlm, ClosedGatesIgnoreTheImageExactly) {
  auto m = micro();  // gates start at 0, as OpenFlamingo's
  torch::NoGradGuard ng;
  auto ids = row({1, 5, 6, 7, 8});
  auto a = m(torch::randn({1, 3, 32, 32}), ids), b = m(torch::randn({1, 3, 32, 32}), ids);
  EXPECT_TRUE(torch::equal(a, b));
  open_gates(m, 0.5);
  EXPECT_GT((m(torch::randn({1, 3, 32, 32}), ids) - m(torch::randn({1, 3, 32, 32}), ids)).abs().max().item<double>(), 1e-3);
}

TEST(Vlm, ResamplerIgnoresTheOrderOfVisionTokens) {
  auto m = micro();
  torch::NoGradGuard ng;
  auto tokens = torch::randn({2, 64, 64});
  auto perm = torch::randperm(64);
  auto a = m->resample(tokens), b = m->resample(tokens.index_select(1, perm));
  EXPECT_TRUE(torch::allclose(a, b, 1e-5, 1e-5));
  auto changed = tokens.clone();
  changed.select(1, 3).add_(torch::randn({2, 64}));  // (a constant shift would vanish in the LayerNorm)
  EXPECT_GT((m->resample(changed) - a).abs().max().item<double>(), 1e-4);
}

TEST(Vlm, EachTokenReadsOnlyItsMostRecentImage) {
  auto m = micro();
  open_gates(m, 0.8);
  torch::NoGradGuard ng;
  // text, <image> 0, text, <image> 1, text
  auto ids = row({5, 6, 1, 7, 8, 1, 9, 10});
  auto img0 = m->resample(m->vision_tokens(torch::randn({1, 3, 32, 32}))), img1 = m->resample(m->vision_tokens(torch::randn({1, 3, 32, 32})));
  auto other = m->resample(m->vision_tokens(torch::randn({1, 3, 32, 32})));
  auto base = m->lm_logits(ids, torch::stack({img0, img1}, 1));
  auto first_changed = m->lm_logits(ids, torch::stack({other, img1}, 1));
  auto second_changed = m->lm_logits(ids, torch::stack({img0, other}, 1));
  EXPECT_TRUE(torch::equal(base.narrow(1, 0, 2), first_changed.narrow(1, 0, 2)));   // before any image
  EXPECT_TRUE(torch::equal(base.narrow(1, 0, 2), second_changed.narrow(1, 0, 2)));
  EXPECT_GT((base.narrow(1, 2, 3) - first_changed.narrow(1, 2, 3)).abs().max().item<double>(), 1e-4);
  EXPECT_TRUE(torch::allclose(base.narrow(1, 0, 5), second_changed.narrow(1, 0, 5), 0, 0));  // image 1 unseen before its <image>
  EXPECT_GT((base.narrow(1, 5, 3) - second_changed.narrow(1, 5, 3)).abs().max().item<double>(), 1e-4);
  // After the second <image>, image 0 reaches the text only through the earlier tokens' states.
  auto media_index = VlmImpl::media_index(ids);
  EXPECT_TRUE(torch::equal(media_index, torch::tensor({-1, -1, 0, 0, 0, 1, 1, 1}, torch::kInt64).view({1, 8})));
}

TEST(Vlm, FilesRoundTripAndRefuseAnotherSize) {
  auto m = micro();
  open_gates(m, 0.3);
  pesuite::test::TempDir dir;
  const auto path = dir / "m.safetensors";
  save_vlm(path, m);
  auto back = load_vlm(path);
  back->eval();
  EXPECT_EQ(back->vocabulary().clip_ids(), m->vocabulary().clip_ids());
  torch::NoGradGuard ng;
  auto images = torch::randn({1, 3, 32, 32});
  auto ids = row({1, 5, 6, 7});
  EXPECT_TRUE(torch::equal(m(images, ids), back(images, ids)));
  // Metadata of one size over the tensors of another: the strict load names the tensor.
  const auto wrong = dir / "wrong.safetensors";
  save_vlm(wrong, m, {{"lm_width", "128"}});
  try {
    load_vlm(wrong);
    FAIL() << "loaded a checkpoint of another size";
  } catch (const core::InputError& e) {
    EXPECT_NE(std::string(e.what()).find("wrong.safetensors"), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find("tensor '"), std::string::npos) << e.what();
  }
  const auto clip_file = dir / "plain.safetensors";
  core::save_module(clip_file, *m);
  EXPECT_THROW(load_vlm(clip_file), core::InputError);  // no VLM metadata
}

TEST(Vlm, VocabularyMapsClipIdsAndRefusesUnknownWords) {
  const auto vocab_file = pesuite::test::sample_data("clip/bpe_simple_vocab_16e6.txt.gz");
  if (vocab_file.empty()) GTEST_SKIP() << "no ../shared/data/clip vocabulary";
  ClipTokenizer tok(vocab_file);
  auto v = VlmVocab::from_texts(tok, {"a photo of two bears.", "In the image is a located at [0, 1, 2, 3]."});
  auto ids = v.encode(tok, "two bears", "text");
  EXPECT_EQ(v.decode(tok, ids), "two bears ");
  auto seq = v.sequence(tok, {"a photo"});
  EXPECT_EQ(seq[0].item<std::int64_t>(), VlmVocab::kImage);
  EXPECT_EQ(seq[-1].item<std::int64_t>(), VlmVocab::kEndOfChunk);
  EXPECT_EQ(v.decode(tok, {VlmVocab::kImage, ids[0]}), "<image>two ");
  try {
    v.encode(tok, "zebra", "object");
    FAIL();
  } catch (const core::InputError& e) {
    EXPECT_NE(std::string(e.what()).find("object 'zebra'"), std::string::npos) << e.what();
  }
  EXPECT_THROW(v.encode(tok, "   ", "object"), core::InputError);
  EXPECT_TRUE(torch::equal(VlmVocab::from_table(v.table(), "t").table(), v.table()));
}

// ---- PIN and the adapters ---------------------------------------------------------------------------

TEST(Pin, TableIsTheTwoDimensionalSinusoidAndTheMlpIsThePapers) {
  Pin pin(8, 8, 64);
  // channels [0, 32): the row, [32, 64): the column; within each PE[p, 2i] = sin(p / 10000^(2i/32)),
  // PE[p, 2i + 1] = cos(same).
  const std::int64_t r = 5, c = 2;
  auto t = pin->table[r * 8 + c];
  for (std::int64_t i = 0; i < 16; ++i) {
    const double w = std::pow(10000.0, -2.0 * static_cast<double>(i) / 32.0);
    EXPECT_NEAR(t[2 * i].item<double>(), std::sin(r * w), 1e-6);
    EXPECT_NEAR(t[2 * i + 1].item<double>(), std::cos(r * w), 1e-6);
    EXPECT_NEAR(t[32 + 2 * i].item<double>(), std::sin(c * w), 1e-6);
    EXPECT_NEAR(t[32 + 2 * i + 1].item<double>(), std::cos(c * w), 1e-6);
  }
  EXPECT_EQ(pin->forward().sizes(), (std::vector<std::int64_t>{64, 64}));
  // 64 -> 512 (+ LayerNorm) -> 768 (+ LayerNorm) -> 64, biases included; the table is a buffer.
  EXPECT_EQ(trained_parameters(*pin), (64 * 512 + 512) + 2 * 512 + (512 * 768 + 768) + 2 * 768 + (768 * 64 + 64));
  // SiLU then LayerNorm after each hidden layer: the composition by hand.
  torch::NoGradGuard ng;
  namespace F = torch::nn::functional;
  auto h = F::layer_norm(F::silu(F::linear(pin->table, pin->fc1->weight, pin->fc1->bias)), F::LayerNormFuncOptions({512}).weight(pin->ln1->weight).bias(pin->ln1->bias));
  h = F::layer_norm(F::silu(F::linear(h, pin->fc2->weight, pin->fc2->bias)), F::LayerNormFuncOptions({768}).weight(pin->ln2->weight).bias(pin->ln2->bias));
  EXPECT_TRUE(torch::allclose(F::linear(h, pin->fc3->weight, pin->fc3->bias), pin->forward()));
}

TEST(Pin, AdaptersAddWhatTheySay) {
  auto m = micro();
  torch::NoGradGuard ng;
  auto images = torch::randn({2, 3, 32, 32});
  auto raw = make_adapter("raw", m)->media(m, images);
  EXPECT_EQ(trained_parameters(*make_adapter("raw", m)), 0);
  // PIN: the resampler of the vision tokens plus one input-independent table.
  auto pin = make_adapter("pin", m);
  auto p = std::dynamic_pointer_cast<torch::nn::Module>(pin)->named_children()[0].value();
  auto table = p->as<PinImpl>()->forward();
  EXPECT_TRUE(torch::allclose(pin->media(m, images), m->resample(m->vision_tokens(images) + table), 1e-6, 1e-6));
  // LoRA starts as the frozen model (B = 0) and leaves the frozen weights as they were.
  auto lora = make_adapter("lora", m, AdapterOptions{8, 2, 4.0});
  const auto w0 = m->visual->attention_layers()[0]->in_proj_weight.clone();
  EXPECT_TRUE(torch::allclose(lora->media(m, images), raw, 1e-6, 1e-6));
  EXPECT_EQ(trained_parameters(*lora), 2 /*layers*/ * 2 /*q, v*/ * (2 * 64 + 64 * 2));
  for (auto& prm : lora->parameters())
    if (prm.size(1) == 2) prm.normal_();  // B
  EXPECT_GT((lora->media(m, images) - raw).abs().max().item<double>(), 1e-4);
  EXPECT_TRUE(torch::equal(m->visual->attention_layers()[0]->in_proj_weight, w0));
  auto vpt = make_adapter("vpt", m, AdapterOptions{5});
  EXPECT_EQ(trained_parameters(*vpt), 5 * 64);
  EXPECT_GT((vpt->media(m, images) - raw).abs().max().item<double>(), 1e-4);
  EXPECT_THROW(make_adapter("prefix", m), core::InputError);
}

}  // namespace
