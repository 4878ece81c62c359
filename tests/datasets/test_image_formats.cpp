// Image dataset loaders on files in the real formats, written here (CIFAR bytes, IDX, JPEG/PNG trees,
// VOC XML, COCO JSON), their malformed variants, and the real samples in ../shared/data.
#include <opencv2/imgcodecs.hpp>

#include <filesystem>
#include <cstdint>
#include <fstream>
#include <vector>

#include "pesuite/datasets/cifar.h"
#include "pesuite/datasets/formats.h"
#include "pesuite/datasets/image_record.h"
#include "pesuite/core/error.h"
#include "pesuite/imageio/decode.h"
#include "pesuite/imageio/inspect.h"
#include "test_util.h"

using namespace pesuite;
using pesuite::test::TempDir;
using pesuite::test::expect_input_error;
namespace fs = std::filesystem;

namespace {

void write(const std::string& path, const std::string& bytes) {
  fs::create_directories(fs::path(path).parent_path());
  std::ofstream(path, std::ios::binary) << bytes;
}

void write_image(const std::string& path, int w, int h, int value = 128) {
  fs::create_directories(fs::path(path).parent_path());
  ASSERT_TRUE(cv::imwrite(path, cv::Mat(h, w, CV_8UC3, cv::Scalar(value, value / 2, 255 - value))));
}


// One CIFAR record: label byte(s), then R, G, B planes; pixel k of channel c = (k + 50 * c + seed) % 256.
std::string cifar_record(std::vector<std::uint8_t> labels, int seed) {
  std::string r(labels.begin(), labels.end());
  for (int c = 0; c < 3; ++c)
    for (int k = 0; k < 1024; ++k) r.push_back(static_cast<char>((k + 50 * c + seed) % 256));
  return r;
}

std::string voc_xml(const std::string& objects, const std::string& size = "<width>64</width><height>48</height>") {
  return "<annotation><filename>img.jpg</filename><size>" + size + "<depth>3</depth></size>" + objects + "</annotation>";
}

std::string voc_object(const std::string& name, const std::string& xmin, const std::string& difficult = "0") {
  return "<object><name>" + name + "</name><truncated></truncated><difficult>" + difficult +
         "</difficult><bndbox><xmin>" + xmin + "</xmin><ymin>2</ymin><xmax>30.5</xmax><ymax>40</ymax></bndbox></object>";
}

}  // namespace

TEST(Cifar, Cifar10BatchesPlanarToHwcAndNames) {
  TempDir dir;
  for (int b = 1; b <= 5; ++b) write(dir / ("data_batch_" + std::to_string(b) + ".bin"), cifar_record({3}, b) + cifar_record({9}, 10 + b));
  write(dir / "test_batch.bin", cifar_record({1}, 0));
  write(dir / "batches.meta.txt", "airplane\nautomobile\nbird\ncat\ndeer\ndog\nfrog\nhorse\nship\ntruck\n\n");
  auto set = datasets::load_cifar_dataset(datasets::parse_spec("cifar10:" + dir.str()));
  ASSERT_EQ(set.images.sizes(), (std::vector<int64_t>{10, 32, 32, 3}));
  EXPECT_EQ(set.labels[0].item<int64_t>(), 3);
  EXPECT_EQ(set.labels[1].item<int64_t>(), 9);
  EXPECT_EQ(set.classes[3], "cat");
  // Record 0 of batch 1 (seed 1): pixel (row 0, col 5) = k 5: R 6, G 56, B 106.
  EXPECT_EQ(set.images[0][0][5][0].item<int>(), 6);
  EXPECT_EQ(set.images[0][0][5][1].item<int>(), 56);
  EXPECT_EQ(set.images[0][0][5][2].item<int>(), 106);
  auto test = datasets::load_cifar_dataset(datasets::parse_spec("cifar10:" + dir.str() + "?split=test"));
  EXPECT_EQ(test.images.size(0), 1);
  EXPECT_EQ(datasets::load_cifar_dataset(datasets::parse_spec("cifar10:" + dir.str() + "?limit=3")).images.size(0), 3);
  // A batch cut short is an error naming it.
  write(dir / "data_batch_4.bin", cifar_record({3}, 0).substr(0, 3000));
  expect_input_error([&] { datasets::load_cifar_dataset(datasets::parse_spec("cifar10:" + dir.str())); },
                     {"data_batch_4.bin", "3073-byte"});
}

TEST(Cifar, Cifar100FineAndCoarse) {
  TempDir dir;
  write(dir / "cifar-100-binary/train.bin", cifar_record({4, 77}, 0) + cifar_record({19, 99}, 1));
  const auto fine = datasets::load_cifar_dataset(datasets::parse_spec("cifar100:" + dir.str()));
  EXPECT_EQ(fine.classes.size(), 100u);
  EXPECT_EQ(fine.labels[1].item<int64_t>(), 99);
  const auto coarse = datasets::load_cifar_dataset(datasets::parse_spec("cifar100:" + dir.str() + "?labels=coarse"));
  EXPECT_EQ(coarse.classes.size(), 20u);
  EXPECT_EQ(coarse.labels[0].item<int64_t>(), 4);
  write(dir / "cifar-100-binary/test.bin", cifar_record({25, 1}, 0));  // coarse label 25 > 19
  expect_input_error([&] { datasets::load_cifar_dataset(datasets::parse_spec("cifar100:" + dir.str() + "?split=test&labels=coarse")); },
                     {"test.bin", "record 0", "label 25"});
}

TEST(Idx, WrongMagicNamesTheFile) {
  TempDir dir;
  write(dir / "train-images-idx3-ubyte", std::string("\x01\x02\x08\x03", 4) + std::string(12, '\0'));
  write(dir / "train-labels-idx1-ubyte", std::string("\x00\x00\x08\x01\x00\x00\x00\x00", 8));
  expect_input_error([&] { datasets::load_idx_dataset(datasets::parse_spec("idx:" + dir.str())); },
                     {"train-images-idx3-ubyte", "magic"});
}

TEST(ImageFolder, ClassesSortedAndDecodedSizes) {
  TempDir dir;
  write_image(dir / "train/zebra/1.jpg", 40, 30);
  write_image(dir / "train/ant/b.png", 20, 10);
  write_image(dir / "train/ant/a.JPG", 20, 10);
  write(dir / "train/ant/notes.txt", "not an image");
  const auto set = datasets::load_image_dataset(datasets::parse_spec("imagefolder:" + dir.str() + "?split=train"));
  ASSERT_EQ(set.classes, (std::vector<std::string>{"ant", "zebra"}));
  ASSERT_EQ(set.records.size(), 3u);
  EXPECT_EQ(set.records[0].label, 0);
  EXPECT_EQ(set.records[2].label, 1);
  datasets::InspectOptions items;
  items.items = true;
  const auto j = imageio::inspect_images(datasets::parse_spec("imagefolder:" + dir.str() + "?split=train"), items);
  EXPECT_EQ(j["images"], 3);
  EXPECT_EQ(j["images_per_class"]["ant"], 2);
  EXPECT_EQ(j["items"][2]["width"], 40);
  EXPECT_EQ(j["image_sizes"]["most_common"]["20x10"], 2);
}

TEST(Voc, ParsesFloatsEmptyFieldsAndVocClassOrder) {
  TempDir dir;
  write(dir / "Annotations/a.xml", voc_xml(voc_object("dog", "10.5") + voc_object("cat", "3", "1")));
  write(dir / "Annotations/b.xml", voc_xml(voc_object("person", "1", ""), "<width></width><height></height>"));
  write(dir / "ImageSets/Main/train.txt", "a\nb\n");
  write_image(dir / "JPEGImages/a.jpg", 64, 48);
  write_image(dir / "JPEGImages/b.jpg", 64, 48);
  const auto set = datasets::load_image_dataset(datasets::parse_spec("voc:" + dir.str()));
  ASSERT_EQ(set.classes.size(), 20u);  // all names are VOC classes: the devkit's 20 in its order
  ASSERT_EQ(set.records.size(), 2u);
  ASSERT_EQ(set.records[0].boxes.size(), 2u);
  const auto& dog = set.records[0].boxes[0];
  EXPECT_EQ(set.classes[dog.label], "dog");
  EXPECT_EQ(dog.label, 11);
  EXPECT_DOUBLE_EQ(dog.x1, 10.5);
  EXPECT_DOUBLE_EQ(dog.x2, 30.5);
  EXPECT_TRUE(set.records[0].boxes[1].difficult);
  EXPECT_FALSE(set.records[1].boxes[0].difficult);  // empty <difficult> = 0
  EXPECT_EQ(set.records[1].width, 0);               // empty <width>: unknown until decoded
  const auto easy = datasets::load_image_dataset(datasets::parse_spec("voc:" + dir.str() + "?difficult=0"));
  EXPECT_EQ(easy.records[0].boxes.size(), 1u);
  const auto j = imageio::inspect_images(datasets::parse_spec("voc:" + dir.str()), {});
  EXPECT_EQ(j["objects"], 3);
  EXPECT_EQ(j["objects_per_class"]["dog"], 1);
  EXPECT_EQ(j["image_sizes"]["most_common"]["64x48"], 2);
  // Other names: sorted, or as given by classes=.
  write(dir / "Annotations/a.xml", voc_xml(voc_object("WBC", "1") + voc_object("RBC", "1")));
  EXPECT_EQ(datasets::load_image_dataset(datasets::parse_spec("voc:" + dir.str() + "?split=all")).classes,
            (std::vector<std::string>{"RBC", "WBC", "person"}));
}

TEST(Voc, MalformedAnnotationsNameFileAndElement) {
  TempDir dir;
  write(dir / "ImageSets/Main/train.txt", "x\n");
  write(dir / "Annotations/x.xml", voc_xml("<object><name>dog</name></object>"));
  expect_input_error([&] { datasets::load_image_dataset(datasets::parse_spec("voc:" + dir.str())); },
                     {"x.xml", "<object> 1 (dog)", "no <bndbox>"});
  write(dir / "Annotations/x.xml", voc_xml(voc_object("dog", "1") + voc_object("cat", "abc")));
  expect_input_error([&] { datasets::load_image_dataset(datasets::parse_spec("voc:" + dir.str())); },
                     {"x.xml", "<object> 2 (cat)", "<xmin> 'abc'"});
  write(dir / "Annotations/x.xml", "<annotation><object>");
  expect_input_error([&] { datasets::load_image_dataset(datasets::parse_spec("voc:" + dir.str())); }, {"x.xml", "XML error"});
  write(dir / "ImageSets/Main/train.txt", "missing\n");
  expect_input_error([&] { datasets::load_image_dataset(datasets::parse_spec("voc:" + dir.str())); }, {"missing.xml"});
}

TEST(Coco, NonContiguousCategoriesAndBoxes) {
  TempDir dir;
  const std::string json = R"({"images": [{"id": 7, "file_name": "b.jpg", "width": 32, "height": 16},
                                          {"id": 3, "file_name": "a.jpg", "width": 64, "height": 48}],
    "annotations": [{"id": 1, "image_id": 3, "category_id": 90, "bbox": [1.5, 2, 10, 20], "iscrowd": 0},
                    {"id": 2, "image_id": 3, "category_id": 1, "bbox": [0, 0, 5, 5], "iscrowd": 1},
                    {"id": 3, "image_id": 7, "category_id": 5, "bbox": [4, 4, 8, 8], "iscrowd": 0}],
    "categories": [{"id": 90, "name": "toothbrush"}, {"id": 1, "name": "person"}, {"id": 5, "name": "airplane"}]})";
  write(dir / "annotations/instances_val.json", json);
  write_image(dir / "val/a.jpg", 64, 48);
  write_image(dir / "val/b.jpg", 32, 16);
  // images= is found by name: instances_val.json -> ../val
  const auto set = datasets::load_image_dataset(datasets::parse_spec("coco:" + (dir / "annotations/instances_val.json")));
  ASSERT_EQ(set.classes, (std::vector<std::string>{"person", "airplane", "toothbrush"}));
  ASSERT_EQ(set.records.size(), 2u);
  EXPECT_EQ(set.records[0].id, "3");  // sorted by image id
  ASSERT_EQ(set.records[0].boxes.size(), 2u);
  const auto& b = set.records[0].boxes[0];
  EXPECT_EQ(b.label, 2);
  EXPECT_DOUBLE_EQ(b.x1, 1.5);
  EXPECT_DOUBLE_EQ(b.x2, 11.5);
  EXPECT_DOUBLE_EQ(b.y2, 22);
  EXPECT_TRUE(set.records[0].boxes[1].crowd);
  EXPECT_EQ(datasets::load_image_dataset(datasets::parse_spec("coco:" + (dir / "annotations/instances_val.json") + "?crowd=0"))
                .records[0].boxes.size(), 1u);
  const auto j = imageio::inspect_images(
      datasets::parse_spec("coco:" + (dir / "annotations/instances_val.json") + "?images=" + (dir / "val")), {});
  EXPECT_EQ(j["objects"], 3);
  EXPECT_EQ(j["crowd"], 1);
  EXPECT_FALSE(j.contains("size_mismatch"));
}

TEST(Coco, MissingImageIdAndNegativeSizeNameTheAnnotation) {
  TempDir dir;
  const std::string head = R"({"images": [{"id": 1, "file_name": "a.jpg", "width": 8, "height": 8}], "categories": [{"id": 1, "name": "x"}], )";
  write(dir / "a.json", head + R"("annotations": [{"id": 5, "image_id": 1, "category_id": 1, "bbox": [0,0,1,1]},
                                                  {"id": 6, "image_id": 2, "category_id": 1, "bbox": [0,0,1,1]}]})");
  expect_input_error([&] { datasets::load_image_dataset(datasets::parse_spec("coco:" + (dir / "a.json"))); },
                     {"a.json", "annotations[1]", "id 6", "image_id 2"});
  write(dir / "a.json", head + R"("annotations": [{"id": 5, "image_id": 1, "category_id": 1, "bbox": [0,0,-1,1]}]})");
  expect_input_error([&] { datasets::load_image_dataset(datasets::parse_spec("coco:" + (dir / "a.json"))); },
                     {"a.json", "annotations[0]", "negative"});
  write(dir / "a.json", R"({"images": [{"id": 1, "file_name": "a.jpg", "width": -8, "height": 8}], "categories": [], "annotations": []})");
  expect_input_error([&] { datasets::load_image_dataset(datasets::parse_spec("coco:" + (dir / "a.json"))); },
                     {"a.json", "images[0]", "negative"});
  write(dir / "a.json", R"({"images": [)");
  expect_input_error([&] { datasets::load_image_dataset(datasets::parse_spec("coco:" + (dir / "a.json"))); }, {"a.json", "JSON"});
}

TEST(Decode, TruncatedAndCorruptImagesAreInputErrors) {
  TempDir dir;
  write_image(dir / "JPEGImages/ok.jpg", 64, 48);
  const std::string full = pesuite::core::read_file(dir / "JPEGImages/ok.jpg");
  write(dir / "JPEGImages/cut.jpg", full.substr(0, full.size() / 2));
  write(dir / "JPEGImages/junk.png", "\x89PNG\r\n\x1a\n but nothing else");
  EXPECT_EQ(imageio::decode_image(dir / "JPEGImages/ok.jpg").size(), cv::Size(64, 48));
  expect_input_error([&] { imageio::decode_image(dir / "JPEGImages/cut.jpg"); }, {"cut.jpg", "truncated"});
  expect_input_error([&] { imageio::decode_image(dir / "JPEGImages/junk.png"); }, {"junk.png", "cannot decode"});
  expect_input_error([&] { imageio::decode_image(dir / "JPEGImages/none.jpg"); }, {"none.jpg"});
  // Through inspect: an error naming the file, or a counted warning with --skip-bad.
  write(dir / "ImageSets/Main/train.txt", "ok\ncut\n");
  write(dir / "Annotations/ok.xml", voc_xml(voc_object("dog", "1")));
  write(dir / "Annotations/cut.xml", voc_xml(voc_object("dog", "1")));
  const auto spec = datasets::parse_spec("voc:" + dir.str());
  expect_input_error([&] { imageio::inspect_images(spec, {}); }, {"cut.jpg"});
  datasets::InspectOptions skip;
  skip.skip_bad = true;
  const auto j = imageio::inspect_images(spec, skip);
  EXPECT_EQ(j["images"], 1);
  EXPECT_EQ(j["bad_images"], 1);
}

TEST(Cli, DataInspectJsonItemsAndExitCode2) {
  TempDir dir;
  write(dir / "Annotations/a.xml", voc_xml(voc_object("dog", "4")));
  write(dir / "ImageSets/Main/val.txt", "a\n");
  write_image(dir / "JPEGImages/a.jpg", 64, 48);
  auto r = test::run_cli("data inspect --json --items 'voc:" + dir.str() + "?split=val'");
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const auto j = nlohmann::json::parse(r.out);
  EXPECT_EQ(j["items"][0]["boxes"][0], nlohmann::json({4, 2, 30.5, 40, 11}));
  EXPECT_EQ(j["items"][0]["width"], 64);
  write(dir / "JPEGImages/a.jpg", "garbage");
  r = test::run_cli("data inspect 'voc:" + dir.str() + "?split=val'");
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_NE(r.err.find("a.jpg"), std::string::npos) << r.err;
  r = test::run_cli("data inspect --skip-bad 'voc:" + dir.str() + "?split=val'");
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.err.find("warning"), std::string::npos);
}

TEST(Samples, VocBccd) {
  const std::string root = test::sample_data("voc-bccd");
  PESUITE_SKIP_WITHOUT_SAMPLE(root, "voc-bccd/");
  const auto set = datasets::load_image_dataset(datasets::parse_spec("voc:" + root + "?split=all"));
  EXPECT_EQ(set.records.size(), 364u);
  std::size_t boxes = 0;
  for (const auto& r : set.records) boxes += r.boxes.size();
  EXPECT_EQ(boxes, 4888u);
  EXPECT_EQ(set.classes, (std::vector<std::string>{"Platelets", "RBC", "WBC"}));
  const auto j = imageio::inspect_images(datasets::parse_spec("voc:" + root + "?split=trainval"), {});
  EXPECT_EQ(j["images"].get<int>() + imageio::inspect_images(datasets::parse_spec("voc:" + root + "?split=test"), {})["images"].get<int>(), 364);
}

TEST(Samples, CocoTiny) {
  const std::string root = test::sample_data("coco-tiny");
  PESUITE_SKIP_WITHOUT_SAMPLE(root, "coco-tiny/");
  const auto spec = datasets::parse_spec("coco:" + root + "/instances_train2017_small.json?images=" + root + "/train_2017_small");
  const auto j = imageio::inspect_images(spec, {});
  EXPECT_EQ(j["images"], 16);
  EXPECT_EQ(j["objects"], 197);
  EXPECT_EQ(j["classes"], 80);
  EXPECT_FALSE(j.contains("size_mismatch"));
}

// Annotations (COCO, VOC, 300W-LP, AFLW2000) are in the stored pixels' frame, and PIL's
// Image.open (torchvision's loader, Hopenet's) does not apply an EXIF orientation: neither does
// decode_image. The JPEG below carries orientation 6 ("rotate 90 degrees clockwise to view"), which
// cv::IMREAD_COLOR alone would apply, turning 40 x 20 into 20 x 40.
TEST(Decode, ExifOrientationIsNotApplied) {
  cv::Mat img(20, 40, CV_8UC3, cv::Scalar(0, 0, 0));
  img(cv::Rect(0, 0, 10, 20)).setTo(cv::Scalar(255, 255, 255));  // a white left edge
  std::vector<std::uint8_t> jpeg;
  ASSERT_TRUE(cv::imencode(".jpg", img, jpeg, {cv::IMWRITE_JPEG_QUALITY, 100}));
  // APP1 "Exif": a little-endian TIFF header and one IFD entry, Orientation (0x0112, SHORT) = 6.
  const std::vector<std::uint8_t> app1 = {0xFF, 0xE1, 0x00, 0x22, 'E', 'x', 'i', 'f', 0, 0,
                                          'I', 'I', 0x2A, 0x00, 0x08, 0x00, 0x00, 0x00,  // TIFF header, IFD at 8
                                          0x01, 0x00,                                    // 1 entry
                                          0x12, 0x01, 0x03, 0x00, 0x01, 0x00, 0x00, 0x00, 0x06, 0x00, 0x00, 0x00,
                                          0x00, 0x00, 0x00, 0x00};                       // no next IFD
  ASSERT_EQ(app1.size(), 2u + 0x22u);
  jpeg.insert(jpeg.begin() + 2, app1.begin(), app1.end());  // right after SOI
  const std::string bytes(jpeg.begin(), jpeg.end());
  // The tag is real: OpenCV's own orientation-applying read turns the image.
  const cv::Mat turned = cv::imdecode(cv::Mat(1, static_cast<int>(jpeg.size()), CV_8U, jpeg.data()), cv::IMREAD_COLOR);
  ASSERT_EQ(turned.size(), cv::Size(20, 40));
  const cv::Mat rgb = imageio::decode_image_bytes(bytes, "exif.jpg");
  ASSERT_EQ(rgb.size(), cv::Size(40, 20));
  EXPECT_GT(rgb.at<cv::Vec3b>(10, 2)[0], 200);  // the white edge is still on the left
  EXPECT_LT(rgb.at<cv::Vec3b>(10, 37)[0], 50);
}
