//===- Frontend.h - Model files in, forward IR and a spec out ---*- C++ -*-===//
///
/// The frontend's one entry point: lex, parse and check a model file (model
/// language v1, see docs/language.md), inline its functions and lower it to a
/// module holding one function, `forward`, whose arguments are the model's
/// inputs (role Input) then its parameters (role Param, frozen ones marked)
/// and whose results are `loss` followed by each metric by name. Everything
/// the IR does not hold — initialisers, the train { } and data { } blocks,
/// label ranges — is returned in a ModelSpec. The spec's initialisers, data
/// formats and schedules are the frontend's own enums (the frontend does not
/// depend on the runtime); tools/engine/Describe.cpp maps them to the
/// runtime's adj_rt_* values.
///
/// Errors are reported through the DiagEngine as
/// `file:line:col: error: message`, the source line and a caret; several
/// errors are reported in one run where recovery is easy.
///
//===----------------------------------------------------------------------===//
#ifndef ADJ_FRONTEND_FRONTEND_H
#define ADJ_FRONTEND_FRONTEND_H

#include "frontend/Diagnostics.h"
#include "ir/IR.h"
#include "ir/OptimizerSpec.h"

#include <map>
#include <memory>
#include <string>
#include <vector>

namespace adj {

/// A parameter's initialiser (`w = param [784, 256] = he_normal`).
enum class InitKind {
  Zeros,
  Ones,
  Constant, ///< A = value
  Normal,   ///< A = mean, B = std
  Uniform,  ///< A = lo, B = hi
  GlorotUniform,
  GlorotNormal,
  HeNormal,
  HeUniform,
  KaimingUniform, ///< U(-1/sqrt(fan_in), 1/sqrt(fan_in)): nn.Linear's weight
  UniformFanIn,   ///< the same bound, fan_in of the weight a bias is used with
  Pretrained      ///< ParamSpec::Tensor of the safetensors file ParamSpec::File
};

/// Whether \p K reads fan-in or fan-out (ParamSpec::FanIn/FanOut).
inline bool usesFans(InitKind K) {
  return K >= InitKind::GlorotUniform && K != InitKind::Pretrained;
}

/// A data source's file format (`data { train x = idx("...") }`).
enum class DataFormat { Idx, Npy, Csv, Text };

/// A learning-rate schedule (`schedule = cosine(t_max = 1000)`).
enum class ScheduleKind {
  Constant, ///< lr
  Step,     ///< lr * gamma^floor(t / step_size) (StepLR)
  Cosine    ///< cosine annealing to eta_min over t_max steps
};

struct ScheduleSpec {
  ScheduleKind Kind = ScheduleKind::Constant;
  int64_t StepSize = 0; ///< step: positive
  double Gamma = 0;     ///< step: positive
  int64_t TMax = 0;     ///< cosine: positive, or 0 for the run's last step
  double EtaMin = 0;    ///< cosine: non-negative
};

struct ParamSpec {
  std::string Name;
  TensorType Type;
  InitKind Init = InitKind::Zeros;
  double A = 0, B = 0; ///< constant(v): A; normal(mean, std); uniform(lo, hi)
  /// Fans of the fan-based initialisers: `fan_in = K` / `fan_out = K`, else
  /// from the parameter's first use (docs/language.md, "Fan-in and
  /// fan-out"); 0 leaves them to the runtime, which computes them from the
  /// shape.
  int64_t FanIn = 0, FanOut = 0;
  /// pretrained(file, tensor): the file (relative to the model file's
  /// directory, or absolute) and the tensor's name in it.
  std::string File, Tensor;
  bool Frozen = false;
  /// Declared with `buffer`: model state updated by the training-mode
  /// function (batch norm's running statistics), not by the optimizer.
  bool Buffer = false;
  Loc L;
  Loc InitLoc; ///< The initialiser.
};

struct DataSpec {
  std::string Split; ///< "train" or "test"
  std::string Input; ///< an input's name
  DataFormat Format = DataFormat::Idx;
  std::string Path; ///< resolved against the model file's directory
  double Scale = 1;
  std::vector<int64_t> Columns; ///< csv: the columns to read (all when empty)
  bool Header = false;          ///< csv: the first line is a header
  /// text: windows of Seq bytes, window k from byte k * Seq + Offset, of
  /// the fraction [Start, End) of the file.
  int64_t Seq = 0, Offset = 0;
  double Start = 0, End = 1;
  Loc L;
};

struct TrainSpec {
  OptimizerSpec Optimizer;
  int64_t Batch = 32;
  double ClipNorm = 0; ///< global gradient-norm clipping; 0: off
  int64_t Epochs = 1;
  uint64_t Seed = 0;
  /// Learning-rate schedule (`schedule = cosine(t_max = 1000)`); t_max 0:
  /// the run's number of steps.
  ScheduleSpec Schedule;
  int64_t Warmup = 0; ///< steps of linear warm-up; 0: none
  /// Learning-rate multipliers other than 1, by parameter: `lr_mult = X`
  /// on the param, else the first glob of the train block's
  /// `lr_mult = {"conv*": X}` that matches its name.
  std::map<std::string, double> LrMult;
};

/// An i32 input used as class labels of a [..., Classes] tensor, or as ids
/// in [0, Classes) of the op named What (embedding, one_hot).
struct LabelSpec {
  std::string Input;
  int64_t Classes;
  Loc L;
  std::string What; ///< empty: class labels
};

struct ModelSpec {
  std::string Name;          ///< `model NAME`, else the file's stem
  std::string Path;          ///< the model file
  std::unique_ptr<Module> M; ///< holds `forward`
  std::vector<ParamSpec> Params;
  std::vector<DataSpec> Data;
  std::vector<LabelSpec> Labels;
  std::vector<std::string> Metrics; ///< metric names, in order
  TrainSpec Train;
  /// `output NAME` ("": the loss's first argument).
  std::string Output;
  /// @predict: the output in evaluation mode from the inputs it needs and
  /// the parameters; null when the output has no batch dim first.
  std::unique_ptr<Module> Predict;

  /// A deep copy (the module is cloned).
  std::unique_ptr<ModelSpec> clone() const {
    auto C = std::make_unique<ModelSpec>();
    C->Name = Name;
    C->Path = Path;
    C->M = M ? M->clone() : nullptr;
    C->Params = Params;
    C->Data = Data;
    C->Labels = Labels;
    C->Metrics = Metrics;
    C->Train = Train;
    C->Output = Output;
    C->Predict = Predict ? Predict->clone() : nullptr;
    return C;
  }
};

/// Parses and lowers \p Source (named \p Path in diagnostics). Returns null
/// after reporting errors to \p Diags.
std::unique_ptr<ModelSpec> compileModelSource(const std::string &Path,
                                              const std::string &Source,
                                              DiagEngine &Diags);
/// Reads \p Path and compiles it; a missing file is reported too.
std::unique_ptr<ModelSpec> compileModelFile(const std::string &Path,
                                            DiagEngine &Diags);

/// Prints the parsed AST of \p Source (for `adjc --emit=ast`); false after
/// reporting parse errors.
bool dumpAST(const std::string &Path, const std::string &Source,
             DiagEngine &Diags, std::string &Out);

} // namespace adj

#endif
