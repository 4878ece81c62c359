# Sourced from the checkout's root by the GPU machine's scripts (scripts/gpu-check.sh,
# scripts/gpu/call.sh, scripts/gpu/vit-fast-check.sh): the carried sysroot of Debian libraries
# (scripts/device-sysroot.sh) on pkg-config's and the loader's paths, pip's LibTorch and the sysroot
# for CMake (configure steps and the consumer-package test), NCCL without NVLink multicast.
# Sets: sys (the sysroot folder), torch_prefix (LibTorch's CMake prefix).
sys=$PWD/.device-sysroot
torch_prefix=$(python3 -c 'import torch; print(torch.utils.cmake_prefix_path)')
export PKG_CONFIG_PATH=$sys/usr/lib/x86_64-linux-gnu/pkgconfig
export LD_LIBRARY_PATH=$sys/usr/lib/x86_64-linux-gnu${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}
export NCCL_NVLS_ENABLE=0 TORCH_SYMM_MEM_DISABLE_MULTICAST=1
export CMAKE_PREFIX_PATH="$torch_prefix;$sys/usr"
