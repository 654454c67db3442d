//===- ConvertToF64.cpp - Every f32 value to f64 --------------------------===//
///
/// Retypes every f32 argument and op result to f64; i32 values (labels,
/// indices) stay. Ops take their element type from their result and
/// constants keep their values, so no op changes but its type, and the
/// verifier's shape and type rules hold as before. The engine runs it on
/// @forward before the pipeline with --dtype=f64 and for gradient checks;
/// `adj-opt -passes=convert-to-f64` runs it on textual IR.
///
//===----------------------------------------------------------------------===//
#include "passes/ConvertToF64.h"

namespace adj {

void convertToF64(Module &M) {
  for (auto &F : M.Functions) {
    for (auto &A : F->Args)
      if (A->Type.Elt == DType::F32)
        A->Type.Elt = DType::F64;
    for (auto &O : F->Ops)
      if (O->Result.Type.Elt == DType::F32)
        O->Result.Type.Elt = DType::F64;
  }
}

namespace {
class ConvertToF64Pass : public Pass {
public:
  const char *name() const override { return "convert-to-f64"; }
  bool run(Module &M, PassContext &) override {
    convertToF64(M);
    return true;
  }
};
} // namespace

std::unique_ptr<Pass> createConvertToF64Pass() {
  return std::make_unique<ConvertToF64Pass>();
}

} // namespace adj
