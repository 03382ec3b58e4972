/**
 * A stand-in for libmindspore.so, for tests only: it implements the few API calls main.cc makes so
 * the program can be linked and run on machines without MindSpore's C++ library.
 *
 * The "MindIR" file is a text file with one line per model input holding its float32 shape
 * ("1,2,3"). The "model" returns two outputs: 2 * input 0, and the sum of every input's elements.
 */
#include <cstdint>
#include <fstream>
#include <functional>
#include <memory>
#include <numeric>
#include <sstream>
#include <string>
#include <vector>

#include "include/api/context.h"
#include "include/api/model.h"
#include "include/api/serialization.h"
#include "include/api/types.h"

namespace mindspore {

using Shapes = std::vector<std::vector<int64_t>>;

// ---- Status: a code and a message -------------------------------------------------------------
struct Status::Data {
  enum StatusCode code = kSuccess;
  std::vector<char> message;
};
Status::Status() : data_(std::make_shared<Data>()) {}
Status::Status(enum StatusCode status_code, const std::vector<char> &status_msg) : Status() {
  data_->code = status_code;
  data_->message = status_msg;
}
std::vector<char> Status::ToCString() const { return data_->message; }
bool Status::operator!=(enum StatusCode other_code) const { return data_->code != other_code; }

// ---- Context and device descriptions ----------------------------------------------------------
struct Context::Data {
  std::vector<std::shared_ptr<DeviceInfoContext>> devices;
};
Context::Context() : data_(std::make_shared<Data>()) {}
std::vector<std::shared_ptr<DeviceInfoContext>> &Context::MutableDeviceInfo() { return data_->devices; }
struct DeviceInfoContext::Data {
  uint32_t device_id = 0;
};
DeviceInfoContext::DeviceInfoContext() : data_(std::make_shared<Data>()) {}
void AscendDeviceInfo::SetDeviceID(uint32_t device_id) { data_->device_id = device_id; }
void GPUDeviceInfo::SetDeviceID(uint32_t device_id) { data_->device_id = device_id; }

// ---- Tensors: a name, a shape and owned float32 data ------------------------------------------
class MSTensor::Impl {
 public:
  std::vector<char> name;
  enum DataType type = DataType::kNumberTypeFloat32;
  std::vector<int64_t> shape;
  std::shared_ptr<std::vector<char>> bytes = std::make_shared<std::vector<char>>();
};
MSTensor::MSTensor() : impl_(std::make_shared<Impl>()) {}
MSTensor::MSTensor(const std::vector<char> &name, enum DataType type, const std::vector<int64_t> &shape,
                   const void *data, size_t data_len)
    : MSTensor() {
  impl_->name = name;
  impl_->type = type;
  impl_->shape = shape;
  const char *begin = static_cast<const char *>(data);
  if (begin == nullptr) {
    impl_->bytes->assign(data_len, 0);
  } else {
    impl_->bytes->assign(begin, begin + data_len);
  }
}
MSTensor::~MSTensor() = default;
std::vector<char> MSTensor::CharName() const { return impl_->name; }
enum DataType MSTensor::DataType() const { return impl_->type; }
const std::vector<int64_t> &MSTensor::Shape() const { return impl_->shape; }
size_t MSTensor::DataSize() const { return impl_->bytes->size(); }
std::shared_ptr<const void> MSTensor::Data() const {
  return std::shared_ptr<const void>(impl_->bytes, impl_->bytes->data());
}

namespace {
MSTensor ZeroTensor(const std::string &name, const std::vector<int64_t> &shape) {
  const int64_t count = std::accumulate(shape.begin(), shape.end(), int64_t{1}, std::multiplies<int64_t>());
  return MSTensor(name, DataType::kNumberTypeFloat32, shape, nullptr,
                  static_cast<size_t>(count) * sizeof(float));
}
const float *Floats(const MSTensor &tensor) { return static_cast<const float *>(tensor.Data().get()); }
}  // namespace

// ---- Graph: the input shapes read from the model file -----------------------------------------
class Graph::GraphData {
 public:
  Shapes shapes;
};
Graph::Graph() = default;
Graph::Graph(const std::shared_ptr<GraphData> &graph_data) : graph_data_(graph_data) {}
Graph::~Graph() = default;
GraphCell::GraphCell(const Graph &graph) : graph_(std::make_shared<Graph>(graph)) {}
Status GraphCell::Run(const std::vector<MSTensor> &, std::vector<MSTensor> *) { return kSuccess; }

Status Serialization::Load(const std::vector<char> &file, ModelType, Graph *graph, const Key &,
                           const std::vector<char> &) {
  std::ifstream stream(CharToString(file));
  if (!stream) {
    return Status(kMEInvalidInput, "cannot open model file " + CharToString(file));
  }
  auto data = std::make_shared<Graph::GraphData>();
  for (std::string line; std::getline(stream, line);) {
    std::vector<int64_t> shape;
    std::stringstream dims(line);
    for (std::string dim; std::getline(dims, dim, ',');) {
      shape.push_back(std::stoll(dim));
    }
    if (!shape.empty()) {
      data->shapes.push_back(shape);
    }
  }
  *graph = Graph(data);
  return kSuccess;
}

// ---- Model ------------------------------------------------------------------------------------
class ModelImpl {
 public:
  // ModelImpl is a friend of Graph, so it can read the shapes Load stored.
  static Shapes ShapesOf(const Graph &graph) { return graph.graph_data_->shapes; }
  Shapes shapes;
};
Model::Model() : impl_(std::make_shared<ModelImpl>()) {}
Model::~Model() = default;
Status Model::Build(GraphCell graph, const std::shared_ptr<Context> &model_context, const std::shared_ptr<TrainCfg> &) {
  if (model_context == nullptr || model_context->MutableDeviceInfo().size() != 1) {
    return Status(kMEInvalidInput, "expected one device description");
  }
  impl_->shapes = ModelImpl::ShapesOf(*graph.GetGraph());
  return kSuccess;
}
std::vector<MSTensor> Model::GetInputs() {
  std::vector<MSTensor> inputs;
  for (size_t i = 0; i < impl_->shapes.size(); ++i) {
    inputs.push_back(ZeroTensor("x" + std::to_string(i), impl_->shapes[i]));
  }
  return inputs;
}
Status Model::Resize(const std::vector<MSTensor> &, const std::vector<std::vector<int64_t>> &dims) {
  if (dims.size() != impl_->shapes.size()) {
    return Status(kMEInvalidInput, "one shape per input expected");
  }
  impl_->shapes = dims;
  return kSuccess;
}
Status Model::Predict(const std::vector<MSTensor> &inputs, std::vector<MSTensor> *outputs, const MSKernelCallBack &,
                      const MSKernelCallBack &) {
  MSTensor doubled = ZeroTensor("doubled", inputs[0].Shape());
  MSTensor total = ZeroTensor("total", {1});
  auto *doubled_data = static_cast<float *>(const_cast<void *>(doubled.Data().get()));
  auto *total_data = static_cast<float *>(const_cast<void *>(total.Data().get()));
  for (size_t i = 0; i < inputs[0].DataSize() / sizeof(float); ++i) {
    doubled_data[i] = 2.0f * Floats(inputs[0])[i];
  }
  for (const auto &input : inputs) {
    const float *values = Floats(input);
    *total_data += std::accumulate(values, values + input.DataSize() / sizeof(float), 0.0f);
  }
  *outputs = {doubled, total};
  return kSuccess;
}

}  // namespace mindspore
