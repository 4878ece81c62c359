# Sourced from the checkout's root by the GPU machine's scripts (scripts/gpu-check.sh,
# scripts/gpu/call.sh, scripts/gpu/vit-fast-check.sh): the carried sysroot of Debian libraries
# (scripts/device-sysroot.sh) on pkg-config's and the loader's paths, pip's LibTorch and the sysroot
# for CMake (configure steps and the consumer-package test), NCCL without NVLink multicast.
# Sets: sys (the sysroot folder), torch_prefix (LibTorch's CMake prefix), cuda_configure (the
# configure flags of every CUDA build here: cmake -S . -B DIR "${cuda_configure[@]}" [more -D...]).
sys=$PWD/.device-sysroot
torch_prefix=$(python3 -c 'import torch; print(torch.utils.cmake_prefix_path)')
export PKG_CONFIG_PATH=$sys/usr/lib/x86_64-linux-gnu/pkgconfig
export LD_LIBRARY_PATH=$sys/usr/lib/x86_64-linux-gnu${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}
export NCCL_NVLS_ENABLE=0 TORCH_SYMM_MEM_DISABLE_MULTICAST=1
export CMAKE_PREFIX_PATH="$torch_prefix;$sys/usr"
cuda_configure=(-G Ninja -DCMAKE_BUILD_TYPE=Release "-DCMAKE_PREFIX_PATH=$torch_prefix;$sys/usr"
                -DCMAKE_CUDA_ARCHITECTURES=90 -DTORCH_CUDA_ARCH_LIST=9.0)  # H100 / H200: sm_90
