/**
 * MindIR inference over a folder of .bin inputs with the MindSpore C++ API (Ascend 310/910, GPU, CPU).
 *
 *   main --mindir_path model.mindir --input_path ./preprocess_Result/00_data [--device_target Ascend]
 *        [--device_id 0] [--output_path .] [--input_shape 1,3,64,224,224]
 *
 * Every `.bin` of the input folder (raw float32 in C order, one batch per file, as written by
 * ndarray.tofile) is fed to the model in name order. A model with several inputs takes several
 * comma-separated folders, one per input, whose files pair up in name order. Output k of input file
 * `name.bin` goes to `<output_path>/result_Files/name_k.bin`; the mean Predict latency goes to
 * `<output_path>/time_Result/test_perform_static.txt`. `--input_shape` resizes the inputs first
 * (shapes of several inputs separated by ':').
 */
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <iostream>
#include <map>
#include <memory>
#include <sstream>
#include <stdexcept>
#include <string>
#include <vector>

#include "include/api/context.h"
#include "include/api/model.h"
#include "include/api/serialization.h"
#include "include/api/types.h"
#include "utils.h"

namespace {

const char kUsage[] =
    "Usage: main --mindir_path FILE --input_path DIR[,DIR...] [--device_target Ascend|GPU|CPU]\n"
    "            [--device_id N] [--output_path DIR] [--input_shape D0,D1,...[:D0,D1,...]]\n";

struct Options {
  std::string mindir_path;
  std::string input_path;
  std::string input_shape;
  std::string device_target = "Ascend";
  std::string output_path = ".";
  uint32_t device_id = 0;
};

// Accepts `--key value` and `--key=value`; unknown keys are errors.
Options ParseOptions(int argc, char **argv) {
  std::map<std::string, std::string> values;
  for (int i = 1; i < argc; ++i) {
    std::string arg = argv[i];
    if (arg == "--help" || arg == "-h") {
      std::cout << kUsage;
      std::exit(0);
    }
    if (arg.rfind("--", 0) != 0) {
      throw std::invalid_argument("unexpected argument '" + arg + "'\n" + kUsage);
    }
    const size_t equals = arg.find('=');
    if (equals != std::string::npos) {
      values[arg.substr(2, equals - 2)] = arg.substr(equals + 1);
    } else if (i + 1 < argc) {
      values[arg.substr(2)] = argv[++i];
    } else {
      throw std::invalid_argument("missing value after " + arg);
    }
  }
  Options options;
  const std::map<std::string, std::string *> text_options = {
      {"mindir_path", &options.mindir_path},     {"input_path", &options.input_path},
      {"input_shape", &options.input_shape},     {"device_target", &options.device_target},
      {"output_path", &options.output_path}};
  for (const auto &[key, value] : values) {
    if (key == "device_id") {
      try {
        options.device_id = static_cast<uint32_t>(std::stoul(value));
      } catch (const std::exception &) {
        throw std::invalid_argument("--device_id must be a non-negative integer, got '" + value + "'");
      }
    } else if (text_options.count(key) != 0) {
      *text_options.at(key) = value;
    } else {
      throw std::invalid_argument("unknown option --" + key + "\n" + kUsage);
    }
  }
  if (options.mindir_path.empty() || options.input_path.empty()) {
    throw std::invalid_argument(std::string("--mindir_path and --input_path are required\n") + kUsage);
  }
  return options;
}

std::shared_ptr<mindspore::Context> MakeContext(const std::string &target, uint32_t device_id) {
  auto context = std::make_shared<mindspore::Context>();
  if (target == "Ascend" || target == "Ascend310") {
    // Ascend310DeviceInfo is the 1.x name; 2.x keeps it as an alias of AscendDeviceInfo.
    auto info = std::make_shared<mindspore::Ascend310DeviceInfo>();
    info->SetDeviceID(device_id);
    context->MutableDeviceInfo().push_back(info);
  } else if (target == "GPU") {
    auto info = std::make_shared<mindspore::GPUDeviceInfo>();
    info->SetDeviceID(device_id);
    context->MutableDeviceInfo().push_back(info);
  } else if (target == "CPU") {
    context->MutableDeviceInfo().push_back(std::make_shared<mindspore::CPUDeviceInfo>());
  } else {
    throw std::invalid_argument("--device_target must be Ascend, GPU or CPU, got '" + target + "'");
  }
  return context;
}

void Check(const mindspore::Status &status, const std::string &what) {
  if (status != mindspore::kSuccess) {
    throw std::runtime_error(what + " failed: " + status.ToString());
  }
}

std::string ShapeText(const std::vector<int64_t> &shape) {
  std::ostringstream text;
  text << "(";
  for (size_t i = 0; i < shape.size(); ++i) {
    text << (i ? ", " : "") << shape[i];
  }
  text << ")";
  return text.str();
}

std::vector<std::vector<int64_t>> ParseShapes(const std::string &text) {
  std::vector<std::vector<int64_t>> shapes;
  for (const auto &one : infer::Split(text, ':')) {
    std::vector<int64_t> shape;
    for (const auto &dim : infer::Split(one, ',')) {
      try {
        shape.push_back(std::stoll(dim));
      } catch (const std::exception &) {
        throw std::invalid_argument("--input_shape: '" + dim + "' is not a dimension in '" + text + "'");
      }
    }
    shapes.push_back(shape);
  }
  return shapes;
}

// The .bin files of every input folder; all folders must hold the same number of files.
std::vector<std::vector<std::string>> ListInputs(const std::vector<std::string> &folders) {
  std::vector<std::vector<std::string>> files;
  for (const auto &folder : folders) {
    files.push_back(infer::ListFiles(folder, ".bin"));
    if (files.back().empty()) {
      throw std::runtime_error("no .bin file in " + folder);
    }
    if (files.back().size() != files.front().size()) {
      throw std::runtime_error(folder + " holds " + std::to_string(files.back().size()) + " .bin files but " +
                               folders.front() + " holds " + std::to_string(files.front().size()) +
                               "; the input folders must pair up file by file");
    }
  }
  return files;
}

int Run(const Options &options) {
  mindspore::Graph graph;
  Check(mindspore::Serialization::Load(options.mindir_path, mindspore::ModelType::kMindIR, &graph),
        "loading " + options.mindir_path);
  mindspore::Model model;
  Check(model.Build(mindspore::GraphCell(graph), MakeContext(options.device_target, options.device_id)),
        "building the model on " + options.device_target);

  std::vector<mindspore::MSTensor> model_inputs = model.GetInputs();
  if (!options.input_shape.empty()) {
    Check(model.Resize(model_inputs, ParseShapes(options.input_shape)), "resizing to " + options.input_shape);
    model_inputs = model.GetInputs();
  }
  const std::vector<std::string> folders = infer::Split(options.input_path, ',');
  if (folders.size() != model_inputs.size()) {
    throw std::runtime_error("the model has " + std::to_string(model_inputs.size()) + " input(s) but --input_path "
                             "names " + std::to_string(folders.size()) + " folder(s); give one folder per input");
  }
  const auto files = ListInputs(folders);

  const std::string result_dir = infer::JoinPath(options.output_path, "result_Files");
  const std::string time_dir = infer::JoinPath(options.output_path, "time_Result");
  infer::MakeDirectories(result_dir);
  infer::MakeDirectories(time_dir);

  double total_ms = 0.0;
  const size_t count = files.front().size();
  for (size_t index = 0; index < count; ++index) {
    std::vector<std::vector<char>> buffers;
    std::vector<mindspore::MSTensor> inputs;
    for (size_t input = 0; input < model_inputs.size(); ++input) {
      const std::string &path = files[input][index];
      buffers.push_back(infer::ReadFile(path));
      const auto &expected = model_inputs[input];
      if (buffers.back().size() != expected.DataSize()) {
        throw std::runtime_error(path + " holds " + std::to_string(buffers.back().size()) + " bytes but input " +
                                 std::to_string(input) + " '" + expected.Name() + "' of shape " +
                                 ShapeText(expected.Shape()) + " needs " + std::to_string(expected.DataSize()) +
                                 " bytes; export the .bin files with that shape (or pass --input_shape)");
      }
      inputs.emplace_back(expected.Name(), expected.DataType(), expected.Shape(), buffers.back().data(),
                          buffers.back().size());
    }
    std::cout << "predict " << files.front()[index] << std::endl;
    std::vector<mindspore::MSTensor> outputs;
    const auto start = std::chrono::steady_clock::now();
    Check(model.Predict(inputs, &outputs), "predicting " + files.front()[index]);
    total_ms += std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start).count();
    const std::string stem = infer::FileStem(files.front()[index]);
    for (size_t k = 0; k < outputs.size(); ++k) {
      infer::WriteFile(infer::JoinPath(result_dir, stem + "_" + std::to_string(k) + ".bin"),
                       outputs[k].Data().get(), outputs[k].DataSize());
    }
  }

  char line[128];
  std::snprintf(line, sizeof(line), "NN inference cost average time: %.3f ms of infer_count %zu\n",
                total_ms / static_cast<double>(count), count);
  const std::string report(line);
  infer::WriteFile(infer::JoinPath(time_dir, "test_perform_static.txt"), report.data(), report.size());
  std::cout << report;
  return 0;
}

}  // namespace

int main(int argc, char **argv) {
  try {
    return Run(ParseOptions(argc, argv));
  } catch (const std::exception &error) {
    std::cerr << "error: " << error.what() << std::endl;
    return 1;
  }
}
