// Caption words of the `scenes:` generator: colour terms, position words, class nouns, templates.
#include "pesuite/datasets/scene_text.h"

#include <algorithm>
#include <array>
#include <cctype>
#include <cmath>
#include <map>

namespace pesuite::datasets {

const char* colour_name(Colour c) {
  static const char* names[kNumColours] = {"black", "white",  "grey",   "red",  "orange", "yellow",
                                           "green", "blue",   "purple", "pink", "brown"};
  return names[static_cast<int>(c)];
}

Colour colour_of_pixel(std::uint8_t r8, std::uint8_t g8, std::uint8_t b8) {
  const double r = r8 / 255.0, g = g8 / 255.0, b = b8 / 255.0;
  const double mx = std::max({r, g, b}), mn = std::min({r, g, b});
  const double v = mx, chroma = mx - mn, s = mx > 0 ? chroma / mx : 0.0;
  if (v < 0.2) return Colour::Black;
  if (chroma < 0.12) return v > 0.8 ? Colour::White : v < 0.25 ? Colour::Black : Colour::Grey;
  double h;  // hue in degrees, [0, 360)
  if (mx == r)
    h = 60.0 * std::fmod((g - b) / chroma + 6.0, 6.0);
  else if (mx == g)
    h = 60.0 * ((b - r) / chroma + 2.0);
  else
    h = 60.0 * ((r - g) / chroma + 4.0);
  if (h < 15 || h >= 345) return (s < 0.5 && v > 0.8) ? Colour::Pink : Colour::Red;
  if (h < 45) return v < 0.6 ? Colour::Brown : Colour::Orange;
  if (h < 70) return v < 0.5 ? Colour::Brown : Colour::Yellow;
  if (h < 165) return Colour::Green;
  if (h < 255) return Colour::Blue;
  if (h < 290) return Colour::Purple;
  return v < 0.5 ? Colour::Purple : Colour::Pink;
}

Colour dominant_colour(const std::uint8_t* rgba, std::int64_t pixels) {
  std::array<double, kNumColours> weight{};
  for (std::int64_t i = 0; i < pixels; ++i) {
    const std::uint8_t* p = rgba + 4 * i;
    if (p[3] < 128) continue;
    weight[static_cast<std::size_t>(colour_of_pixel(p[0], p[1], p[2]))] += p[3];
  }
  const auto best = std::max_element(weight.begin(), weight.end());  // first of equal maxima
  if (*best == 0) return Colour::Grey;
  return static_cast<Colour>(best - weight.begin());
}

std::string position_word(double cx, double cy) {
  const int col = cx < 1.0 / 3 ? 0 : cx > 2.0 / 3 ? 2 : 1;
  const int row = cy < 1.0 / 3 ? 0 : cy > 2.0 / 3 ? 2 : 1;
  static const char* cols[] = {"left", "", "right"};
  static const char* rows[] = {"top", "", "bottom"};
  if (row == 1 && col == 1) return "centre";
  if (row == 1) return cols[col];
  if (col == 1) return rows[row];
  return std::string(rows[row]) + " " + cols[col];
}

std::string position_phrase(const std::string& word) {
  if (word == "top" || word == "bottom") return "at the " + word;
  if (word == "left" || word == "right") return "on the " + word;
  return "in the " + word;  // centre and the corners
}

std::pair<std::string, std::string> class_nouns(const std::string& folder) {
  // Nouns for openclipart-png's object folders, where the folder name is not a countable noun.
  static const std::map<std::string, std::pair<std::string, std::string>> table = {
      {"birds", {"bird", "birds"}},
      {"bugs", {"bug", "bugs"}},
      {"dinosaurs", {"dinosaur", "dinosaurs"}},
      {"fish", {"fish", "fish"}},
      {"mammals", {"mammal", "mammals"}},
      {"bears", {"bear", "bears"}},
      {"big_cats", {"big cat", "big cats"}},
      {"horses", {"horse", "horses"}},
      {"housecats", {"cat", "cats"}},
      {"furniture", {"piece of furniture", "pieces of furniture"}},
      {"homes", {"house", "houses"}},
      {"containers", {"container", "containers"}},
      {"books", {"book", "books"}},
      {"electronics", {"gadget", "gadgets"}},
      {"bulb", {"light bulb", "light bulbs"}},
      {"beverages", {"drink", "drinks"}},
      {"alcohol", {"bottle", "bottles"}},
      {"breads_and_carbs", {"loaf of bread", "loaves of bread"}},
      {"desserts", {"dessert", "desserts"}},
      {"fruit", {"fruit", "fruits"}},
      {"meats_and_eggs", {"meat dish", "meat dishes"}},
      {"vegetables", {"vegetable", "vegetables"}},
      {"telephone", {"telephone", "telephones"}},
      {"hats", {"hat", "hats"}},
      {"flowers", {"flower", "flowers"}},
      {"trees", {"tree", "trees"}},
      {"chess", {"chess piece", "chess pieces"}},
      {"toys", {"toy", "toys"}},
      {"tools", {"tool", "tools"}},
      {"weapons", {"weapon", "weapons"}},
      {"boating", {"boat", "boats"}},
      {"vehicles", {"vehicle", "vehicles"}},
      {"weather", {"weather symbol", "weather symbols"}},
      {"clocks", {"clock", "clocks"}},
      {"smilies", {"smiley", "smileys"}},
      {"stickmen", {"stick figure", "stick figures"}},
  };
  std::string last = folder;
  while (!last.empty() && last.back() == '/') last.pop_back();
  if (auto slash = last.rfind('/'); slash != std::string::npos) last = last.substr(slash + 1);
  if (auto it = table.find(last); it != table.end()) return it->second;
  std::string w = last;
  std::replace(w.begin(), w.end(), '_', ' ');
  std::replace(w.begin(), w.end(), '-', ' ');
  if (w.empty()) return {"object", "objects"};
  const auto ends = [&](const std::string& s) { return w.size() > s.size() && w.compare(w.size() - s.size(), s.size(), s) == 0; };
  if (ends("ies")) return {w.substr(0, w.size() - 3) + "y", w};
  if (ends("ches") || ends("shes") || ends("xes") || ends("sses")) return {w.substr(0, w.size() - 2), w};
  if (ends("s") && !ends("ss")) return {w.substr(0, w.size() - 1), w};
  return {w, w + "s"};
}

std::string article(const std::string& word) {
  if (word.empty()) return "a";
  const char c = static_cast<char>(std::tolower(static_cast<unsigned char>(word[0])));
  return (c == 'a' || c == 'e' || c == 'i' || c == 'o' || c == 'u') ? "an" : "a";
}

std::string count_word(std::int64_t n) {
  static const char* words[] = {"no", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine", "ten"};
  if (n >= 0 && n <= 10) return words[n];
  return std::to_string(n);
}

std::string join_and(const std::vector<std::string>& parts) {
  std::string s;
  for (std::size_t i = 0; i < parts.size(); ++i) {
    if (i > 0) s += (i + 1 == parts.size()) ? " and " : ", ";
    s += parts[i];
  }
  return s;
}

namespace {
std::string with_article(const std::string& phrase) { return article(phrase) + " " + phrase; }
std::string adjective(const std::string& colour, const std::string& noun) { return colour.empty() ? noun : colour + " " + noun; }
}  // namespace

namespace {

std::string grouped_caption(const std::vector<CaptionObject>& objects, std::uint64_t variant, bool colours) {
  std::vector<std::size_t> first;  // first object of each class, in order of appearance
  for (std::size_t i = 0; i < objects.size(); ++i) {
    bool seen = false;
    for (std::size_t f : first) seen = seen || objects[f].singular == objects[i].singular;
    if (!seen) first.push_back(i);
  }
  std::vector<std::string> parts;
  for (std::size_t f : first) {
    std::int64_t n = 0;
    bool one_colour = true;
    for (const auto& o : objects)
      if (o.singular == objects[f].singular) {
        ++n;
        one_colour = one_colour && o.colour == objects[f].colour;
      }
    const std::string colour = colours ? objects[f].colour : std::string();
    if (n == 1)
      parts.push_back(with_article(adjective(colour, objects[f].singular)));
    else
      parts.push_back(count_word(n) + " " + (one_colour ? adjective(colour, objects[f].plural) : objects[f].plural));
  }
  static const char* templates[] = {"a photo of ", "a picture of ", "an image of ", ""};
  std::string body = parts.empty() ? std::string("nothing") : join_and(parts);
  return templates[variant % 4] + body + ".";
}

}  // namespace

std::string counting_caption(const std::vector<CaptionObject>& objects, std::uint64_t variant) {
  return grouped_caption(objects, variant, true);
}

std::string names_caption(const std::vector<CaptionObject>& objects, std::uint64_t variant) {
  return grouped_caption(objects, variant, false);
}

std::string position_caption(const std::vector<CaptionObject>& objects) {
  std::vector<std::string> parts;
  for (const auto& o : objects) parts.push_back(with_article(adjective(o.colour, o.singular)) + " " + position_phrase(o.position));
  return (parts.empty() ? std::string("nothing") : join_and(parts)) + ".";
}

}  // namespace pesuite::datasets
