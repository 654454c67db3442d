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
/// makes its readers outsiders). A cross_entropy_grad starts a *row group*
/// that only the sum of its rows (isRowSum, the output layer's bias
/// gradient) joins: its kernel sums the rows while it computes them.
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
/// otherwise gets a block of the scratch arena. A scratch value lives from
/// its unit through the last unit reading it (through reshape aliases); a
/// unit's workspace (workspaceOf: a convolution's im2col buffers; a
/// swapped matmul's A^T and C^T, matMulWorkspace; a scan's
/// buffers) for that unit only. The arena has one slice per power p of the
/// batch size n among the items' sizes `a * n^p`; in it every item gets an
/// offset `o * n^p`, chosen greedily by size (TensorFlow Lite's greedy by
/// size offset calculation, arXiv:2001.03288): the largest items first,
/// each at the start of the smallest gap left between the items placed
/// before it that live at one of its units, else above all of them. Sizes
/// and offsets of one slice share the factor n^p, so the order and the
/// gaps are the same at every batch size, and a layout planned once holds
/// for every n; `a` is rounded up to 64 so that every block is 64-byte
/// aligned. Unlike slices shared whole, smaller values fill the unused tops
/// of larger ones: on the examples each slice is within 0.1% of the most
/// its items live at one unit need (docs/memory.md). Members of a
/// loop group that nothing outside it reads are not stored and get no
/// buffer at all.
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
  void fuseProducts(StepPlan &P) const;
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
  // A row group: cross_entropy_grad and the sum of its rows (isRowSum).
  auto RowLeader = [&](const Op &O) {
    return Opts.GroupLoops && O.Kind == OpKind::CrossEntropyGrad;
  };
  for (size_t I = 0; I < F.Ops.size(); ++I) {
    const Op &O = *F.Ops[I];
    if (!isLoopOp(O) && !RowLeader(O))
      continue;
    std::set<int> Merge;
    for (const Value *V : O.Operands) {
      auto It = Index.find(V);
      if (!isLoopOp(O) || It == Index.end() || GroupOf[It->second] < 0)
        continue;
      const Op &P = *F.Ops[It->second];
      // A reducing fused op joins the loop of its loop shape (ir/Body.h);
      // its own result is not per element.
      if (Opts.GroupLoops && !RowLeader(P) && !isReducingFused(P) &&
          P.type().Dims == loopDims(O))
        Merge.insert(GroupOf[It->second]);
      if (RowLeader(P) && Groups[GroupOf[It->second]].size() == 1 &&
          isRowSum(O))
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
      if (ByteSize W = Last.Kind == OpKind::MatMul ? matMulWorkspace(Last)
                                                   : workspaceOf(Last);
          W.Mul > 0)
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
    bool Stored = M == U.Ops.back() || Results.count(&O.Result) ||
                  isReducingFused(O) || !isLoopOp(O);
    for (size_t Reader : readersOf(&O.Result))
      Stored |= !Members.count(Reader);
    U.Stored.push_back(Stored);
    if (Stored)
      U.Outputs.push_back(&O.Result);
  }
  return U;
}

/// Moves each large 2-D matmul that only one loop unit reads into that unit
/// (StepUnit::Product): the loop's inputs other than the product are its
/// result's shape (read at the index it writes) or single elements, and it
/// reduces nothing, so it can run over any block of the product's rows.
void Planner::fuseProducts(StepPlan &P) const {
  if (!Opts.GroupLoops || !Opts.FuseProducts)
    return;
  std::map<size_t, size_t> UnitOfOp; // Single-op units.
  for (size_t U = 0; U < P.Units.size(); ++U)
    if (P.Units[U].Ops.size() == 1)
      UnitOfOp[P.Units[U].Ops[0]] = U;
  std::vector<bool> Fused(P.Units.size(), false);
  for (StepUnit &U : P.Units) {
    if (!U.Loop || !isLoopOp(*F.Ops[U.Ops.front()]))
      continue;
    const TensorType &LT = F.Ops[U.Ops.back()]->type();
    std::set<size_t> Members(U.Ops.begin(), U.Ops.end());
    for (size_t M : U.Ops)
      if (isReducingFused(*F.Ops[M]) || !(F.Ops[M]->type().Dims == LT.Dims))
        Members.clear();
    if (Members.empty())
      continue;
    const Value *G = nullptr;
    bool Ok = true;
    for (const Value *V : U.Inputs) {
      const std::vector<int64_t> &D = V->type().Dims;
      if (std::all_of(D.begin(), D.end(), [](int64_t X) { return X == 1; }))
        continue;
      bool Product = V->Def && V->Def->Kind == OpKind::MatMul && !G &&
                     !productLoopWorkspace(*V->Def).empty() && D == LT.Dims &&
                     V->type().Elt == LT.Elt && !Results.count(V);
      for (size_t Reader : readersOf(V))
        Product &= Members.count(Reader) > 0;
      if (Product)
        G = V;
      else
        Ok &= V->type().Dims == LT.Dims;
    }
    auto It = G ? UnitOfOp.find(Index.at(G)) : UnitOfOp.end();
    if (!Ok || It == UnitOfOp.end())
      continue;
    U.Product = It->first;
    U.Inputs.erase(std::find(U.Inputs.begin(), U.Inputs.end(), G));
    U.Inputs.push_back(G->Def->Operands[0]);
    U.Inputs.push_back(G->Def->Operands[1]);
    U.Workspace = productLoopWorkspace(*G->Def);
    Fused[It->second] = true;
  }
  std::vector<StepUnit> Kept;
  for (size_t U = 0; U < P.Units.size(); ++U)
    if (!Fused[U])
      Kept.push_back(std::move(P.Units[U]));
  P.Units = std::move(Kept);
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

/// A block of the arena to place: \p Bytes live from unit \p First through
/// unit \p Last; where it goes is written to \p Slice and \p Offset.
struct ArenaItem {
  ByteSize Bytes;
  size_t First, Last;
  size_t *Slice;
  int64_t *Offset;

  bool overlaps(const ArenaItem &O) const {
    return First <= O.Last && O.First <= Last;
  }
};

/// \p Mul rounded up to a multiple of 64: blocks of `Mul * n^p` bytes at
/// offsets `o * n^p` stay 64-byte aligned for every n.
int64_t align64(int64_t Mul) {
  return Mul > INT64_MAX - 63 ? INT64_MAX & ~int64_t(63) : (Mul + 63) & ~63;
}

/// Places the items \p Order lists (all of one power p of n, largest first)
/// in slice \p Slice, each at the start of the smallest gap between the
/// items placed before it that live at one of its units that leaves room
/// for it, else above them all (TensorFlow Lite's greedy by size offset
/// calculation); returns the slice's size, `* n^p`.
int64_t placeGreedyBySize(std::vector<ArenaItem> &Items,
                          const std::vector<size_t> &Order, size_t Slice) {
  int64_t Top = 0;
  std::vector<std::pair<int64_t, int64_t>> Placed(Items.size()); // [o, end)
  std::vector<size_t> Done;
  for (size_t I : Order) {
    ArenaItem &It = Items[I];
    int64_t Size = align64(It.Bytes.Mul);
    std::vector<std::pair<int64_t, int64_t>> Busy;
    for (size_t J : Done)
      if (Items[J].overlaps(It))
        Busy.push_back(Placed[J]);
    std::sort(Busy.begin(), Busy.end());
    int64_t Below = 0, Best = -1, BestGap = INT64_MAX;
    for (auto [Begin, End] : Busy) {
      if (Begin - Below >= Size && Begin - Below < BestGap) {
        Best = Below;
        BestGap = Begin - Below;
      }
      Below = std::max(Below, End);
    }
    if (Best < 0)
      Best = Below;
    Placed[I] = {Best, Best > INT64_MAX - Size ? INT64_MAX : Best + Size};
    Top = std::max(Top, Placed[I].second);
    Done.push_back(I);
    *It.Slice = Slice;
    *It.Offset = Best;
  }
  return Top;
}

void Planner::planArena(StepPlan &P) const {
  // The first result naming each value: its buffer is the caller's.
  std::map<const Value *, size_t> FirstResult;
  for (size_t I = 0; I < F.Results.size(); ++I)
    FirstResult.emplace(F.Results[I].V, I);
  // Every value a unit stores gets its buffer; the scratch ones and the
  // workspaces become items living from their unit through the last unit
  // reading them (by their root: reshape aliases lead to their operand's).
  ArenaPlan &A = P.Arena;
  std::map<const Value *, const Value *> Root;
  auto RootOf = [&](const Value *V) {
    auto It = Root.find(V);
    return It == Root.end() ? V : It->second; // Arguments are their own.
  };
  std::vector<ArenaItem> Items;
  std::map<const Value *, size_t> ItemOf; // Scratch roots.
  for (size_t U = 0; U < P.Units.size(); ++U) {
    StepUnit &Unit = P.Units[U];
    const Op &Last = *F.Ops[Unit.Ops.back()];
    for (const Value *V : Unit.Outputs) {
      Buffer Buf;
      Buf.V = V;
      if (auto It = FirstResult.find(V); It != FirstResult.end()) {
        Buf.Kind = Buffer::Result;
        Buf.Index = It->second;
      } else if (Unit.Alias) {
        Buf.Kind = Buffer::Alias;
        Buf.Source = Last.Operands[0];
        Root[V] = RootOf(Buf.Source);
      } else {
        Buf.Kind = Buffer::Scratch;
        ItemOf[V] = Items.size();
        Items.push_back({bytesOf(V->type()), U, U, nullptr, nullptr});
      }
      A.Buffers.push_back(Buf);
    }
    for (const Value *V : Unit.Inputs)
      if (auto It = ItemOf.find(RootOf(V)); It != ItemOf.end())
        Items[It->second].Last = U;
    Unit.WorkspaceAt.assign(Unit.Workspace.size(), ArenaPlace{});
    for (size_t I = 0; I < Unit.Workspace.size(); ++I)
      Items.push_back({Unit.Workspace[I], U, U, &Unit.WorkspaceAt[I].Slice,
                       &Unit.WorkspaceAt[I].Offset});
  }
  for (Buffer &Buf : A.Buffers)
    if (Buf.Kind == Buffer::Scratch) {
      Items[ItemOf.at(Buf.V)].Slice = &Buf.Index;
      Items[ItemOf.at(Buf.V)].Offset = &Buf.Offset;
    }
  // One slice per power of n, highest first, its items placed largest
  // first (ties in unit order).
  std::vector<size_t> Order(Items.size());
  for (size_t I = 0; I < Order.size(); ++I)
    Order[I] = I;
  std::stable_sort(Order.begin(), Order.end(), [&](size_t X, size_t Y) {
    ByteSize BX = Items[X].Bytes, BY = Items[Y].Bytes;
    return BX.Pow != BY.Pow ? BX.Pow > BY.Pow : BX.Mul > BY.Mul;
  });
  for (size_t Begin = 0; Begin < Order.size();) {
    unsigned Pow = Items[Order[Begin]].Bytes.Pow;
    size_t End = Begin;
    while (End < Order.size() && Items[Order[End]].Bytes.Pow == Pow)
      ++End;
    std::vector<size_t> Class(Order.begin() + Begin, Order.begin() + End);
    A.Slices.push_back({placeGreedyBySize(Items, Class, A.Slices.size()), Pow});
    Begin = End;
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
  fuseProducts(P);
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

namespace adj {

void BytePoly::add(ByteSize S) {
  if (Coef.size() <= S.Pow)
    Coef.resize(S.Pow + 1, 0);
  if (__builtin_add_overflow(Coef[S.Pow], S.Mul, &Coef[S.Pow]))
    Coef[S.Pow] = INT64_MAX;
}

void BytePoly::add(const BytePoly &P) {
  for (size_t K = 0; K < P.Coef.size(); ++K)
    add(ByteSize{P.Coef[K], unsigned(K)});
}

int64_t BytePoly::at(int64_t N) const {
  int64_t Total = 0;
  for (size_t K = 0; K < Coef.size(); ++K)
    if (__builtin_add_overflow(Total, ByteSize{Coef[K], unsigned(K)}.at(N),
                               &Total))
      return INT64_MAX;
  return Total;
}

bool BytePoly::dominatedBy(const BytePoly &O) const {
  for (size_t K = 0; K < Coef.size(); ++K)
    if (Coef[K] > (K < O.Coef.size() ? O.Coef[K] : 0))
      return false;
  return true;
}

bool BytePoly::operator==(const BytePoly &O) const {
  return dominatedBy(O) && O.dominatedBy(*this);
}

static int64_t addSat(int64_t A, int64_t B) {
  int64_t R;
  return __builtin_add_overflow(A, B, &R) ? INT64_MAX : R;
}

int64_t MemoryBound::activations(int64_t N) const {
  int64_t Max = 0;
  for (const BytePoly &P : Peaks)
    Max = std::max(Max, P.at(N));
  return Max;
}

int64_t MemoryBound::bytes(int64_t N) const {
  return addSat(addSat(Params.at(N), Grads.at(N)),
                addSat(State.at(N), activations(N)));
}

std::vector<BytePoly> MemoryBound::polynomials() const {
  BytePoly Fixed = Params;
  Fixed.add(Grads);
  Fixed.add(State);
  std::vector<BytePoly> Out;
  for (const BytePoly &P : Peaks) {
    Out.push_back(Fixed);
    Out.back().add(P);
  }
  if (Out.empty())
    Out.push_back(Fixed);
  return Out;
}

/// The values of \p F that are parameter gradients (see memoryBound).
static std::set<const Value *> gradientsOf(const Function &F) {
  std::set<const Value *> Grads;
  for (const Result &R : F.Results) {
    const Value *P = F.arg(R.Name);
    if (!P || F.Roles[P->ArgNo] != ArgRole::Param || R.V == P)
      continue;
    ByteSize Size = bytesOf(P->type());
    std::vector<const Value *> Work = {R.V};
    std::set<const Value *> Seen;
    while (!Work.empty()) {
      const Value *V = Work.back();
      Work.pop_back();
      if (!V->Def || !Seen.insert(V).second)
        continue;
      const Op &O = *V->Def;
      bool Walk = isLoopOp(O) || O.Kind == OpKind::Reshape;
      if (!Walk && bytesOf(V->type()) == Size)
        Grads.insert(V);
      if (Walk)
        Work.insert(Work.end(), O.Operands.begin(), O.Operands.end());
    }
  }
  return Grads;
}

MemoryBound memoryBound(const Function &F, const StepPlan &P) {
  MemoryBound B;
  for (size_t I = 0; I < F.Args.size(); ++I) {
    ByteSize Size = bytesOf(F.Args[I]->type());
    switch (F.Roles[I]) {
    case ArgRole::Param:
      B.Params.add(Size);
      if (const Result *R = F.result(F.Args[I]->Name);
          R && R->V != F.Args[I].get())
        B.Grads.add(Size);
      break;
    case ArgRole::Buffer:
      B.Params.add(Size);
      break;
    case ArgRole::State:
      B.State.add(Size);
      break;
    default:
      break;
    }
  }
  // Each scratch value's root (reshape aliases share their operand's), the
  // unit storing it and the last unit reading it.
  std::set<const Value *> Grads = gradientsOf(F);
  std::map<const Value *, const Value *> Root;
  auto RootOf = [&](const Value *V) {
    auto It = Root.find(V);
    return It == Root.end() ? V : It->second;
  };
  std::map<const Value *, std::pair<size_t, size_t>> Span; // Scratch roots.
  size_t Next = 0; // Into P.Arena.Buffers, in unit order.
  for (size_t U = 0; U < P.Units.size(); ++U) {
    for (size_t K = 0; K < P.Units[U].Outputs.size(); ++K, ++Next) {
      const Buffer &Buf = P.Arena.Buffers[Next];
      if (Buf.Kind == Buffer::Alias)
        Root[Buf.V] = RootOf(Buf.Source);
      else if (Buf.Kind == Buffer::Scratch)
        Span[Buf.V] = {U, U};
    }
    for (const Value *V : P.Units[U].Inputs)
      if (auto It = Span.find(RootOf(V)); It != Span.end())
        It->second.second = U;
  }
  // The live bytes at each unit, then the peaks no other point dominates.
  std::vector<BytePoly> Live(P.Units.size());
  for (const auto &[V, S] : Span)
    if (!Grads.count(V))
      for (size_t U = S.first; U <= S.second; ++U)
        Live[U].add(bytesOf(V->type()));
  for (size_t U = 0; U < P.Units.size(); ++U)
    for (ByteSize W : P.Units[U].Workspace)
      Live[U].add(W);
  for (size_t U = 0; U < P.Units.size(); ++U) {
    bool Dominated = false;
    for (size_t O = 0; O < P.Units.size() && !Dominated; ++O)
      Dominated = O != U && Live[U].dominatedBy(Live[O]) &&
                  (!(Live[U] == Live[O]) || O < U);
    if (!Dominated && !Live[U].Coef.empty()) {
      B.Peaks.push_back(Live[U]);
      B.PeakUnits.push_back(U);
    }
  }
  return B;
}

int64_t heldBytes(const Function &F, const StepPlan &P, int64_t N) {
  int64_t Held = P.Arena.bytes(N);
  for (size_t I = 0; I < F.Args.size(); ++I) {
    ArgRole R = F.Roles[I];
    if (R != ArgRole::Param && R != ArgRole::Buffer && R != ArgRole::State)
      continue;
    int64_t Bytes = bytesOf(F.Args[I]->type()).at(N);
    Held = addSat(Held, Bytes);
    for (size_t K = 0; K < F.Results.size(); ++K)
      if (F.Results[K].Name == F.Args[I]->Name &&
          F.Results[K].V != F.Args[I].get() && !P.InPlace[K])
        Held = addSat(Held, Bytes);
  }
  return Held;
}

} // namespace adj
