// CLIP's BPE tokenizer against openai/CLIP's simple_tokenizer.py: the issue's vectors, and golden
// ids that the original Python tokenizer produced (regex 2022.10.31; inputs chosen so that ftfy,
// which Debian does not package, leaves them unchanged). Needs ../shared/data/clip (skips without).
#include <gtest/gtest.h>

#include <fstream>
#include <zlib.h>

#include "pesuite/core/error.h"
#include "pesuite/vision/clip_tokenizer.h"
#include "test_util.h"

using namespace pesuite;
using namespace pesuite::vision;
using Ids = std::vector<std::int64_t>;

namespace {

std::string vocab_path() { return test::sample_data("clip/bpe_simple_vocab_16e6.txt.gz"); }

const ClipTokenizer& tokenizer() {
  static const ClipTokenizer tok(vocab_path());
  return tok;
}

#define NEED_VOCAB()                                                          \
  if (vocab_path().empty()) GTEST_SKIP() << "no ../shared/data/clip vocabulary"

Ids row(const torch::Tensor& t, std::int64_t i) {
  auto r = t[i].contiguous();
  return Ids(r.data_ptr<std::int64_t>(), r.data_ptr<std::int64_t>() + r.numel());
}

void write_gz(const std::string& path, const std::string& text) {
  gzFile f = gzopen(path.c_str(), "wb");
  ASSERT_NE(f, nullptr);
  gzwrite(f, text.data(), static_cast<unsigned>(text.size()));
  gzclose(f);
}

}  // namespace

TEST(ClipTokenizer, IssueVectors) {
  NEED_VOCAB();
  const auto& tok = tokenizer();
  EXPECT_EQ(tok.vocab_size(), 49408);
  auto t = tok.tokenize({"a photo of a cat", "a photo of a dog", "A red apple in the top-left corner.", "two bears, 3 zebras!"});
  ASSERT_EQ(t.tokens.sizes(), (std::vector<std::int64_t>{4, 77}));
  EXPECT_EQ(t.tokens.scalar_type(), torch::kInt64);
  auto head = [&](std::int64_t i, std::size_t n) {
    auto r = row(t.tokens, i);
    for (std::size_t k = n; k < r.size(); ++k) EXPECT_EQ(r[k], 0) << "padding of row " << i;
    return Ids(r.begin(), r.begin() + static_cast<std::ptrdiff_t>(n));
  };
  EXPECT_EQ(head(0, 7), (Ids{49406, 320, 1125, 539, 320, 2368, 49407}));
  EXPECT_EQ(head(1, 7), (Ids{49406, 320, 1125, 539, 320, 1929, 49407}));
  EXPECT_EQ(head(2, 12), (Ids{49406, 320, 736, 3055, 530, 518, 1253, 268, 1823, 5253, 269, 49407}));
  EXPECT_EQ(head(3, 9), (Ids{49406, 1237, 6182, 267, 274, 2254, 22611, 256, 49407}));
  EXPECT_FALSE(t.any_truncated());
}

TEST(ClipTokenizer, GoldenIdsFromTheOriginalTokenizer) {
  NEED_VOCAB();
  const auto& tok = tokenizer();
  const std::vector<std::pair<std::string, Ids>> cases = {
      {"Hello, World! It's a beautiful day, isn't it?", {3306, 267, 1002, 256, 585, 568, 320, 1215, 575, 267, 2923, 713, 585, 286}},
      {"Café résumé naïve über Straße", {15304, 29106, 7054, 4166, 1097, 35689, 563, 6522, 1516, 1894, 127, 253, 324}},
      {"ΑΒΓ αβγ Привет мир",
       {138, 109, 138, 110, 138, 367, 138, 109, 138, 110, 138, 367, 26302, 16370, 29503, 110, 22176, 141, 480, 38018, 16701, 141, 478}},
      {"東京タワー 2024年", {48338, 21078, 105, 34941, 2429, 107, 30391, 273, 271, 273, 275, 38780, 368}},
      {"I've got 12,345 apples & 3½ pears; they'll do.",
       {328, 1200, 1005, 272, 273, 267, 274, 275, 276, 14032, 261, 274, 33613, 39565, 282, 889, 1342, 818, 269}},
      {"emoji 😀🐻 and ♥ symbols", {16327, 12832, 25322, 537, 3405, 25476}},
      {"tabs\tand\nnewlines   collapse  ", {29163, 537, 1218, 3418, 16520}},
      {"&lt;b&gt; bold &amp;amp; html &#39;quotes&#39; &eacute;", {283, 321, 285, 8911, 261, 18231, 262, 5808, 262, 4166}},
      {"Don'T STOP 'RE 'll", {847, 713, 1691, 982, 1342}},
      {"numbers: 3.14159 and ١٢٣ (Arabic-Indic)",
       {6121, 281, 274, 269, 272, 275, 272, 276, 280, 537, 149, 350, 149, 351, 149, 352, 263, 16709, 268, 1098, 322, 264}},
      {"the top-left corner's [red] {box} <|endoftext|> inside",
       {518, 1253, 268, 1823, 5253, 568, 314, 736, 316, 346, 2063, 348, 49407, 2912}},
      {"supercalifragilisticexpialidocious antidisestablishmentarianism",
       {1642, 2857, 13093, 2076, 5868, 26850, 835, 639, 38466, 3120, 4262, 7726, 12658, 1585, 44351}},
      {"İstanbul", {328, 16384, 11231}},  // str.lower() gives i + U+0307, which is not a letter
  };
  for (const auto& [text, ids] : cases) EXPECT_EQ(tok.encode(text), ids) << text;
  EXPECT_EQ(tok.decode(tok.encode("the top-left corner's [red] {box} <|endoftext|> inside")),
            "the top - left corner 's [ red ] { box } <|endoftext|>inside ");
  EXPECT_EQ(tok.decode(tok.encode("İstanbul")), "i \xCC\x87 stanbul ");
}

TEST(ClipTokenizer, DecodeInvertsEncodeOnNormalisedText) {
  NEED_VOCAB();
  const auto& tok = tokenizer();
  EXPECT_EQ(tok.decode(tok.encode("a photo of a cat")), "a photo of a cat ");
  EXPECT_EQ(tok.decode(tok.encode("Café résumé naïve über Straße")), "café résumé naïve über straße ");
  // Normalised text whose pre-tokens are separated by single spaces decodes to itself (+ ' '), and
  // encoding the decoded text again gives the same ids.
  for (const std::string s : {"two bears , 3 zebras !", "東京タワー 2 0 2 4 年", "emoji 😀🐻 and ♥ symbols",
                              "supercalifragilisticexpialidocious", "i 've got ½ pears"}) {
    const auto ids = tok.encode(s);
    EXPECT_EQ(tok.decode(ids), s + " ") << s;
    EXPECT_EQ(tok.encode(tok.decode(ids)), ids) << s;
  }
  // Every single id decodes to its bytes: a byte symbol that is not valid UTF-8 alone becomes U+FFFD.
  EXPECT_EQ(tok.decode({256}), "! ");                    // '!</w>'
  EXPECT_EQ(tok.decode({127}), "\xEF\xBF\xBD");          // byte 0xC3 alone
  EXPECT_EQ(tok.decode({49406, 320, 49407}), "<|startoftext|>a <|endoftext|>");
  EXPECT_THROW(tok.decode({49408}), pesuite::core::InputError);
  EXPECT_THROW(tok.decode({-1}), pesuite::core::InputError);
}

TEST(ClipTokenizer, NormalisationFollowsFtfyAndHtmlUnescape) {
  NEED_VOCAB();
  const auto& tok = tokenizer();
  // ftfy: ligatures, fullwidth forms, curly quotes, control characters; html.unescape twice.
  EXPECT_EQ(tok.normalize("\xEF\xAC\x81ne"), "fine");                               // U+FB01
  EXPECT_EQ(tok.normalize("\xEF\xBC\xA1\xEF\xBC\xA2\xEF\xBC\xA3\xEF\xBC\x91"), "abc1");  // fullwidth ABC1
  EXPECT_EQ(tok.normalize("\xE2\x80\x9Cquoted\xE2\x80\x9D \xE2\x80\x98it\xE2\x80\x99s\xE2\x80\x99"), "\"quoted\" 'it's'");
  EXPECT_EQ(tok.normalize("a\x01\x7F b\xE3\x80\x80" "c"), "a b c");  // controls dropped, ideographic space
  EXPECT_EQ(tok.normalize("\x1B[31mred\x1B[0m"), "red");          // terminal escapes
  EXPECT_EQ(tok.normalize("&amp;lt;x&amp;gt;"), "<x>");              // two rounds of unescaping
  EXPECT_EQ(tok.normalize("&#x41;&#66;&#128; &ampx &notit; &bogus;"), "ab\xE2\x82\xAC &x \xC2\xACit; &bogus;");
  EXPECT_EQ(tok.normalize("  Mixed\t CASE \n\n"), "mixed case");
  EXPECT_EQ(tok.normalize("\xC3\x28"), "\xEF\xBF\xBD(");  // invalid UTF-8 -> U+FFFD
  EXPECT_EQ(tok.encode("\xEF\xAC\x81ne"), tok.encode("fine"));
  // Pre-tokens: contractions, single digits, punctuation runs, letters of any script.
  EXPECT_EQ(tok.pre_tokenize("they're 42!? ab'cd x''s"),
            (std::vector<std::string>{"they", "'re", "4", "2", "!?", "ab", "'", "cd", "x", "''", "s"}));
}

TEST(ClipTokenizer, LongTextIsTruncatedKeepingEndOfText) {
  NEED_VOCAB();
  const auto& tok = tokenizer();
  std::string s;
  for (int i = 0; i < 40; ++i) s += (i ? " " : "") + std::string("a red apple");  // 120 BPE ids
  auto t = tok.tokenize({s, "a photo of a cat"});
  ASSERT_EQ(t.truncated, (std::vector<bool>{true, false}));
  EXPECT_TRUE(t.any_truncated());
  auto r = row(t.tokens, 0);
  EXPECT_EQ(r.front(), ClipTokenizer::kStartOfText);
  EXPECT_EQ(r.back(), ClipTokenizer::kEndOfText);
  EXPECT_EQ(Ids(r.begin() + 1, r.begin() + 7), (Ids{320, 736, 3055, 320, 736, 3055}));
  const Ids pattern{320, 736, 3055};  // "a red apple" repeated up to the cut
  for (std::size_t k = 1; k + 1 < r.size(); ++k) EXPECT_EQ(r[k], pattern[(k - 1) % 3]) << k;
  // A shorter context works the same way; a context below 2 is an error.
  auto s8 = tok.tokenize({"a photo of a cat"}, 5);
  EXPECT_EQ(row(s8.tokens, 0), (Ids{49406, 320, 1125, 539, 49407}));
  EXPECT_TRUE(s8.truncated[0]);
  EXPECT_THROW(tok.tokenize({"x"}, 1), pesuite::core::InputError);
  EXPECT_EQ(tok.tokenize({}).tokens.sizes(), (std::vector<std::int64_t>{0, 77}));
}

TEST(ClipTokenizer, AVocabularyThatIsNotClipsIsAnInputErrorNamingTheFile) {
  test::TempDir dir;
  auto expect_error = [&](const std::string& path, const std::string& fragment) {
    try {
      ClipTokenizer tok(path);
      ADD_FAILURE() << "no error for " << path;
    } catch (const pesuite::core::InputError& e) {
      const std::string msg = e.what();
      EXPECT_NE(msg.find(path), std::string::npos) << msg;
      EXPECT_NE(msg.find(fragment), std::string::npos) << msg;
    }
  };
  expect_error(dir / "missing.txt.gz", "cannot open");
  write_gz(dir / "short.txt.gz", "#version: 0.2\ni n\nt h\n");
  expect_error(dir / "short.txt.gz", "4 lines");
  std::string body;
  for (int i = 0; i < 50000; ++i) body += "a b\n";
  write_gz(dir / "noheader.txt.gz", "i n\n" + body);
  expect_error(dir / "noheader.txt.gz", "#version");
  write_gz(dir / "three.txt.gz", "#version: 0.2\ni n t\n" + body);
  expect_error(dir / "three.txt.gz", "two symbols");
  write_gz(dir / "dup.txt.gz", "#version: 0.2\n" + body);  // "a b" again and again
  expect_error(dir / "dup.txt.gz", ":3:");
  write_gz(dir / "unknown.txt.gz", "#version: 0.2\nab<x> c\n" + body);
  expect_error(dir / "unknown.txt.gz", "unknown symbol");
  std::ofstream(dir / "plain.txt") << "not gzip, not a vocabulary\n";
  expect_error(dir / "plain.txt", "#version");
}
