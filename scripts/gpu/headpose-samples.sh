#!/usr/bin/env bash
# Copies the real head-pose samples (300W-LP and AFLW2000 layouts) with every JPEG decoded here by
# OpenCV and stored as PNG beside its .mat, for the GPU machine's build, which has no OpenCV and
# reads PNG faces only. The pixels are the ones a local run decodes (the same OpenCV), so a model
# evaluated there on the copy sees exactly what it would see here on the JPEGs.
#   usage: bash scripts/gpu/headpose-samples.sh SRC_DATA DST      (e.g. ../shared/data .device-data/hp-png)
# DST gets 300wlp-sample/ and aflw2000-sample/ (the .mat files copied, NAME.jpg -> NAME.png).
set -euo pipefail
src=${1:?usage: $0 SRC_DATA DST} dst=${2:?usage: $0 SRC_DATA DST}
tool=$(mktemp -d)
trap 'rm -rf "$tool"' EXIT
cat >"$tool/topng.cpp" <<'CPP'
#include <opencv2/imgcodecs.hpp>
#include <cstdio>
int main(int argc, char** argv) {
  for (int i = 1; i + 1 < argc; i += 2) {
    cv::Mat img = cv::imread(argv[i], cv::IMREAD_COLOR | cv::IMREAD_IGNORE_ORIENTATION);  // as pesuite's imageio::decode_image
    if (img.empty() || !cv::imwrite(argv[i + 1], img)) { std::fprintf(stderr, "%s: cannot convert\n", argv[i]); return 1; }
  }
  return 0;
}
CPP
g++ -O1 -o "$tool/topng" "$tool/topng.cpp" $(pkg-config --cflags --libs opencv4)
for set in 300wlp-sample aflw2000-sample; do
  [ -d "$src/$set" ] || { echo "$src/$set: missing" >&2; exit 2; }
  args=()
  while IFS= read -r -d '' mat; do
    rel=${mat#"$src/$set/"}
    mkdir -p "$dst/$set/$(dirname "$rel")"
    cp "$mat" "$dst/$set/$rel"
    args+=("${mat%.mat}.jpg" "$dst/$set/${rel%.mat}.png")
  done < <(find "$src/$set" -name '*.mat' -print0 | sort -z)
  "$tool/topng" "${args[@]}"
  echo "$set: $(( ${#args[@]} / 2 )) faces -> $dst/$set"
done
