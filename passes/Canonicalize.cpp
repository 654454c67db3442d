//===- Canonicalize.cpp - Algebraic identities as a rewrite table ---------===//
///
/// The identities are a table: each row is a pattern over one op and the
/// ops defining its operands, and a function building the value that
/// replaces the op's result. A sweep visits the ops in order; for each, the
/// first row that matches builds its replacement just before the op, the
/// op's uses move to the replacement and the op is dropped. Ops left without
/// uses are erased after each sweep, and sweeps repeat until one changes
/// nothing. Every row removes an op or trades it for a cheaper one, so the
/// fixed point is reached; a cap on the sweeps guards against a bad row.
///
/// A rewrite never changes a result's type: when the replacement has fewer
/// dims than the result (x * 1 where the 1 is broadcast), it is
/// broadcast_to the result's shape, and when that is impossible the row
/// does not apply. Constants are filled tensors (`constant {value = V}`), so
/// "is 1" means every element is 1. As with fast-math, some identities
/// assume finite inputs: x * 0 -> 0, exp(log x) -> x, log(exp x) -> x.
///
//===----------------------------------------------------------------------===//
#include "passes/Canonicalize.h"

#include "passes/DCE.h"

#include <unordered_map>

namespace adj {

namespace {

using K = OpKind;

/// Matches around one op and builds its replacement in a scratch function;
/// new ops carry the op's location.
class Rewriter {
public:
  Rewriter(const Op &O, const std::map<const Value *, unsigned> &Uses)
      : O(O), Uses(Uses), B(Scratch) {
    B.CurLoc = O.Location;
  }

  const Op &O;
  Value *operand(unsigned I) const { return O.Operands[I]; }
  const std::vector<int64_t> &dims() const { return O.Result.Type.Dims; }

  /// The op defining \p V when it is of kind \p Kind.
  static const Op *defOf(const Value *V, OpKind Kind) {
    return V->Def && V->Def->Kind == Kind ? V->Def : nullptr;
  }
  static bool isConstant(const Value *V, double C) {
    const Op *D = defOf(V, K::Constant);
    return D && D->floatAttr("value") == C;
  }
  bool singleUse(const Value *V) const {
    auto It = Uses.find(V);
    return It != Uses.end() && It->second == 1;
  }

  /// A new op, or null when the operands do not fit its shape rule.
  Value *create(OpKind Kind, std::vector<Value *> Operands, Attrs A = {}) {
    Value *Out = nullptr;
    if (!B.tryCreate(Kind, std::move(Operands), std::move(A), Out).Type)
      return nullptr;
    return Out;
  }
  /// A constant of the result's type.
  Value *splat(double V) {
    return B.constant(V, O.Result.Type.Elt, O.Result.Type.Dims);
  }
  /// \p V with the result's type: itself, broadcast to the result's shape,
  /// or null.
  Value *fit(Value *V) {
    if (!V || V->Type == O.Result.Type)
      return V;
    if (V->Type.Elt != O.Result.Type.Elt)
      return nullptr;
    return create(K::BroadcastTo, {V}, {{"shape", dims()}});
  }
  /// \p V reshaped to the result's shape (itself when it has it).
  Value *reshaped(Value *V) {
    return V->Type.Dims == dims()
               ? V
               : create(K::Reshape, {V}, {{"shape", dims()}});
  }
  std::vector<std::unique_ptr<Op>> takeOps() { return std::move(Scratch.Ops); }

private:
  const std::map<const Value *, unsigned> &Uses;
  Function Scratch;
  Builder B;
};

using Apply = Value *(*)(Rewriter &);

struct Rewrite {
  const char *Pattern; ///< For people: what the row does.
  OpKind Root;
  Apply Fn;
};

/// x when operand \p CI is the constant \p C (and the other operand is x).
Value *dropConstant(Rewriter &R, unsigned CI, double C) {
  return Rewriter::isConstant(R.operand(CI), C) ? R.fit(R.operand(1 - CI))
                                                : nullptr;
}

/// A constant of the result's type when operand \p CI is the constant \p C.
Value *absorbing(Rewriter &R, unsigned CI, double C, double Result) {
  return Rewriter::isConstant(R.operand(CI), C) ? R.splat(Result) : nullptr;
}

/// neg(x) when operand \p CI is the constant \p C (and the other is x).
Value *negated(Rewriter &R, unsigned CI, double C) {
  return Rewriter::isConstant(R.operand(CI), C)
             ? R.fit(R.create(K::Neg, {R.operand(1 - CI)}))
             : nullptr;
}

/// An op of x and neg(y) (operand \p NegI) as Into(x, y).
Value *foldNeg(Rewriter &R, unsigned NegI, OpKind Into) {
  const Op *N = Rewriter::defOf(R.operand(NegI), K::Neg);
  if (!N)
    return nullptr;
  return R.fit(R.create(Into, {R.operand(1 - NegI), N->Operands[0]}));
}

/// x when the operand already has the result's type.
Value *sameType(Rewriter &R) {
  return R.operand(0)->Type == R.O.Result.Type ? R.operand(0) : nullptr;
}

/// f(g(x)) -> x for inverse functions f and g.
Value *inverseOf(Rewriter &R, OpKind Inner) {
  const Op *D = Rewriter::defOf(R.operand(0), Inner);
  return D ? R.fit(D->Operands[0]) : nullptr;
}

bool isIdentityPerm(const std::vector<int64_t> &P) {
  for (size_t I = 0; I < P.size(); ++I)
    if (P[I] != int64_t(I))
      return false;
  return true;
}

Value *transposeOfTranspose(Rewriter &R) {
  const Op *In = Rewriter::defOf(R.operand(0), K::Transpose);
  const std::vector<int64_t> *P = In ? In->listAttr("perm") : nullptr;
  const std::vector<int64_t> *Q = R.O.listAttr("perm");
  if (!P || !Q || P->size() != Q->size())
    return nullptr;
  // out[i] = in[q[i]] = x[p[q[i]]].
  std::vector<int64_t> C;
  for (int64_t I : *Q)
    C.push_back((*P)[I]);
  Value *X = In->Operands[0];
  if (isIdentityPerm(C))
    return R.fit(X);
  return R.create(K::Transpose, {X}, {{"perm", C}});
}

/// transpose(matmul(a, b)) over the last two axes -> matmul(b, a) with the
/// flags swapped and flipped, (op(a) op(b))^T = op(b)^T op(a)^T; with
/// reduce_leading, (sum a_p^T b_p)^T = sum b_p^T a_p. A weight gradient
/// for a weight used transposed (linear's [out, in]) is then one product
/// without a copy.
Value *transposeOfMatMul(Rewriter &R) {
  const Op *M = Rewriter::defOf(R.operand(0), K::MatMul);
  const std::vector<int64_t> *P = R.O.listAttr("perm");
  if (!M || !P || !R.singleUse(R.operand(0)) || M->Operands.size() != 2 ||
      M->hasAttr("epilogue"))
    return nullptr;
  std::vector<int64_t> Swap(P->size());
  for (size_t I = 0; I < Swap.size(); ++I)
    Swap[I] = int64_t(I);
  if (Swap.size() < 2)
    return nullptr;
  std::swap(Swap[Swap.size() - 2], Swap[Swap.size() - 1]);
  if (*P != Swap)
    return nullptr;
  Attrs A;
  if (M->boolAttr("reduce_leading")) {
    A = M->Attributes;
  } else {
    if (!M->boolAttr("transpose_b"))
      A["transpose_a"] = true;
    if (!M->boolAttr("transpose_a"))
      A["transpose_b"] = true;
  }
  Value *V = R.create(K::MatMul, {M->Operands[1], M->Operands[0]}, A);
  return V && V->Type == R.O.Result.Type ? V : nullptr;
}

bool isReduce(OpKind Kind) {
  return Kind == K::ReduceSum || Kind == K::ReduceMean ||
         Kind == K::ReduceMax || Kind == K::ReduceMin;
}

/// reshape(reduce(x, keepdims)) to the shape without the kept 1s is the
/// reduction without keepdims (when nothing else uses the kept form).
Value *reshapeOfKeptReduce(Rewriter &R) {
  const Op *In = R.operand(0)->Def;
  if (!In || !isReduce(In->Kind) || !In->boolAttr("keepdims") ||
      !R.singleUse(R.operand(0)))
    return nullptr;
  Attrs A = In->Attributes;
  A.erase("keepdims");
  Value *V = R.create(In->Kind, {In->Operands[0]}, A);
  return V && V->Type.Dims == R.dims() ? V : nullptr;
}

/// A sum, mean, max or min over no axes, or over axes of size 1 only, keeps
/// every value: x, reshaped to the result's shape.
Value *trivialReduce(Rewriter &R) {
  Value *X = R.operand(0);
  for (int64_t A : reduceAxes(R.O.Attributes, X->Type.rank()))
    if (X->Type.Dims[A] != 1)
      return nullptr;
  return R.reshaped(X);
}

/// add(pad(x), pad(y)) along one axis where y's range starts where x's
/// ends (or the other way round) -> pad(concat(x, y)): the adjoints of
/// slices that tile an axis (an LSTM's gates) sum into one copy instead of
/// a zero-filled tensor per slice and an add.
Value *addOfAdjacentPads(Rewriter &R) {
  const Op *P = Rewriter::defOf(R.operand(0), K::Pad);
  const Op *Q = Rewriter::defOf(R.operand(1), K::Pad);
  if (!P || !Q || !R.singleUse(R.operand(0)) || !R.singleUse(R.operand(1)) ||
      P->intAttr("axis") != Q->intAttr("axis") ||
      R.operand(0)->Type != R.O.Result.Type ||
      R.operand(1)->Type != R.O.Result.Type)
    return nullptr;
  int64_t Axis = P->intAttr("axis");
  auto Range = [&](const Op *D) {
    int64_t Begin = D->intAttr("before");
    return std::pair(Begin, Begin + D->Operands[0]->Type.Dims[Axis]);
  };
  auto [PB, PE] = Range(P);
  auto [QB, QE] = Range(Q);
  if (QB == PE)
    std::swap(P, Q);
  else if (PB != QE)
    return nullptr;
  // Q's range now comes first.
  Value *C =
      R.create(K::Concat, {Q->Operands[0], P->Operands[0]}, {{"axis", Axis}});
  if (!C)
    return nullptr;
  return R.create(K::Pad, {C},
                  {{"axis", Axis},
                   {"before", Q->intAttr("before")},
                   {"after", P->intAttr("after")}});
}

/// concat(..., concat(a, b), ...) along one axis -> concat(..., a, b, ...).
Value *concatOfConcat(Rewriter &R) {
  std::vector<Value *> Flat;
  bool Changed = false;
  for (Value *V : R.O.Operands) {
    const Op *In = Rewriter::defOf(V, K::Concat);
    if (In && R.singleUse(V) && In->intAttr("axis") == R.O.intAttr("axis")) {
      Flat.insert(Flat.end(), In->Operands.begin(), In->Operands.end());
      Changed = true;
    } else {
      Flat.push_back(V);
    }
  }
  return Changed ? R.create(K::Concat, Flat, R.O.Attributes) : nullptr;
}

/// The rows. Commutative ops list both operand orders.
const std::vector<Rewrite> &rewrites() {
  static const std::vector<Rewrite> Table = {
      {"add(x, 0) -> x", K::Add,
       [](Rewriter &R) { return dropConstant(R, 1, 0); }},
      {"add(0, x) -> x", K::Add,
       [](Rewriter &R) { return dropConstant(R, 0, 0); }},
      {"add(x, neg(y)) -> sub(x, y)", K::Add,
       [](Rewriter &R) { return foldNeg(R, 1, K::Sub); }},
      {"add(neg(y), x) -> sub(x, y)", K::Add,
       [](Rewriter &R) { return foldNeg(R, 0, K::Sub); }},
      {"sub(x, 0) -> x", K::Sub,
       [](Rewriter &R) { return dropConstant(R, 1, 0); }},
      {"sub(0, x) -> neg(x)", K::Sub,
       [](Rewriter &R) { return negated(R, 0, 0); }},
      {"sub(x, neg(y)) -> add(x, y)", K::Sub,
       [](Rewriter &R) { return foldNeg(R, 1, K::Add); }},
      {"mul(x, 1) -> x", K::Mul,
       [](Rewriter &R) { return dropConstant(R, 1, 1); }},
      {"mul(1, x) -> x", K::Mul,
       [](Rewriter &R) { return dropConstant(R, 0, 1); }},
      {"mul(x, 0) -> 0", K::Mul,
       [](Rewriter &R) { return absorbing(R, 1, 0, 0); }},
      {"mul(0, x) -> 0", K::Mul,
       [](Rewriter &R) { return absorbing(R, 0, 0, 0); }},
      {"mul(x, -1) -> neg(x)", K::Mul,
       [](Rewriter &R) { return negated(R, 1, -1); }},
      {"mul(-1, x) -> neg(x)", K::Mul,
       [](Rewriter &R) { return negated(R, 0, -1); }},
      {"div(x, 1) -> x", K::Div,
       [](Rewriter &R) { return dropConstant(R, 1, 1); }},
      {"pow(x, 1) -> x", K::Pow,
       [](Rewriter &R) { return dropConstant(R, 1, 1); }},
      {"pow(x, 0) -> 1", K::Pow,
       [](Rewriter &R) { return absorbing(R, 1, 0, 1); }},
      {"pow(x, 2) -> mul(x, x)", K::Pow,
       [](Rewriter &R) {
         return Rewriter::isConstant(R.operand(1), 2)
                    ? R.fit(R.create(K::Mul, {R.operand(0), R.operand(0)}))
                    : nullptr;
       }},
      {"neg(neg(x)) -> x", K::Neg,
       [](Rewriter &R) { return inverseOf(R, K::Neg); }},
      {"exp(log(x)) -> x", K::Exp,
       [](Rewriter &R) { return inverseOf(R, K::Log); }},
      {"log(exp(x)) -> x", K::Log,
       [](Rewriter &R) { return inverseOf(R, K::Exp); }},
      {"transpose(x, identity) -> x", K::Transpose,
       [](Rewriter &R) {
         const std::vector<int64_t> *P = R.O.listAttr("perm");
         return P && isIdentityPerm(*P) ? R.fit(R.operand(0)) : nullptr;
       }},
      {"transpose(transpose(x, p), q) -> transpose(x, p[q])", K::Transpose,
       transposeOfTranspose},
      {"transpose(matmul(a, b)) -> matmul(b, a)", K::Transpose,
       transposeOfMatMul},
      {"reshape(x) to x's shape -> x", K::Reshape, sameType},
      {"reshape(reshape(x)) -> reshape(x)", K::Reshape,
       [](Rewriter &R) {
         const Op *In = Rewriter::defOf(R.operand(0), K::Reshape);
         return In ? R.reshaped(In->Operands[0]) : nullptr;
       }},
      {"reshape(reduce(x, keepdims)) -> reduce(x)", K::Reshape,
       reshapeOfKeptReduce},
      {"broadcast_to(x) to x's shape -> x", K::BroadcastTo, sameType},
      {"broadcast_to(broadcast_to(x)) -> broadcast_to(x)", K::BroadcastTo,
       [](Rewriter &R) {
         const Op *In = Rewriter::defOf(R.operand(0), K::BroadcastTo);
         return In ? R.fit(In->Operands[0]) : nullptr;
       }},
      {"slice(x) of a whole axis -> x", K::Slice, sameType},
      {"pad(x) by nothing -> x", K::Pad, sameType},
      {"concat(x) of one operand -> x", K::Concat, sameType},
      {"concat(concat(a, b), c) -> concat(a, b, c)", K::Concat, concatOfConcat},
      {"add(pad(x), pad(y)) of adjacent ranges -> pad(concat(x, y))", K::Add,
       addOfAdjacentPads},
      {"reduce_sum(x) over size-1 axes -> reshape(x)", K::ReduceSum,
       trivialReduce},
      {"reduce_mean(x) over size-1 axes -> reshape(x)", K::ReduceMean,
       trivialReduce},
      {"reduce_max(x) over size-1 axes -> reshape(x)", K::ReduceMax,
       trivialReduce},
      {"reduce_min(x) over size-1 axes -> reshape(x)", K::ReduceMin,
       trivialReduce},
  };
  return Table;
}

/// One sweep over \p F; true when some op was rewritten.
bool sweep(Function &F) {
  std::map<const Value *, unsigned> Uses = F.useCounts();
  std::unordered_map<Value *, Value *> Replaced;
  std::vector<std::unique_ptr<Op>> Kept, Dropped;
  for (auto &O : F.Ops) {
    for (Value *&V : O->Operands)
      if (auto It = Replaced.find(V); It != Replaced.end())
        V = It->second;
    Value *New = nullptr;
    std::vector<std::unique_ptr<Op>> NewOps;
    for (const Rewrite &RW : rewrites()) {
      if (RW.Root != O->Kind)
        continue;
      Rewriter R(*O, Uses);
      New = RW.Fn(R);
      if (New && New->Type == O->Result.Type) {
        NewOps = R.takeOps();
        break;
      }
      New = nullptr;
    }
    if (!New) {
      Kept.push_back(std::move(O));
      continue;
    }
    for (auto &N : NewOps)
      Kept.push_back(std::move(N));
    Replaced[&O->Result] = New;
    Dropped.push_back(std::move(O)); // alive until its uses are redirected
  }
  F.Ops = std::move(Kept);
  for (Result &R : F.Results)
    if (auto It = Replaced.find(R.V); It != Replaced.end())
      R.V = It->second;
  eliminateDeadOps(F);
  return !Replaced.empty();
}

class CanonicalizePass : public Pass {
public:
  const char *name() const override { return "canonicalize"; }
  bool run(Module &M, PassContext &) override {
    for (auto &F : M.Functions)
      for (unsigned I = 0; I < 100 && sweep(*F); ++I)
        ;
    return true;
  }
};

} // namespace

std::unique_ptr<Pass> createCanonicalizePass() {
  return std::make_unique<CanonicalizePass>();
}

} // namespace adj
