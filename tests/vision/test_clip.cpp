// CLIP model: OpenAI's names and sizes, attention against a naive reference, the text tower's
// causality and EOT pooling, any image size, checkpoint files (strict loading, clear errors).
#include <gtest/gtest.h>

#include <set>

#include "pesuite/core/error.h"
#include "pesuite/vision/clip.h"
#include "test_util.h"

using namespace pesuite;
using namespace pesuite::vision;

namespace {

std::int64_t count_params(const torch::nn::Module& m) {
  std::int64_t n = 0;
  for (const auto& p : m.parameters()) n += p.numel();
  return n;
}

double max_diff(const torch::Tensor& a, const torch::Tensor& b) {
  return (a.to(torch::kFloat64) - b.to(torch::kFloat64)).abs().max().item<double>();
}

// Tokens of a fake caption: <|startoftext|>, some ids, <|endoftext|>, 0-padding.
torch::Tensor fake_tokens(std::int64_t batch, std::int64_t context, std::int64_t vocab) {
  auto t = torch::zeros({batch, context}, torch::kInt64);
  for (std::int64_t b = 0; b < batch; ++b) {
    const auto len = 3 + b;
    t[b][0] = vocab - 2;
    for (std::int64_t i = 1; i < len; ++i) t[b][i] = (17 * i + 31 * b) % (vocab - 2);
    t[b][len] = vocab - 1;
  }
  return t;
}

// OpenAI's state-dict names for a ViT CLIP of these depths.
std::set<std::string> openai_names(std::int64_t vision_layers, std::int64_t text_layers) {
  std::set<std::string> names = {"visual.conv1.weight", "visual.class_embedding", "visual.positional_embedding",
                                 "visual.ln_pre.weight", "visual.ln_pre.bias", "visual.ln_post.weight", "visual.ln_post.bias",
                                 "visual.proj", "token_embedding.weight", "positional_embedding", "ln_final.weight",
                                 "ln_final.bias", "text_projection", "logit_scale"};
  auto block = [&](const std::string& prefix) {
    for (const char* s : {"attn.in_proj_weight", "attn.in_proj_bias", "attn.out_proj.weight", "attn.out_proj.bias", "ln_1.weight",
                          "ln_1.bias", "mlp.c_fc.weight", "mlp.c_fc.bias", "mlp.c_proj.weight", "mlp.c_proj.bias", "ln_2.weight",
                          "ln_2.bias"})
      names.insert(prefix + s);
  };
  for (std::int64_t i = 0; i < vision_layers; ++i) block("visual.transformer.resblocks." + std::to_string(i) + ".");
  for (std::int64_t i = 0; i < text_layers; ++i) block("transformer.resblocks." + std::to_string(i) + ".");
  return names;
}

}  // namespace

TEST(Clip, ParameterNamesAreOpenAIs) {
  Clip m = create_clip("clip_tiny_patch8_64");
  std::set<std::string> names;
  for (const auto& [name, t] : core::module_state(*m)) names.insert(name);
  EXPECT_EQ(names, openai_names(6, 4));
  const auto state = core::module_state(*m);
  EXPECT_EQ(state.at("visual.conv1.weight").sizes(), (std::vector<std::int64_t>{192, 3, 8, 8}));
  EXPECT_EQ(state.at("visual.positional_embedding").sizes(), (std::vector<std::int64_t>{65, 192}));
  EXPECT_EQ(state.at("visual.transformer.resblocks.0.attn.in_proj_weight").sizes(), (std::vector<std::int64_t>{576, 192}));
  EXPECT_EQ(state.at("transformer.resblocks.3.mlp.c_fc.weight").sizes(), (std::vector<std::int64_t>{768, 192}));
  EXPECT_EQ(state.at("text_projection").sizes(), (std::vector<std::int64_t>{192, 256}));
  EXPECT_EQ(state.at("logit_scale").dim(), 0);
  EXPECT_NEAR(state.at("logit_scale").item<double>(), std::log(1 / 0.07), 1e-6);
}

TEST(Clip, ViTB32HasOpenAIsSize) {
  // openai/CLIP ViT-B/32: 151,277,313 parameters (87,849,216 in the image tower).
  Clip m = create_clip("ViT-B/32");
  EXPECT_EQ(count_params(*m), 151277313);
  EXPECT_EQ(count_params(*m->visual), 87849216);
  EXPECT_EQ(m->visual->transformer->block(0)->attn->heads(), 12);
  EXPECT_EQ(m->transformer->block(0)->attn->heads(), 8);
  EXPECT_EQ(clip_preset("ViT-L/14").resolved_vision_heads(), 16);
  EXPECT_THROW(clip_preset("ViT-X/99"), pesuite::core::InputError);
  EXPECT_EQ(list_clip_models().size(), 8u);  // 4 OpenAI shapes, 4 scene models
}

TEST(Clip, AttentionMatchesANaiveReferenceAndCaptures) {
  torch::manual_seed(0);
  const std::int64_t B = 2, N = 5, D = 12, H = 3, hd = D / H;
  ClipAttention attn(D, H);
  {
    torch::NoGradGuard g;
    attn->in_proj_bias.normal_();
    attn->out_proj->bias.normal_();
  }
  auto x = torch::randn({B, N, D}, torch::kFloat64);
  attn->to(torch::kFloat64);
  for (bool causal : {false, true}) {
    // Naive: per batch, head and query, softmax over keys of q.k / sqrt(hd).
    auto W = attn->in_proj_weight, b = attn->in_proj_bias;
    auto expected = torch::zeros({B, N, D}, torch::kFloat64);
    for (std::int64_t bi = 0; bi < B; ++bi) {
      auto qkv = torch::matmul(x[bi], W.t()) + b;  // [N, 3D]
      auto cat = torch::zeros({N, D}, torch::kFloat64);
      for (std::int64_t h = 0; h < H; ++h) {
        auto q = qkv.narrow(1, h * hd, hd), k = qkv.narrow(1, D + h * hd, hd), v = qkv.narrow(1, 2 * D + h * hd, hd);
        for (std::int64_t i = 0; i < N; ++i) {
          auto s = torch::matmul(k, q[i]) / std::sqrt(static_cast<double>(hd));
          if (causal) s.narrow(0, i + 1, N - i - 1).fill_(-INFINITY);
          cat[i].narrow(0, h * hd, hd).copy_(torch::matmul(torch::softmax(s, 0), v));
        }
      }
      expected[bi] = torch::matmul(cat, attn->out_proj->weight.t()) + attn->out_proj->bias;
    }
    EXPECT_LT(max_diff(attn(x, causal), expected), 1e-12) << causal;
    auto tr = attn->trace(x, causal);
    EXPECT_LT(max_diff(tr.out, expected), 1e-12);
    attn->set_capture(heads::CaptureOptions().probs(true).head_outputs(true).contributions(true));
    auto y = attn(x, causal);
    const auto& c = attn->captured();
    EXPECT_LT(max_diff(y, expected), 1e-12);
    EXPECT_LT(max_diff(c.contributions.sum(1) + attn->out_proj->bias, expected), 1e-12);
    EXPECT_LT(max_diff(c.probs, tr.probs), 1e-14);
    EXPECT_LT(max_diff(c.probs.sum(-1), torch::ones({B, H, N}, torch::kFloat64)), 1e-12);
    // Mean-ablating every head with its own outputs changes nothing; keep = 0 without a mean
    // leaves only the bias.
    heads::HeadIntervention iv;
    iv.keep = torch::zeros({H});
    iv.mean = c.head_outputs.clone();
    attn->set_intervention(iv);
    EXPECT_LT(max_diff(attn(x, causal), expected), 1e-12);
    iv.mean = torch::Tensor();
    attn->set_intervention(iv);
    EXPECT_LT(max_diff(attn(x, causal), attn->out_proj->bias.expand({B, N, D})), 1e-12);
    attn->clear_intervention();
    attn->clear_capture();
  }
  heads::HeadIntervention bad;
  bad.keep = torch::ones({H + 1});
  EXPECT_THROW(attn->set_intervention(bad), pesuite::core::InputError);
  EXPECT_THROW(attn(torch::randn({B, N, D + 1}, torch::kFloat64)), pesuite::core::InputError);
}

TEST(Clip, TextTowerIsCausalAndReadsTheEndOfText) {
  torch::manual_seed(1);
  Clip m = create_clip("clip_tiny_patch8_64");
  m->eval();
  torch::NoGradGuard g;
  auto tokens = fake_tokens(3, 32, 49408);
  auto e = m->encode_text(tokens);
  EXPECT_EQ(e.sizes(), (std::vector<std::int64_t>{3, 256}));
  // Anything after <|endoftext|> (smaller ids) is invisible to it under the causal mask.
  auto t2 = tokens.clone();
  t2[0][20] = 1234;
  t2[2][31] = 999;
  EXPECT_LT(max_diff(m->encode_text(t2), e), 1e-5);
  // ... while a change before it moves the embedding.
  auto t3 = tokens.clone();
  t3[1][1] = 4321;
  EXPECT_GT(max_diff(m->encode_text(t3).select(0, 1), e.select(0, 1)), 1e-4);
  EXPECT_LT(max_diff(m->encode_text(t3).select(0, 0), e.select(0, 0)), 1e-5);
  // Rows are independent and logits are exp(logit_scale) * cosine similarities.
  auto images = torch::randn({2, 3, 64, 64});
  auto out = m(images, tokens);
  auto i = out.image_embeds / out.image_embeds.norm(2, 1, true), t = out.text_embeds / out.text_embeds.norm(2, 1, true);
  EXPECT_LT(max_diff(out.logits_per_image, torch::matmul(i, t.t()) / 0.07), 1e-4);
  EXPECT_THROW(m->encode_text(fake_tokens(1, 77, 49408)), pesuite::core::InputError);       // wrong context
  auto bad = tokens.clone();
  bad[0][3] = 49408;
  EXPECT_THROW(m->encode_text(bad), pesuite::core::InputError);                              // id out of range
  EXPECT_THROW(m->encode_text(tokens.to(torch::kFloat32)), pesuite::core::InputError);
}

TEST(Clip, AnyImageSizeDivisibleByThePatch) {
  torch::manual_seed(2);
  Clip m = create_clip("clip_tiny_patch8_64");
  m->eval();
  torch::NoGradGuard g;
  auto v = m->visual;
  // At the training grid the table is used as it is; elsewhere it is resized (class row kept).
  EXPECT_TRUE(v->positional_embedding_for(8, 8).is_same(v->positional_embedding));
  auto big = v->positional_embedding_for(12, 10);
  EXPECT_EQ(big.sizes(), (std::vector<std::int64_t>{121, 192}));
  EXPECT_TRUE(torch::equal(big[0], v->positional_embedding[0]));
  // Bicubic resizing keeps a constant table constant (the weights sum to 1, antialiased or not).
  auto saved = v->positional_embedding.clone();
  v->positional_embedding.copy_(torch::ones_like(saved) * 0.25);
  EXPECT_LT(max_diff(v->positional_embedding_for(5, 13), torch::full({66, 192}, 0.25)), 1e-6);
  v->positional_embedding.copy_(saved);
  for (auto [h, w] : {std::pair<int, int>{64, 64}, {96, 96}, {48, 80}}) {
    auto y = m->encode_image(torch::randn({2, 3, h, w}));
    EXPECT_EQ(y.sizes(), (std::vector<std::int64_t>{2, 256}));
    EXPECT_TRUE(torch::isfinite(y).all().item<bool>());
  }
  EXPECT_THROW(m->encode_image(torch::randn({1, 3, 60, 64})), pesuite::core::InputError);
  EXPECT_THROW(m->encode_image(torch::randn({1, 1, 64, 64})), pesuite::core::InputError);
  EXPECT_EQ(v->layout_for(96, 64).height, 12);
  EXPECT_EQ(v->layout_for(96, 64).width, 8);
  EXPECT_EQ(v->layout_for(96, 64).prefix, 1);
}

TEST(Clip, ZeroShotWeightsAverageNormalisedPrompts) {
  const auto vocab = test::sample_data("clip/bpe_simple_vocab_16e6.txt.gz");
  if (vocab.empty()) GTEST_SKIP() << "no ../shared/data/clip vocabulary";
  ClipTokenizer tok(vocab);
  torch::manual_seed(6);
  Clip m = create_clip("clip_tiny_patch8_64");
  m->eval();
  torch::NoGradGuard g;
  auto unit = [](const torch::Tensor& t) { return t / t.norm(2, -1, true); };
  auto enc = [&](const std::string& s) { return unit(m->encode_text(tok.tokenize({s}, 32).tokens)[0]); };
  bool cut = true;
  auto w = zero_shot_weights(m, tok, {"cat", "red apple"}, {"a photo of a {}.", "{} and {}"}, &cut);
  EXPECT_FALSE(cut);
  EXPECT_EQ(w.sizes(), (std::vector<std::int64_t>{2, 256}));
  EXPECT_LT(max_diff(w[0], unit(enc("a photo of a cat.") + enc("cat and cat"))), 1e-6);
  EXPECT_LT(max_diff(w[1], unit(enc("a photo of a red apple.") + enc("red apple and red apple"))), 1e-6);
  EXPECT_LT(max_diff(zero_shot_weights(m, tok, {"dog"})[0], enc("a photo of a dog.")), 1e-6);
  EXPECT_THROW(zero_shot_weights(m, tok, {}), pesuite::core::InputError);
  EXPECT_THROW(zero_shot_weights(m, tok, {"dog"}, {"no placeholder"}), pesuite::core::InputError);
}

TEST(Clip, GeluVariantAndOptionsFromAStateDict) {
  torch::manual_seed(3);
  Clip q = create_clip("clip_tiny_patch8_64");
  Clip g = create_clip("clip_tiny_patch8_64", [](ClipOptions& o) { o.activation("gelu"); });
  core::load_module_state(*g, core::module_state(*q), "memory");
  q->eval(), g->eval();
  torch::NoGradGuard ng;
  auto x = torch::randn({1, 3, 64, 64});
  EXPECT_GT(max_diff(q->encode_image(x), g->encode_image(x)), 1e-4);  // QuickGELU != GELU
  EXPECT_THROW(create_clip("clip_tiny_patch8_64", [](ClipOptions& o) { o.activation("relu"); }), pesuite::core::InputError);
  for (const char* name : {"clip_tiny_patch8_64", "clip_small_patch4_64"}) {
    const auto o = clip_preset(name);
    Clip m(o);
    const auto r = clip_options_from_state(core::module_state(*m), {}, "memory");
    EXPECT_EQ(clip_metadata(r), clip_metadata(o)) << name;
  }
  auto state = core::module_state(*q);
  state.erase("visual.conv1.weight");
  try {
    clip_options_from_state(state, {}, "x.safetensors");
    ADD_FAILURE();
  } catch (const pesuite::core::InputError& e) {
    EXPECT_NE(std::string(e.what()).find("visual.conv1.weight"), std::string::npos) << e.what();
  }
}

TEST(Clip, CheckpointRoundTripAndStrictLoading) {
  torch::manual_seed(4);
  test::TempDir dir;
  Clip m = create_clip("clip_tiny_patch8_64", [](ClipOptions& o) { o.activation("gelu"); });
  m->eval();
  save_clip(dir / "clip.safetensors", m);
  Clip r = load_clip(dir / "clip.safetensors");
  r->eval();
  EXPECT_EQ(r->options.activation(), "gelu");
  torch::NoGradGuard g;
  auto x = torch::randn({2, 3, 64, 64});
  auto t = fake_tokens(2, 32, 49408);
  EXPECT_TRUE(torch::equal(r->encode_image(x), m->encode_image(x)));
  EXPECT_TRUE(torch::equal(r->encode_text(t), m->encode_text(t)));

  // A mis-shaped tensor: the error names the file, the tensor and both shapes.
  auto state = core::module_state(*m);
  state["visual.transformer.resblocks.2.attn.in_proj_weight"] = torch::zeros({576, 191});
  core::save_safetensors(dir / "bad.safetensors", state, clip_metadata(m->options));
  try {
    load_clip(dir / "bad.safetensors");
    ADD_FAILURE();
  } catch (const pesuite::core::InputError& e) {
    const std::string msg = e.what();
    for (const char* part : {"bad.safetensors", "visual.transformer.resblocks.2.attn.in_proj_weight", "[576, 191]", "[576, 192]"})
      EXPECT_NE(msg.find(part), std::string::npos) << msg;
  }
  // A missing one (the architecture still reads from the rest).
  state = core::module_state(*m);
  state.erase("transformer.resblocks.1.ln_2.bias");
  core::save_safetensors(dir / "missing.safetensors", state, clip_metadata(m->options));
  try {
    load_clip(dir / "missing.safetensors");
    ADD_FAILURE();
  } catch (const pesuite::core::InputError& e) {
    EXPECT_NE(std::string(e.what()).find("transformer.resblocks.1.ln_2.bias"), std::string::npos) << e.what();
  }
}
