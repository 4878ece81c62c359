#pragma once
// CLIP's byte-level BPE tokenizer (openai/CLIP simple_tokenizer.py), read from CLIP's own merges
// file bpe_simple_vocab_16e6.txt.gz: 256 byte symbols, the same 256 with '</w>', 48,894 merges,
// <|startoftext|> = 49406 and <|endoftext|> = 49407; 49,408 ids in all.
//
//   pesuite::vision::ClipTokenizer tok("../shared/data/clip/bpe_simple_vocab_16e6.txt.gz");
//   std::vector<std::int64_t> ids = tok.encode("a photo of a cat");   // 320 1125 539 320 2368
//   pesuite::vision::TokenizedTexts t = tok.tokenize({"a photo of a cat", "a dog"});
//   // t.tokens: int64 [2, 77] = <|startoftext|> ids <|endoftext|> 0 0 ...
//   std::string s = tok.decode(ids);                                  // "a photo of a cat "
//
// Text goes through what simple_tokenizer.py does before BPE, in the same order:
//  1. ftfy.fix_text, in part: HTML entities unescaped when the text has no '<' (ftfy's "auto"),
//     terminal escape sequences removed, Latin ligatures split (U+FB00..FB06, IJ, DZ, LJ, NJ),
//     fullwidth ASCII / ideographic space / fullwidth signs made narrow, curly quotes straightened
//     (U+02BC, U+2018..201F), line breaks unified, ftfy's control characters removed. Not done:
//     mojibake repair (fix_encoding and its helpers) and NFC normalisation, which need Unicode
//     decomposition tables; text that is already well-formed NFC (nearly all text) is unaffected.
//  2. html.unescape twice: every numeric reference with Python's fix-ups (0 and surrogates ->
//     U+FFFD, 0x80..0x9F as Windows-1252, invalid code points dropped), and named references from
//     HTML5's ISO-8859-1 set (also without ';', as html.unescape accepts) plus common typographic
//     names (&apos; &hellip; &mdash; &ldquo; &euro; ...), matched by the longest known prefix as
//     html.unescape does. A name outside this subset is left as it is.
//  3. Strip, whitespace runs to one space, lower-case (Python's str.lower(), all of Unicode).
// Pre-tokenisation is CLIP's regex
//   <\|startoftext\|>|<\|endoftext\|>|'s|'t|'re|'ve|'m|'ll|'d|[\p{L}]+|[\p{N}]|[^\s\p{L}\p{N}]+
// with the Unicode classes exact for every code point: \p{L}, \p{N} and \s come from tables that
// scripts/gen/clip_unicode_tables.py generated with the `regex` module CLIP uses (so é, ß, Greek,
// Cyrillic and CJK letters are letters; Arabic-Indic digits and '½' are numbers, one per token;
// emoji are "other" and run together with punctuation), and lower-casing from Python's str.lower().
// Input bytes that are not valid UTF-8 become U+FFFD.
//
// Longer than the context: the row is cut to `context` tokens and its last one set to
// <|endoftext|> (open_clip's tokenizer, and openai/CLIP's with truncate=True); the row's
// `truncated` flag says so, so callers can warn. Rows are padded with 0.
//
// The tokenizer is immutable after construction: every method is const and safe to call from
// several threads (no BPE cache, unlike the Python one; a word's merges take microseconds).
#include <torch/torch.h>

#include <cstdint>
#include <string>
#include <unordered_map>
#include <vector>

namespace pesuite::vision {

struct TokenizedTexts {
  torch::Tensor tokens;         // int64 [B, context], 0-padded
  std::vector<bool> truncated;  // per row: the text did not fit and was cut
  bool any_truncated() const;
};

class ClipTokenizer {
 public:
  static constexpr std::int64_t kVocabSize = 49408;
  static constexpr std::int64_t kStartOfText = 49406;
  static constexpr std::int64_t kEndOfText = 49407;
  static constexpr std::int64_t kContextLength = 77;
  static constexpr std::int64_t kMerges = 48894;  // the merges CLIP uses (its file holds more)

  // Reads CLIP's merges file (gzip, or plain text). InputError naming the file (and line) when it
  // is not CLIP's: missing "#version" header, fewer lines than CLIP's 48,894 merges need, a merge
  // line without exactly two symbols, a merge of unknown symbols or a duplicate.
  explicit ClipTokenizer(const std::string& vocab_path);

  // BPE ids of the text, without <|startoftext|> / <|endoftext|> (simple_tokenizer.encode).
  std::vector<std::int64_t> encode(const std::string& text) const;
  // Back to text: each word's '</w>' becomes a space (simple_tokenizer.decode); invalid UTF-8 byte
  // sequences come back as U+FFFD. InputError for an id outside [0, 49408).
  std::string decode(const std::vector<std::int64_t>& ids) const;
  // [<|startoftext|>, encode(text)..., <|endoftext|>] per text, truncated / padded to `context`.
  // InputError when context < 2.
  TokenizedTexts tokenize(const std::vector<std::string>& texts, std::int64_t context = kContextLength) const;

  // The normalised text that BPE sees (steps 1-3 above), and its pre-tokens, for inspection.
  std::string normalize(const std::string& text) const;
  std::vector<std::string> pre_tokenize(const std::string& text) const;

  std::int64_t vocab_size() const { return static_cast<std::int64_t>(decoder_.size()); }
  // The vocabulary entry of an id, in CLIP's byte-to-unicode alphabet ("cat</w>", "Ġ" for a space byte).
  const std::string& token(std::int64_t id) const;
  const std::string& path() const { return path_; }

 private:
  std::vector<std::int64_t> bpe(const std::string& word) const;  // word: byte-encoded UTF-8

  std::string path_;
  std::string byte_encoder_[256];                      // byte -> its symbol (UTF-8)
  std::unordered_map<char32_t, unsigned char> byte_decoder_;
  std::unordered_map<std::string, std::int64_t> encoder_;
  std::vector<std::string> decoder_;
  std::unordered_map<std::string, std::int64_t> ranks_;  // "first second" -> merge rank
};

}  // namespace pesuite::vision
