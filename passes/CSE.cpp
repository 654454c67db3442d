//===- CSE.cpp - Common-subexpression elimination -------------------------===//
///
/// Ops are pure and functions straight-line, so two ops with the same kind,
/// operands (in order; sorted for commutative ops), attributes and result
/// type compute the same value: the later one's uses are redirected to the
/// earlier one and it is removed. A key string identifies each op.
///
//===----------------------------------------------------------------------===//
#include "passes/CSE.h"

#include <algorithm>
#include <fmt/format.h>
#include <unordered_map>

namespace adj {

namespace {
class CSEPass : public Pass {
public:
  const char *name() const override { return "cse"; }
  bool run(Module &M, PassContext &) override {
    for (auto &F : M.Functions)
      runOn(*F);
    return true;
  }

private:
  static void runOn(Function &F) {
    std::unordered_map<std::string, Value *> Seen;
    std::unordered_map<Value *, Value *> Replaced;
    std::vector<std::unique_ptr<Op>> Kept;
    for (auto &O : F.Ops) {
      for (Value *&V : O->Operands)
        if (auto It = Replaced.find(V); It != Replaced.end())
          V = It->second;
      std::vector<const void *> Ops(O->Operands.begin(), O->Operands.end());
      if (hasProp(O->Kind, props::Commutative))
        std::sort(Ops.begin(), Ops.end());
      std::string Key =
          fmt::format("{}|{}|", unsigned(O->Kind), O->Result.Type.str());
      for (const void *P : Ops)
        Key += fmt::format("{},", P);
      for (auto &[N, A] : O->Attributes)
        Key += fmt::format("|{}={}", N, attrStr(A));
      auto [It, New] = Seen.emplace(Key, &O->Result);
      if (!New) {
        Replaced[&O->Result] = It->second;
        continue;
      }
      Kept.push_back(std::move(O));
    }
    // Removed ops stay alive until their uses are redirected.
    std::vector<std::unique_ptr<Op>> Dead;
    for (auto &O : F.Ops)
      if (O)
        Dead.push_back(std::move(O));
    F.Ops = std::move(Kept);
    for (Result &R : F.Results)
      if (auto It = Replaced.find(R.V); It != Replaced.end())
        R.V = It->second;
  }
};
} // namespace

std::unique_ptr<Pass> createCSEPass() { return std::make_unique<CSEPass>(); }

} // namespace adj
