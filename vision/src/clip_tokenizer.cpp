// CLIP's byte-level BPE: vocabulary from the merges file, byte-to-unicode alphabet, merges by rank.
#include "pesuite/vision/clip_tokenizer.h"

#include <zlib.h>

#include <limits>

#include "clip_text.h"
#include "pesuite/core/error.h"

namespace pesuite::vision {
namespace {

// gzip or plain text (zlib reads both), whole.
std::string read_text(const std::string& path) {
  gzFile f = gzopen(path.c_str(), "rb");
  if (!f) throw core::InputError(path + ": cannot open CLIP's vocabulary file");
  std::string out;
  char buf[1 << 16];
  for (;;) {
    const int n = gzread(f, buf, sizeof buf);
    if (n < 0) {
      int code = 0;
      const std::string msg = gzerror(f, &code);
      gzclose(f);
      throw core::InputError(path + ": not a readable gzip file (" + msg + ")");
    }
    if (n == 0) break;
    out.append(buf, static_cast<std::size_t>(n));
  }
  gzclose(f);
  return out;
}

std::vector<std::string> split_lines(const std::string& s) {
  std::vector<std::string> lines;
  std::size_t b = 0;
  for (;;) {
    const auto e = s.find('\n', b);
    lines.push_back(s.substr(b, e == std::string::npos ? std::string::npos : e - b));
    if (e == std::string::npos) break;
    b = e + 1;
  }
  return lines;
}

// UTF-8 characters of a symbol string.
std::vector<std::string> utf8_chars(const std::string& s) {
  std::vector<std::string> out;
  for (std::size_t i = 0; i < s.size();) {
    const auto b = static_cast<unsigned char>(s[i]);
    const std::size_t len = b < 0x80 ? 1 : b < 0xE0 ? 2 : b < 0xF0 ? 3 : 4;
    out.push_back(s.substr(i, len));
    i += len;
  }
  return out;
}

}  // namespace

bool TokenizedTexts::any_truncated() const {
  for (bool t : truncated)
    if (t) return true;
  return false;
}

ClipTokenizer::ClipTokenizer(const std::string& vocab_path) : path_(vocab_path) {
  // bytes_to_unicode(): printable Latin-1 bytes stand for themselves, the other 68 bytes (controls,
  // space, 0x7F-0xA0, 0xAD) for 256, 257, ... in byte order, so that no symbol is whitespace.
  char32_t next = 256;
  std::vector<std::string> alphabet;
  for (int b = 0; b < 256; ++b) {
    const bool printable = (b >= '!' && b <= '~') || (b >= 0xA1 && b <= 0xAC) || (b >= 0xAE && b <= 0xFF);
    const char32_t cp = printable ? static_cast<char32_t>(b) : next++;
    std::string sym;
    clip_text::utf8_append(sym, cp);
    byte_encoder_[b] = sym;
    byte_decoder_[cp] = static_cast<unsigned char>(b);
  }
  // The vocabulary's order: the 256 symbols in bytes_to_unicode's order (printable bytes first),
  // the same with '</w>', every merge, then the two special tokens.
  for (int b = 0; b < 256; ++b) {
    const bool printable = (b >= '!' && b <= '~') || (b >= 0xA1 && b <= 0xAC) || (b >= 0xAE && b <= 0xFF);
    if (printable) alphabet.push_back(byte_encoder_[b]);
  }
  for (int b = 0; b < 256; ++b) {
    const bool printable = (b >= '!' && b <= '~') || (b >= 0xA1 && b <= 0xAC) || (b >= 0xAE && b <= 0xFF);
    if (!printable) alphabet.push_back(byte_encoder_[b]);
  }
  decoder_ = alphabet;
  for (const auto& a : alphabet) decoder_.push_back(a + "</w>");

  const auto lines = split_lines(read_text(vocab_path));
  if (lines.empty() || lines[0].find("#version") == std::string::npos)
    throw core::InputError(core::where(vocab_path, 1) + ": not CLIP's BPE vocabulary (expected a '#version: 0.2' header line, got '" +
                     (lines.empty() ? std::string() : lines[0].substr(0, 60)) + "')");
  if (static_cast<std::int64_t>(lines.size()) < 1 + kMerges)
    throw core::InputError(vocab_path + ": not CLIP's BPE vocabulary: " + std::to_string(lines.size()) +
                     " lines, CLIP's has 262,145 (a header and at least " + std::to_string(kMerges) + " merges are needed)");
  for (std::int64_t i = 0; i < static_cast<std::int64_t>(decoder_.size()); ++i) encoder_.emplace(decoder_[i], i);
  for (std::int64_t r = 0; r < kMerges; ++r) {
    const auto& line = lines[static_cast<std::size_t>(r + 1)];
    const auto sp = line.find(' ');
    const std::string a = sp == std::string::npos ? line : line.substr(0, sp);
    const std::string b = sp == std::string::npos ? std::string() : line.substr(sp + 1);
    if (a.empty() || b.empty() || b.find(' ') != std::string::npos || b.find('\r') != std::string::npos)
      throw core::InputError(core::where(vocab_path, r + 2) + ": not CLIP's BPE vocabulary (a merge line has two symbols, got '" +
                       line.substr(0, 60) + "')");
    if (!encoder_.count(a) || !encoder_.count(b))
      throw core::InputError(core::where(vocab_path, r + 2) + ": not CLIP's BPE vocabulary (merge of an unknown symbol: '" + line + "')");
    const std::string merged = a + b;
    if (!encoder_.emplace(merged, static_cast<std::int64_t>(decoder_.size())).second)
      throw core::InputError(core::where(vocab_path, r + 2) + ": not CLIP's BPE vocabulary (merge '" + line + "' repeats '" + merged + "')");
    decoder_.push_back(merged);
    ranks_.emplace(a + " " + b, r);
  }
  for (const char* special : {"<|startoftext|>", "<|endoftext|>"}) {
    encoder_.emplace(special, static_cast<std::int64_t>(decoder_.size()));
    decoder_.push_back(special);
  }
  if (vocab_size() != kVocabSize || encoder_.size() != decoder_.size())
    throw core::InputError(vocab_path + ": not CLIP's BPE vocabulary (" + std::to_string(vocab_size()) + " tokens, expected " +
                     std::to_string(kVocabSize) + ")");
}

const std::string& ClipTokenizer::token(std::int64_t id) const {
  if (id < 0 || id >= vocab_size())
    throw core::InputError("clip tokenizer: token id " + std::to_string(id) + " is outside [0, " + std::to_string(vocab_size()) + ")");
  return decoder_[static_cast<std::size_t>(id)];
}

std::vector<std::int64_t> ClipTokenizer::bpe(const std::string& token) const {
  if (token == "<|startoftext|>" || token == "<|endoftext|>") return {encoder_.at(token)};
  auto word = utf8_chars(token);
  word.back() += "</w>";
  // Repeatedly merge every occurrence (left to right, non-overlapping) of the lowest-ranked pair.
  while (word.size() > 1) {
    std::int64_t best = std::numeric_limits<std::int64_t>::max();
    std::size_t at = 0;
    for (std::size_t i = 0; i + 1 < word.size(); ++i) {
      auto it = ranks_.find(word[i] + " " + word[i + 1]);
      if (it != ranks_.end() && it->second < best) best = it->second, at = i;
    }
    if (best == std::numeric_limits<std::int64_t>::max()) break;
    const std::string first = word[at], second = word[at + 1];
    std::vector<std::string> merged;
    merged.reserve(word.size());
    for (std::size_t i = 0; i < word.size();) {
      if (i + 1 < word.size() && word[i] == first && word[i + 1] == second) {
        merged.push_back(first + second);
        i += 2;
      } else {
        merged.push_back(word[i++]);
      }
    }
    word = std::move(merged);
  }
  std::vector<std::int64_t> ids;
  ids.reserve(word.size());
  for (const auto& w : word) ids.push_back(encoder_.at(w));  // every merge product is in the vocabulary
  return ids;
}

std::string ClipTokenizer::normalize(const std::string& text) const {
  return clip_text::utf8_encode(clip_text::normalize(clip_text::utf8_decode(text)));
}

std::vector<std::string> ClipTokenizer::pre_tokenize(const std::string& text) const {
  std::vector<std::string> out;
  for (const auto& t : clip_text::pre_tokenize(clip_text::normalize(clip_text::utf8_decode(text))))
    out.push_back(clip_text::utf8_encode(t));
  return out;
}

std::vector<std::int64_t> ClipTokenizer::encode(const std::string& text) const {
  std::vector<std::int64_t> ids;
  for (const auto& piece : pre_tokenize(text)) {
    std::string sym;
    for (unsigned char b : piece) sym += byte_encoder_[b];
    for (auto id : bpe(sym)) ids.push_back(id);
  }
  return ids;
}

std::string ClipTokenizer::decode(const std::vector<std::int64_t>& ids) const {
  std::string bytes;
  for (auto id : ids)
    for (char32_t cp : clip_text::utf8_decode(token(id))) {
      auto it = byte_decoder_.find(cp);
      // Special tokens and '</w>' are printable ASCII, which stands for itself.
      bytes.push_back(it != byte_decoder_.end() ? static_cast<char>(it->second) : static_cast<char>(cp));
    }
  std::string text = clip_text::utf8_encode(clip_text::utf8_decode(bytes));  // invalid sequences -> U+FFFD
  std::string out;
  for (std::size_t i = 0; i < text.size();) {
    if (text.compare(i, 4, "</w>") == 0) {
      out.push_back(' ');
      i += 4;
    } else {
      out.push_back(text[i++]);
    }
  }
  return out;
}

TokenizedTexts ClipTokenizer::tokenize(const std::vector<std::string>& texts, std::int64_t context) const {
  if (context < 2) throw core::InputError("clip tokenizer: context length must be >= 2, got " + std::to_string(context));
  TokenizedTexts out;
  const auto B = static_cast<std::int64_t>(texts.size());
  out.tokens = torch::zeros({B, context}, torch::kInt64);
  auto acc = out.tokens.accessor<std::int64_t, 2>();
  for (std::int64_t i = 0; i < B; ++i) {
    std::vector<std::int64_t> row{kStartOfText};
    for (auto id : encode(texts[static_cast<std::size_t>(i)])) row.push_back(id);
    row.push_back(kEndOfText);
    const bool cut = static_cast<std::int64_t>(row.size()) > context;
    if (cut) {
      row.resize(static_cast<std::size_t>(context));
      row.back() = kEndOfText;
    }
    out.truncated.push_back(cut);
    for (std::size_t j = 0; j < row.size(); ++j) acc[i][static_cast<std::int64_t>(j)] = row[j];
  }
  return out;
}

}  // namespace pesuite::vision
