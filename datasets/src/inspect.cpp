#include "pesuite/datasets/inspect.h"

#include "pesuite/datasets/formats.h"

#include <sstream>

namespace pesuite::datasets {

nlohmann::json inspect(const DatasetSpec& spec, const InspectOptions& options) {
  const Format& f = spec.info();
  nlohmann::json summary = f.inspect ? f.inspect(spec, options)
                                     : f.load_graphs ? inspect_graph_dataset(spec, options) : inspect_image_dataset(spec, options);
  summary["spec"] = spec.text;
  summary["format"] = spec.format;
  return summary;
}

// Flat "key: value" lines; nested objects are indented, long arrays (items) summarised.
static void print_json(std::ostream& out, const nlohmann::json& j, int indent) {
  for (auto it = j.begin(); it != j.end(); ++it) {
    out << std::string(indent, ' ') << it.key() << ":";
    if (it->is_object()) {
      out << "\n";
      print_json(out, *it, indent + 2);
    } else if (it->is_array() && it->size() > 12) {
      out << " [" << it->size() << " entries; use --json to see them]\n";
    } else {
      out << " " << (it->is_string() ? it->get<std::string>() : it->dump()) << "\n";
    }
  }
}

std::string inspect_text(const nlohmann::json& summary) {
  std::ostringstream out;
  print_json(out, summary, 0);
  return out.str();
}

}  // namespace pesuite::datasets
