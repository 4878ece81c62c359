// The scene object bank: its safetensors file, and the listing of openclipart-png that decides
// what goes into it (classes, chosen drawings, train / test split, cache key).
#include "pesuite/datasets/scene_bank.h"

#include <fnmatch.h>

#include <algorithm>
#include <cctype>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <map>
#include <nlohmann/json.hpp>
#include <sstream>

#include "pesuite/core/runtime.h"
#include "pesuite/datasets/scene_text.h"
#include "pesuite/core/error.h"
#include "pesuite/core/safetensors.h"

namespace fs = std::filesystem;

namespace pesuite::datasets {

namespace {

constexpr const char* kFormat = "pesuite-scene-bank";
constexpr const char* kVersion = "1";

std::uint64_t fnv(std::uint64_t h, const std::string& s) {
  for (unsigned char c : s) h = (h ^ c) * 1099511628211ull;
  return (h ^ 0xff) * 1099511628211ull;
}
constexpr std::uint64_t kFnvStart = 1469598103934665603ull;

std::uint64_t splitmix(std::uint64_t& s) {
  std::uint64_t z = (s += 0x9e3779b97f4a7c15ull);
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
  return z ^ (z >> 31);
}

// Concatenates [h, w, c] uint8 images into one flat buffer + offsets + shapes.
void pack(const std::vector<torch::Tensor>& images, core::TensorMap& out, const std::string& prefix) {
  std::vector<torch::Tensor> flat;
  std::vector<std::int64_t> offsets, shapes;
  std::int64_t at = 0;
  for (const auto& t : images) {
    flat.push_back(t.contiguous().reshape({-1}));
    offsets.push_back(at);
    shapes.push_back(t.size(0));
    shapes.push_back(t.size(1));
    at += t.numel();
  }
  const auto n = static_cast<std::int64_t>(images.size());
  out[prefix + "_pixels"] = flat.empty() ? torch::zeros({0}, torch::kUInt8) : torch::cat(flat);
  out[prefix + "_offset"] = torch::tensor(offsets, torch::kInt64).reshape({n});
  out[prefix + "_shape"] = torch::tensor(shapes, torch::kInt64).reshape({n, 2});
}

const torch::Tensor& need_tensor(const core::TensorFile& f, const std::string& name, torch::Dtype dtype, std::int64_t dim,
                                 const std::string& path) {
  auto it = f.tensors.find(name);
  if (it == f.tensors.end()) throw core::InputError(path + ": not a scene bank: missing tensor '" + name + "'");
  if (it->second.scalar_type() != dtype || it->second.dim() != dim)
    throw core::InputError(path + ": scene bank tensor '" + name + "' must be " + core::dtype_name(dtype) + " with " +
                     std::to_string(dim) + " dimensions, got " + core::dtype_name(it->second.scalar_type()) + " " +
                     c10::str(it->second.sizes()));
  return it->second;
}

std::vector<torch::Tensor> unpack(const core::TensorFile& f, const std::string& prefix, std::int64_t channels, const std::string& path) {
  const auto& pixels = need_tensor(f, prefix + "_pixels", torch::kUInt8, 1, path);
  const auto& offset = need_tensor(f, prefix + "_offset", torch::kInt64, 1, path);
  const auto& shape = need_tensor(f, prefix + "_shape", torch::kInt64, 2, path);
  const std::int64_t n = offset.size(0);
  if (shape.size(0) != n || shape.size(1) != 2)
    throw core::InputError(path + ": scene bank tensor '" + prefix + "_shape' must be [" + std::to_string(n) + ", 2], got " +
                     c10::str(shape.sizes()));
  std::vector<torch::Tensor> out;
  auto o = offset.accessor<std::int64_t, 1>();
  auto s = shape.accessor<std::int64_t, 2>();
  for (std::int64_t i = 0; i < n; ++i) {
    const std::int64_t h = s[i][0], w = s[i][1], bytes = h * w * channels;
    if (h < 1 || w < 1 || o[i] < 0 || o[i] + bytes > pixels.size(0))
      throw core::InputError(path + ": scene bank " + prefix + " " + std::to_string(i) + " (" + std::to_string(h) + " x " +
                       std::to_string(w) + " at byte " + std::to_string(o[i]) + ") lies outside '" + prefix +
                       "_pixels' (" + std::to_string(pixels.size(0)) + " bytes)");
    out.push_back(pixels.narrow(0, o[i], bytes).view({h, w, channels}));
  }
  return out;
}

std::vector<std::string> json_strings(const core::Metadata& m, const std::string& key, std::size_t n, const std::string& path) {
  auto it = m.find(key);
  if (it == m.end()) throw core::InputError(path + ": not a scene bank: missing metadata '" + key + "'");
  std::vector<std::string> out;
  try {
    out = nlohmann::json::parse(it->second).get<std::vector<std::string>>();
  } catch (const std::exception&) {
    throw core::InputError(path + ": scene bank metadata '" + key + "' must be a JSON array of strings");
  }
  if (out.size() != n)
    throw core::InputError(path + ": scene bank metadata '" + key + "' has " + std::to_string(out.size()) + " entries, expected " +
                     std::to_string(n));
  return out;
}

template <class T>
std::vector<T> to_vector(const torch::Tensor& t) {
  const torch::Tensor c = t.contiguous();
  return std::vector<T>(c.data_ptr<T>(), c.data_ptr<T>() + c.numel());
}

// The key that groups variants of one drawing: the lower-case stem without trailing numbers,
// separators, _bw / _bn (black-and-white copies) or a one-letter _r / _s suffix.
std::string drawing_group(const std::string& file) {
  std::string s = fs::path(file).stem().string();
  std::transform(s.begin(), s.end(), s.begin(), [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  for (bool changed = true; changed && !s.empty();) {
    changed = false;
    const auto ends = [&](const std::string& suf) { return s.size() > suf.size() && s.compare(s.size() - suf.size(), suf.size(), suf) == 0; };
    if (std::isdigit(static_cast<unsigned char>(s.back())) || s.back() == '_' || s.back() == '-' || s.back() == '.') {
      s.pop_back();
      changed = true;
    } else {
      for (const char* suf : {"_bw", "-bw", "_bn", "_r", "_s"})
        if (ends(suf)) {
          s.resize(s.size() - std::string(suf).size());
          changed = true;
          break;
        }
    }
  }
  return s;
}

bool is_png(const fs::path& p) {
  std::string e = p.extension().string();
  std::transform(e.begin(), e.end(), e.begin(), [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return e == ".png";
}

bool is_photo(const fs::path& p) {
  std::string e = p.extension().string();
  std::transform(e.begin(), e.end(), e.begin(), [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return e == ".png" || e == ".jpg" || e == ".jpeg";
}

std::string join(const std::vector<std::string>& v, const char* sep) {
  std::string s;
  for (const auto& x : v) s += (s.empty() ? "" : sep) + x;
  return s;
}

}  // namespace

void check_scene_bank(const SceneBank& b, const std::string& src) {
  const std::size_t C = b.classes.size(), M = b.objects.size();
  auto fail = [&](const std::string& what) { throw core::InputError(src + ": scene bank: " + what); };
  if (C == 0) fail("no classes");
  if (b.singular.size() != C || b.plural.size() != C || b.class_images.size() != C)
    fail("singular / plural / class_images must have one entry per class (" + std::to_string(C) + ")");
  if (b.object_class.size() != M || b.object_test.size() != M || b.object_files.size() != M)
    fail("object_class / object_test / object_files must have one entry per object (" + std::to_string(M) + ")");
  if (b.photo_files.size() != b.photos.size()) fail("photo_files must have one entry per photo");
  for (std::size_t i = 0; i < M; ++i) {
    const auto& t = b.objects[i];
    if (!t.defined() || t.scalar_type() != torch::kUInt8 || t.dim() != 3 || t.size(2) != 4 || t.size(0) < 1 || t.size(1) < 1)
      fail("object " + std::to_string(i) + " must be uint8 [h, w, 4]");
    if (b.object_class[i] < 0 || b.object_class[i] >= static_cast<std::int64_t>(C))
      fail("object " + std::to_string(i) + " has class " + std::to_string(b.object_class[i]) + ", outside 0.." + std::to_string(C - 1));
    if (b.object_test[i] > 1) fail("object " + std::to_string(i) + " has object_test " + std::to_string(b.object_test[i]) + " (0 or 1)");
  }
  for (std::size_t i = 0; i < b.photos.size(); ++i) {
    const auto& t = b.photos[i];
    if (!t.defined() || t.scalar_type() != torch::kUInt8 || t.dim() != 3 || t.size(2) != 3 || t.size(0) < 1 || t.size(1) < 1)
      fail("photo " + std::to_string(i) + " must be uint8 [h, w, 3]");
  }
}

void save_scene_bank(const std::string& path, const SceneBank& b) {
  check_scene_bank(b, path);
  core::TensorMap t;
  pack(b.objects, t, "object");
  pack(b.photos, t, "photo");
  const auto M = static_cast<std::int64_t>(b.objects.size());
  t["object_class"] = torch::tensor(b.object_class, torch::kInt64).reshape({M});
  t["object_test"] = torch::from_blob(const_cast<std::uint8_t*>(b.object_test.data()), {M}, torch::kUInt8).clone();
  t["class_images"] = torch::tensor(b.class_images, torch::kInt64).reshape({b.num_classes()});
  core::Metadata m(b.info.begin(), b.info.end());
  m["format"] = kFormat;
  m["version"] = kVersion;
  m["classes"] = nlohmann::json(b.classes).dump();
  m["singular"] = nlohmann::json(b.singular).dump();
  m["plural"] = nlohmann::json(b.plural).dump();
  m["object_files"] = nlohmann::json(b.object_files).dump();
  m["photo_files"] = nlohmann::json(b.photo_files).dump();
  core::save_safetensors(path, t, m);
}

SceneBank load_scene_bank(const std::string& path) {
  const core::TensorFile f = core::load_safetensors(path);
  SceneBank b;
  b.objects = unpack(f, "object", 4, path);
  b.photos = unpack(f, "photo", 3, path);
  const auto M = b.objects.size();
  const auto& cls = need_tensor(f, "object_class", torch::kInt64, 1, path);
  const auto& test = need_tensor(f, "object_test", torch::kUInt8, 1, path);
  const auto& images = need_tensor(f, "class_images", torch::kInt64, 1, path);
  if (static_cast<std::size_t>(cls.size(0)) != M || static_cast<std::size_t>(test.size(0)) != M)
    throw core::InputError(path + ": scene bank tensors 'object_class' and 'object_test' must have " + std::to_string(M) +
                     " entries (one per object)");
  auto fmt = f.metadata.find("format");
  if (fmt == f.metadata.end() || fmt->second != kFormat)
    throw core::InputError(path + ": not a scene bank: metadata 'format' must be '" + kFormat + "'");
  if (auto v = f.metadata.find("version"); v == f.metadata.end() || v->second != kVersion)
    throw core::InputError(path + ": scene bank version '" + (v == f.metadata.end() ? std::string("none") : v->second) +
                     "' is not the version " + kVersion + " this pesuite reads; rebuild the bank");
  const auto C = static_cast<std::size_t>(images.size(0));
  b.classes = json_strings(f.metadata, "classes", C, path);
  b.singular = json_strings(f.metadata, "singular", C, path);
  b.plural = json_strings(f.metadata, "plural", C, path);
  b.object_files = json_strings(f.metadata, "object_files", M, path);
  b.photo_files = json_strings(f.metadata, "photo_files", b.photos.size(), path);
  b.object_class = to_vector<std::int64_t>(cls);
  b.object_test = to_vector<std::uint8_t>(test);
  b.class_images = to_vector<std::int64_t>(images);
  for (const auto& [k, v] : f.metadata)
    if (k != "classes" && k != "singular" && k != "plural" && k != "object_files" && k != "photo_files") b.info[k] = v;
  check_scene_bank(b, path);
  return b;
}

std::vector<std::string> SceneBankOptions::default_categories() {
  // openclipart-png's folders of countable objects (icons, signs, flags, shapes, gradients,
  // patterns and the catch-all top-level folders left out); all have a noun in scene_text.cpp.
  return {"animals/birds", "animals/bugs", "animals/dinosaurs", "animals/fish", "animals/mammals",
          "animals/mammals/bears", "animals/mammals/big_cats", "animals/mammals/horses", "animals/mammals/housecats",
          "buildings/furniture", "buildings/homes", "containers", "education/books", "electronics", "electronics/bulb",
          "food/beverages", "food/beverages/alcohol", "food/breads_and_carbs", "food/desserts", "food/fruit",
          "food/meats_and_eggs", "food/vegetables", "office/telephone", "people/clothing/hats", "people/smilies",
          "plants/flowers", "plants/trees", "recreation/games/chess", "recreation/toys", "signs_and_symbols/clocks",
          "signs_and_symbols/weather", "tools", "tools/weapons", "transportation/boating", "transportation/vehicles"};
}

SceneBankOptions SceneBankOptions::from_spec(const DatasetSpec& spec) {
  SceneBankOptions o;
  auto bad = [&](const std::string& key, const std::string& what) {
    return core::InputError("dataset spec '" + spec.text + "': key '" + key + "' " + what);
  };
  if (spec.has("clipart")) o.clipart = spec.get("clipart");
  const std::string cats = spec.get("categories");
  if (!cats.empty() && cats != "default") {
    o.categories.clear();
    std::stringstream ss(cats);
    std::string c;
    while (std::getline(ss, c, ','))
      if (!c.empty()) o.categories.push_back(c);
    if (o.categories.empty()) throw bad("categories", "must list folder globs, e.g. animals/*,food/fruit");
  }
  o.min_per_class = spec.get_int("min_per_class");
  o.per_class = spec.get_int("per_class");
  o.object_px = spec.get_int("object_px");
  o.test_fraction = spec.get_double("test_fraction");
  o.photos = spec.get("photos");
  o.split_seed = static_cast<std::uint64_t>(spec.get_int("bank_seed"));
  if (o.min_per_class < 2) throw bad("min_per_class", "must be >= 2 (a class needs a training and a test drawing)");
  if (o.per_class < 2) throw bad("per_class", "must be >= 2");
  if (o.object_px < 8 || o.object_px > 1024) throw bad("object_px", "must be in 8..1024");
  if (!(o.test_fraction > 0 && o.test_fraction < 1)) throw bad("test_fraction", "must be strictly between 0 and 1");
  return o;
}

std::string SceneBankOptions::photo_dir() const {
  if (photos == "none" || photos.empty()) return "";
  if (photos == "auto") {
    const char* d = "/usr/share/mypaint/backgrounds";
    return fs::is_directory(d) ? d : "";
  }
  return photos;
}

ClipartListing list_clipart(const SceneBankOptions& o) {
  const fs::path root(o.clipart);
  std::error_code ec;
  if (!fs::is_directory(root, ec))
    throw core::InputError(o.clipart + ": no clip-art folder here: install Debian's openclipart-png (apt-get install "
                     "openclipart-png), or give the scenes spec bank=FILE (a bank built elsewhere)");
  const auto categories = o.categories.empty() ? SceneBankOptions::default_categories() : o.categories;
  // Every PNG under the root, in a fixed order: the key covers all of them.
  std::vector<std::pair<std::string, std::uintmax_t>> all;
  for (auto it = fs::recursive_directory_iterator(root, fs::directory_options::skip_permission_denied, ec);
       !ec && it != fs::recursive_directory_iterator(); it.increment(ec)) {
    if (!it->is_regular_file(ec) || !is_png(it->path())) continue;
    all.emplace_back(fs::relative(it->path(), root).generic_string(), it->file_size(ec));
  }
  if (ec) throw core::InputError(o.clipart + ": cannot list the folder: " + ec.message());
  std::sort(all.begin(), all.end());
  ClipartListing L;
  std::uint64_t key = fnv(kFnvStart, kSceneBankBuilderVersion);
  key = fnv(key, join(categories, ",") + "|" + std::to_string(o.min_per_class) + "|" + std::to_string(o.per_class) + "|" +
                     std::to_string(o.object_px) + "|" + std::to_string(o.test_fraction) + "|" + std::to_string(o.split_seed));
  for (const auto& [f, size] : all) key = fnv(fnv(key, f), std::to_string(size));
  // Files by folder (std::map: folders in name order, files sorted within).
  std::map<std::string, std::vector<std::string>> by_folder;
  for (const auto& [f, size] : all) {
    const auto slash = f.rfind('/');
    by_folder[slash == std::string::npos ? std::string() : f.substr(0, slash)].push_back(f);
  }
  for (const auto& [folder, files] : by_folder) {
    const bool wanted = std::any_of(categories.begin(), categories.end(),
                                    [&](const std::string& g) { return fnmatch(g.c_str(), folder.c_str(), 0) == 0; });
    if (!wanted || static_cast<std::int64_t>(files.size()) < o.min_per_class) continue;
    std::map<std::string, std::vector<std::string>> groups;
    for (const auto& f : files) groups[drawing_group(f)].push_back(f);
    if (groups.size() < 2) continue;
    std::vector<const std::vector<std::string>*> order;
    for (const auto& [g, members] : groups) order.push_back(&members);
    // Fisher-Yates with our own draws (std::shuffle differs between standard libraries).
    std::uint64_t s = fnv(o.split_seed * 0x9e3779b97f4a7c15ull + 1, folder);
    for (std::size_t i = order.size() - 1; i > 0; --i) std::swap(order[i], order[splitmix(s) % (i + 1)]);
    ClipartClass c;
    c.id = folder;
    c.images = static_cast<std::int64_t>(files.size());
    std::vector<std::size_t> group_end;  // chosen files of groups 0..g end here
    // Two variants of a drawing at most, one when the cap is tiny, so that two drawings fit.
    const std::size_t per_group = o.per_class >= 4 ? 2 : 1;
    for (const auto* members : order) {
      for (std::size_t k = 0; k < members->size() && k < per_group && static_cast<std::int64_t>(c.files.size()) < o.per_class; ++k)
        c.files.push_back((*members)[k]);
      group_end.push_back(c.files.size());
      if (static_cast<std::int64_t>(c.files.size()) >= o.per_class) break;
    }
    if (group_end.size() < 2) continue;
    const auto target = std::max<std::size_t>(1, static_cast<std::size_t>(std::lround(o.test_fraction * static_cast<double>(c.files.size()))));
    std::size_t test_end = 0;
    for (std::size_t g = 0; g + 1 < group_end.size() && test_end < target; ++g) test_end = group_end[g];
    c.test.assign(c.files.size(), 0);
    for (std::size_t i = 0; i < test_end; ++i) c.test[i] = 1;
    L.classes.push_back(std::move(c));
  }
  if (L.classes.empty())
    throw core::InputError(o.clipart + ": no folder matching the categories (" + join(categories, ",") + ") holds " +
                     std::to_string(o.min_per_class) + " PNGs or more of two drawings or more");
  if (const std::string dir = o.photo_dir(); !dir.empty()) {
    if (!fs::is_directory(dir, ec)) throw core::InputError(dir + ": photos folder (scenes key photos) does not exist");
    for (auto it = fs::recursive_directory_iterator(dir, fs::directory_options::skip_permission_denied, ec);
         !ec && it != fs::recursive_directory_iterator(); it.increment(ec))
      if (it->is_regular_file(ec) && is_photo(it->path())) L.photos.push_back(it->path().string());
    std::sort(L.photos.begin(), L.photos.end());
    for (const auto& p : L.photos) key = fnv(fnv(key, p), std::to_string(fs::file_size(p, ec)));
  }
  char buf[17];
  std::snprintf(buf, sizeof buf, "%016llx", static_cast<unsigned long long>(key));
  L.key = buf;
  return L;
}

std::string default_scene_bank_path(const ClipartListing& listing) {
  return core::cache_dir() + "/scenes/bank-" + listing.key + ".safetensors";
}

nlohmann::json SceneBankOptions::settings() const {
  return {{"categories", categories.empty() ? default_categories() : categories},
          {"min_per_class", min_per_class}, {"per_class", per_class}, {"object_px", object_px},
          {"test_fraction", test_fraction}, {"photos", photo_dir()}, {"bank_seed", split_seed}};
}

namespace {
// The settings' header bytes of a safetensors file (the JSON header only, not the tensors).
std::string bank_settings_of(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  unsigned char len8[8];
  if (!in.read(reinterpret_cast<char*>(len8), 8)) return "";
  std::uint64_t len = 0;
  for (int i = 7; i >= 0; --i) len = (len << 8) | len8[i];
  if (len > (64u << 20)) return "";
  std::string header(len, '\0');
  if (!in.read(header.data(), static_cast<std::streamsize>(len))) return "";
  try {
    const auto j = nlohmann::json::parse(header);
    return j.at("__metadata__").at("settings").get<std::string>();
  } catch (const std::exception&) {
    return "";
  }
}
}  // namespace

std::vector<std::string> cached_scene_banks(const SceneBankOptions& o) {
  auto want = o.settings();
  const bool any_photos = o.photos == "auto";  // auto means "whatever the builder's machine had"
  std::vector<std::string> out;
  std::error_code ec;
  const fs::path dir = fs::path(core::cache_dir()) / "scenes";
  if (!fs::is_directory(dir, ec)) return out;
  for (const auto& e : fs::directory_iterator(dir, ec)) {
    const std::string name = e.path().filename().string();
    if (name.rfind("bank-", 0) != 0 || e.path().extension() != ".safetensors") continue;
    const std::string text = bank_settings_of(e.path().string());
    if (text.empty()) continue;
    nlohmann::json have;
    try {
      have = nlohmann::json::parse(text);
    } catch (const std::exception&) {
      continue;
    }
    if (any_photos) have["photos"] = want["photos"];
    if (have == want) out.push_back(e.path().string());
  }
  std::sort(out.begin(), out.end());
  return out;
}

std::string scene_bank_path(const DatasetSpec& spec) {
  if (spec.has("bank")) return spec.get("bank");
  const SceneBankOptions o = SceneBankOptions::from_spec(spec);
  std::error_code ec;
  if (!fs::is_directory(o.clipart, ec)) {
    // No clip-art on this machine: a bank built elsewhere with the same settings, carried in the cache.
    const auto found = cached_scene_banks(o);
    if (found.size() == 1) return found[0];
    if (found.size() > 1)
      throw core::InputError("dataset spec '" + spec.text + "': " + o.clipart + " is missing and " + std::to_string(found.size()) +
                             " cached banks have these settings (" + join(found, ", ") + "); give one with bank=FILE");
  }
  return default_scene_bank_path(list_clipart(o));  // InputError naming openclipart-png when the clip-art is missing
}

}  // namespace pesuite::datasets
