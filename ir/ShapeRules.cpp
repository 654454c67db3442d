//===- ShapeRules.cpp - Result types from the op table's shape rules ------===//
///
/// One function per shape rule of Ops.def. Each checks operand dtypes, ranks
/// and attributes and returns the result type, or a user-readable message
/// saying why the operands do not fit. The symbolic batch dim (kBatch) only
/// matches itself or a broadcastable 1; mixing it with a static size is an
/// error, since the batch size is unknown until run time.
///
//===----------------------------------------------------------------------===//
#include "ir/IR.h"

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

TypeOrError inferType(OpKind K, const std::vector<TensorType> &Ops,
                      const Attrs &A, const std::string &B) {
  const OpInfo &Info = opInfo(K);
  if (Info.Arity >= 0 && Ops.size() != size_t(Info.Arity))
    return fail(fmt::format("'{}' expects {} operand{}, got {}", Info.Mnemonic,
                            Info.Arity, Info.Arity == 1 ? "" : "s",
                            Ops.size()));
  auto needFloat = [&](size_t I) -> std::string {
    if (isFloat(Ops[I].Elt))
      return "";
    return fmt::format("'{}' expects a float tensor, got {}", Info.Mnemonic,
                       Ops[I].str(B));
  };
  // Every operand of a float op except integer labels must be a float.
  for (size_t I = 0; I < Ops.size(); ++I) {
    bool IsLabels =
        (K == OpKind::CrossEntropy || K == OpKind::Accuracy) && I == 1;
    IsLabels |= K == OpKind::CrossEntropyGrad && I == 2;
    if (K == OpKind::ArgMax || K == OpKind::Count || K == OpKind::Reshape ||
        K == OpKind::Transpose || K == OpKind::BroadcastTo ||
        K == OpKind::Slice || K == OpKind::Pad || K == OpKind::Concat)
      continue;
    if (IsLabels) {
      if (Ops[I].Elt != DType::I32)
        return fail(fmt::format("'{}' expects i32 labels, got {}",
                                Info.Mnemonic, Ops[I].str(B)));
      continue;
    }
    if (std::string E = needFloat(I); !E.empty())
      return fail(E);
  }
  // Operands of one op share one float dtype.
  DType Elt = Ops.empty() ? DType::F32 : Ops[0].Elt;
  for (size_t I = 1; I < Ops.size(); ++I)
    if (isFloat(Ops[I].Elt) && isFloat(Elt) && Ops[I].Elt != Elt)
      return fail(fmt::format("'{}' mixes {} and {}", Info.Mnemonic,
                              dtypeName(Elt), dtypeName(Ops[I].Elt)));

  switch (Info.Rule) {
  case ShapeRule::Explicit:
    return fail(
        fmt::format("'{}' needs an explicit result type", Info.Mnemonic));
  case ShapeRule::ScalarFloat: {
    if (K == OpKind::Count)
      if (std::string E = checkAxes(A, Ops[0].rank()); !E.empty())
        return fail(E);
    if (K == OpKind::CrossEntropy || K == OpKind::Accuracy) {
      const TensorType &L = Ops[0], &Y = Ops[1];
      if (L.rank() < 1)
        return fail(fmt::format("'{}' expects logits of rank >= 1, got {}",
                                Info.Mnemonic, L.str(B)));
      std::vector<int64_t> Want(L.Dims.begin(), L.Dims.end() - 1);
      if (Y.Dims != Want)
        return fail(
            fmt::format("'{}' expects labels of shape {} for logits {}, got {}",
                        Info.Mnemonic, dimsStr(Want, B), L.str(B), Y.str(B)));
    }
    DType Out = isFloat(Elt) ? Elt : DType::F32;
    return ok(TensorType::scalar(Out));
  }
  case ShapeRule::SameAsFirst:
  case ShapeRule::GradOfSecond: {
    size_t Src = Info.Rule == ShapeRule::SameAsFirst ? 0 : 1;
    if (K == OpKind::Softmax || K == OpKind::LogSoftmax ||
        K == OpKind::SoftmaxGrad || K == OpKind::LogSoftmaxGrad) {
      auto Axis = getInt(A, "axis");
      if (!Axis || !normAxis(*Axis, Ops[0].rank()))
        return fail(fmt::format("'{}' needs an integer 'axis' within rank {}",
                                Info.Mnemonic, Ops[0].rank()));
    }
    if (K == OpKind::CrossEntropyGrad) {
      std::vector<int64_t> Want(Ops[1].Dims.begin(),
                                Ops[1].Dims.end() - (Ops[1].rank() ? 1 : 0));
      if (!Ops[0].isScalar() || Ops[1].rank() < 1 || Ops[2].Dims != Want)
        return fail("'cross_entropy_grad' expects (f32[], logits, labels)");
    }
    // Grad ops: dy and x have one type.
    if (hasProp(K, props::Grad) && K != OpKind::CrossEntropyGrad &&
        Ops[0] != Ops[1])
      return fail(
          fmt::format("'{}' expects operands of one type, got {} and {}",
                      Info.Mnemonic, Ops[0].str(B), Ops[1].str(B)));
    return ok(Ops[Src]);
  }
  case ShapeRule::Broadcast: {
    auto D = broadcastShapes(Ops[0].Dims, Ops[1].Dims);
    if (!D)
      return fail(fmt::format("shapes {} and {} do not broadcast",
                              Ops[0].str(B), Ops[1].str(B)));
    if (std::count(D->begin(), D->end(), kBatch) > 1)
      return fail(fmt::format("shapes {} and {} broadcast to {}, which has "
                              "the batch dim twice",
                              Ops[0].str(B), Ops[1].str(B),
                              TensorType(Elt, *D).str(B)));
    return ok(TensorType(Elt, *D));
  }
  case ShapeRule::Transpose: {
    const TensorType &X = Ops[0];
    std::vector<int64_t> Perm;
    if (auto *P = getList(A, "perm"))
      Perm = *P;
    else
      return fail("'transpose' needs a 'perm' list");
    if (Perm.size() != X.rank())
      return fail(
          fmt::format("permutation of {} axes for {}", Perm.size(), X.str(B)));
    std::vector<bool> Seen(X.rank());
    std::vector<int64_t> Out;
    for (int64_t P : Perm) {
      if (P < 0 || P >= int64_t(X.rank()) || Seen[P])
        return fail(fmt::format("[{}] is not a permutation of {} axes",
                                fmt::join(Perm, ", "), X.rank()));
      Seen[P] = true;
      Out.push_back(X.Dims[P]);
    }
    return ok(TensorType(X.Elt, Out));
  }
  case ShapeRule::Reshape: {
    const TensorType &X = Ops[0];
    auto *S = getList(A, "shape");
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
          fmt::format("cannot reshape {} to {}", X.str(B), dimsStr(*S, B)));
    return ok(TensorType(X.Elt, *S));
  }
  case ShapeRule::BroadcastTo: {
    auto *S = getList(A, "shape");
    if (!S)
      return fail("'broadcast_to' needs a 'shape' list");
    auto D = broadcastShapes(Ops[0].Dims, *S);
    if (!D || *D != *S)
      return fail(fmt::format("cannot broadcast {} to {}", Ops[0].str(B),
                              dimsStr(*S, B)));
    return ok(TensorType(Ops[0].Elt, *S));
  }
  case ShapeRule::Slice:
  case ShapeRule::Pad: {
    const TensorType &X = Ops[0];
    bool IsSlice = Info.Rule == ShapeRule::Slice;
    const char *Lo = IsSlice ? "start" : "before";
    const char *Hi = IsSlice ? "end" : "after";
    auto Axis = getInt(A, "axis");
    auto L = getInt(A, Lo), H = getInt(A, Hi);
    if (!Axis || !L || !H)
      return fail(fmt::format("'{}' needs integer 'axis', '{}' and '{}'",
                              Info.Mnemonic, Lo, Hi));
    if (*Axis < 0 || *Axis >= int64_t(X.rank()))
      return fail(
          fmt::format("axis {} is out of range for {}", *Axis, X.str(B)));
    int64_t D = X.Dims[*Axis];
    if (D == kBatch)
      return fail(fmt::format("'{}' cannot change the batch dim {} of {}",
                              Info.Mnemonic, B, X.str(B)));
    std::vector<int64_t> Out = X.Dims;
    if (IsSlice) {
      if (!(0 <= *L && *L < *H && *H <= D))
        return fail(fmt::format("slice [{}:{}] is empty or out of range for "
                                "axis {} of {}",
                                *L, *H, *Axis, X.str(B)));
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
  case ShapeRule::Concat: {
    if (Ops.empty())
      return fail("'concat' needs at least one operand");
    const TensorType &X = Ops[0];
    auto Axis = getInt(A, "axis");
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
                                *Axis, X.str(B), T.str(B)));
      if (T.Dims[*Axis] == kBatch)
        return fail(fmt::format("'concat' cannot join along the batch dim {} "
                                "of {}",
                                B, T.str(B)));
    }
    for (const TensorType &T : Ops)
      Out[*Axis] += T.Dims[*Axis];
    return ok(TensorType(X.Elt, Out));
  }
  case ShapeRule::Reduce: {
    const TensorType &X = Ops[0];
    if (std::string E = checkAxes(A, X.rank()); !E.empty())
      return fail(E);
    std::vector<int64_t> Axes = reduceAxes(A, X.rank());
    bool Keep = getBool(A, "keepdims");
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
  case ShapeRule::MatMul: {
    // transpose_a / transpose_b: the operand's last two axes are swapped
    // before the product (the backward pass's X^T @ dY and dY @ W^T).
    bool Epilogue = A.count("epilogue");
    if (Ops.size() < 2 || (!Epilogue && Ops.size() != 2))
      return fail(fmt::format("'matmul' expects 2 operands{}, got {}",
                              Epilogue ? " or more" : " without an 'epilogue'",
                              Ops.size()));
    const TensorType &L = Ops[0], &R = Ops[1];
    if (L.rank() < 2 || R.rank() < 2)
      return fail(fmt::format("matmul expects operands of rank >= 2, got {} "
                              "@ {}",
                              L.str(B), R.str(B)));
    bool TA = getBool(A, "transpose_a"), TB = getBool(A, "transpose_b");
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
                                Ops[I].str(B), TensorType(Elt, *Out).str(B)));
    return ok(TensorType(Elt, *Out));
  }
  case ShapeRule::ArgMax: {
    const TensorType &X = Ops[0];
    auto Axis = getInt(A, "axis");
    if (!Axis || !normAxis(*Axis, X.rank()))
      return fail(fmt::format("'argmax' needs an integer 'axis' within rank {}",
                              X.rank()));
    std::vector<int64_t> Out;
    for (unsigned I = 0; I < X.rank(); ++I)
      if (int64_t(I) != *normAxis(*Axis, X.rank()))
        Out.push_back(X.Dims[I]);
    return ok(TensorType(DType::I32, Out));
  }
  }
  return fail("unknown shape rule");
}

} // namespace adj
