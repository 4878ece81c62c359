// Pascal VOC annotations (datasets/src/voc.cpp, pugixml): the input is Annotations/x.xml.
#include "fuzz_util.h"
#include "pesuite/datasets/image_record.h"
#include "pesuite/datasets/spec.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* d, std::size_t n) {
  static const bool once = [] {
    pesuite::fuzz::write_file("voc/ImageSets/Main/train.txt", std::string("x\n"));
    pesuite::fuzz::write_file("voc/JPEGImages/x.jpg", std::string("not decoded here"));
    return true;
  }();
  (void)once;
  pesuite::fuzz::write_file("voc/Annotations/x.xml", d, n);
  pesuite::fuzz::expect_input_errors([&] {
    pesuite::datasets::load_voc(pesuite::datasets::parse_spec("voc:" + pesuite::fuzz::scratch() + "/voc?split=train"));
  });
  return 0;
}
