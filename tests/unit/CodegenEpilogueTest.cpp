//===- CodegenEpilogueTest.cpp - matmul epilogues against a reference -----===//
///
/// A matmul with an `epilogue` applies an elementwise body to each element
/// of the product inside the GEMM's register tile, after the whole K
/// reduction. These tests run such matmuls — bias, bias + relu, bias +
/// tanh, relu's adjoint over a full operand, a scalar and a per-row operand,
/// and members called through libm lane by lane — for every transpose
/// variant, over odd sizes (1, 7, 63, 65, 257 rows; K past the 256-wide K
/// block; M, N and K >= 128 for the packed path) and batched products, in
/// f32 and f64, against a double-precision C++ reference of the product
/// followed by the body. Every result element is checked, so an epilogue
/// applied twice (once per K block), skipped on an edge tile, or reading
/// its operands at the wrong row or column fails.
///
//===----------------------------------------------------------------------===//
#include "CodegenTestUtil.h"

#include <array>
#include <fmt/format.h>
#include <functional>

using namespace adj;
using namespace adj::cgtest;

namespace {

/// An epilogue: its body, the shapes of its inputs after the product (in
/// terms of the product's M rows and N columns: kRows for M, kCols for N),
/// and the reference value of one element from the product P and the
/// inputs' elements at that position.
constexpr int64_t kRows = -10, kCols = -20;
struct Epilogue {
  const char *Name, *Body;
  std::vector<Dims> Inputs;
  double (*Ref)(double P, const double *In);
};

double relu(double X) { return X > 0 ? X : 0; }
double gelu(double X) { return 0.5 * X * (1 + std::erf(X / std::sqrt(2.0))); }

const std::vector<Epilogue> &epilogues() {
  static const std::vector<Epilogue> E = {
      {"bias",
       "add i0 i1",
       {{kCols}},
       [](double P, const double *I) { return P + I[0]; }},
      {"bias_relu",
       "add i0 i1; relu t0",
       {{kCols}},
       [](double P, const double *I) { return relu(P + I[0]); }},
      {"bias_tanh",
       "add i1 i0; tanh t0",
       {{1, kCols}},
       [](double P, const double *I) { return std::tanh(P + I[0]); }},
      {"relu_grad",
       "relu_grad i0 i1",
       {{kRows, kCols}},
       [](double P, const double *I) { return I[0] > 0 ? P : 0; }},
      {"scalar_rows",
       "mul i1 i0; sub i2 t0; sigmoid t1",
       {{}, {kRows, 1}},
       [](double P, const double *I) {
         return 1 / (1 + std::exp(-(I[1] - I[0] * P)));
       }},
      {"libm",
       "leaky_relu:alpha=0.2 i0; gelu t0",
       {},
       [](double P, const double *) { return gelu(P > 0 ? P : 0.2 * P); }},
  };
  return E;
}

Dims concreteDims(const Dims &D, int64_t M, int64_t N) {
  Dims C;
  for (int64_t X : D)
    C.push_back(X == kRows ? M : X == kCols ? N : X);
  return C;
}

/// The matmul op(A) @ op(B) of sizes M x K x N (kBatch where the run-time
/// batch size goes) with epilogue \p E, as function \p Name.
void build(Compiled &C, const std::string &Name, DType T, int64_t M, int64_t K,
           int64_t N, bool TA, bool TB, const Epilogue &E) {
  Function *F = C.add(Name);
  Builder B(*F);
  std::vector<Value *> Ops = {
      F->addArg("a", ty(T, TA ? Dims{K, M} : Dims{M, K}), ArgRole::Input),
      F->addArg("b", ty(T, TB ? Dims{N, K} : Dims{K, N}), ArgRole::Input)};
  for (size_t I = 0; I < E.Inputs.size(); ++I)
    Ops.push_back(F->addArg("e" + std::to_string(I),
                            ty(T, concreteDims(E.Inputs[I], M, N)),
                            ArgRole::Input));
  Attrs At{{"epilogue", std::string(E.Body)}};
  if (TA)
    At["transpose_a"] = true;
  if (TB)
    At["transpose_b"] = true;
  F->Results.push_back({"c", B.create(OpKind::MatMul, Ops, At)});
}

/// Runs \p Name at batch size \p Batch for concrete sizes M x K x N and
/// compares with the reference.
void check(Compiled &C, const std::string &Name, DType T, int64_t Batch,
           int64_t M, int64_t K, int64_t N, bool TA, bool TB, const Epilogue &E,
           unsigned Seed) {
  Vec A = randVec(M * K, -1, 1, T, Seed),
      Bm = randVec(K * N, -1, 1, T, Seed + 1);
  std::vector<Vec> Args = {TA ? transposed(A, M, K) : A,
                           TB ? transposed(Bm, K, N) : Bm};
  std::vector<Dims> InDims;
  for (size_t I = 0; I < E.Inputs.size(); ++I) {
    InDims.push_back(concreteDims(E.Inputs[I], M, N));
    Args.push_back(randVec(numel(InDims.back()), -1, 1, T, Seed + 2 + I));
  }
  std::vector<Vec> Res;
  ASSERT_EQ(C.run(Name, Batch, Args, Res), 0);
  Vec P = matmulRef(A, Bm, M, K, N), Want(M * N);
  double In[4];
  for (int64_t I = 0; I < M; ++I)
    for (int64_t J = 0; J < N; ++J) {
      for (size_t X = 0; X < InDims.size(); ++X)
        In[X] = Args[2 + X][bcastIndex(InDims[X], {I, J})];
      Want[I * N + J] = E.Ref(roundTo(T, P[I * N + J]), In);
    }
  // The product's rounding dominates; the bodies pass it on with a slope
  // of at most about 1.
  expectClose(
      Res[0], Want, tolFor(T) * 30,
      label(fmt::format("{} {}x{}x{} ta={} tb={}", E.Name, M, K, N, TA, TB), T,
            Batch));
}

/// The products (M, K, N, kBatch for the run-time size) by every transpose
/// variant, each with one epilogue: the I-th product's variants take
/// epilogues I, I + 1, ..., so that with as many sizes as epilogues every
/// epilogue meets every variant. Compiled once per dtype; \p Check runs
/// them for each batch size.
void forEachCase(
    const std::vector<std::array<int64_t, 3>> &Sizes,
    const std::vector<int64_t> &Batches,
    const std::function<void(Compiled &, const std::string &, DType, int64_t,
                             std::array<int64_t, 3>, bool, bool,
                             const Epilogue &, unsigned)> &Check) {
  const std::vector<Epilogue> &Es = epilogues();
  ASSERT_EQ(Sizes.size() % Es.size(), 0u);
  for (DType T : FloatTypes) {
    Compiled C;
    for (size_t S = 0; S < Sizes.size(); ++S)
      for (unsigned F = 0; F < 4; ++F) {
        auto [M, K, N] = Sizes[S];
        build(C, fmt::format("e{}_{}", S, F), T, M, K, N, F & 1, F & 2,
              Es[(S + F) % Es.size()]);
      }
    C.compile();
    for (int64_t Batch : Batches)
      for (size_t S = 0; S < Sizes.size(); ++S)
        for (unsigned F = 0; F < 4; ++F)
          Check(C, fmt::format("e{}_{}", S, F), T, Batch, Sizes[S], F & 1,
                F & 2, Es[(S + F) % Es.size()], S * 4 + F);
  }
}

int64_t sizeAt(int64_t D, int64_t Batch) { return D == kBatch ? Batch : D; }

TEST(Codegen, MatMulEpilogueOddShapes) {
  // M the run-time batch size (1, 7, 63, 65, 257 rows: single rows, edge
  // tiles, several tiles), N across one or two vectors, K across the
  // 256-wide K block, and the packed path (M, N and K >= 128) at M = 257.
  forEachCase({{kBatch, 1, 1},
               {kBatch, 7, 65},
               {kBatch, 63, 7},
               {kBatch, 65, 63},
               {kBatch, 300, 257},
               {kBatch, 257, 130}},
              {1, 7, 63, 65, 257},
              [](Compiled &C, const std::string &Name, DType T, int64_t Batch,
                 std::array<int64_t, 3> S, bool TA, bool TB, const Epilogue &E,
                 unsigned Seed) {
                check(C, Name, T, Batch, Batch, S[1], S[2], TA, TB, E, Seed);
              });
}

TEST(Codegen, MatMulEpilogueBatchInner) {
  // The weight gradient's shape X^T @ dY: K is the run-time batch size, so
  // the number of K blocks (of 256) changes at run time (1, 2 and 3), and
  // the epilogue must run once, after the last.
  forEachCase({{7, kBatch, 65},
               {130, kBatch, 129},
               {1, kBatch, 33},
               {65, kBatch, 1},
               {9, kBatch, 17},
               {128, kBatch, 130}},
              {1, 255, 300, 520},
              [](Compiled &C, const std::string &Name, DType T, int64_t Batch,
                 std::array<int64_t, 3> S, bool TA, bool TB, const Epilogue &E,
                 unsigned Seed) {
                check(C, Name, T, Batch, S[0], sizeAt(S[1], Batch), S[2], TA,
                      TB, E, Seed);
              });
}

TEST(Codegen, BatchedMatMulEpilogue) {
  // a[N,3,5] @ b[5,7] with inputs broadcast along every kind of dim: the
  // bias [7], a full [N,3,7], a per-row [3,1] and a per-matrix [N,1,1].
  for (DType T : FloatTypes) {
    Compiled C;
    Function *F = C.add("bmm");
    Builder B(*F);
    std::vector<Value *> Ops = {
        F->addArg("a", ty(T, {kBatch, 3, 5}), ArgRole::Input),
        F->addArg("b", ty(T, {5, 7}), ArgRole::Input),
        F->addArg("bias", ty(T, {7}), ArgRole::Input),
        F->addArg("full", ty(T, {kBatch, 3, 7}), ArgRole::Input),
        F->addArg("row", ty(T, {3, 1}), ArgRole::Input),
        F->addArg("mat", ty(T, {kBatch, 1, 1}), ArgRole::Input)};
    Attrs At{{"epilogue", std::string("add i0 i1; mul t0 i2; sub t1 i3; "
                                      "mul t2 i4; relu t3")}};
    F->Results.push_back({"c", B.create(OpKind::MatMul, Ops, At)});
    C.compile();
    for (int64_t N : {1, 3, 8}) {
      Vec AV = randVec(N * 15, -1, 1, T, 31), BV = randVec(35, -1, 1, T, 32),
          Bias = randVec(7, -1, 1, T, 33), Full = randVec(N * 21, -1, 1, T, 34),
          Row = randVec(3, -1, 1, T, 35), Mat = randVec(N, -1, 1, T, 36);
      std::vector<Vec> Res;
      ASSERT_EQ(C.run("bmm", N, {AV, BV, Bias, Full, Row, Mat}, Res), 0);
      Vec Want(N * 21);
      for (int64_t S = 0; S < N; ++S) {
        Vec P = matmulRef(Vec(AV.begin() + S * 15, AV.begin() + (S + 1) * 15),
                          BV, 3, 5, 7);
        for (int64_t I = 0; I < 3; ++I)
          for (int64_t J = 0; J < 7; ++J) {
            double X = roundTo(T, P[I * 7 + J]) + Bias[J];
            X = (X * Full[S * 21 + I * 7 + J] - Row[I]) * Mat[S];
            Want[S * 21 + I * 7 + J] = relu(X);
          }
      }
      expectClose(Res[0], Want, tolFor(T) * 10,
                  label("batched epilogue", T, N));
    }
  }
}

} // namespace
