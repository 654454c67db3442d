//===- Trainer.h - Pieces of adj_rt_train ---------------------------------===//
///
/// \file
/// The parts adj_rt_train() is assembled from, shared between Data.cpp
/// (loading and validating a model's data), Report.cpp (console lines and the
/// JSON report) and Train.cpp (buffers, the training loop and evaluation).
///
//===----------------------------------------------------------------------===//
#ifndef ADJOINT_RUNTIME_TRAINER_H
#define ADJOINT_RUNTIME_TRAINER_H

#include "runtime/Internal.h"

#include <optional>
#include <utility>
#include <vector>

namespace adj::rt {

/// All samples of one input of one split: a [Samples, PerSample] row-major
/// array of DType.
struct InputData {
  std::string Name;
  std::string Path;
  adj_rt_dtype DType = ADJ_RT_F32;
  int64_t PerSample = 0; ///< elements per sample
  int64_t Samples = 0;
  std::unique_ptr<void, FreeDeleter> Data;

  size_t rowBytes() const { return size_t(PerSample) * dtypeSize(DType); }
  const unsigned char *rows() const {
    return static_cast<const unsigned char *>(Data.get());
  }
};

/// The inputs of one split; every input has the same number of samples.
struct Split {
  std::vector<InputData> Inputs;
  int64_t Samples = 0;

  bool empty() const { return Inputs.empty(); }
  const InputData *find(const char *name) const;
};

struct DataSet {
  Split Train, Test;
};

/// The declared (batched) input of the model named `name`: the train_step's
/// argument, else the eval_step's; null when neither function has it.
const adj_rt_value_desc *findInputDesc(const adj_rt_model &m, const char *name);

/// Loads and validates the model's data: declared vs file shapes, sample
/// counts, label ranges. Skips the train split when `evalOnly`.
int loadData(const adj_rt_model &m, bool evalOnly, DataSet &out);

/// A parameter or optimizer-state tensor, double-buffered: a step function
/// reads the current value and writes the next one into the other buffer
/// (results never alias arguments); commit() swaps them.
struct Slot {
  std::string Name;
  adj_rt_dtype DType = ADJ_RT_F32;
  int Rank = 0;
  int64_t Dims[8] = {};
  int64_t Count = 0;
  AlignedBuffer Buf[2];
  int Cur = 0;

  void *current() const { return Buf[Cur].data(); }
  void *next() const { return Buf[Cur ^ 1].data(); }
};

/// The tensors that persist across steps: the model's parameters (in the
/// model's order) and the optimizer state, looked up by name.
struct State {
  std::vector<std::unique_ptr<Slot>> Params, States;

  Slot *findParam(const char *name) const;
  Slot *findState(const char *name) const;
  int64_t paramValues() const;
};

/// One step function bound to its buffers: batch buffers for the inputs,
/// the slots for parameters and state, scalars for the hyperparameters and
/// result buffers. Reused for every batch.
class Step {
public:
  /// Binds `f` (named `what` in messages) to `split`'s inputs and `state`'s
  /// slots; creates zeroed slots for STATE arguments. `batch` is the largest
  /// batch passed to run().
  int bind(const adj_rt_function &f, const char *what, const Split &split,
           State &state, int64_t batch);
  /// Fails unless every result is a floating-point scalar (for eval_step,
  /// whose results are averaged).
  int requireScalarResults() const;
  /// Copies the rows order[start, start + n) of every input into the batch
  /// buffers; `order` null means the identity.
  void gather(const int64_t *order, int64_t start, int64_t n);
  /// Sets the "lr" and "step" hyperparameters.
  void setHyper(double lr, int64_t step);
  /// Calls the function on the gathered batch; returns its status.
  int32_t call(int64_t n);
  /// Makes the next values written by the last call current.
  void commit();
  /// Result `r` (a scalar) as a double.
  double result(int r) const;
  int numResults() const { return int(Results.size()); }
  const char *resultName(int r) const { return Fn->results[r].name; }
  int lossIndex() const { return Loss; }

private:
  struct Input {
    int Arg;
    const InputData *Data;
    AlignedBuffer Buf;
  };
  struct Hyper {
    int Arg;
    bool IsLr;
    adj_rt_dtype DType;
    AlignedBuffer Buf;
  };
  int bindArg(int i, const Split &split, State &state, int64_t batch);
  int bindResult(int r, int64_t batch);
  void refresh();

  const adj_rt_function *Fn = nullptr;
  const char *What = "";
  std::vector<void *> Args, Results;
  std::vector<Input> Inputs;
  std::vector<Hyper> Hypers;
  std::vector<std::pair<int, Slot *>> SlotArgs; // (arg, slot)
  std::vector<std::pair<int, Slot *>> Updates;  // (result, slot)
  std::vector<AlignedBuffer> ResultBufs;
  int Loss = -1;
};

/// What --report writes.
struct Report {
  int64_t Epochs = 0;
  int64_t Steps = 0;
  std::optional<double> TrainLoss, TestLoss;
  std::vector<std::pair<std::string, double>> Metrics;
  double SamplesPerSec = 0;
  double CompileSeconds = 0;
  double WallSeconds = 0;
  int64_t PeakRssBytes = 0;
};

/// Writes `r` as one JSON object, atomically (temporary file + rename).
int writeReport(const char *path, const Report &r);

/// The peak resident set size of this process in bytes.
int64_t peakRssBytes();

/// 203530 -> "203,530".
std::string groupDigits(int64_t v);

/// A loss or metric for the console: 4 decimals, or 4 significant digits in
/// scientific notation when that would print as 0.0000 or is very large.
std::string formatValue(double v);

} // namespace adj::rt

#endif // ADJOINT_RUNTIME_TRAINER_H
