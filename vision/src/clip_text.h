#pragma once
// Internal to the CLIP tokenizer: UTF-8 <-> code points, the Unicode classes CLIP's pre-tokenising
// regex uses, and the text normalisation its simple_tokenizer.py applies before BPE. No torch here.
#include <cstdint>
#include <string>
#include <vector>

namespace pesuite::vision::clip_text {

using CodePoints = std::u32string;

// Invalid UTF-8 (a stray byte, an overlong form, a surrogate) decodes to U+FFFD, one per bad byte
// sequence, as Python's bytes.decode('utf-8', errors='replace') does for the sequences CLIP meets.
CodePoints utf8_decode(const std::string& bytes);
std::string utf8_encode(const CodePoints& text);
void utf8_append(std::string& out, char32_t cp);

// regex's \p{L}, \p{N} and \s, and Python's str.lower() (tables generated from them).
bool is_letter(char32_t cp);
bool is_number(char32_t cp);
bool is_space(char32_t cp);
CodePoints to_lower(const CodePoints& text);

// What simple_tokenizer.py does before splitting: ftfy.fix_text (the parts listed in
// clip_tokenizer.h), html.unescape twice, strip, whitespace runs -> one space, lower-case.
CodePoints normalize(const CodePoints& text);

// CLIP's pre-tokenising regex
//   <\|startoftext\|>|<\|endoftext\|>|'s|'t|'re|'ve|'m|'ll|'d|[\p{L}]+|[\p{N}]|[^\s\p{L}\p{N}]+
// over normalised text: the matches, in order (whitespace between them is dropped).
std::vector<CodePoints> pre_tokenize(const CodePoints& text);

}  // namespace pesuite::vision::clip_text
