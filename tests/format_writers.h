#pragma once
// Files in the datasets' real formats, written by tests: plain / gzip / zip text, TU, OGB raw,
// LINQS, IDX, CIFAR. Image files (JPEG / PNG) need OpenCV and are written in the image tests.
//
//   pesuite::test::write_zip(dir / "TOY.zip", {{"TOY//TOY_A.txt", "1, 2\n2, 1\n"}});
#include <gtest/gtest.h>
#include <zip.h>
#include <zlib.h>

#include <cstdint>
#include <filesystem>
#include <fstream>
#include <map>
#include <string>
#include <vector>

namespace pesuite::test {

inline void write_text(const std::string& path, const std::string& text) {
  std::filesystem::create_directories(std::filesystem::path(path).parent_path());
  std::ofstream(path, std::ios::binary) << text;
}

inline void write_gz(const std::string& path, const std::string& text) {
  std::filesystem::create_directories(std::filesystem::path(path).parent_path());
  gzFile f = gzopen(path.c_str(), "wb");
  gzwrite(f, text.data(), static_cast<unsigned>(text.size()));
  gzclose(f);
}

inline void write_zip(const std::string& path, const std::map<std::string, std::string>& members) {
  std::filesystem::create_directories(std::filesystem::path(path).parent_path());
  int err = 0;
  zip_t* z = zip_open(path.c_str(), ZIP_CREATE | ZIP_TRUNCATE, &err);
  ASSERT_NE(z, nullptr);
  for (const auto& [name, text] : members) {
    zip_source_t* s = zip_source_buffer(z, text.data(), text.size(), 0);
    zip_file_add(z, name.c_str(), s, ZIP_FL_OVERWRITE);
  }
  ASSERT_EQ(zip_close(z), 0);
}

// A TU dataset of two graphs: a triangle (nodes 1-3) and an edge (4-5), both directions listed as
// TU does; keys are the file suffixes (DS_<key>.txt).
inline std::map<std::string, std::string> tu_files() {
  return {{"A", "1, 2\n2, 1\n2, 3\n3, 2\n3, 1\n1, 3\n4, 5\n5, 4\n"},
          {"graph_indicator", "1\n1\n1\n2\n2\n"},
          {"graph_labels", "-1\n1\n"},
          {"node_labels", "0\n1\n1\n2\n0\n"},
          {"edge_labels", "0\n0\n1\n1\n2\n2\n0\n0\n"},
          {"node_attributes", "0.5, 1\n1, 2\n1.5, 3\n2, 4\n2.5, 5\n"}};
}

// The official zip layout: members DS//DS_<key>.txt (with the double slash).
inline void write_tu_zip(const std::string& path, const std::string& name, const std::map<std::string, std::string>& files) {
  std::map<std::string, std::string> members;
  for (const auto& [k, v] : files) members[name + "//" + name + "_" + k + ".txt"] = v;
  write_zip(path, members);
}

// OGB's raw layout: two molecules of 3 and 2 atoms, regression targets, a scaffold split.
inline void write_ogb(const std::string& root) {
  write_gz(root + "/raw/num-node-list.csv.gz", "3\n2\n");
  write_gz(root + "/raw/num-edge-list.csv.gz", "2\n1\n");
  write_gz(root + "/raw/edge.csv.gz", "0,1\n1,2\n0,1\n");
  write_gz(root + "/raw/node-feat.csv.gz", "6,0\n8,1\n6,0\n7,0\n6,1\n");
  write_gz(root + "/raw/edge-feat.csv.gz", "0,0,1\n1,0,0\n0,1,0\n");
  write_gz(root + "/raw/graph-label.csv.gz", "-0.77\n1.5\n");
  write_gz(root + "/split/scaffold/train.csv.gz", "1\n");
  write_gz(root + "/split/scaffold/valid.csv.gz", "0\n");
  write_gz(root + "/split/scaffold/test.csv.gz", "");
}

// LINQS: three papers with 3 binary features and labels A / B, two citations and one dangling.
inline void write_linqs(const std::string& dir, const std::string& name) {
  write_text(dir + "/" + name + ".content", "p1\t1\t0\t0\tA\np2\t0\t1\t0\tB\np3\t0\t0\t1\tA\n");
  write_text(dir + "/" + name + ".cites", "p1\tp2\np2\tp3\np9\tp1\n");
}

// IDX (MNIST layout): n images of h x w with pixel (i, r, c) = (i * 7 + r * w + c) % 256, labels i % 10.
inline void write_idx(const std::string& dir, const std::string& split, int n, int h, int w) {
  auto be32 = [](std::uint32_t v) {
    return std::string{static_cast<char>(v >> 24), static_cast<char>(v >> 16), static_cast<char>(v >> 8), static_cast<char>(v)};
  };
  std::string images = std::string("\0\0\x08\x03", 4) + be32(n) + be32(h) + be32(w), labels = std::string("\0\0\x08\x01", 4) + be32(n);
  for (int i = 0; i < n; ++i) {
    for (int k = 0; k < h * w; ++k) images.push_back(static_cast<char>((i * 7 + k) % 256));
    labels.push_back(static_cast<char>(i % 10));
  }
  const std::string stem = split == "train" ? "train" : "t10k";
  write_gz(dir + "/" + stem + "-images-idx3-ubyte.gz", images);
  write_gz(dir + "/" + stem + "-labels-idx1-ubyte.gz", labels);
}

// One CIFAR record: label byte(s), then R, G, B planes; pixel k of channel c = (k + 50 * c + seed) % 256.
inline std::string cifar_record(const std::vector<std::uint8_t>& labels, int seed) {
  std::string r(labels.begin(), labels.end());
  for (int c = 0; c < 3; ++c)
    for (int k = 0; k < 1024; ++k) r.push_back(static_cast<char>((k + 50 * c + seed) % 256));
  return r;
}

}  // namespace pesuite::test
