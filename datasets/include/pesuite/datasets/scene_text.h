#pragma once
// The words of the `scenes:` captions (no torch, no OpenCV): colour names of pixels, position
// words of box centres, caption nouns of clip-art folders, and the caption templates.
//
//   auto c = pesuite::datasets::colour_of_pixel(220, 30, 30);              // Colour::Red
//   pesuite::datasets::colour_name(c);                                      // "red"
//   pesuite::datasets::position_word(0.1, 0.9);                             // "bottom left"
//   pesuite::datasets::class_nouns("animals/mammals/bears");                // {"bear", "bears"}
//   pesuite::datasets::counting_caption({{"bear", "bears", "brown", "left"},
//                                        {"bear", "bears", "brown", "top"},
//                                        {"apple", "apples", "red", "centre"}}, 0);
//       // "a photo of two brown bears and a red apple."
#include <cstdint>
#include <string>
#include <utility>
#include <vector>

namespace pesuite::datasets {

// The eleven basic colour terms (Berlin and Kay), the words captions use.
enum class Colour { Black, White, Grey, Red, Orange, Yellow, Green, Blue, Purple, Pink, Brown };
constexpr int kNumColours = 11;
const char* colour_name(Colour c);

// One straight (not premultiplied) RGB pixel to its colour term, by HSV rules: value < 0.2 is
// black; chroma (max - min) < 0.12 is white (value > 0.8), black (value < 0.25) or grey; otherwise
// by hue: red < 15 deg or >= 345 (pink when pale: saturation < 0.5 and value > 0.8), orange
// 15-45 (brown when value < 0.6), yellow 45-70 (brown when value < 0.5), green 70-165,
// blue 165-255, purple 255-290, pink 290-345 (purple when value < 0.5).
Colour colour_of_pixel(std::uint8_t r, std::uint8_t g, std::uint8_t b);

// The dominant colour of an RGBA cut-out (uint8, straight alpha, h*w*4 bytes, row-major): the
// colour term with the largest alpha-weighted share of the pixels whose alpha is >= 128 (ties go
// to the earlier term of the enum). The dominant term, not the term of the mean colour: a red
// apple with a black outline and a green leaf is red, while its mean colour is a muddy brown.
// A cut-out without any pixel of alpha >= 128 is Grey.
Colour dominant_colour(const std::uint8_t* rgba, std::int64_t pixels);

// Where a box centre (cx, cy in [0, 1], y down) lies in the 3 x 3 grid of thirds: "top left",
// "top", "top right", "left", "centre", "right", "bottom left", "bottom", "bottom right".
std::string position_word(double cx, double cy);
// The phrase of a position word in a caption: "in the top left", "at the top", "on the left",
// "in the centre", ...
std::string position_phrase(const std::string& word);

// Singular and plural caption nouns of a clip-art class folder ("animals/mammals/big_cats" ->
// {"big cat", "big cats"}): a table for openclipart's object folders, else the folder's last
// component with _ and - as spaces, taken as a plural when it ends in s ("flowers" -> "flower").
std::pair<std::string, std::string> class_nouns(const std::string& folder);

// "a" or "an" for a word (by its first letter), "two" .. "ten", then digits.
std::string article(const std::string& word);
std::string count_word(std::int64_t n);

// One object as the captions see it.
struct CaptionObject {
  std::string singular, plural;
  std::string colour;    // colour_name of the object
  std::string position;  // position_word of its box centre
};

// "a photo of two bears and a red apple.": objects grouped by class in order of first
// appearance; a class seen once gets its colour ("a red apple"), a class seen n > 1 times gets
// its count and, when all n share one colour, that colour ("two brown bears"). `variant` picks the
// template: "a photo of {}.", "a picture of {}.", "an image of {}.", "{}." (variant % 4).
std::string counting_caption(const std::vector<CaptionObject>& objects, std::uint64_t variant);

// "a photo of two bears and an apple.": counting_caption without colour words, so that only the
// objects' identity tells it apart from another scene's (contrastive training on captions that
// always name colours learns colours and positions first: docs/clip.md).
std::string names_caption(const std::vector<CaptionObject>& objects, std::uint64_t variant);

// "a red apple in the top left, a brown bear in the centre and a grey bear at the bottom.":
// every object in paste order with its colour and position phrase.
std::string position_caption(const std::vector<CaptionObject>& objects);

// "A, B and C" / "A and B" / "A".
std::string join_and(const std::vector<std::string>& parts);

}  // namespace pesuite::datasets
