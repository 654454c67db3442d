//===- StepPlan.cpp - Kernel calls, loop groups and in-place results ------===//
///
/// Loop groups are formed greedily in program order. Every loop op starts a
/// group of its own and then merges with the groups of the operands it reads
/// that are computed by loop ops of its result shape (index-aligned; other
/// operands, scalars and broadcasts included, are inputs of the loop). A
/// group runs where its last op stands, which is safe as long as no op
/// outside it reads a member in between: every member's inputs are computed
/// by then, and later readers find the stored value. So a group read by an
/// op between its last op and the joining one is left out of the merge
/// (repeated until the merged set is stable, since leaving a group out
/// makes its readers outsiders).
///
/// A result is written in place of the argument of the same name (a
/// parameter or optimizer state of the same type) when the unit computing
/// it is a loop, reads that argument only directly (at the index it writes,
/// not through a reshape), every other unit reading the argument (directly
/// or through reshape aliases) runs before it, and the argument is not
/// returned itself (results that are arguments are copied after the last
/// kernel). A loop loads all of an element's inputs before it stores any of
/// its outputs, so `m' = b1 * m + (1 - b1) * g` may overwrite m.
///
/// Buffers (planArena): a value a unit stores goes to the caller's result
/// buffer when it is a result (the first one naming it), shares its
/// operand's buffer when it is a reshape that is not a result, and
/// otherwise gets a slice of the scratch arena. Slices are reused by size:
/// a scan over the units finds the last one reading each buffer (through
/// reshape aliases); after it has run, the slice goes to a free list for
/// later values of the same size (a * n^p bytes). A unit's workspace
/// (workspaceOf: a convolution's im2col buffers) takes a slice after its
/// outputs, free again once the unit has run. Members of a loop group
/// that nothing outside it reads are not stored and get no buffer at all.
///
//===----------------------------------------------------------------------===//
#include "codegen/StepPlan.h"
#include "ir/Body.h"
#include "ir/Scan.h"

#include <algorithm>
#include <map>
#include <set>

namespace adj {

bool isLoopOp(const Op &O) {
  return (O.Kind == OpKind::Fused || hasProp(O.Kind, props::Elementwise)) &&
         isFloat(O.type().Elt);
}

int64_t ByteSize::at(int64_t N) const {
  int64_t Bytes = Mul;
  for (unsigned P = 0; P < Pow; ++P)
    if (__builtin_mul_overflow(Bytes, N, &Bytes))
      return INT64_MAX;
  return Bytes;
}

ByteSize bytesOf(const TensorType &T) {
  ByteSize S{dtypeBytes(T.Elt), 0};
  for (int64_t D : T.Dims) {
    if (D == kBatch)
      ++S.Pow;
    else
      S.Mul *= D;
  }
  return S.Mul == 0 ? ByteSize{0, 0} : S; // n^p times nothing is nothing.
}

int64_t ArenaPlan::bytes(int64_t N) const {
  int64_t Total = 0; // saturating at INT64_MAX - 64
  for (ByteSize S : Slices) {
    int64_t B = std::min(S.at(N), INT64_MAX - 127);
    if (__builtin_add_overflow(Total, (B + 63) & ~int64_t(63), &Total))
      Total = INT64_MAX - 127;
  }
  return Total ? std::min(Total, INT64_MAX - 127) + 64 : 0; // + the slack
}

unsigned StepPlan::numGroups() const {
  return std::count_if(Units.begin(), Units.end(),
                       [](const StepUnit &U) { return U.Ops.size() > 1; });
}

unsigned StepPlan::numGroupedOps() const {
  unsigned N = 0;
  for (const StepUnit &U : Units)
    N += U.Ops.size() > 1 ? U.Ops.size() : 0;
  return N;
}

namespace {

class Planner {
public:
  Planner(const Function &F, const LowerOptions &Opts, const Module *M);
  StepPlan run();

private:
  const Function &F;
  const LowerOptions &Opts;
  const Module *M;
  std::map<const Value *, size_t> Index;                ///< Op results.
  std::map<const Value *, std::vector<size_t>> Readers; ///< Op indices.
  std::set<const Value *> Results;

  const std::vector<size_t> &readersOf(const Value *V) const {
    static const std::vector<size_t> None;
    auto It = Readers.find(V);
    return It == Readers.end() ? None : It->second;
  }
  std::vector<std::vector<size_t>> groupLoops() const;
  StepUnit unitOf(std::vector<size_t> Ops) const;
  /// One unit for the adjacent sibling scans \p Ops (one loop).
  StepUnit scanUnit(std::vector<size_t> Ops) const;
  void findInPlace(StepPlan &P) const;
  void planArena(StepPlan &P) const;
};

Planner::Planner(const Function &F, const LowerOptions &Opts, const Module *M)
    : F(F), Opts(Opts), M(M) {
  for (size_t I = 0; I < F.Ops.size(); ++I) {
    Index[&F.Ops[I]->Result] = I;
    for (const Value *V : F.Ops[I]->Operands)
      Readers[V].push_back(I);
  }
  for (const Result &R : F.Results)
    Results.insert(R.V);
}

/// Per op, the ops of its group (empty for non-loop ops); each group is
/// sorted and stored at each of its members.
std::vector<std::vector<size_t>> Planner::groupLoops() const {
  std::vector<int> GroupOf(F.Ops.size(), -1);
  std::vector<std::vector<size_t>> Groups;
  for (size_t I = 0; I < F.Ops.size(); ++I) {
    const Op &O = *F.Ops[I];
    if (!isLoopOp(O))
      continue;
    std::set<int> Merge;
    for (const Value *V : O.Operands) {
      auto It = Index.find(V);
      // A reducing fused op joins the loop of its loop shape (ir/Body.h);
      // its own result is not per element.
      if (Opts.GroupLoops && It != Index.end() && GroupOf[It->second] >= 0 &&
          !isReducingFused(*F.Ops[It->second]) &&
          F.Ops[It->second]->type().Dims == loopDims(O))
        Merge.insert(GroupOf[It->second]);
    }
    for (bool Changed = true; Changed;) {
      Changed = false;
      for (auto G = Merge.begin(); G != Merge.end();) {
        bool ReadBetween = false;
        for (size_t M : Groups[*G])
          for (size_t U : readersOf(&F.Ops[M]->Result))
            ReadBetween |= U < I && !Merge.count(GroupOf[U]);
        Changed |= ReadBetween;
        G = ReadBetween ? Merge.erase(G) : std::next(G);
      }
    }
    std::vector<size_t> Group = {I};
    for (int G : Merge) {
      Group.insert(Group.end(), Groups[G].begin(), Groups[G].end());
      Groups[G].clear();
    }
    std::sort(Group.begin(), Group.end());
    for (size_t M : Group)
      GroupOf[M] = Groups.size();
    Groups.push_back(std::move(Group));
  }
  std::vector<std::vector<size_t>> Of(F.Ops.size());
  for (size_t I = 0; I < F.Ops.size(); ++I)
    if (GroupOf[I] >= 0)
      Of[I] = Groups[GroupOf[I]];
  return Of;
}

StepUnit Planner::unitOf(std::vector<size_t> Ops) const {
  StepUnit U;
  U.Ops = std::move(Ops);
  const Op &Last = *F.Ops[U.Ops.back()];
  U.Loop = isLoopOp(Last);
  if (!U.Loop) {
    U.Stored = {true};
    U.Outputs = {&Last.Result};
    U.Inputs.assign(Last.Operands.begin(), Last.Operands.end());
    U.Alias = Last.Kind == OpKind::Reshape && !Results.count(&Last.Result);
    if (!U.Alias)
      if (ByteSize W = workspaceOf(Last); W.Mul > 0)
        U.Workspace = {W};
    return U;
  }
  std::set<const Value *> Computed;
  std::set<size_t> Members(U.Ops.begin(), U.Ops.end());
  for (size_t M : U.Ops) {
    const Op &O = *F.Ops[M];
    for (const Value *V : O.Operands)
      if (!Computed.count(V) &&
          std::find(U.Inputs.begin(), U.Inputs.end(), V) == U.Inputs.end())
        U.Inputs.push_back(V);
    Computed.insert(&O.Result);
    bool Stored =
        M == U.Ops.back() || Results.count(&O.Result) || isReducingFused(O);
    for (size_t Reader : readersOf(&O.Result))
      Stored |= !Members.count(Reader);
    U.Stored.push_back(Stored);
    if (Stored)
      U.Outputs.push_back(&O.Result);
  }
  return U;
}

StepUnit Planner::scanUnit(std::vector<size_t> Ops) const {
  StepUnit U;
  U.Ops = std::move(Ops);
  const Op &First = *F.Ops[U.Ops.front()];
  U.Inputs.assign(First.Operands.begin(), First.Operands.end());
  for (size_t I : U.Ops) {
    U.Stored.push_back(true);
    U.Outputs.push_back(&F.Ops[I]->Result);
  }
  if (M)
    for (const TensorType &T : scanBuffers(*M, First))
      U.Workspace.push_back(bytesOf(T));
  return U;
}

void Planner::findInPlace(StepPlan &P) const {
  P.InPlace.assign(F.Results.size(), false);
  if (!Opts.InPlace)
    return;
  // Reshapes that are not results share their operand's buffer.
  std::map<const Value *, const Value *> Root;
  auto RootOf = [&](const Value *V) {
    auto It = Root.find(V);
    return It == Root.end() ? V : It->second;
  };
  auto IsAlias = [&](const Op &O) {
    return O.Kind == OpKind::Reshape && !Results.count(&O.Result);
  };
  std::vector<size_t> UnitOf(F.Ops.size());
  std::map<const Value *, std::set<size_t>> ReadBy; // Root -> units.
  for (size_t U = 0; U < P.Units.size(); ++U) {
    for (size_t I : P.Units[U].Ops)
      UnitOf[I] = U;
    const Op &O = *F.Ops[P.Units[U].Ops.back()];
    if (IsAlias(O)) {
      Root[&O.Result] = RootOf(O.Operands[0]);
      continue;
    }
    for (const Value *V : P.Units[U].Inputs)
      ReadBy[RootOf(V)].insert(U);
  }
  std::set<const Value *> Returned, Written;
  for (const Result &R : F.Results)
    Returned.insert(RootOf(R.V));
  for (size_t R = 0; R < F.Results.size(); ++R) {
    const Value *V = F.Results[R].V;
    const Value *A = F.arg(F.Results[R].Name);
    if (!A || !V->Def || Written.count(A) || Returned.count(A) ||
        A->type() != V->type() ||
        (F.Roles[A->ArgNo] != ArgRole::Param &&
         F.Roles[A->ArgNo] != ArgRole::State &&
         F.Roles[A->ArgNo] != ArgRole::Buffer))
      continue;
    bool First = true;
    for (size_t E = 0; E < R; ++E)
      First &= F.Results[E].V != V;
    size_t W = UnitOf[Index.at(V)];
    StepUnit &U = P.Units[W];
    if (!First || !U.Loop)
      continue;
    // Every other reader runs before the writer, which reads the argument
    // only directly.
    bool Safe = true;
    for (size_t Reader : ReadBy[A])
      Safe &= Reader <= W;
    for (const Value *I : U.Inputs)
      Safe &= I == A || RootOf(I) != A;
    if (!Safe)
      continue;
    P.InPlace[R] = true;
    Written.insert(A);
    auto In = std::find(U.Inputs.begin(), U.Inputs.end(), A);
    if (In == U.Inputs.end())
      continue;
    unsigned Out = 0;
    for (size_t K = 0; F.Ops[U.Ops[K]].get() != V->Def; ++K)
      Out += U.Stored[K];
    U.InPlace.push_back({Out, unsigned(In - U.Inputs.begin())});
  }
}

void Planner::planArena(StepPlan &P) const {
  // The first result naming each value: its buffer is the caller's.
  std::map<const Value *, size_t> FirstResult;
  for (size_t I = 0; I < F.Results.size(); ++I)
    FirstResult.emplace(F.Results[I].V, I);
  // The unit that last reads each buffer, named by its root (the value
  // that owns it: reshape aliases lead to their operand's root).
  std::map<const Value *, const Value *> Root;
  std::map<const Value *, size_t> LastUse;
  auto RootOf = [&](const Value *V) {
    auto It = Root.find(V);
    return It == Root.end() ? V : It->second; // Arguments are their own.
  };
  for (size_t U = 0; U < P.Units.size(); ++U) {
    const StepUnit &Unit = P.Units[U];
    for (const Value *V : Unit.Outputs) {
      const Op &Last = *F.Ops[Unit.Ops.back()];
      Root[V] = Unit.Alias ? RootOf(Last.Operands[0]) : V;
      LastUse[Root[V]] = U;
    }
    for (const Value *V : Unit.Inputs)
      LastUse[RootOf(V)] = U;
  }
  // The scan: place each unit's outputs, then free the slices it read last.
  ArenaPlan &A = P.Arena;
  std::map<ByteSize, std::vector<size_t>> Free; // Slice indices by size.
  std::map<const Value *, size_t> Live;         // Root -> its slice.
  auto Take = [&](ByteSize Bytes) {
    std::vector<size_t> &Slices = Free[Bytes];
    if (Slices.empty()) {
      A.Slices.push_back(Bytes);
      return A.Slices.size() - 1;
    }
    size_t Slice = Slices.back();
    Slices.pop_back();
    return Slice;
  };
  for (size_t U = 0; U < P.Units.size(); ++U) {
    StepUnit &Unit = P.Units[U];
    for (const Value *V : Unit.Outputs) {
      Buffer Buf;
      Buf.V = V;
      if (auto It = FirstResult.find(V); It != FirstResult.end()) {
        Buf.Kind = Buffer::Result;
        Buf.Index = It->second;
      } else if (Unit.Alias) {
        Buf.Kind = Buffer::Alias;
        Buf.Source = F.Ops[Unit.Ops.back()]->Operands[0];
      } else {
        Buf.Kind = Buffer::Scratch;
        Buf.Index = Take(bytesOf(V->type()));
        Live[V] = Buf.Index;
      }
      A.Buffers.push_back(Buf);
    }
    // The workspace: a slice for the unit's run only.
    for (ByteSize W : Unit.Workspace)
      Unit.WorkspaceSlice.push_back(Take(W));
    for (size_t I = 0; I < Unit.Workspace.size(); ++I)
      Free[Unit.Workspace[I]].push_back(Unit.WorkspaceSlice[I]);
    std::vector<const Value *> Read;
    for (const Value *V : Unit.Outputs)
      Read.push_back(RootOf(V));
    for (const Value *V : Unit.Inputs)
      Read.push_back(RootOf(V));
    for (const Value *R : Read)
      if (auto It = Live.find(R); It != Live.end() && LastUse.at(R) == U) {
        Free[A.Slices[It->second]].push_back(It->second);
        Live.erase(It);
      }
  }
}

StepPlan Planner::run() {
  StepPlan P;
  std::vector<std::vector<size_t>> Groups = groupLoops();
  for (size_t I = 0; I < F.Ops.size(); ++I) {
    if (F.Ops[I]->Kind == OpKind::Scan) {
      // Adjacent siblings are one loop (ir/Scan.h).
      std::vector<size_t> Siblings{I};
      while (I + 1 < F.Ops.size() && scanSiblings(*F.Ops[I], *F.Ops[I + 1]))
        Siblings.push_back(++I);
      P.Units.push_back(scanUnit(std::move(Siblings)));
      continue;
    }
    if (Groups[I].empty())
      P.Units.push_back(unitOf({I}));
    else if (Groups[I].back() == I)
      P.Units.push_back(unitOf(Groups[I]));
  }
  findInPlace(P);
  planArena(P);
  return P;
}

} // namespace

StepPlan planStep(const Function &F, const LowerOptions &Opts,
                  const Module *M) {
  return Planner(F, Opts, M).run();
}

} // namespace adj
