// Positional terms and token PEs against closed forms written here: ALiBi slopes, KERPLE and T5
// formulas, 2D relative-bias indexing, RoPE's relative property and interpolation, sinusoidal
// tables, learned-PE resize, PEG translation equivariance, finite-difference gradients, registry.
#include <gtest/gtest.h>

#include <cmath>
#include <tuple>

#include "heads_test_util.h"
#include "pesuite/heads/absolute_pe.h"
#include "pesuite/heads/attention.h"
#include "pesuite/core/error.h"
#include "pesuite/heads/pe_registry.h"
#include "pesuite/heads/positional.h"

using namespace pesuite::heads;
using pesuite::core::InputError;
using pesuite::test::max_abs_diff;

namespace {
auto dev() { return pesuite::test::device(); }
std::string error_of(const std::function<void()>& f) {
  try {
    f();
  } catch (const pesuite::core::InputError& e) {
    return e.what();
  }
  return "(no error)";
}
}  // namespace

// ---- ALiBi ----------------------------------------------------------------------------------------
TEST(Alibi, SlopesClosedForm) {
  auto near = [](const std::vector<double>& got, const std::vector<double>& want) {
    ASSERT_EQ(got.size(), want.size());
    for (size_t i = 0; i < want.size(); ++i) EXPECT_NEAR(got[i], want[i], 1e-15) << i;
  };
  std::vector<double> eight, twelve, six, five;
  for (int i = 1; i <= 8; ++i) eight.push_back(std::pow(2.0, -i));  // 2^(-8/8 * i)
  near(alibi_slopes(8), eight);
  // 12 = 8 + the first 4 odd-indexed... i.e. every other slope of 16 heads: 2^-0.5, 2^-1.5, 2^-2.5, 2^-3.5
  twelve = eight;
  for (double e : {0.5, 1.5, 2.5, 3.5}) twelve.push_back(std::pow(2.0, -e));
  near(alibi_slopes(12), twelve);
  // 6 = 4 (2^-2, 2^-4, 2^-6, 2^-8) + every other slope of 8 (2^-1, 2^-3)
  six = {std::pow(2.0, -2), std::pow(2.0, -4), std::pow(2.0, -6), std::pow(2.0, -8), 0.5, 0.125};
  near(alibi_slopes(6), six);
  five = {std::pow(2.0, -2), std::pow(2.0, -4), std::pow(2.0, -6), std::pow(2.0, -8), 0.5};
  near(alibi_slopes(5), five);
  near(alibi_slopes(1), {std::pow(2.0, -8)});
  EXPECT_THROW(alibi_slopes(0), pesuite::core::InputError);
}

TEST(Alibi, BiasIsMinusSlopeTimesDistanceAndZeroForPrefix) {
  Alibi a(AlibiOptions(3));
  a->to(dev());
  auto s = alibi_slopes(3);
  auto b = a->bias(6, 6, TokenLayout::sequence(1), pesuite::test::f64()).cpu();
  ASSERT_EQ(b.sizes(), (std::vector<std::int64_t>{3, 6, 6}));
  for (int h = 0; h < 3; ++h)
    for (int i = 0; i < 6; ++i)
      for (int j = 0; j < 6; ++j) {
        const double want = (i == 0 || j == 0) ? 0.0 : -s[h] * std::abs(i - j);
        EXPECT_NEAR(b[h][i][j].item<double>(), want, 1e-6);
      }
  // On a grid the distance is Euclidean between cells.
  auto g = a->bias(6, 6, TokenLayout::grid(2, 3), pesuite::test::f64()).cpu();
  EXPECT_NEAR(g[0][0][5].item<double>(), -s[0] * std::sqrt(1.0 + 4.0), 1e-6);
}

// ---- 2D ALiBi --------------------------------------------------------------------------------------
TEST(Alibi2D, BiasIsMinusSlopeTimesGridDistanceAtAnyGridSize) {
  const int H = 6;
  auto s = alibi_slopes(H);
  Alibi2D euclid{Alibi2DOptions(H)};
  Alibi2D manhattan(Alibi2DOptions(H).metric(GridMetric::Manhattan).scale(2.0));
  euclid->to(dev()), manhattan->to(dev());
  for (auto [gh, gw, pre] : std::vector<std::tuple<int, int, int>>{{2, 3, 1}, {4, 4, 1}, {3, 5, 0}, {1, 2, 2}}) {
    const int n = pre + gh * gw;
    auto layout = TokenLayout::grid(gh, gw, pre);
    auto be = euclid->bias(n, n, layout, pesuite::test::f64()).cpu();
    auto bm = manhattan->bias(n, n, layout, pesuite::test::f64()).cpu();
    ASSERT_EQ(be.sizes(), (std::vector<std::int64_t>{H, n, n}));
    for (int h = 0; h < H; ++h)
      for (int i = 0; i < n; ++i)
        for (int j = 0; j < n; ++j) {
          double de = 0, dm = 0;
          if (i >= pre && j >= pre) {
            const int dr = (i - pre) / gw - (j - pre) / gw, dc = (i - pre) % gw - (j - pre) % gw;
            de = std::sqrt(double(dr * dr + dc * dc));
            dm = (std::abs(dr) + std::abs(dc)) / 2.0;
          }
          EXPECT_NEAR(be[h][i][j].item<double>(), -s[h] * de, 1e-12) << gh << "x" << gw << " " << h << " " << i << " " << j;
          EXPECT_NEAR(bm[h][i][j].item<double>(), -s[h] * dm, 1e-12);
        }
  }
  // The cache follows the dtype and the grid.
  auto f = euclid->bias(7, 7, TokenLayout::grid(2, 3, 1), pesuite::test::f32());
  EXPECT_EQ(f.scalar_type(), torch::kFloat32);
  EXPECT_NEAR(f[0][1][6].item<double>(), -s[0] * std::sqrt(5.0), 1e-6);
  EXPECT_THROW(euclid->bias(6, 6, TokenLayout::sequence(), pesuite::test::f32()), pesuite::core::InputError);
  EXPECT_THROW(euclid->bias(8, 8, TokenLayout::grid(2, 3, 1), pesuite::test::f32()), pesuite::core::InputError);
  EXPECT_THROW(Alibi2D(Alibi2DOptions(4).scale(0)), pesuite::core::InputError);
}

// ---- KERPLE ---------------------------------------------------------------------------------------
TEST(Kerple, BiasesEqualTheirFormulas) {
  for (auto kind : {KerpleKind::Log, KerpleKind::Power}) {
    Kerple k(KerpleOptions(2, kind).init_r1(0.7).init_r2(1.3));
    k->to(dev(), torch::kFloat64);
    auto r1 = k->r1().cpu(), r2 = k->r2().cpu();
    EXPECT_NEAR(r1[0].item<double>(), 0.7, 1e-6);
    EXPECT_NEAR(r2[1].item<double>(), 1.3, 1e-6);
    {
      torch::NoGradGuard ng;  // make the heads differ
      k->raw_r1[1] += 0.4;
      k->raw_r2[0] -= 0.3;
    }
    r1 = k->r1().detach().cpu(), r2 = k->r2().detach().cpu();
    auto b = k->bias(5, 5, TokenLayout{}, pesuite::test::f64()).detach().cpu();
    for (int h = 0; h < 2; ++h)
      for (int i = 0; i < 5; ++i)
        for (int j = 0; j < 5; ++j) {
          const double d = std::abs(i - j), a = r1[h].item<double>(), c = r2[h].item<double>();
          const double want = kind == KerpleKind::Log ? -a * std::log(1 + c * d) : -a * std::pow(d, c);
          EXPECT_NEAR(b[h][i][j].item<double>(), want, 1e-12);
        }
  }
  EXPECT_THROW(Kerple(KerpleOptions(2, KerpleKind::Power).init_r2(2.5)), pesuite::core::InputError);
  EXPECT_THROW(Kerple(KerpleOptions(2, KerpleKind::Log).init_r1(0)), pesuite::core::InputError);
}

TEST(Kerple, ParametersStayPositiveWhateverTheRawValues) {
  Kerple k(KerpleOptions(3, KerpleKind::Power));
  torch::NoGradGuard ng;
  k->raw_r1.copy_(torch::tensor({-50.0, 0.0, 50.0}));
  k->raw_r2.copy_(torch::tensor({-50.0, 0.0, 50.0}));
  EXPECT_GT(k->r1().min().item<double>(), 0.0);
  EXPECT_GT(k->r2().min().item<double>(), 0.0);
  EXPECT_LE(k->r2().max().item<double>(), 2.0);
}

// ---- T5 -------------------------------------------------------------------------------------------
namespace {
// T5's _relative_position_bucket, one integer at a time.
std::int64_t t5_ref(std::int64_t rel, std::int64_t buckets, std::int64_t max_distance, bool bidirectional) {
  std::int64_t ret = 0, n;
  if (bidirectional) {
    buckets /= 2;
    if (rel > 0) ret += buckets;
    n = std::abs(rel);
  } else {
    n = std::max<std::int64_t>(-rel, 0);
  }
  const std::int64_t max_exact = buckets / 2;
  if (n < max_exact) return ret + n;
  std::int64_t large = max_exact + static_cast<std::int64_t>(std::log(double(n) / max_exact) /
                                                             std::log(double(max_distance) / max_exact) *
                                                             (buckets - max_exact));
  return ret + std::min(large, buckets - 1);
}
}  // namespace

TEST(T5Bias, BucketsEqualT5) {
  auto rel = torch::arange(-300, 301, torch::kInt64);
  for (bool bi : {true, false})
    for (auto [nb, md] : {std::pair<int, int>{32, 128}, {8, 20}}) {
      auto got = t5_bucket(rel, nb, md, bi);
      for (std::int64_t i = 0; i < rel.size(0); ++i)
        ASSERT_EQ(got[i].item<std::int64_t>(), t5_ref(rel[i].item<std::int64_t>(), nb, md, bi))
            << "rel " << rel[i].item<std::int64_t>() << " buckets " << nb << " bi " << bi;
    }
}

TEST(T5Bias, BiasLooksUpKeyMinusQuery) {
  T5Bias t(T5BiasOptions(2).buckets(8).max_distance(20));
  t->to(dev());
  auto b = t->bias(7, 7, TokenLayout::sequence(1), pesuite::test::f32()).detach().cpu();
  auto table = t->table.detach().cpu();
  for (int h = 0; h < 2; ++h)
    for (int i = 1; i < 7; ++i)
      for (int j = 1; j < 7; ++j)
        EXPECT_EQ(b[h][i][j].item<float>(), table[t5_ref(j - i, 8, 20, true)][h].item<float>());
  EXPECT_EQ(b.select(1, 0).abs().max().item<float>(), 0.0f);
}

// ---- 2D relative bias ------------------------------------------------------------------------------
TEST(RelBias2D, IndexesByRowAndColumnOffsetWithClassEntries) {
  const int h = 3, w = 4, P = h * w;
  RelBias2D r(RelBias2DOptions(2, h, w).class_token(true));
  r->to(dev());
  auto b = r->bias(P + 1, P + 1, TokenLayout::grid(h, w, 1), pesuite::test::f32()).detach().cpu();
  auto table = r->table.detach().cpu();
  const int cells = (2 * h - 1) * (2 * w - 1);
  for (int head = 0; head < 2; ++head) {
    for (int i = 0; i < P; ++i)
      for (int j = 0; j < P; ++j) {
        const int dy = i / w - j / w + h - 1, dx = i % w - j % w + w - 1;
        EXPECT_EQ(b[head][1 + i][1 + j].item<float>(), table[dy * (2 * w - 1) + dx][head].item<float>());
      }
    EXPECT_EQ(b[head][0][5].item<float>(), table[cells][head].item<float>());
    EXPECT_EQ(b[head][5][0].item<float>(), table[cells + 1][head].item<float>());
    EXPECT_EQ(b[head][0][0].item<float>(), table[cells + 2][head].item<float>());
  }
  EXPECT_THROW(r->bias(11, 11, TokenLayout::grid(3, 3, 1), pesuite::test::f32()), pesuite::core::InputError);  // 11 != 1 + 9
  EXPECT_THROW(r->bias(9, 9, TokenLayout::grid(3, 3, 0), pesuite::test::f32()), pesuite::core::InputError);    // no class token
}

TEST(RelBias2D, ResizeIsIdentityAtTheSameSizeAndInterpolatesOtherwise) {
  const int h = 3, w = 4, P = h * w;
  RelBias2D r(RelBias2DOptions(2, h, w).class_token(true));
  r->to(dev());
  auto layout = TokenLayout::grid(h, w, 1);
  auto before = r->bias(P + 1, P + 1, layout, pesuite::test::f32()).detach().clone();
  auto table = r->table.detach().clone();
  r->resize(h, w);
  EXPECT_TRUE(torch::equal(r->table.detach(), table));
  EXPECT_TRUE(torch::equal(r->bias(P + 1, P + 1, layout, pesuite::test::f32()).detach(), before));
  const auto cells = (2 * h - 1) * (2 * w - 1);
  EXPECT_TRUE(torch::equal(resize_relative_table(table.narrow(0, 0, cells), h, w, h, w), table.narrow(0, 0, cells)));

  // Another grid: on the fly equals resize() then the new grid; a constant table stays constant;
  // class-token entries are kept.
  auto big = TokenLayout::grid(5, 6, 1);
  auto fly = r->bias(31, 31, big, pesuite::test::f32()).detach().clone();
  RelBias2D c(RelBias2DOptions(2, h, w).class_token(true));
  c->to(dev());
  {
    torch::NoGradGuard ng;
    c->table.copy_(r->table);
  }
  c->resize(5, 6);
  EXPECT_EQ(c->table.size(0), 9 * 11 + 3);
  EXPECT_EQ(c->options.height(), 5);
  EXPECT_LT(max_abs_diff(c->bias(31, 31, big, pesuite::test::f32()), fly), 1e-6);
  EXPECT_TRUE(torch::equal(c->table.detach().narrow(0, 9 * 11, 3), table.narrow(0, cells, 3)));
  {
    torch::NoGradGuard ng;
    r->table.narrow(0, 0, cells).select(1, 0).fill_(0.5);
  }
  auto k = r->bias(31, 31, big, pesuite::test::f32()).detach().cpu();
  EXPECT_LT(max_abs_diff(k[0].narrow(0, 1, 30).narrow(1, 1, 30), torch::full({30, 30}, 0.5)), 1e-6);
  // The resize is differentiable: fine-tuning at the new size trains the original table.
  r->bias(31, 31, big, pesuite::test::f32()).sum().backward();
  EXPECT_GT(r->table.grad().abs().sum().item<double>(), 0.0);
}

// ---- RoPE -----------------------------------------------------------------------------------------
TEST(RoPE1D, EqualsExplicitPairRotations) {
  const int d = 8;
  RoPE1D r(RoPE1DOptions(d).base(100));
  auto x = torch::randn({3, d}, torch::kFloat64);
  auto pos = torch::tensor({0.0, 2.0, 7.5}, torch::kFloat64);
  auto y = r->rotate_at(x.to(dev()), pos.to(dev())).cpu();
  for (int n = 0; n < 3; ++n)
    for (int i = 0; i < d / 2; ++i) {
      const double th = pos[n].item<double>() * std::pow(100.0, -2.0 * i / d);
      const double a = x[n][i].item<double>(), b = x[n][i + d / 2].item<double>();
      EXPECT_NEAR(y[n][i].item<double>(), a * std::cos(th) - b * std::sin(th), 1e-12);
      EXPECT_NEAR(y[n][i + d / 2].item<double>(), b * std::cos(th) + a * std::sin(th), 1e-12);
    }
}

TEST(RoPE1D, DotProductDependsOnlyOnOffset) {
  const int d = 16;
  RoPE1D r{RoPE1DOptions(d)};
  auto q = torch::randn({1, d}, pesuite::test::f64()), k = torch::randn({1, d}, pesuite::test::f64());
  auto dot = [&](double pq, double pk) {
    auto a = r->rotate_at(q, torch::tensor({pq}, pesuite::test::f64()));
    auto b = r->rotate_at(k, torch::tensor({pk}, pesuite::test::f64()));
    return (a * b).sum().item<double>();
  };
  for (double offset : {-5.0, 0.0, 3.0, 11.0}) {
    const double ref = dot(offset, 0);
    for (double shift : {1.0, 17.0, 250.0, 4096.0}) EXPECT_NEAR(dot(shift + offset, shift), ref, 1e-9) << offset << " " << shift;
  }
  // ... and does depend on it.
  EXPECT_GT(std::abs(dot(3, 0) - dot(4, 0)), 1e-6);
}

TEST(RoPE2D, DotProductDependsOnlyOnOffsetAlongEachAxis) {
  const int d = 16;
  RoPE2D r{RoPE2DOptions(d)};
  auto q = torch::randn({1, d}, pesuite::test::f64()), k = torch::randn({1, d}, pesuite::test::f64());
  auto dot = [&](double qr, double qc, double kr, double kc) {
    auto a = r->rotate_at(q, torch::tensor({{qr, qc}}, pesuite::test::f64()));
    auto b = r->rotate_at(k, torch::tensor({{kr, kc}}, pesuite::test::f64()));
    return (a * b).sum().item<double>();
  };
  const double ref = dot(2, 5, 0, 1);  // offset (2, 4)
  for (double sr : {0.0, 3.0, 40.0})
    for (double sc : {0.0, 7.0, 90.0}) EXPECT_NEAR(dot(2 + sr, 5 + sc, sr, 1 + sc), ref, 1e-9);
  // Row and column move different channels: a row shift leaves the first half (columns) alone.
  auto x = torch::randn({1, d}, pesuite::test::f64());
  auto a = r->rotate_at(x, torch::tensor({{0.0, 3.0}}, pesuite::test::f64()));
  auto b = r->rotate_at(x, torch::tensor({{9.0, 3.0}}, pesuite::test::f64()));
  EXPECT_LT(max_abs_diff(a.narrow(1, 0, d / 2), b.narrow(1, 0, d / 2)), 1e-12);
  EXPECT_GT(max_abs_diff(a.narrow(1, d / 2, d / 2), b.narrow(1, d / 2, d / 2)), 1e-3);
}

TEST(RoPE, InterpolationMapsPToPOverScale) {
  auto x = torch::randn({2, 3, 10, 8}, pesuite::test::f64());
  auto pos = torch::arange(10, pesuite::test::f64());
  RoPE1D plain(RoPE1DOptions(8)), scaled(RoPE1DOptions(8).scale(4));
  EXPECT_LT(max_abs_diff(scaled->rotate_at(x, pos), plain->rotate_at(x, pos / 4)), 1e-12);
  // Through rotate() with a layout: positions 0..9 become 0, 0.25, ..., 2.25.
  auto [qr, kr] = scaled->rotate(x, x, TokenLayout{});
  EXPECT_LT(max_abs_diff(qr, plain->rotate_at(x, pos / 4)), 1e-12);
  RoPE2D plain2(RoPE2DOptions(8)), scaled2(RoPE2DOptions(8).scale(2));
  auto p2 = torch::tensor({{1.0, 3.0}, {4.0, 2.0}}, pesuite::test::f64());
  auto y = torch::randn({2, 8}, pesuite::test::f64());
  EXPECT_LT(max_abs_diff(scaled2->rotate_at(y, p2), plain2->rotate_at(y, p2 / 2)), 1e-12);
}

TEST(RoPE, LayoutPositionsPrefixUntouchedNormsKept) {
  RoPE2D r(RoPE2DOptions(8));
  auto layout = TokenLayout::grid(2, 3, 1);
  auto q = torch::randn({2, 2, 7, 8}, pesuite::test::f64());
  auto [qr, kr] = r->rotate(q, q, layout);
  EXPECT_EQ(max_abs_diff(qr.select(2, 0), q.select(2, 0)), 0.0);
  EXPECT_LT(max_abs_diff(qr.norm(2, -1), q.norm(2, -1)), 1e-12);
  // token 1 + (1 * 3 + 2) sits at row 1, column 2
  auto want = r->rotate_at(q.select(2, 6), torch::tensor({{1.0, 2.0}}, pesuite::test::f64()));
  EXPECT_LT(max_abs_diff(qr.select(2, 6), want), 1e-12);
  EXPECT_THROW(r->rotate(q, q, TokenLayout{}), pesuite::core::InputError);
  EXPECT_THROW(RoPE2D(RoPE2DOptions(6)), pesuite::core::InputError);
  EXPECT_THROW(RoPE1D(RoPE1DOptions(7)), pesuite::core::InputError);
}

// ---- finite-difference gradients of every learnable positional term ------------------------------
TEST(GradCheck, LearnablePositionalTerms) {
  auto w = torch::randn({2, 6, 6}, pesuite::test::f64());
  for (auto kind : {KerpleKind::Log, KerpleKind::Power}) {
    Kerple k(KerpleOptions(2, kind).init_r1(0.8).init_r2(1.2));
    k->to(dev(), torch::kFloat64);
    EXPECT_LT(pesuite::test::gradcheck_params(*k, [&] { return (k->bias(6, 6, TokenLayout::sequence(1), pesuite::test::f64()) * w).sum(); }),
              1e-6);
  }
  T5Bias t(T5BiasOptions(2).buckets(8).max_distance(16));
  t->to(dev(), torch::kFloat64);
  EXPECT_LT(pesuite::test::gradcheck_params(*t, [&] { return (t->bias(6, 6, TokenLayout{}, pesuite::test::f64()) * w).sum(); }), 1e-6);
  RelBias2D r(RelBias2DOptions(2, 2, 2).class_token(true));
  r->to(dev(), torch::kFloat64);
  auto w5 = torch::randn({2, 5, 5}, pesuite::test::f64());
  EXPECT_LT(pesuite::test::gradcheck_params(*r, [&] { return (r->bias(5, 5, TokenLayout::grid(2, 2, 1), pesuite::test::f64()) * w5).sum(); }),
            1e-6);
}

TEST(GradCheck, LearnableTokenPEs) {
  auto x = torch::randn({2, 7, 4}, pesuite::test::f64());
  auto g = torch::randn({2, 7, 4}, pesuite::test::f64());
  auto layout = TokenLayout::grid(2, 3, 1);
  LearnedPE l(LearnedPEOptions(4, 2, 2).prefix(1));
  l->to(dev(), torch::kFloat64);
  EXPECT_LT(pesuite::test::gradcheck_params(*l, [&] { return (l(x, layout) * g).sum(); }), 1e-6);  // through bicubic resize
  FourierPE f(FourierPEOptions(4).fourier_dim(6).hidden(5));
  f->to(dev(), torch::kFloat64);
  EXPECT_LT(pesuite::test::gradcheck_params(*f, [&] { return (f(x, layout) * g).sum(); }), 1e-6);
  PEG p(PEGOptions(4));
  p->to(dev(), torch::kFloat64);
  EXPECT_LT(pesuite::test::gradcheck_params(*p, [&] { return (p(x, layout) * g).sum(); }), 1e-6);
}

// ---- sinusoidal -----------------------------------------------------------------------------------
TEST(SinCos, OneAndTwoDimensionalTables) {
  SinCosPE one(SinCosPEOptions(6));
  auto e = one->embedding(5, TokenLayout::sequence(1), pesuite::test::f64()).cpu();
  EXPECT_EQ(e[0].abs().max().item<double>(), 0.0);
  for (int p = 0; p < 4; ++p)
    for (int i = 0; i < 3; ++i) {
      const double a = p / std::pow(10000.0, 2.0 * i / 6);
      EXPECT_NEAR(e[1 + p][2 * i].item<double>(), std::sin(a), 1e-12);
      EXPECT_NEAR(e[1 + p][2 * i + 1].item<double>(), std::cos(a), 1e-12);
    }
  SinCosPE two(SinCosPEOptions(8).two_d(true));
  auto e2 = two->embedding(6, TokenLayout::grid(2, 3), pesuite::test::f64()).cpu();
  for (int cell = 0; cell < 6; ++cell) {
    const int row = cell / 3, col = cell % 3;
    for (int i = 0; i < 2; ++i) {
      const double ar = row / std::pow(10000.0, 2.0 * i / 4), ac = col / std::pow(10000.0, 2.0 * i / 4);
      EXPECT_NEAR(e2[cell][2 * i].item<double>(), std::sin(ar), 1e-12);
      EXPECT_NEAR(e2[cell][2 * i + 1].item<double>(), std::cos(ar), 1e-12);
      EXPECT_NEAR(e2[cell][4 + 2 * i].item<double>(), std::sin(ac), 1e-12);
      EXPECT_NEAR(e2[cell][4 + 2 * i + 1].item<double>(), std::cos(ac), 1e-12);
    }
  }
  auto x = torch::randn({2, 6, 8}, pesuite::test::f32());
  EXPECT_LT(max_abs_diff(two(x, TokenLayout::grid(2, 3)), x + e2.to(torch::kFloat32).to(dev())), 1e-6);
  EXPECT_THROW(SinCosPE(SinCosPEOptions(6).two_d(true)), pesuite::core::InputError);
}

// ---- learned --------------------------------------------------------------------------------------
TEST(LearnedPE, ResizeIsIdentityAtTheSameSizeAndKeepsTheClassToken) {
  auto t = torch::randn({5 * 6, 3}, pesuite::test::f32());
  EXPECT_LT(max_abs_diff(resize_grid_embedding(t, 5, 6, 5, 6), t), 1e-6);
  LearnedPE l(LearnedPEOptions(3, 4, 4).prefix(1));
  l->to(dev());
  auto same = l->embedding(17, TokenLayout::grid(4, 4, 1), pesuite::test::f32());
  EXPECT_EQ(max_abs_diff(same, l->table), 0.0);
  auto big = l->embedding(1 + 36, TokenLayout::grid(6, 6, 1), pesuite::test::f32());
  ASSERT_EQ(big.sizes(), (std::vector<std::int64_t>{37, 3}));
  EXPECT_EQ(max_abs_diff(big[0], l->table[0]), 0.0);
  // A constant grid stays constant under bicubic resize (weights sum to one).
  auto c = torch::full({4 * 4, 2}, 0.5);
  EXPECT_LT(max_abs_diff(resize_grid_embedding(c, 4, 4, 7, 5), torch::full({35, 2}, 0.5)), 1e-6);
  EXPECT_THROW(l->embedding(17, TokenLayout::grid(4, 4, 0), pesuite::test::f32()), pesuite::core::InputError);
}

// ---- Fourier --------------------------------------------------------------------------------------
TEST(FourierPE, EqualsFourierMapThenMlp) {
  FourierPE f(FourierPEOptions(4).fourier_dim(6).hidden(5));
  f->to(dev(), torch::kFloat64);
  auto e = f->embedding(7, TokenLayout::grid(2, 3, 1), pesuite::test::f64()).detach();
  EXPECT_EQ(e[0].abs().max().item<double>(), 0.0);
  auto Wr = f->wr->weight.detach();
  for (int cell = 0; cell < 6; ++cell) {
    auto pos = torch::tensor({double(cell / 3), double(cell % 3)}, pesuite::test::f64());
    auto proj = torch::mv(Wr, pos);
    auto r = torch::cat({torch::cos(proj), torch::sin(proj)}) / std::sqrt(6.0);
    auto hid = torch::gelu(torch::mv(f->fc1->weight.detach(), r) + f->fc1->bias.detach());
    auto out = torch::mv(f->fc2->weight.detach(), hid) + f->fc2->bias.detach();
    EXPECT_LT(max_abs_diff(e[1 + cell], out), 1e-12);
  }
}

// ---- PEG ------------------------------------------------------------------------------------------
TEST(PEG, TranslationEquivariantAwayFromTheBorderClassTokenUntouched) {
  const int h = 8, w = 9, D = 4, dy = 2, dx = 1;
  PEG p{PEGOptions(D)};
  p->to(dev(), torch::kFloat64);
  auto layout = TokenLayout::grid(h, w, 1);
  auto x = torch::randn({2, 1 + h * w, D}, pesuite::test::f64());
  auto grid = x.narrow(1, 1, h * w).view({2, h, w, D});
  auto shifted_grid = torch::roll(grid, {dy, dx}, {1, 2});
  auto xs = torch::cat({x.narrow(1, 0, 1), shifted_grid.reshape({2, h * w, D})}, 1);
  auto y = p(x, layout).detach(), ys = p(xs, layout).detach();
  EXPECT_EQ(max_abs_diff(y.select(1, 0), x.select(1, 0)), 0.0);
  auto yg = y.narrow(1, 1, h * w).view({2, h, w, D}), ysg = ys.narrow(1, 1, h * w).view({2, h, w, D});
  for (int r = dy + 1; r <= h - 2; ++r)
    for (int c = dx + 1; c <= w - 2; ++c)
      EXPECT_LT(max_abs_diff(ysg.select(1, r).select(1, c), yg.select(1, r - dy).select(1, c - dx)), 1e-12) << r << "," << c;
  // At the border the zero padding breaks equivariance: that is where absolute position comes from.
  EXPECT_GT(max_abs_diff(ysg.select(1, dy).select(1, dx), yg.select(1, 0).select(1, 0)), 1e-6);
  // Equals the residual plus an explicit depthwise 3x3 with zero padding at one cell.
  auto wgt = p->conv->weight.detach(), bias = p->conv->bias.detach();
  for (auto [r, c] : {std::pair<int, int>{0, 0}, {3, 4}, {7, 8}}) {
    auto want = grid[1][r][c] + bias;
    for (int i = -1; i <= 1; ++i)
      for (int j = -1; j <= 1; ++j)
        if (r + i >= 0 && r + i < h && c + j >= 0 && c + j < w) want = want + wgt.select(1, 0).select(1, i + 1).select(1, j + 1) * grid[1][r + i][c + j];
    EXPECT_LT(max_abs_diff(yg[1][r][c], want), 1e-12);
  }
}

TEST(PEG, NoPaddingLeavesTheBorderAlone) {
  PEG p(PEGOptions(3).padding(false));
  p->to(dev(), torch::kFloat64);
  auto x = torch::randn({1, 5 * 5, 3}, pesuite::test::f64());
  auto y = p(x, TokenLayout::grid(5, 5)).detach();
  EXPECT_EQ(max_abs_diff(y.select(1, 0), x.select(1, 0)), 0.0);   // corner
  EXPECT_GT(max_abs_diff(y.select(1, 12), x.select(1, 12)), 1e-9);  // centre
  EXPECT_THROW(PEG(PEGOptions(3).kernel(2)), pesuite::core::InputError);
}

// ---- registry -------------------------------------------------------------------------------------
TEST(Registry, EveryListedPeIsCreatedWithItsDefaults) {
  PeShape shape;
  shape.dim = 32, shape.heads = 4, shape.grid_h = 3, shape.grid_w = 3, shape.prefix = 1;
  auto x = torch::randn({2, 10, 32}, pesuite::test::f32());
  auto layout = TokenLayout::grid(3, 3, 1);
  ASSERT_GE(list_pes().size(), 13u);
  for (const auto& info : list_pes()) {
    auto pe = create_pe(info.name, shape);
    EXPECT_EQ(pe.name, info.name);
    EXPECT_EQ(pe.kind, info.kind);
    EXPECT_EQ(pe.params.size(), info.params.size());
    const bool token = info.kind == "absolute" || info.kind == "conditional";
    EXPECT_EQ(bool(pe.token), token) << info.name;
    EXPECT_EQ(bool(pe.term), !token) << info.name;
    if (pe.token) {
      pe.token->to(dev());
      EXPECT_EQ(pe.token->forward(x, layout).sizes(), x.sizes()) << info.name;
    }
  }
}

// The contract every registry row keeps, in a real attention layer on a 3x3 grid with a class
// token: shapes, finite gradients to the input and to every parameter, and the property of its
// kind: "none" is equivariant to reordering the patch tokens, every other encoding tells
// positions apart (its parameters perturbed first, so that zero-initialised tables count too).
TEST(Registry, EveryPePassesTheContract) {
  PeShape shape;
  shape.dim = 32, shape.heads = 4, shape.grid_h = 3, shape.grid_w = 3, shape.prefix = 1;
  const auto layout = TokenLayout::grid(3, 3, 1);
  const auto perm = torch::cat({torch::zeros({1}, torch::kLong), 1 + torch::randperm(9, torch::kLong)});
  for (const auto& info : list_pes()) {
    SCOPED_TRACE(info.name);
    torch::manual_seed(3);
    auto pe = create_pe(info.name, shape);
    MultiHeadAttention attn(MultiHeadAttentionOptions(32, 4), pe.term);
    {
      torch::NoGradGuard ng;
      for (auto& p : attn->parameters()) p.add_(0.5 * torch::randn_like(p));
      if (pe.token)
        for (auto& p : pe.token->parameters()) p.add_(0.5 * torch::randn_like(p));
    }
    auto run = [&](const torch::Tensor& x) {
      AttentionArgs args;
      args.layout = layout;
      return attn(pe.token ? pe.token->forward(x, layout) : x, args);
    };
    auto x = torch::randn({2, 10, 32}, torch::requires_grad());
    auto y = run(x);
    ASSERT_EQ(y.sizes(), x.sizes());
    y.pow(2).sum().backward();
    ASSERT_TRUE(x.grad().defined());
    EXPECT_TRUE(torch::isfinite(x.grad()).all().item<bool>());
    std::vector<torch::Tensor> params = attn->parameters();
    if (pe.token) {
      auto extra = pe.token->parameters();
      params.insert(params.end(), extra.begin(), extra.end());
    }
    for (const auto& p : params)
      if (p.grad().defined()) EXPECT_TRUE(torch::isfinite(p.grad()).all().item<bool>());
    torch::NoGradGuard ng;
    const auto reordered = run(x.index_select(1, perm));
    const double moved = max_abs_diff(reordered, y.index_select(1, perm));
    if (info.name == "none") EXPECT_LT(moved, 1e-5) << "NoPE must be equivariant to token order";
    else EXPECT_GT(moved, 1e-4) << "the encoding does not tell positions apart";
  }
}

TEST(Registry, SpecsOverrideDefaultsAndErrorsNameTheKey) {
  PeShape shape;
  shape.dim = 64, shape.heads = 4;
  auto pe = create_pe("rope2d:base=10000, scale=2", shape);
  auto* r = dynamic_cast<RoPE2DImpl*>(pe.term.get());
  ASSERT_NE(r, nullptr);
  EXPECT_EQ(r->options.base(), 10000.0);
  EXPECT_EQ(r->options.scale(), 2.0);
  EXPECT_EQ(r->options.head_dim(), 16);
  EXPECT_EQ(pe.params.at("base"), "10000");
  auto t5 = create_pe("t5:buckets=16,bidirectional=false", shape);
  EXPECT_FALSE(dynamic_cast<T5BiasImpl*>(t5.term.get())->options.bidirectional());

  auto e1 = error_of([&] { create_pe("rope3d", shape); });
  EXPECT_NE(e1.find("unknown positional encoding 'rope3d'"), std::string::npos) << e1;
  EXPECT_NE(e1.find("rope2d"), std::string::npos) << e1;
  auto e2 = error_of([&] { create_pe("rope2d:bse=3", shape); });
  EXPECT_NE(e2.find("'bse'"), std::string::npos) << e2;
  EXPECT_NE(e2.find("valid: base, scale"), std::string::npos) << e2;
  auto e3 = error_of([&] { create_pe("rope2d:base=ten", shape); });
  EXPECT_NE(e3.find("'base' must be a number"), std::string::npos) << e3;
  auto e4 = error_of([&] { create_pe("rope1d:base", shape); });
  EXPECT_NE(e4.find("key=value"), std::string::npos) << e4;
  auto e5 = error_of([&] { create_pe("relbias2d", shape); });
  EXPECT_NE(e5.find("grid"), std::string::npos) << e5;
  auto e6 = error_of([&] { create_pe("t5:bidirectional=maybe", shape); });
  EXPECT_NE(e6.find("true or false"), std::string::npos) << e6;
  auto e7 = error_of([&] { create_pe("alibi:x=1", shape); });
  EXPECT_NE(e7.find("(none)"), std::string::npos) << e7;
  auto a2 = create_pe("alibi2d:metric=manhattan,scale=2", shape);
  auto* a2i = dynamic_cast<Alibi2DImpl*>(a2.term.get());
  ASSERT_NE(a2i, nullptr);
  EXPECT_EQ(a2i->options.metric(), GridMetric::Manhattan);
  EXPECT_EQ(a2i->options.scale(), 2.0);
  EXPECT_EQ(a2.kind, "bias");
  EXPECT_EQ(create_pe("alibi2d", shape).params.at("metric"), "euclidean");
  auto e8 = error_of([&] { create_pe("alibi2d:metric=cosine", shape); });
  EXPECT_NE(e8.find("must be one of euclidean, manhattan"), std::string::npos) << e8;
}

TEST(RoPE, CachedTablesFollowTheLayoutAndDtype) {
  RoPE2D r(RoPE2DOptions(8));
  auto q = torch::randn({1, 1, 7, 8}, pesuite::test::f64());
  for (auto layout : {TokenLayout::grid(2, 3, 1), TokenLayout::grid(3, 2, 1), TokenLayout::grid(2, 3, 1)}) {
    auto [qr, kr] = r->rotate(q, q, layout);
    auto pos = torch::zeros({7, 2}, pesuite::test::f64());
    for (int i = 0; i < 6; ++i) pos[1 + i][0] = i / layout.width, pos[1 + i][1] = i % layout.width;
    EXPECT_LT(max_abs_diff(qr, r->rotate_at(q, pos)), 1e-12);
  }
  auto [q32, k32] = r->rotate(q.to(torch::kFloat32), q.to(torch::kFloat32), TokenLayout::grid(2, 3, 1));
  EXPECT_EQ(q32.scalar_type(), torch::kFloat32);
  RoPE1D r1(RoPE1DOptions(8));
  auto a = r1->rotate(q, q, TokenLayout::sequence(0, 0)).first;
  auto b = r1->rotate(q, q, TokenLayout::sequence(0, 5)).first;  // queries shifted by 5
  EXPECT_LT(max_abs_diff(b, r1->rotate_at(q, torch::arange(7, pesuite::test::f64()) + 5)), 1e-12);
  EXPECT_GT(max_abs_diff(a, b), 1e-3);
}
