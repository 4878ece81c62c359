#pragma once
// Streamed image data (imagefolder:, voc:, coco:) for training and testing: pesuite::imageio's
// Loader decodes and augments each batch in parallel (TBB) while the previous ones train, with at
// most `prefetch` batches waiting. Training: random-resized-crop to img_size, flip, optional colour
// jitter, in the order of the Loader's seeded shuffle, augmentation drawn from SampleRng(seed,
// epoch, image index): batch k of an epoch is the same whatever the worker count and wherever a run
// resumed (the first k batches of the epoch are passed over without decoding). Testing: resize the
// shorter side to side / crop_pct, centre crop. Targets: the folder's class (imagefolder), or the
// set of object classes of the image (voc, coco; VOC objects all marked difficult make their class
// "ignore" (-1) for that image, as VOC's classification protocol does). Several ranks
// (core/distributed.h): each decodes only its share of every training batch (plus the partner rows
// when ImageDataOptions::mixes_rows; everything with skip_bad), the rest are placeholders.
//
//   auto data = open_streamed_image_data(datasets::parse_spec("voc:/data/VOC2012?split=train"),
//                                        ImageRole::Train, options);   // needs OpenCV
//   torch::Tensor t = image_level_targets(datasets::load_voc(spec));      // float [N, K]
#include <memory>

#include "pesuite/datasets/image_record.h"
#include "pesuite/vision/image_data.h"

namespace pesuite::vision {

// Multi-hot image-level targets of a detection set: 1 where a (non-difficult) object of the class
// is present, -1 where its only objects are difficult, 0 elsewhere.
torch::Tensor image_level_targets(const datasets::ImageDataset& set);

// Built only with OpenCV (pesuite::imageio); without it, an InputError saying so.
std::unique_ptr<ImageData> open_streamed_image_data(const datasets::DatasetSpec& spec, ImageRole role,
                                                    const ImageDataOptions& options);

}  // namespace pesuite::vision
