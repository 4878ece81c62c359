// CLIP's text normalisation and pre-tokenisation over Unicode code points (no torch).
#include "clip_text.h"

#include <algorithm>
#include <array>
#include <cstring>
#include <iterator>
#include <utility>

namespace pesuite::vision::clip_text {
namespace {

struct CodeRange {
  char32_t lo, hi;
};
struct CodePair {
  char32_t from, to;
};
#include "clip_unicode_tables.inc"

template <std::size_t N>
bool in_ranges(const CodeRange (&table)[N], char32_t cp) {
  auto it = std::upper_bound(std::begin(table), std::end(table), cp,
                             [](char32_t c, const CodeRange& r) { return c < r.lo; });
  return it != std::begin(table) && cp <= std::prev(it)->hi;
}

constexpr char32_t kReplacement = 0xFFFD;

// ---- HTML entities (Python's html.unescape over a subset of HTML5's names) --------------------------
struct Entity {
  const char* name;  // with ';'; legacy ones are also accepted without it
  char32_t cp;
  bool legacy;
};
// ISO-8859-1's 96 named characters (U+00A0..U+00FF, all legacy in HTML5) and the five basics, plus
// common typographic names.
constexpr const char* kLatin1Names[96] = {
    "nbsp",   "iexcl",  "cent",   "pound",  "curren", "yen",    "brvbar", "sect",   "uml",    "copy",   "ordf",
    "laquo",  "not",    "shy",    "reg",    "macr",   "deg",    "plusmn", "sup2",   "sup3",   "acute",  "micro",
    "para",   "middot", "cedil",  "sup1",   "ordm",   "raquo",  "frac14", "frac12", "frac34", "iquest", "Agrave",
    "Aacute", "Acirc",  "Atilde", "Auml",   "Aring",  "AElig",  "Ccedil", "Egrave", "Eacute", "Ecirc",  "Euml",
    "Igrave", "Iacute", "Icirc",  "Iuml",   "ETH",    "Ntilde", "Ograve", "Oacute", "Ocirc",  "Otilde", "Ouml",
    "times",  "Oslash", "Ugrave", "Uacute", "Ucirc",  "Uuml",   "Yacute", "THORN",  "szlig",  "agrave", "aacute",
    "acirc",  "atilde", "auml",   "aring",  "aelig",  "ccedil", "egrave", "eacute", "ecirc",  "euml",   "igrave",
    "iacute", "icirc",  "iuml",   "eth",    "ntilde", "ograve", "oacute", "ocirc",  "otilde", "ouml",   "divide",
    "oslash", "ugrave", "uacute", "ucirc",  "uuml",   "yacute", "thorn",  "yuml"};
constexpr Entity kOtherEntities[] = {
    {"amp", '&', true},        {"lt", '<', true},         {"gt", '>', true},         {"quot", '"', true},
    {"AMP", '&', true},        {"LT", '<', true},         {"GT", '>', true},         {"QUOT", '"', true},
    {"COPY", 0xA9, true},      {"REG", 0xAE, true},       {"apos", '\'', false},     {"hellip", 0x2026, false},
    {"mdash", 0x2014, false},  {"ndash", 0x2013, false},  {"lsquo", 0x2018, false},  {"rsquo", 0x2019, false},
    {"sbquo", 0x201A, false},  {"ldquo", 0x201C, false},  {"rdquo", 0x201D, false},  {"bdquo", 0x201E, false},
    {"bull", 0x2022, false},   {"trade", 0x2122, false},  {"euro", 0x20AC, false},   {"dagger", 0x2020, false},
    {"Dagger", 0x2021, false}, {"permil", 0x2030, false}, {"lsaquo", 0x2039, false}, {"rsaquo", 0x203A, false},
    {"prime", 0x2032, false},  {"Prime", 0x2033, false},  {"minus", 0x2212, false},  {"larr", 0x2190, false},
    {"rarr", 0x2192, false},   {"uarr", 0x2191, false},   {"darr", 0x2193, false},   {"harr", 0x2194, false},
    {"hearts", 0x2665, false}, {"thinsp", 0x2009, false}, {"ensp", 0x2002, false},   {"emsp", 0x2003, false},
    {"OElig", 0x152, false},   {"oelig", 0x153, false},   {"Scaron", 0x160, false},  {"scaron", 0x161, false},
    {"Yuml", 0x178, false},    {"fnof", 0x192, false},    {"circ", 0x2C6, false},    {"tilde", 0x2DC, false},
};

// Value of an entity name as html.unescape's table would give it ("amp;" or legacy "amp"), or -1.
long entity_value(const std::string& s) {
  const bool semi = !s.empty() && s.back() == ';';
  const std::string name = semi ? s.substr(0, s.size() - 1) : s;
  for (int i = 0; i < 96; ++i)
    if (name == kLatin1Names[i]) return 0xA0 + i;  // all legacy
  for (const auto& e : kOtherEntities)
    if (name == e.name && (semi || e.legacy)) return static_cast<long>(e.cp);
  return -1;
}

// Windows-1252 for numeric references 0x80..0x9F (html.unescape's _invalid_charrefs).
constexpr char32_t kCp1252[32] = {0x20AC, 0x81,   0x201A, 0x192,  0x201E, 0x2026, 0x2020, 0x2021,
                                  0x2C6,  0x2030, 0x160,  0x2039, 0x152,  0x8D,   0x17D,  0x8F,
                                  0x90,   0x2018, 0x2019, 0x201C, 0x201D, 0x2022, 0x2013, 0x2014,
                                  0x2DC,  0x2122, 0x161,  0x203A, 0x153,  0x9D,   0x17E,  0x178};

bool invalid_codepoint(unsigned long n) {
  return (n >= 0x1 && n <= 0x8) || n == 0xB || (n >= 0xE && n <= 0x1F) || (n >= 0x7F && n <= 0x9F) ||
         (n >= 0xFDD0 && n <= 0xFDEF) || (n & 0xFFFE) == 0xFFFE;
}

bool ascii_digit(char32_t c) { return c >= '0' && c <= '9'; }
bool ascii_hex(char32_t c) { return ascii_digit(c) || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F'); }

// One pass of Python's html.unescape: the regex
//   &(#[0-9]+;?|#[xX][0-9a-fA-F]+;?|[^\t\n\f <&#;]{1,32};?)
// and its replacement rules (numeric references with the HTML5 fix-ups; named ones by the longest
// known prefix).
CodePoints html_unescape(const CodePoints& t) {
  if (t.find(U'&') == CodePoints::npos) return t;
  CodePoints out;
  std::size_t i = 0;
  const std::size_t n = t.size();
  while (i < n) {
    if (t[i] != U'&') {
      out.push_back(t[i++]);
      continue;
    }
    std::size_t j = i + 1;
    if (j < n && t[j] == U'#') {
      const bool hex = j + 1 < n && (t[j + 1] == U'x' || t[j + 1] == U'X');
      std::size_t k = j + (hex ? 2 : 1), start = k;
      unsigned long num = 0;
      bool big = false;
      while (k < n && (hex ? ascii_hex(t[k]) : ascii_digit(t[k]))) {
        const char32_t c = t[k];
        const unsigned long d = ascii_digit(c) ? c - '0' : (c | 0x20) - 'a' + 10;
        if (!big) num = num * (hex ? 16 : 10) + d;
        if (num > 0x10FFFF) big = true;
        ++k;
      }
      if (k == start) {  // "&#" without digits: no match, keep the '&'
        out.push_back(t[i++]);
        continue;
      }
      if (k < n && t[k] == U';') ++k;
      if (big) out.push_back(kReplacement);
      else if (num == 0) out.push_back(kReplacement);
      else if (num == 0x0D) out.push_back(U'\r');
      else if (num >= 0x80 && num <= 0x9F) out.push_back(kCp1252[num - 0x80]);
      else if (num >= 0xD800 && num <= 0xDFFF) out.push_back(kReplacement);
      else if (!invalid_codepoint(num)) out.push_back(static_cast<char32_t>(num));
      i = k;
      continue;
    }
    // Named: up to 32 characters that are not \t \n \f space < & # ;, then an optional ';'.
    std::size_t k = j;
    while (k < n && k - j < 32 && t[k] != U'\t' && t[k] != U'\n' && t[k] != U'\f' && t[k] != U' ' && t[k] != U'<' &&
           t[k] != U'&' && t[k] != U'#' && t[k] != U';')
      ++k;
    if (k == j) {
      out.push_back(t[i++]);
      continue;
    }
    if (k < n && t[k] == U';') ++k;
    const CodePoints s(t.begin() + static_cast<std::ptrdiff_t>(j), t.begin() + static_cast<std::ptrdiff_t>(k));
    auto ascii = [](const CodePoints& c) {
      std::string r;
      for (char32_t x : c) {
        if (x > 0x7F) return std::string();  // every known name is ASCII
        r.push_back(static_cast<char>(x));
      }
      return r;
    };
    long v = entity_value(ascii(s));
    std::size_t used = s.size();
    for (std::size_t x = s.size() - 1; v < 0 && x > 1; --x) {
      v = entity_value(ascii(s.substr(0, x)));
      if (v >= 0) used = x;
    }
    if (v < 0) {
      out.push_back(U'&');
      out.append(s);
    } else {
      out.push_back(static_cast<char32_t>(v));
      out.append(s.substr(used));
    }
    i = k;
  }
  return out;
}

// ---- the parts of ftfy.fix_text that apply to decoded text ---------------------------------------
CodePoints remove_terminal_escapes(const CodePoints& t) {
  // \033\[((?:\d|;)*)([a-zA-Z])
  CodePoints out;
  for (std::size_t i = 0; i < t.size(); ++i) {
    if (t[i] == 0x1B && i + 1 < t.size() && t[i + 1] == U'[') {
      std::size_t k = i + 2;
      while (k < t.size() && (ascii_digit(t[k]) || t[k] == U';')) ++k;
      if (k < t.size() && ((t[k] >= 'a' && t[k] <= 'z') || (t[k] >= 'A' && t[k] <= 'Z'))) {
        i = k;
        continue;
      }
    }
    out.push_back(t[i]);
  }
  return out;
}

const char* ligature(char32_t c) {
  switch (c) {
    case 0x132: return "IJ";
    case 0x133: return "ij";
    case 0x149: return "\xCA\xBCn";  // U+02BC n
    case 0x1C4: return "D\xC5\xBD";  // D Z-caron
    case 0x1C5: return "D\xC5\xBE";
    case 0x1C6: return "d\xC5\xBE";
    case 0x1C7: return "LJ";
    case 0x1C8: return "Lj";
    case 0x1C9: return "lj";
    case 0x1CA: return "NJ";
    case 0x1CB: return "Nj";
    case 0x1CC: return "nj";
    case 0x1F1: return "DZ";
    case 0x1F2: return "Dz";
    case 0x1F3: return "dz";
    case 0xFB00: return "ff";
    case 0xFB01: return "fi";
    case 0xFB02: return "fl";
    case 0xFB03: return "ffi";
    case 0xFB04: return "ffl";
    case 0xFB05: return "\xC5\xBFt";  // long s, t
    case 0xFB06: return "st";
    default: return nullptr;
  }
}

bool ftfy_control(char32_t c) {
  return c <= 0x08 || c == 0x0B || (c >= 0x0E && c <= 0x1F) || c == 0x7F || (c >= 0x206A && c <= 0x206F) ||
         c == 0xFEFF || (c >= 0xFFF9 && c <= 0xFFFC);
}

CodePoints ftfy_subset(const CodePoints& in) {
  // unescape_html="auto": text that contains '<' is taken for HTML and left alone.
  CodePoints t = in.find(U'<') == CodePoints::npos ? html_unescape(in) : in;
  t = remove_terminal_escapes(t);
  CodePoints out;
  out.reserve(t.size());
  for (std::size_t i = 0; i < t.size(); ++i) {
    char32_t c = t[i];
    if (const char* lig = ligature(c)) {  // fix_latin_ligatures
      out += utf8_decode(lig);
      continue;
    }
    if (c >= 0xFF01 && c <= 0xFF5E) c = c - 0xFF01 + 0x21;  // fix_character_width (fullwidth ASCII)
    else if (c == 0x3000) c = U' ';
    else if (c >= 0xFFE0 && c <= 0xFFE6) {
      static constexpr char32_t signs[7] = {0xA2, 0xA3, 0xAC, 0xAF, 0xA6, 0xA5, 0x20A9};
      c = signs[c - 0xFFE0];
    }
    if (c == 0x2BC || (c >= 0x2018 && c <= 0x201B)) c = U'\'';  // uncurl_quotes
    else if (c >= 0x201C && c <= 0x201F) c = U'"';
    if (c == U'\r') {  // fix_line_breaks
      if (i + 1 < t.size() && t[i + 1] == U'\n') ++i;
      c = U'\n';
    } else if (c == 0x2028 || c == 0x2029 || c == 0x85) {
      c = U'\n';
    }
    if (ftfy_control(c)) continue;  // remove_control_chars
    out.push_back(c);
  }
  return out;
}

CodePoints strip(const CodePoints& t) {
  std::size_t b = 0, e = t.size();
  while (b < e && is_space(t[b])) ++b;
  while (e > b && is_space(t[e - 1])) --e;
  return t.substr(b, e - b);
}

bool starts_with(const CodePoints& t, std::size_t at, const char* lit) {
  const std::size_t len = std::strlen(lit);
  if (at + len > t.size()) return false;
  for (std::size_t k = 0; k < len; ++k) {
    // regex's IGNORECASE folds U+017F (long s) to 's'; the text is lower-case already.
    const char32_t c = t[at + k] == 0x17F ? U's' : t[at + k];
    if (c != static_cast<char32_t>(static_cast<unsigned char>(lit[k]))) return false;
  }
  return true;
}

}  // namespace

bool is_letter(char32_t cp) { return in_ranges(kLetterRanges, cp); }
bool is_number(char32_t cp) { return in_ranges(kNumberRanges, cp); }
bool is_space(char32_t cp) { return in_ranges(kSpaceRanges, cp); }

CodePoints to_lower(const CodePoints& text) {
  CodePoints out;
  out.reserve(text.size());
  for (char32_t c : text) {
    if (c < 0x80) {
      out.push_back(c >= 'A' && c <= 'Z' ? c + 32 : c);
    } else if (c == 0x130) {  // the one code point str.lower() maps to two: i + combining dot
      out.push_back(U'i');
      out.push_back(0x307);
    } else {
      auto it = std::lower_bound(std::begin(kLowerPairs), std::end(kLowerPairs), c,
                                 [](const CodePair& p, char32_t x) { return p.from < x; });
      out.push_back(it != std::end(kLowerPairs) && it->from == c ? it->to : c);
    }
  }
  return out;
}

void utf8_append(std::string& out, char32_t cp) {
  if (cp < 0x80) {
    out.push_back(static_cast<char>(cp));
  } else if (cp < 0x800) {
    out.push_back(static_cast<char>(0xC0 | (cp >> 6)));
    out.push_back(static_cast<char>(0x80 | (cp & 0x3F)));
  } else if (cp < 0x10000) {
    out.push_back(static_cast<char>(0xE0 | (cp >> 12)));
    out.push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3F)));
    out.push_back(static_cast<char>(0x80 | (cp & 0x3F)));
  } else {
    out.push_back(static_cast<char>(0xF0 | (cp >> 18)));
    out.push_back(static_cast<char>(0x80 | ((cp >> 12) & 0x3F)));
    out.push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3F)));
    out.push_back(static_cast<char>(0x80 | (cp & 0x3F)));
  }
}

std::string utf8_encode(const CodePoints& text) {
  std::string out;
  out.reserve(text.size());
  for (char32_t c : text) utf8_append(out, c);
  return out;
}

CodePoints utf8_decode(const std::string& bytes) {
  CodePoints out;
  out.reserve(bytes.size());
  const auto* s = reinterpret_cast<const unsigned char*>(bytes.data());
  const std::size_t n = bytes.size();
  std::size_t i = 0;
  while (i < n) {
    const unsigned char b = s[i];
    if (b < 0x80) {
      out.push_back(b);
      ++i;
      continue;
    }
    // Unicode's well-formed table (3-7): length and the allowed range of the second byte.
    int len = 0;
    unsigned char lo = 0x80, hi = 0xBF;
    if (b >= 0xC2 && b <= 0xDF) len = 2;
    else if (b == 0xE0) len = 3, lo = 0xA0;
    else if (b >= 0xE1 && b <= 0xEC) len = 3;
    else if (b == 0xED) len = 3, hi = 0x9F;
    else if (b >= 0xEE && b <= 0xEF) len = 3;
    else if (b == 0xF0) len = 4, lo = 0x90;
    else if (b >= 0xF1 && b <= 0xF3) len = 4;
    else if (b == 0xF4) len = 4, hi = 0x8F;
    if (len == 0) {  // a continuation byte or an impossible lead byte
      out.push_back(kReplacement);
      ++i;
      continue;
    }
    char32_t cp = b & (0xFF >> (len + 1));
    std::size_t k = 1;
    for (; k < static_cast<std::size_t>(len); ++k) {
      if (i + k >= n) break;
      const unsigned char c = s[i + k];
      const unsigned char l = k == 1 ? lo : 0x80, h = k == 1 ? hi : 0xBF;
      if (c < l || c > h) break;
      cp = (cp << 6) | (c & 0x3F);
    }
    if (k == static_cast<std::size_t>(len)) {
      out.push_back(cp);
      i += k;
    } else {  // maximal ill-formed prefix -> one U+FFFD, resume at the offending byte
      out.push_back(kReplacement);
      i += k;
    }
  }
  return out;
}

CodePoints normalize(const CodePoints& text) {
  // basic_clean: ftfy.fix_text, html.unescape twice, strip.
  CodePoints t = strip(html_unescape(html_unescape(ftfy_subset(text))));
  // whitespace_clean: \s+ -> ' ', strip; then lower().
  CodePoints out;
  out.reserve(t.size());
  bool in_space = false;
  for (char32_t c : t) {
    if (is_space(c)) {
      in_space = true;
      continue;
    }
    if (in_space && !out.empty()) out.push_back(U' ');
    in_space = false;
    out.push_back(c);
  }
  return to_lower(out);
}

std::vector<CodePoints> pre_tokenize(const CodePoints& t) {
  static const char* const kSpecial[] = {"<|startoftext|>", "<|endoftext|>"};
  static const char* const kContractions[] = {"'s", "'t", "'re", "'ve", "'m", "'ll", "'d"};
  std::vector<CodePoints> out;
  std::size_t i = 0;
  const std::size_t n = t.size();
  while (i < n) {
    // Alternatives in the regex's order: the first that matches at i wins.
    std::size_t len = 0;
    for (const char* lit : kSpecial)
      if (!len && starts_with(t, i, lit)) len = std::strlen(lit);
    for (const char* lit : kContractions)
      if (!len && starts_with(t, i, lit)) len = std::strlen(lit);
    if (!len && is_letter(t[i])) {
      while (i + len < n && is_letter(t[i + len])) ++len;
    }
    if (!len && is_number(t[i])) len = 1;
    if (!len && !is_space(t[i])) {
      auto other = [](char32_t c) { return !is_space(c) && !is_letter(c) && !is_number(c); };
      while (i + len < n && other(t[i + len])) ++len;
    }
    if (!len) {  // whitespace between matches
      ++i;
      continue;
    }
    out.push_back(t.substr(i, len));
    i += len;
  }
  return out;
}

}  // namespace pesuite::vision::clip_text
