// safetensors: a byte-exact file built by hand from the format's specification, round trips of
// every dtype, metadata, and each kind of malformed file rejected with a clear error.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "pesuite/core/atomic_file.h"
#include "pesuite/core/error.h"
#include "pesuite/core/safetensors.h"
#include "test_util.h"

using namespace pesuite;
using pesuite::core::parse_safetensors;
using pesuite::core::serialize_safetensors;

namespace {

std::string u64le(std::uint64_t n) {
  std::string s(8, '\0');
  for (int i = 0; i < 8; ++i) s[i] = static_cast<char>((n >> (8 * i)) & 0xff);
  return s;
}

// A file assembled byte by byte: header length, JSON header padded with spaces to 8 bytes, data.
std::string hand_file(const std::string& header_json, const std::string& data) {
  std::string h = header_json;
  while (h.size() % 8) h += ' ';
  return u64le(h.size()) + h + data;
}

std::string expect_error(const std::string& bytes) {
  try {
    parse_safetensors(bytes, "bad.safetensors");
  } catch (const pesuite::core::InputError& e) {
    return e.what();
  }
  ADD_FAILURE() << "no error";
  return "";
}

}  // namespace

TEST(Safetensors, ByteExactAgainstHandBuiltFile) {
  // Two tensors: "a" F32 [2] = {1, -2}, "b" I64 [1] = {7}; ordered by name, offsets back to back.
  const std::string header =
      R"({"__metadata__":{"format":"pt"},"a":{"data_offsets":[0,8],"dtype":"F32","shape":[2]},)"
      R"("b":{"data_offsets":[8,16],"dtype":"I64","shape":[1]}})";
  std::string data;
  const float a[2] = {1.0f, -2.0f};
  const std::int64_t b = 7;
  data.append(reinterpret_cast<const char*>(a), 8);
  data.append(reinterpret_cast<const char*>(&b), 8);
  const std::string expected = hand_file(header, data);

  core::TensorMap t{{"a", torch::tensor({1.0f, -2.0f})}, {"b", torch::tensor({std::int64_t{7}})}};
  const std::string ours = serialize_safetensors(t, {{"format", "pt"}});
  EXPECT_EQ(ours.size(), expected.size());
  EXPECT_EQ(ours, expected);
  EXPECT_EQ(ours.size() % 8, 0u);  // header padded, 16 bytes of data

  const auto back = parse_safetensors(expected, "hand");
  EXPECT_TRUE(torch::equal(back.tensors.at("a"), t["a"]));
  EXPECT_TRUE(torch::equal(back.tensors.at("b"), t["b"]));
  EXPECT_EQ(back.metadata.at("format"), "pt");
}

TEST(Safetensors, RoundTripEveryDtype) {
  torch::manual_seed(0);
  core::TensorMap t;
  t["f32"] = torch::randn({3, 4});
  t["f64"] = torch::randn({2, 2, 2}, torch::kFloat64);
  t["f16"] = torch::randn({5}).to(torch::kFloat16);
  t["bf16"] = torch::randn({5}).to(torch::kBFloat16);
  t["i64"] = torch::arange(-3, 3, torch::kInt64);
  t["i32"] = torch::arange(-3, 3, torch::kInt32);
  t["u8"] = torch::arange(0, 255, torch::kUInt8);
  t["bool"] = torch::tensor({true, false, true});
  t["scalar"] = torch::tensor(3.5);
  t["empty"] = torch::zeros({0, 4});
  t["strided"] = torch::randn({4, 6}).t();  // non-contiguous input
  test::TempDir dir;
  core::save_safetensors(dir / "x.safetensors", t, {{"k", "v"}, {"spec", "csl:?seed=0"}});
  const auto back = core::load_safetensors(dir / "x.safetensors");
  ASSERT_EQ(back.tensors.size(), t.size());
  for (const auto& [name, ref] : t) {
    const auto& got = back.tensors.at(name);
    EXPECT_EQ(got.scalar_type(), ref.scalar_type()) << name;
    EXPECT_EQ(got.sizes(), ref.sizes()) << name;
    EXPECT_TRUE(torch::equal(got, ref)) << name;
  }
  EXPECT_EQ(back.metadata.at("spec"), "csl:?seed=0");
}

TEST(Safetensors, ModuleStateRoundTrip) {
  torch::manual_seed(1);
  torch::nn::Sequential a(torch::nn::Linear(4, 3), torch::nn::BatchNorm1d(3), torch::nn::Linear(3, 2));
  torch::nn::Sequential b(torch::nn::Linear(4, 3), torch::nn::BatchNorm1d(3), torch::nn::Linear(3, 2));
  a->train();
  a->forward(torch::randn({8, 4}));  // moves the BatchNorm running stats
  test::TempDir dir;
  core::save_module(dir / "m.safetensors", *a);
  core::load_module(dir / "m.safetensors", *b);
  auto sa = core::module_state(*a), sb = core::module_state(*b);
  ASSERT_EQ(sa.size(), sb.size());
  for (const auto& [k, v] : sa) EXPECT_TRUE(torch::equal(v, sb.at(k))) << k;
  EXPECT_TRUE(sa.count("1.running_mean"));

  torch::nn::Sequential c(torch::nn::Linear(4, 5));
  EXPECT_THROW(core::load_module(dir / "m.safetensors", *c), pesuite::core::InputError);
}

TEST(Safetensors, RejectsTruncatedFile) {
  const std::string good = serialize_safetensors({{"w", torch::ones({4})}});
  EXPECT_NE(expect_error(good.substr(0, 5)).find("truncated"), std::string::npos);
  EXPECT_NE(expect_error(good.substr(0, good.size() - 3)).find("past the data buffer"), std::string::npos);
}

TEST(Safetensors, RejectsHeaderLengthPastEnd) {
  std::string bytes = u64le(1000) + "{}";
  EXPECT_NE(expect_error(bytes).find("header length 1000 runs past the end"), std::string::npos);
}

TEST(Safetensors, RejectsOverlapAndGaps) {
  std::string data(16, '\0');
  auto overlap = hand_file(R"({"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},"b":{"dtype":"F32","shape":[2],"data_offsets":[4,12]}})", data.substr(0, 12));
  EXPECT_NE(expect_error(overlap).find("overlaps"), std::string::npos);
  auto gap = hand_file(R"({"a":{"dtype":"F32","shape":[2],"data_offsets":[8,16]}})", data);
  EXPECT_NE(expect_error(gap).find("gap"), std::string::npos);
  auto out = hand_file(R"({"a":{"dtype":"F32","shape":[4],"data_offsets":[0,16]}})", data.substr(0, 8));
  EXPECT_NE(expect_error(out).find("past the data buffer"), std::string::npos);
}

TEST(Safetensors, RejectsUnknownDtypeAndShapeMismatch) {
  std::string data(8, '\0');
  auto dtype = hand_file(R"({"a":{"dtype":"F8_E4M3X","shape":[8],"data_offsets":[0,8]}})", data);
  const auto msg = expect_error(dtype);
  EXPECT_NE(msg.find("unknown dtype 'F8_E4M3X'"), std::string::npos) << msg;
  EXPECT_NE(msg.find("tensor 'a'"), std::string::npos);
  auto shape = hand_file(R"({"a":{"dtype":"F32","shape":[3],"data_offsets":[0,8]}})", data);
  EXPECT_NE(expect_error(shape).find("need 12 bytes"), std::string::npos);
  auto neg = hand_file(R"({"a":{"dtype":"F32","shape":[-2],"data_offsets":[0,8]}})", data);
  EXPECT_NE(expect_error(neg).find("negative"), std::string::npos);
  auto json = hand_file(R"({"a":)", "");
  EXPECT_NE(expect_error(json).find("not valid JSON"), std::string::npos);
  auto meta = hand_file(R"({"__metadata__":{"x":1}})", "");
  EXPECT_NE(expect_error(meta).find("__metadata__.x"), std::string::npos);
}

TEST(Safetensors, ErrorsNameTheFile) {
  test::TempDir dir;
  pesuite::core::write_file_atomic(dir / "bad.safetensors", "xx");
  try {
    core::load_safetensors(dir / "bad.safetensors");
    FAIL();
  } catch (const pesuite::core::InputError& e) {
    EXPECT_NE(std::string(e.what()).find(dir / "bad.safetensors"), std::string::npos);
  }
  EXPECT_THROW(core::load_safetensors(dir / "missing.safetensors"), pesuite::core::InputError);
  EXPECT_THROW(core::load_safetensors(dir.str()), pesuite::core::InputError);  // a directory
}
