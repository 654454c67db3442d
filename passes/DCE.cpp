//===- DCE.cpp - Dead-code elimination ------------------------------------===//
///
/// Ops are pure, so an op is live exactly when its result reaches a function
/// result. One backward walk marks live values from the results; every op
/// not marked is removed.
///
//===----------------------------------------------------------------------===//
#include "passes/DCE.h"

#include <unordered_set>

namespace adj {

unsigned eliminateDeadOps(Function &F) {
  std::unordered_set<const Value *> Live;
  for (const Result &R : F.Results)
    Live.insert(R.V);
  for (size_t I = F.Ops.size(); I-- > 0;)
    if (Live.count(&F.Ops[I]->Result))
      for (Value *V : F.Ops[I]->Operands)
        Live.insert(V);
  size_t Before = F.Ops.size();
  std::vector<std::unique_ptr<Op>> Kept;
  for (auto &O : F.Ops)
    if (Live.count(&O->Result))
      Kept.push_back(std::move(O));
  F.Ops = std::move(Kept);
  return Before - F.Ops.size();
}

namespace {
class DCEPass : public Pass {
public:
  const char *name() const override { return "dce"; }
  bool run(Module &M, PassContext &) override {
    for (auto &F : M.Functions)
      eliminateDeadOps(*F);
    return true;
  }
};
} // namespace

std::unique_ptr<Pass> createDCEPass() { return std::make_unique<DCEPass>(); }

} // namespace adj
