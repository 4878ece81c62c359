// Precompiled for every target that includes torch (cmake/Pch.cmake).
#pragma once
#include <torch/torch.h>
#include <string>
#include <vector>
#include <map>
#include <memory>
#include <functional>
