#pragma once
// Helpers shared by the head-pose loaders (head_pose_mat.cpp, head_pose_biwi.cpp); not installed.
#include <cstddef>
#include <cstdint>
#include <functional>
#include <string>

#include "pesuite/datasets/head_pose.h"

namespace pesuite::datasets {

// The filter= key in degrees; 0 when empty (no filter). InputError for a non-positive number.
double head_pose_filter(const DatasetSpec& spec);
// An empty set of `format` read from the folder spec.path, with its source and filter= key:
// InputError "<path>: not a directory (<format>: takes <takes>)" when the folder is not there.
HeadPoseDataset head_pose_set(const DatasetSpec& spec, const std::string& format, const std::string& takes);
// Any |angle| above filter (filter 0: never).
bool outside_filter(const EulerAngles& a, double filter);
// Reads records 0..n-1 with read(i) in parallel blocks, in order: each is skipped (keep false),
// goes to set.dropped (angle filter) or is kept, until `limit` records are kept (0 = no limit). The
// first error in file order is rethrown, whatever thread met it.
void read_in_blocks(HeadPoseDataset& set, std::size_t n, std::int64_t limit,
                    const std::function<HeadPoseRecord(std::size_t)>& read,
                    const std::function<bool(const HeadPoseRecord&)>& keep);

}  // namespace pesuite::datasets
