//===- ShapeRules.cpp - Result types from the op table's shape rules ------===//
///
/// One function per shape rule of Ops.def, `rule<Rule>` for the entry's Rule
/// column (declared from the table, so a rule named there and not written
/// here fails to link). inferType first applies the entry's arity and DTypes
/// rule, then the shape rule, which checks ranks and attributes and returns
/// the result type, or a user-readable message saying why the operands do
/// not fit. The symbolic batch dim (kBatch) only
/// matches itself or a broadcastable 1; mixing it with a static size is an
/// error, since the batch size is unknown until run time.
///
//===----------------------------------------------------------------------===//
#include "ir/Conv2d.h"
#include "ir/IR.h"
#include "ir/Pool2d.h"

#include <algorithm>
#include <fmt/format.h>

namespace adj {

static TypeOrError fail(std::string Msg) {
  return {std::nullopt, std::move(Msg)};
}
static TypeOrError ok(TensorType T) { return {std::move(T), ""}; }

std::optional<std::vector<int64_t>>
broadcastShapes(const std::vector<int64_t> &A, const std::vector<int64_t> &B) {
  size_t R = std::max(A.size(), B.size());
  std::vector<int64_t> Out(R);
  for (size_t I = 0; I < R; ++I) {
    int64_t DA = I < R - A.size() ? 1 : A[I - (R - A.size())];
    int64_t DB = I < R - B.size() ? 1 : B[I - (R - B.size())];
    if (DA == DB || DB == 1)
      Out[I] = DA;
    else if (DA == 1)
      Out[I] = DB;
    else
      return std::nullopt;
  }
  return Out;
}

std::optional<int64_t> normAxis(int64_t Axis, unsigned Rank) {
  if (Axis < 0)
    Axis += Rank;
  if (Axis < 0 || Axis >= int64_t(Rank))
    return std::nullopt;
  return Axis;
}

std::vector<int64_t> reduceAxes(const Attrs &A, unsigned Rank) {
  auto It = A.find("axes");
  std::vector<int64_t> Axes;
  if (It == A.end() ||
      !std::holds_alternative<std::vector<int64_t>>(It->second)) {
    for (unsigned I = 0; I < Rank; ++I)
      Axes.push_back(I);
    return Axes;
  }
  for (int64_t X : std::get<std::vector<int64_t>>(It->second))
    if (auto N = normAxis(X, Rank))
      Axes.push_back(*N);
  std::sort(Axes.begin(), Axes.end());
  Axes.erase(std::unique(Axes.begin(), Axes.end()), Axes.end());
  return Axes;
}

static const std::vector<int64_t> *getList(const Attrs &A, const char *N) {
  auto It = A.find(N);
  if (It == A.end())
    return nullptr;
  return std::get_if<std::vector<int64_t>>(&It->second);
}

static std::optional<int64_t> getInt(const Attrs &A, const char *N) {
  auto It = A.find(N);
  if (It == A.end())
    return std::nullopt;
  if (auto *I = std::get_if<int64_t>(&It->second))
    return *I;
  return std::nullopt;
}

static bool getBool(const Attrs &A, const char *N) {
  auto It = A.find(N);
  if (It == A.end())
    return false;
  auto *B = std::get_if<bool>(&It->second);
  return B && *B;
}

/// Checks the `axes` attribute (if present) against \p Rank.
static std::string checkAxes(const Attrs &A, unsigned Rank) {
  auto It = A.find("axes");
  if (It == A.end())
    return "";
  auto *L = std::get_if<std::vector<int64_t>>(&It->second);
  if (!L)
    return "attribute 'axes' must be a list of integers";
  for (int64_t X : *L)
    if (!normAxis(X, Rank))
      return fmt::format("axis {} is out of range for rank {}", X, Rank);
  return "";
}

static std::string dimsStr(const std::vector<int64_t> &D,
                           const std::string &B) {
  return TensorType(DType::F32, D).str(B).substr(3);
}

namespace {

/// What a shape rule sees: the op, its operand types and attributes, the
/// batch dim's name (for messages) and the operands' common dtype.
struct ShapeQuery {
  OpKind K;
  const OpInfo &Info;
  const std::vector<TensorType> &Ops;
  const Attrs &A;
  const std::string &B;
  DType Elt;
};

#define OP(Name, Mnemonic, Arity, Rule, Props, DTypes, Fusion, Attrs, Doc)     \
  TypeOrError rule##Rule(const ShapeQuery &Q);
#include "ir/Ops.def"

/// The DTypes column: float operands, i32 labels, one float dtype.
std::string checkDTypes(const ShapeQuery &Q) {
  const std::vector<TensorType> &Ops = Q.Ops;
  for (size_t I = 0; I < Ops.size() && Q.Info.DTypes != DTypeRule::Any; ++I) {
    if (Q.Info.DTypes == DTypeRule::Labels && I + 1 == Ops.size()) {
      if (Ops[I].Elt != DType::I32)
        return fmt::format("'{}' expects i32 labels, got {}", Q.Info.Mnemonic,
                           Ops[I].str(Q.B));
      continue;
    }
    if (!isFloat(Ops[I].Elt))
      return fmt::format("'{}' expects a float tensor, got {}", Q.Info.Mnemonic,
                         Ops[I].str(Q.B));
  }
  for (size_t I = 1; I < Ops.size(); ++I)
    if (isFloat(Ops[I].Elt) && isFloat(Q.Elt) && Ops[I].Elt != Q.Elt)
      return fmt::format("'{}' mixes {} and {}", Q.Info.Mnemonic,
                         dtypeName(Q.Elt), dtypeName(Ops[I].Elt));
  return "";
}

TypeOrError ruleExplicit(const ShapeQuery &Q) {
  return fail(
      fmt::format("'{}' needs an explicit result type", Q.Info.Mnemonic));
}

/// A float scalar of the operands' float dtype (f32 for integer operands).
TypeOrError scalarResult(const ShapeQuery &Q) {
  return ok(TensorType::scalar(isFloat(Q.Elt) ? Q.Elt : DType::F32));
}

TypeOrError ruleCount(const ShapeQuery &Q) {
  if (std::string E = checkAxes(Q.A, Q.Ops[0].rank()); !E.empty())
    return fail(E);
  return scalarResult(Q);
}

/// Logits [..., C] and labels of the leading dims to a scalar.
TypeOrError ruleClassify(const ShapeQuery &Q) {
  const TensorType &L = Q.Ops[0], &Y = Q.Ops[1];
  if (L.rank() < 1)
    return fail(fmt::format("'{}' expects logits of rank >= 1, got {}",
                            Q.Info.Mnemonic, L.str(Q.B)));
  std::vector<int64_t> Want(L.Dims.begin(), L.Dims.end() - 1);
  if (Y.Dims != Want)
    return fail(fmt::format(
        "'{}' expects labels of shape {} for logits {}, got {}",
        Q.Info.Mnemonic, dimsStr(Want, Q.B), L.str(Q.B), Y.str(Q.B)));
  return scalarResult(Q);
}

TypeOrError ruleSameAsFirst(const ShapeQuery &Q) { return ok(Q.Ops[0]); }

/// (dy, x) of one type, the result of that type.
TypeOrError ruleUnaryGrad(const ShapeQuery &Q) {
  if (Q.Ops[0] != Q.Ops[1])
    return fail(fmt::format("'{}' expects operands of one type, got {} and {}",
                            Q.Info.Mnemonic, Q.Ops[0].str(Q.B),
                            Q.Ops[1].str(Q.B)));
  return ok(Q.Ops[0]);
}

/// The first operand's type, with an integer `axis` within its rank.
TypeOrError ruleAlongAxis(const ShapeQuery &Q) {
  auto Axis = getInt(Q.A, "axis");
  if (!Axis || !normAxis(*Axis, Q.Ops[0].rank()))
    return fail(fmt::format("'{}' needs an integer 'axis' within rank {}",
                            Q.Info.Mnemonic, Q.Ops[0].rank()));
  return Q.Ops.size() == 2 ? ruleUnaryGrad(Q) : ok(Q.Ops[0]);
}

TypeOrError ruleCrossEntropyGrad(const ShapeQuery &Q) {
  const std::vector<TensorType> &Ops = Q.Ops;
  std::vector<int64_t> Want(Ops[1].Dims.begin(),
                            Ops[1].Dims.end() - (Ops[1].rank() ? 1 : 0));
  if (!Ops[0].isScalar() || Ops[1].rank() < 1 || Ops[2].Dims != Want)
    return fail("'cross_entropy_grad' expects (f32[], logits, labels)");
  return ok(Ops[1]);
}

TypeOrError ruleBroadcast(const ShapeQuery &Q) {
  const std::vector<TensorType> &Ops = Q.Ops;
  auto D = broadcastShapes(Ops[0].Dims, Ops[1].Dims);
  if (!D)
    return fail(fmt::format("shapes {} and {} do not broadcast",
                            Ops[0].str(Q.B), Ops[1].str(Q.B)));
  if (std::count(D->begin(), D->end(), kBatch) > 1)
    return fail(fmt::format("shapes {} and {} broadcast to {}, which has "
                            "the batch dim twice",
                            Ops[0].str(Q.B), Ops[1].str(Q.B),
                            TensorType(Q.Elt, *D).str(Q.B)));
  return ok(TensorType(Q.Elt, *D));
}

TypeOrError ruleTranspose(const ShapeQuery &Q) {
  const TensorType &X = Q.Ops[0];
  const std::vector<int64_t> *Perm = getList(Q.A, "perm");
  if (!Perm)
    return fail("'transpose' needs a 'perm' list");
  if (Perm->size() != X.rank())
    return fail(
        fmt::format("permutation of {} axes for {}", Perm->size(), X.str(Q.B)));
  std::vector<bool> Seen(X.rank());
  std::vector<int64_t> Out;
  for (int64_t P : *Perm) {
    if (P < 0 || P >= int64_t(X.rank()) || Seen[P])
      return fail(fmt::format("[{}] is not a permutation of {} axes",
                              fmt::join(*Perm, ", "), X.rank()));
    Seen[P] = true;
    Out.push_back(X.Dims[P]);
  }
  return ok(TensorType(X.Elt, Out));
}

TypeOrError ruleReshape(const ShapeQuery &Q) {
  const TensorType &X = Q.Ops[0];
  auto *S = getList(Q.A, "shape");
  if (!S)
    return fail("'reshape' needs a 'shape' list");
  int64_t InStatic = 1, OutStatic = 1;
  unsigned InBatch = 0, OutBatch = 0;
  for (int64_t D : X.Dims)
    D == kBatch ? ++InBatch : InStatic *= D;
  for (int64_t D : *S) {
    if (D < kBatch)
      return fail(fmt::format("bad dimension {} in reshape", D));
    D == kBatch ? ++OutBatch : OutStatic *= D;
  }
  if (InBatch != OutBatch || InStatic != OutStatic)
    return fail(
        fmt::format("cannot reshape {} to {}", X.str(Q.B), dimsStr(*S, Q.B)));
  return ok(TensorType(X.Elt, *S));
}

TypeOrError ruleBroadcastTo(const ShapeQuery &Q) {
  auto *S = getList(Q.A, "shape");
  if (!S)
    return fail("'broadcast_to' needs a 'shape' list");
  auto D = broadcastShapes(Q.Ops[0].Dims, *S);
  if (!D || *D != *S)
    return fail(fmt::format("cannot broadcast {} to {}", Q.Ops[0].str(Q.B),
                            dimsStr(*S, Q.B)));
  return ok(TensorType(Q.Ops[0].Elt, *S));
}

/// slice and pad: `axis` with (`start`, `end`) or (`before`, `after`).
TypeOrError sliceOrPad(const ShapeQuery &Q, bool IsSlice) {
  const TensorType &X = Q.Ops[0];
  const char *Lo = IsSlice ? "start" : "before";
  const char *Hi = IsSlice ? "end" : "after";
  auto Axis = getInt(Q.A, "axis");
  auto L = getInt(Q.A, Lo), H = getInt(Q.A, Hi);
  if (!Axis || !L || !H)
    return fail(fmt::format("'{}' needs integer 'axis', '{}' and '{}'",
                            Q.Info.Mnemonic, Lo, Hi));
  if (*Axis < 0 || *Axis >= int64_t(X.rank()))
    return fail(
        fmt::format("axis {} is out of range for {}", *Axis, X.str(Q.B)));
  int64_t D = X.Dims[*Axis];
  if (D == kBatch)
    return fail(fmt::format("'{}' cannot change the batch dim {} of {}",
                            Q.Info.Mnemonic, Q.B, X.str(Q.B)));
  std::vector<int64_t> Out = X.Dims;
  if (IsSlice) {
    if (!(0 <= *L && *L < *H && *H <= D))
      return fail(fmt::format("slice [{}:{}] is empty or out of range for "
                              "axis {} of {}",
                              *L, *H, *Axis, X.str(Q.B)));
    Out[*Axis] = *H - *L;
  } else {
    if (*L < 0 || *H < 0)
      return fail(fmt::format("'pad' needs non-negative 'before' and "
                              "'after', got {} and {}",
                              *L, *H));
    Out[*Axis] = D + *L + *H;
  }
  return ok(TensorType(X.Elt, Out));
}

TypeOrError ruleSlice(const ShapeQuery &Q) { return sliceOrPad(Q, true); }
TypeOrError rulePad(const ShapeQuery &Q) { return sliceOrPad(Q, false); }

TypeOrError ruleConcat(const ShapeQuery &Q) {
  const std::vector<TensorType> &Ops = Q.Ops;
  if (Ops.empty())
    return fail("'concat' needs at least one operand");
  const TensorType &X = Ops[0];
  auto Axis = getInt(Q.A, "axis");
  if (!Axis || *Axis < 0 || *Axis >= int64_t(X.rank()))
    return fail(fmt::format("'concat' needs an integer 'axis' within rank "
                            "{}",
                            X.rank()));
  std::vector<int64_t> Out = X.Dims;
  Out[*Axis] = 0;
  for (const TensorType &T : Ops) {
    std::vector<int64_t> Rest = T.Dims;
    if (T.rank() == X.rank())
      Rest[*Axis] = 0;
    if (T.Elt != X.Elt || Rest != Out)
      return fail(fmt::format("'concat' along axis {} expects tensors that "
                              "differ only in that axis, got {} and {}",
                              *Axis, X.str(Q.B), T.str(Q.B)));
    if (T.Dims[*Axis] == kBatch)
      return fail(fmt::format("'concat' cannot join along the batch dim {} "
                              "of {}",
                              Q.B, T.str(Q.B)));
  }
  for (const TensorType &T : Ops)
    Out[*Axis] += T.Dims[*Axis];
  return ok(TensorType(X.Elt, Out));
}

TypeOrError ruleReduce(const ShapeQuery &Q) {
  const TensorType &X = Q.Ops[0];
  if (std::string E = checkAxes(Q.A, X.rank()); !E.empty())
    return fail(E);
  std::vector<int64_t> Axes = reduceAxes(Q.A, X.rank());
  bool Keep = getBool(Q.A, "keepdims");
  std::vector<int64_t> Out;
  for (unsigned I = 0; I < X.rank(); ++I) {
    bool Reduced = std::binary_search(Axes.begin(), Axes.end(), I);
    if (!Reduced)
      Out.push_back(X.Dims[I]);
    else if (Keep)
      Out.push_back(1);
  }
  return ok(TensorType(X.Elt, Out));
}

/// transpose_a / transpose_b: the operand's last two axes are swapped
/// before the product (the backward pass's X^T @ dY and dY @ W^T).
TypeOrError ruleMatMul(const ShapeQuery &Q) {
  const std::vector<TensorType> &Ops = Q.Ops;
  const std::string &B = Q.B;
  bool Epilogue = Q.A.count("epilogue");
  if (Ops.size() < 2 || (!Epilogue && Ops.size() != 2))
    return fail(fmt::format("'matmul' expects 2 operands{}, got {}",
                            Epilogue ? " or more" : " without an 'epilogue'",
                            Ops.size()));
  const TensorType &L = Ops[0], &R = Ops[1];
  if (L.rank() < 2 || R.rank() < 2)
    return fail(fmt::format("matmul expects operands of rank >= 2, got {} "
                            "@ {}",
                            L.str(B), R.str(B)));
  bool TA = getBool(Q.A, "transpose_a"), TB = getBool(Q.A, "transpose_b");
  int64_t LM = L.Dims[L.rank() - (TA ? 1 : 2)];
  int64_t LK = L.Dims[L.rank() - (TA ? 2 : 1)];
  int64_t RK = R.Dims[R.rank() - (TB ? 1 : 2)];
  int64_t RN = R.Dims[R.rank() - (TB ? 2 : 1)];
  if (LK != RK)
    return fail(fmt::format("matmul inner dimensions differ: {}{} @ {}{}",
                            L.str(B), TA ? "^T" : "", R.str(B),
                            TB ? "^T" : ""));
  std::vector<int64_t> LB(L.Dims.begin(), L.Dims.end() - 2);
  std::vector<int64_t> RB(R.Dims.begin(), R.Dims.end() - 2);
  if (getBool(Q.A, "reduce_leading")) {
    if (!TA || TB || LB.empty() || LB != RB)
      return fail(fmt::format("matmul 'reduce_leading' needs 'transpose_a', "
                              "no 'transpose_b' and operands with the same "
                              "leading dims, got {}^T @ {}{}",
                              L.str(B), R.str(B), TB ? "^T" : ""));
    LB.clear();
    RB.clear();
  }
  auto Out = broadcastShapes(LB, RB);
  if (!Out)
    return fail(fmt::format("matmul batch dimensions do not broadcast: {} "
                            "@ {}",
                            L.str(B), R.str(B)));
  Out->push_back(LM);
  Out->push_back(RN);
  if (std::count(Out->begin(), Out->end(), kBatch) > 1)
    return fail(fmt::format("matmul {} @ {} would have the batch dim twice",
                            L.str(B), R.str(B)));
  // The epilogue's inputs broadcast to the product without changing it.
  for (size_t I = 2; I < Ops.size(); ++I)
    if (Ops[I].rank() > Out->size() ||
        broadcastShapes(Ops[I].Dims, *Out) != *Out)
      return fail(fmt::format("matmul epilogue operand {} does not "
                              "broadcast to the product {}",
                              Ops[I].str(B), TensorType(Q.Elt, *Out).str(B)));
  return ok(TensorType(Q.Elt, *Out));
}

/// The message for conv2d attributes Conv2dGeometry rejects.
std::string conv2dAttrsError(const ShapeQuery &Q) {
  return fmt::format("'{}' needs 'stride' and 'dilation' of 2 positive "
                     "integers, 'padding' of 4 non-negative integers and a "
                     "positive 'groups'",
                     Q.Info.Mnemonic);
}

/// conv2d's result for input \p X and weights \p W, or why they do not
/// fit (in the model's terms: channels, groups, kernel and input sizes).
/// The adjoint ops check their operands by rebuilding the forward's.
TypeOrError conv2dResult(const ShapeQuery &Q, const TensorType &X,
                         const TensorType &W) {
  const char *M = Q.Info.Mnemonic;
  auto G = Conv2dGeometry::of(Q.A);
  if (!G)
    return fail(conv2dAttrsError(Q));
  if (X.rank() != 4 || std::count(X.Dims.begin() + 1, X.Dims.end(), kBatch))
    return fail(fmt::format("{} expects an input of rank 4 [N, C, H, W] with "
                            "static C, H and W, got {}",
                            M, X.str(Q.B)));
  if (W.rank() != 4 || std::count(W.Dims.begin(), W.Dims.end(), kBatch))
    return fail(fmt::format("{} expects static weights of rank 4 [O, "
                            "C/groups, KH, KW], got {}",
                            M, W.str(Q.B)));
  int64_t C = X.Dims[1], O = W.Dims[0], Gr = G->Groups;
  if (C % Gr)
    return fail(fmt::format("{}: {} input channels are not divisible by "
                            "groups = {}",
                            M, C, Gr));
  if (O % Gr)
    return fail(fmt::format("{}: {} output channels (weights {}) are not "
                            "divisible by groups = {}",
                            M, O, W.str(Q.B), Gr));
  if (W.Dims[1] * Gr != C)
    return fail(fmt::format("{} weights {} with groups = {} expect {} input "
                            "channels, got {} in {}",
                            M, W.str(Q.B), Gr, W.Dims[1] * Gr, C, X.str(Q.B)));
  int64_t KH = W.Dims[2], KW = W.Dims[3];
  if (G->outSize(0, X.Dims[2], KH) < 1 || G->outSize(1, X.Dims[3], KW) < 1) {
    std::string Dil =
        G->Dilation == std::array<int64_t, 2>{1, 1}
            ? ""
            : fmt::format(" with dilation [{}] spans {}x{}, which",
                          fmt::join(G->Dilation, ", "), G->span(0, KH),
                          G->span(1, KW));
    return fail(fmt::format("{} kernel {}x{}{} is larger than the padded "
                            "input {}x{}",
                            M, KH, KW, Dil, G->padded(0, X.Dims[2]),
                            G->padded(1, X.Dims[3])));
  }
  return ok(TensorType(Q.Elt, {X.Dims[0], O, G->outSize(0, X.Dims[2], KH),
                               G->outSize(1, X.Dims[3], KW)}));
}

/// Two operands, or more with an `epilogue` (the fuse pass's), whose
/// inputs broadcast to the result and are constant along its images and
/// pixels (a bias [O, 1, 1], a scalar): the kernel reads one per channel.
TypeOrError ruleConv2d(const ShapeQuery &Q) {
  const std::vector<TensorType> &Ops = Q.Ops;
  bool Epilogue = Q.A.count("epilogue");
  if (Ops.size() < 2 || (!Epilogue && Ops.size() != 2))
    return fail(fmt::format("'conv2d' expects 2 operands{}, got {}",
                            Epilogue ? " or more" : " without an 'epilogue'",
                            Ops.size()));
  TypeOrError Y = conv2dResult(Q, Ops[0], Ops[1]);
  if (!Y.Type)
    return Y;
  for (size_t I = 2; I < Ops.size(); ++I) {
    const TensorType &E = Ops[I];
    bool PerChannel =
        E.rank() <= 4 && broadcastShapes(E.Dims, Y.Type->Dims) == Y.Type->Dims;
    for (size_t FromEnd : {1, 2, 4})
      PerChannel &= FromEnd > E.rank() || E.Dims[E.rank() - FromEnd] == 1;
    if (!PerChannel)
      return fail(fmt::format("conv2d epilogue operand {} does not broadcast "
                              "to the result {} along its channels only",
                              E.str(Q.B), Y.Type->str(Q.B)));
  }
  return Y;
}

/// An adjoint op's \p Result after comparing its operand dy with the
/// forward's result \p Y (conv2d's and the pools' adjoints).
TypeOrError adjointResult(const ShapeQuery &Q, const TypeOrError &Y,
                          TensorType Result) {
  if (!Y.Type)
    return Y;
  if (*Y.Type != Q.Ops[0])
    return fail(fmt::format("'{}' expects dy of type {}, got {}",
                            Q.Info.Mnemonic, Y.Type->str(Q.B),
                            Q.Ops[0].str(Q.B)));
  return ok(std::move(Result));
}

/// The two spatial sizes of attribute \p N, or null.
static const std::vector<int64_t> *sizeAttr(const Attrs &A, const char *N) {
  const std::vector<int64_t> *S = getList(A, N);
  return S && S->size() == 2 && (*S)[0] > 0 && (*S)[1] > 0 ? S : nullptr;
}

/// (dy, w) -> dx [N, C, input_size...].
TypeOrError ruleConv2dGradInput(const ShapeQuery &Q) {
  const TensorType &DY = Q.Ops[0], &W = Q.Ops[1];
  const std::vector<int64_t> *HW = sizeAttr(Q.A, "input_size");
  auto G = Conv2dGeometry::of(Q.A);
  if (!G)
    return fail(conv2dAttrsError(Q));
  if (!HW || DY.rank() != 4 || W.rank() != 4)
    return fail(fmt::format("'{}' expects dy and w of rank 4 and an "
                            "'input_size' of 2 positive integers",
                            Q.Info.Mnemonic));
  TensorType X(Q.Elt, {DY.Dims[0], W.Dims[1] * G->Groups, (*HW)[0], (*HW)[1]});
  return adjointResult(Q, conv2dResult(Q, X, W), X);
}

/// (dy, x) -> dw [O, C/groups, kernel_size...].
TypeOrError ruleConv2dGradWeight(const ShapeQuery &Q) {
  const TensorType &DY = Q.Ops[0], &X = Q.Ops[1];
  const std::vector<int64_t> *K = sizeAttr(Q.A, "kernel_size");
  auto G = Conv2dGeometry::of(Q.A);
  if (!G)
    return fail(conv2dAttrsError(Q));
  if (!K || DY.rank() != 4 || X.rank() != 4)
    return fail(fmt::format("'{}' expects dy and x of rank 4 and a "
                            "'kernel_size' of 2 positive integers",
                            Q.Info.Mnemonic));
  TensorType W(Q.Elt, {DY.Dims[1], X.Dims[1] / G->Groups, (*K)[0], (*K)[1]});
  return adjointResult(Q, conv2dResult(Q, X, W), W);
}

/// "3" for a square pair, else "3x2" (rows by columns).
static std::string pairStr(int64_t H, int64_t W) {
  return H == W ? std::to_string(H) : fmt::format("{}x{}", H, W);
}

/// max_pool2d's or avg_pool2d's result for input \p X, or why the window
/// does not fit it (the adjoint ops rebuild the forward's input).
TypeOrError pool2dResult(const ShapeQuery &Q, const TensorType &X) {
  const char *M = Q.Info.Mnemonic;
  auto G = Pool2dGeometry::of(Q.A);
  if (!G)
    return fail(fmt::format("'{}' needs 'kernel' and 'stride' of 2 positive "
                            "integers and 'padding' of 2 non-negative "
                            "integers",
                            M));
  if (X.rank() != 4 || std::count(X.Dims.begin() + 1, X.Dims.end(), kBatch))
    return fail(fmt::format("{} expects an input of rank 4 [N, C, H, W] with "
                            "static C, H and W, got {}",
                            M, X.str(Q.B)));
  const auto &K = G->Kernel, &P = G->Padding;
  if (!G->paddingFits(0) || !G->paddingFits(1))
    return fail(fmt::format("padding {} is more than half the window {}",
                            P[0] == P[1] ? std::to_string(P[0])
                                         : fmt::format("[{}, {}]", P[0], P[1]),
                            pairStr(K[0], K[1])));
  int64_t H = X.Dims[2], W = X.Dims[3];
  if (G->outSize(0, H) < 1 || G->outSize(1, W) < 1) {
    return fail(fmt::format("window {} larger than the padded input ({})",
                            pairStr(K[0], K[1]),
                            pairStr(G->padded(0, H), G->padded(1, W))));
  }
  return ok(TensorType(
      Q.Elt, {X.Dims[0], X.Dims[1], G->outSize(0, H), G->outSize(1, W)}));
}

TypeOrError rulePool2d(const ShapeQuery &Q) {
  return pool2dResult(Q, Q.Ops[0]);
}

/// (dy, x) -> dx, x's type.
TypeOrError ruleMaxPool2dGrad(const ShapeQuery &Q) {
  return adjointResult(Q, pool2dResult(Q, Q.Ops[1]), Q.Ops[1]);
}

/// dy -> dx [N, C, input_size...].
TypeOrError ruleAvgPool2dGrad(const ShapeQuery &Q) {
  const TensorType &DY = Q.Ops[0];
  const std::vector<int64_t> *HW = sizeAttr(Q.A, "input_size");
  if (!HW || DY.rank() != 4)
    return fail(fmt::format("'{}' expects dy of rank 4 and an 'input_size' "
                            "of 2 positive integers",
                            Q.Info.Mnemonic));
  TensorType X(Q.Elt, {DY.Dims[0], DY.Dims[1], (*HW)[0], (*HW)[1]});
  return adjointResult(Q, pool2dResult(Q, X), X);
}

/// dropout(x, seed, step): x a float tensor, an i32[] seed, a float scalar
/// step; 0 <= p < 1 and a non-negative i32 id. The result is x's type.
TypeOrError ruleDropout(const ShapeQuery &Q) {
  const TensorType &X = Q.Ops[0], &Seed = Q.Ops[1], &Step = Q.Ops[2];
  if (!isFloat(X.Elt))
    return fail(
        fmt::format("'dropout' expects a float tensor, got {}", X.str(Q.B)));
  if (Seed.Elt != DType::I32 || !Seed.isScalar())
    return fail(
        fmt::format("'dropout' expects an i32[] seed, got {}", Seed.str(Q.B)));
  if (!isFloat(Step.Elt) || !Step.isScalar())
    return fail(fmt::format("'dropout' expects a float scalar step, got {}",
                            Step.str(Q.B)));
  auto P = Q.A.find("p");
  const double *PV = P == Q.A.end() ? nullptr : std::get_if<double>(&P->second);
  if (!PV || !(*PV >= 0 && *PV < 1))
    return fail(fmt::format("'dropout' needs a probability 'p' in [0, 1), "
                            "got {}",
                            PV ? attrStr(P->second) : "none"));
  auto Id = getInt(Q.A, "id");
  if (!Id || *Id < 0 || *Id > INT32_MAX)
    return fail("'dropout' needs an integer 'id' in [0, 2^31)");
  return ok(X);
}

/// embedding(table, ids): a static float table [V, D] and i32 ids of any
/// shape to [ids..., D].
TypeOrError ruleEmbedding(const ShapeQuery &Q) {
  const TensorType &Table = Q.Ops[0], &Ids = Q.Ops[1];
  if (Table.rank() != 2 || Table.Dims[0] == kBatch || Table.Dims[1] == kBatch)
    return fail(fmt::format("embedding expects a static table of rank 2 [V, "
                            "D], got {}",
                            Table.str(Q.B)));
  std::vector<int64_t> Out = Ids.Dims;
  Out.push_back(Table.Dims[1]);
  return ok(TensorType(Table.Elt, Out));
}

/// embedding_grad(dy, ids) with `rows` V: dy [ids..., D] to [V, D].
TypeOrError ruleEmbeddingGrad(const ShapeQuery &Q) {
  const TensorType &DY = Q.Ops[0], &Ids = Q.Ops[1];
  auto Rows = getInt(Q.A, "rows");
  if (!Rows || *Rows < 1)
    return fail("'embedding_grad' needs a positive integer 'rows'");
  std::vector<int64_t> Lead(DY.Dims.begin(),
                            DY.Dims.end() - (DY.rank() ? 1 : 0));
  if (DY.rank() < 1 || DY.Dims.back() == kBatch || Lead != Ids.Dims)
    return fail(fmt::format("'embedding_grad' expects dy of the ids' shape "
                            "and one more static dim D for ids {}, got {}",
                            Ids.str(Q.B), DY.str(Q.B)));
  return ok(TensorType(DY.Elt, {*Rows, DY.Dims.back()}));
}

/// one_hot(ids) with `classes` C: i32 ids to f32 [ids..., C] (f32 being
/// the float type of an op that reads integers only; see the verifier).
TypeOrError ruleOneHot(const ShapeQuery &Q) {
  auto Classes = getInt(Q.A, "classes");
  if (!Classes || *Classes < 1)
    return fail("'one_hot' needs a positive integer 'classes'");
  std::vector<int64_t> Out = Q.Ops[0].Dims;
  Out.push_back(*Classes);
  return ok(TensorType(DType::F32, Out));
}

TypeOrError ruleArgMax(const ShapeQuery &Q) {
  const TensorType &X = Q.Ops[0];
  auto Axis = getInt(Q.A, "axis");
  if (!Axis || !normAxis(*Axis, X.rank()))
    return fail(fmt::format("'argmax' needs an integer 'axis' within rank {}",
                            X.rank()));
  std::vector<int64_t> Out;
  for (unsigned I = 0; I < X.rank(); ++I)
    if (int64_t(I) != *normAxis(*Axis, X.rank()))
      Out.push_back(X.Dims[I]);
  return ok(TensorType(DType::I32, Out));
}

using RuleFn = TypeOrError (*)(const ShapeQuery &);
const RuleFn Rules[] = {
#define OP(Name, Mnemonic, Arity, Rule, Props, DTypes, Fusion, Attrs, Doc)     \
  &rule##Rule,
#include "ir/Ops.def"
};

} // namespace

TypeOrError inferType(OpKind K, const std::vector<TensorType> &Ops,
                      const Attrs &A, const std::string &B) {
  const OpInfo &Info = opInfo(K);
  if (Info.Arity >= 0 && Ops.size() != size_t(Info.Arity))
    return fail(fmt::format("'{}' expects {} operand{}, got {}", Info.Mnemonic,
                            Info.Arity, Info.Arity == 1 ? "" : "s",
                            Ops.size()));
  ShapeQuery Q{K, Info, Ops, A, B, Ops.empty() ? DType::F32 : Ops[0].Elt};
  if (std::string E = checkDTypes(Q); !E.empty())
    return fail(E);
  return Rules[unsigned(K)](Q);
}

} // namespace adj
