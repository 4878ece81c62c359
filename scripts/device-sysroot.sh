#!/usr/bin/env bash
# Folder of Debian libraries that the GPU machine lacks, to carry there with the device tool:
# ../shared/device/make-sysroot.sh's set (TBB, Spectra, CLI11, toml++, nlohmann-json, pugixml, fmt)
# plus libzip, libpng and libmatio (with its HDF5), with pkg-config files made relocatable.
#   usage: scripts/device-sysroot.sh [DEST]     (default .device-sysroot, ignored by git)
# Then, on the GPU machine (see README, CUDA):
#   cmake -DCMAKE_PREFIX_PATH="$(python3 -c 'import torch;print(torch.utils.cmake_prefix_path)');$PWD/DEST/usr" ...
#   export PKG_CONFIG_PATH=$PWD/DEST/usr/lib/x86_64-linux-gnu/pkgconfig LD_LIBRARY_PATH=$PWD/DEST/usr/lib/x86_64-linux-gnu
set -euo pipefail
cd "$(dirname "$0")/.."
dest=$(realpath -m "${1:-.device-sysroot}")
bash ../shared/device/make-sysroot.sh "$dest"
tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT
( cd "$tmp" && apt-get download libzip4 libzip-dev libpng-dev libpng16-16 libmatio-dev libmatio11 libhdf5-103-1 libsz2 libaec0 >/dev/null )
for d in "$tmp"/*.deb; do dpkg-deb -x "$d" "$dest"; done
# prefix=/usr -> the folder the .pc file sits in, wherever the sysroot lands.
for pc in "$dest"/usr/lib/x86_64-linux-gnu/pkgconfig/*.pc; do
  sed -i 's|^prefix=/usr$|prefix=${pcfiledir}/../../..|' "$pc"
done
for pc in "$dest"/usr/share/pkgconfig/*.pc; do
  sed -i 's|^prefix=/usr$|prefix=${pcfiledir}/../..|' "$pc"
done
rm -rf "$dest/usr/share/doc" "$dest/usr/share/man"
du -sh "$dest"
