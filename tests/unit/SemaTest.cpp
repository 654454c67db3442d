//===- SemaTest.cpp - Checking and lowering model files -------------------===//
///
/// Model files through the frontend: what the checks accept and how they
/// lower, and what ends up in the ModelSpec (initialisers, data sources,
/// the train { } block's optimizer and schedule). What they reject is in
/// SemaDiagnosticsTest.cpp.
///
//===----------------------------------------------------------------------===//
#include "SemaTestUtil.h"
#include "frontend/Frontend.h"
#include "ir/Verifier.h"

#include <gtest/gtest.h>
#include <sstream>

using namespace adj;
using namespace adj::test;

namespace {

std::vector<OpKind> opKinds(const Function &F) {
  std::vector<OpKind> K;
  for (auto &O : F.Ops)
    K.push_back(O->Kind);
  return K;
}

const Op *findOp(const Function &F, OpKind K) {
  for (auto &O : F.Ops)
    if (O->Kind == K)
      return O.get();
  return nullptr;
}

const char *MnistMlp = R"(# examples/mnist_mlp.adj — comments start with '#'
model mnist_mlp

input x : f32[N, 784]
input y : i32[N]

param w1 : f32[784, 256] = he_normal
param b1 : f32[256]      = zeros
param w2 : f32[256, 10]  = glorot_uniform
param b2 : f32[10]       = zeros

def dense(x, w, b) = x @ w + b
def mlp_block(x, w, b) {
  h = dense(x, w, b)
  return relu(h)
}

h      = mlp_block(x, w1, b1)
logits = dense(h, w2, b2)

loss cross_entropy(logits, y)
metric accuracy = accuracy(logits, y)

train {
  optimizer = adam(lr = 0.001)
  batch = 64
  epochs = 5
  seed = 0
}

data {
  train x = idx("../data/mnist-10k/train-images-idx3-ubyte.gz", scale = 1/255)
  train y = idx("../data/mnist-10k/train-labels-idx1-ubyte.gz")
  test  x = idx("../data/mnist-10k/t10k-images-idx3-ubyte.gz", scale = 1/255)
  test  y = idx("../data/mnist-10k/t10k-labels-idx1-ubyte.gz")
}
)";

TEST(Sema, LowersTheExampleModel) {
  Compiled C = compile(MnistMlp, "examples/mnist_mlp.adj");
  ASSERT_TRUE(C.Spec) << C.Diags;
  const ModelSpec &S = *C.Spec;
  EXPECT_EQ(S.Name, "mnist_mlp");
  EXPECT_EQ(S.M->BatchDim, "N");
  ASSERT_TRUE(C.F);
  const Function &F = *C.F;
  EXPECT_TRUE(verifyModule(*S.M).empty());

  // Inputs in order, then params.
  ASSERT_EQ(F.Args.size(), 6u);
  const char *Names[] = {"x", "y", "w1", "b1", "w2", "b2"};
  for (size_t I = 0; I < 6; ++I) {
    EXPECT_EQ(F.Args[I]->Name, Names[I]);
    EXPECT_EQ(F.Roles[I], I < 2 ? ArgRole::Input : ArgRole::Param);
    EXPECT_FALSE(F.Frozen[I]);
  }
  EXPECT_EQ(F.Args[0]->Type, TensorType(DType::F32, {kBatch, 784}));
  EXPECT_EQ(F.Args[1]->Type, TensorType(DType::I32, {kBatch}));
  EXPECT_EQ(F.Args[2]->Type, TensorType(DType::F32, {784, 256}));

  // Both functions are inlined.
  EXPECT_EQ(opKinds(F),
            (std::vector<OpKind>{OpKind::MatMul, OpKind::Add, OpKind::Relu,
                                 OpKind::MatMul, OpKind::Add,
                                 OpKind::CrossEntropy, OpKind::Accuracy}));
  EXPECT_EQ(F.Ops[1]->type(), TensorType(DType::F32, {kBatch, 256}));
  EXPECT_EQ(F.Ops[4]->type(), TensorType(DType::F32, {kBatch, 10}));
  EXPECT_EQ(F.Ops[5]->floatAttr("label_smoothing", -1), 0.0);

  // Every op carries its source location: operators at the operator,
  // calls at the callee.
  for (auto &O : F.Ops) {
    EXPECT_EQ(O->Location.File, "examples/mnist_mlp.adj");
    EXPECT_TRUE(O->Location.known());
  }
  EXPECT_EQ(F.Ops[0]->Location.Line, 12u);
  EXPECT_EQ(F.Ops[0]->Location.Col, 24u);
  EXPECT_EQ(F.Ops[1]->Location.Col, 28u);
  EXPECT_EQ(F.Ops[2]->Location.Line, 15u);
  EXPECT_EQ(F.Ops[5]->Location.Line, 21u);
  EXPECT_EQ(F.Ops[5]->Location.Col, 6u);

  // Results: the loss, then each metric.
  ASSERT_EQ(F.Results.size(), 2u);
  EXPECT_EQ(F.Results[0].Name, "loss");
  EXPECT_EQ(F.Results[0].V, &F.Ops[5]->Result);
  EXPECT_EQ(F.Results[1].Name, "accuracy");
  EXPECT_EQ(F.Results[1].V, &F.Ops[6]->Result);
  EXPECT_EQ(S.Metrics, std::vector<std::string>{"accuracy"});

  ASSERT_EQ(S.Params.size(), 4u);
  EXPECT_EQ(S.Params[0].Name, "w1");
  EXPECT_EQ(S.Params[0].Init, InitKind::HeNormal);
  EXPECT_EQ(S.Params[0].Type, TensorType(DType::F32, {784, 256}));
  EXPECT_EQ(S.Params[1].Init, InitKind::Zeros);
  EXPECT_EQ(S.Params[2].Init, InitKind::GlorotUniform);
  EXPECT_EQ(S.Params[0].L.Line, 7u);

  // y labels the 10 classes of the logits, once for both uses.
  ASSERT_EQ(S.Labels.size(), 1u);
  EXPECT_EQ(S.Labels[0].Input, "y");
  EXPECT_EQ(S.Labels[0].Classes, 10);
  EXPECT_EQ(S.Labels[0].L.Line, 21u);

  EXPECT_EQ(S.Train.Optimizer.Name, "adam");
  EXPECT_DOUBLE_EQ(S.Train.Optimizer.Lr, 0.001);
  EXPECT_DOUBLE_EQ(S.Train.Optimizer.Beta1, 0.9);
  EXPECT_EQ(S.Train.Batch, 64);
  EXPECT_EQ(S.Train.Epochs, 5);
  EXPECT_EQ(S.Train.Seed, 0u);

  ASSERT_EQ(S.Data.size(), 4u);
  EXPECT_EQ(S.Data[0].Split, "train");
  EXPECT_EQ(S.Data[0].Input, "x");
  EXPECT_EQ(S.Data[0].Format, DataFormat::Idx);
  EXPECT_EQ(S.Data[0].Path,
            "examples/../data/mnist-10k/train-images-idx3-ubyte.gz");
  EXPECT_DOUBLE_EQ(S.Data[0].Scale, 1.0 / 255);
  EXPECT_DOUBLE_EQ(S.Data[1].Scale, 1.0);
  EXPECT_EQ(S.Data[3].Split, "test");
  EXPECT_EQ(S.Data[3].Input, "y");
}

/// A model around \p Body: inputs x f32[N,4], t f32[N,4], d f64[N,4],
/// y i32[N], param w f32[4,3]; \p Body binds `h`.
Compiled withBody(const std::string &Body) {
  return compile("input x : f32[N, 4]\n"
                 "input t : f32[N, 4]\n"
                 "input d : f64[N, 4]\n"
                 "input y : i32[N]\n"
                 "param w : f32[4, 3] = zeros\n" +
                 Body + "\nloss mean(x)\n");
}

const Op *bodyOp(const std::string &Body, OpKind K) {
  static std::vector<Compiled> Keep; // keep the module alive
  Keep.push_back(withBody(Body));
  const Compiled &C = Keep.back();
  EXPECT_TRUE(C.Spec) << Body << "\n" << C.Diags;
  if (!C.Spec)
    return nullptr;
  EXPECT_TRUE(verifyModule(*C.Spec->M).empty()) << Body;
  const Op *O = findOp(*C.F, K);
  EXPECT_TRUE(O) << Body;
  return O;
}

TEST(Sema, UnaryOpsAndAlpha) {
  EXPECT_TRUE(bodyOp("h = exp(x) + log(x) + sqrt(x) + rsqrt(x) + abs(x) + "
                     "sin(x) + cos(x) + tanh(x) + sigmoid(x) + relu(x) + "
                     "gelu(x) + softplus(x) + swish(x) - -x",
                     OpKind::Neg));
  const Op *L = bodyOp("h = leaky_relu(x)", OpKind::LeakyRelu);
  ASSERT_TRUE(L);
  EXPECT_EQ(L->floatAttr("alpha", -1), 0.01);
  L = bodyOp("h = leaky_relu(x, alpha = 0.2)", OpKind::LeakyRelu);
  ASSERT_TRUE(L);
  EXPECT_EQ(L->floatAttr("alpha", -1), 0.2);
  const Op *E = bodyOp("h = elu(x)", OpKind::Elu);
  ASSERT_TRUE(E);
  ASSERT_TRUE(E->hasAttr("alpha"));
  EXPECT_EQ(E->floatAttr("alpha", -1), 1.0);
}

TEST(Sema, NumbersTakeTheOtherOperandsType) {
  Compiled C = withBody("h = d * 2 + 1/4");
  ASSERT_TRUE(C.Spec) << C.Diags;
  const Op *K = findOp(*C.F, OpKind::Constant);
  ASSERT_TRUE(K);
  EXPECT_EQ(K->type(), TensorType::scalar(DType::F64));
  EXPECT_EQ(K->floatAttr("value"), 2.0);
  // 1/4 is folded into one constant.
  unsigned Constants = 0;
  for (auto &O : C.F->Ops)
    Constants += O->Kind == OpKind::Constant;
  EXPECT_EQ(Constants, 2u);
  C = withBody("h = x * 2");
  EXPECT_EQ(findOp(*C.F, OpKind::Constant)->type(),
            TensorType::scalar(DType::F32));
}

TEST(Sema, Reductions) {
  const Op *S = bodyOp("h = sum(x)", OpKind::ReduceSum);
  ASSERT_TRUE(S);
  EXPECT_FALSE(S->hasAttr("axes")); // all axes
  ASSERT_TRUE(S->hasAttr("keepdims"));
  EXPECT_FALSE(S->boolAttr("keepdims", true));
  S = bodyOp("h = sum(x, axis = -1, keepdims = true)", OpKind::ReduceSum);
  ASSERT_TRUE(S);
  EXPECT_EQ(*S->listAttr("axes"), std::vector<int64_t>{1});
  EXPECT_TRUE(S->boolAttr("keepdims"));
  EXPECT_EQ(S->type(), TensorType(DType::F32, {kBatch, 1}));
  S = bodyOp("h = max(x, axis = [1, 0])", OpKind::ReduceMax);
  ASSERT_TRUE(S);
  EXPECT_FALSE(S->hasAttr("axes"));
  S = bodyOp("h = min(x, 0)", OpKind::ReduceMin);
  ASSERT_TRUE(S);
  EXPECT_EQ(*S->listAttr("axes"), std::vector<int64_t>{0});
  EXPECT_EQ(S->type(), TensorType(DType::F32, {4}));
  EXPECT_TRUE(bodyOp("h = mean(x, axis = 1)", OpKind::ReduceMean));
}

TEST(Sema, AxisAttributesAreNormalised) {
  const Op *O = bodyOp("h = softmax(x)", OpKind::Softmax);
  ASSERT_TRUE(O);
  EXPECT_EQ(O->intAttr("axis", -5), 1);
  O = bodyOp("h = log_softmax(x, axis = 0)", OpKind::LogSoftmax);
  ASSERT_TRUE(O);
  EXPECT_EQ(O->intAttr("axis", -5), 0);
  O = bodyOp("h = argmax(x)", OpKind::ArgMax);
  ASSERT_TRUE(O);
  EXPECT_EQ(O->intAttr("axis", -5), 1);
  EXPECT_EQ(O->type(), TensorType(DType::I32, {kBatch}));
}

TEST(Sema, ShapeOps) {
  const Op *O = bodyOp("h = transpose(x)", OpKind::Transpose);
  ASSERT_TRUE(O);
  EXPECT_EQ(*O->listAttr("perm"), (std::vector<int64_t>{1, 0}));
  EXPECT_EQ(O->type(), TensorType(DType::F32, {4, kBatch}));
  O = bodyOp("h = transpose(x, [-1, 0])", OpKind::Transpose);
  ASSERT_TRUE(O);
  EXPECT_EQ(*O->listAttr("perm"), (std::vector<int64_t>{1, 0}));
  O = bodyOp("h = reshape(x, [N, 2, 2])", OpKind::Reshape);
  ASSERT_TRUE(O);
  EXPECT_EQ(*O->listAttr("shape"), (std::vector<int64_t>{kBatch, 2, 2}));
  O = bodyOp("h = broadcast_to(w, [N, 4, 3])", OpKind::BroadcastTo);
  ASSERT_TRUE(O);
  EXPECT_EQ(O->type(), TensorType(DType::F32, {kBatch, 4, 3}));
  O = bodyOp("h = matmul(x, w)", OpKind::MatMul);
  ASSERT_TRUE(O);
  EXPECT_EQ(O->type(), TensorType(DType::F32, {kBatch, 3}));
}

TEST(Sema, ComparisonsAreMasks) {
  Compiled C = withBody("h = (x < t) + (x <= t) + (x > t) + (x >= t)");
  ASSERT_TRUE(C.Spec) << C.Diags;
  const Function &F = *C.F;
  Value *X = F.arg("x"), *T = F.arg("t");
  std::vector<std::tuple<OpKind, Value *, Value *>> Want = {
      {OpKind::GreaterMask, T, X},
      {OpKind::GreaterEqualMask, T, X},
      {OpKind::GreaterMask, X, T},
      {OpKind::GreaterEqualMask, X, T}};
  std::vector<std::tuple<OpKind, Value *, Value *>> Got;
  for (auto &O : F.Ops)
    if (O->Kind == OpKind::GreaterMask || O->Kind == OpKind::GreaterEqualMask)
      Got.push_back({O->Kind, O->Operands[0], O->Operands[1]});
  EXPECT_EQ(Got, Want);
}

TEST(Sema, CompositesUseDifferentiableOps) {
  Compiled C = withBody("h = mse(x, t)");
  ASSERT_TRUE(C.Spec) << C.Diags;
  EXPECT_EQ(opKinds(*C.F),
            (std::vector<OpKind>{OpKind::Sub, OpKind::Mul, OpKind::ReduceMean,
                                 OpKind::ReduceMean}));
  C = withBody("h = l1(x, t)");
  EXPECT_EQ(opKinds(*C.F),
            (std::vector<OpKind>{OpKind::Sub, OpKind::Abs, OpKind::ReduceMean,
                                 OpKind::ReduceMean}));
  C = withBody("h = bce_with_logits(x, t)");
  EXPECT_EQ(opKinds(*C.F),
            (std::vector<OpKind>{OpKind::Mul, OpKind::Softplus, OpKind::Sub,
                                 OpKind::ReduceMean, OpKind::ReduceMean}));
  C = withBody("h = nll(log_softmax(x), y)");
  ASSERT_TRUE(C.Spec) << C.Diags;
  EXPECT_EQ(opKinds(*C.F),
            (std::vector<OpKind>{OpKind::LogSoftmax, OpKind::CrossEntropy,
                                 OpKind::ReduceMax, OpKind::Sub, OpKind::Exp,
                                 OpKind::ReduceSum, OpKind::Log, OpKind::Add,
                                 OpKind::ReduceMean, OpKind::Sub,
                                 OpKind::ReduceMean}));
  EXPECT_EQ(C.Spec->Labels.size(), 1u);
  for (const char *Body :
       {"h = huber(x, t, delta = 0.5)", "h = where(x > 0, x, 0.1 * x)",
        "h = clamp(x, -1, 1)", "h = logsumexp(x, axis = 1)",
        "h = cross_entropy(x, y, label_smoothing = 0.1)", "h = accuracy(x, y)",
        "h = pow(x, 2) + maximum(x, t) + minimum(x, 0)"}) {
    C = withBody(Body);
    ASSERT_TRUE(C.Spec) << Body << "\n" << C.Diags;
    EXPECT_TRUE(verifyModule(*C.Spec->M).empty()) << Body;
  }
  // logsumexp without keepdims drops the reduced axis by a reshape.
  const Op *R = bodyOp("h = logsumexp(x, axis = 1)", OpKind::Reshape);
  ASSERT_TRUE(R);
  EXPECT_EQ(R->type(), TensorType(DType::F32, {kBatch}));
  const Op *H = bodyOp("h = huber(x, t)", OpKind::GreaterEqualMask);
  ASSERT_TRUE(H);
  EXPECT_EQ(H->Operands[0]->Def->floatAttr("value"), 1.0);
}

TEST(Sema, FunctionsAreInlinedAtEachCall) {
  Compiled C = withBody("def f(a, s) = relu(a) * s\n"
                        "def g(a) {\n"
                        "  b = f(a, 2)\n"
                        "  return b + 1\n"
                        "}\n"
                        "h = g(x) + f(s = 3, a = t)");
  ASSERT_TRUE(C.Spec) << C.Diags;
  unsigned Relus = 0;
  for (auto &O : C.F->Ops)
    Relus += O->Kind == OpKind::Relu;
  EXPECT_EQ(Relus, 2u);
  // The op keeps the location inside the function body.
  EXPECT_EQ(findOp(*C.F, OpKind::Relu)->Location.Line, 6u);
}

TEST(Sema, MetricsAndNumbersCanBeNamed) {
  Compiled C = compile("input x : f32[N, 2]\n"
                       "k = 1 / 2\n"
                       "metric m = mean(x) * k\n"
                       "loss m * 2\n");
  ASSERT_TRUE(C.Spec) << C.Diags;
  ASSERT_EQ(C.F->Results.size(), 2u);
  EXPECT_EQ(C.F->Results[1].Name, "m");
  EXPECT_EQ(C.F->Results[0].V->Def->Operands[0], C.F->Results[1].V);
  const Op *K = findOp(*C.F, OpKind::Constant);
  ASSERT_TRUE(K);
  EXPECT_EQ(K->floatAttr("value"), 0.5);
}

TEST(Sema, FrozenParamsInitialisersAndNames) {
  Compiled C = compile("input x : f32[B, 3]\n"
                       "param w : f32[3] = normal(0, 0.01) frozen\n"
                       "param u : f32[3] = uniform(lo = -1, hi = 1)\n"
                       "param c : f32[3] = constant(0.1)\n"
                       "param o : f32[3] = ones\n"
                       "loss mean(x * w + u + c + o)\n",
                       "dir/my_model.adj");
  ASSERT_TRUE(C.Spec) << C.Diags;
  const ModelSpec &S = *C.Spec;
  EXPECT_EQ(S.Name, "my_model");
  EXPECT_EQ(S.M->BatchDim, "B");
  ASSERT_EQ(S.Params.size(), 4u);
  EXPECT_EQ(S.Params[0].Init, InitKind::Normal);
  EXPECT_EQ(S.Params[0].A, 0);
  EXPECT_EQ(S.Params[0].B, 0.01);
  EXPECT_TRUE(S.Params[0].Frozen);
  EXPECT_TRUE(C.F->Frozen[1]);
  EXPECT_FALSE(C.F->Frozen[2]);
  EXPECT_EQ(S.Params[1].Init, InitKind::Uniform);
  EXPECT_EQ(S.Params[1].A, -1);
  EXPECT_EQ(S.Params[1].B, 1);
  EXPECT_EQ(S.Params[2].Init, InitKind::Constant);
  EXPECT_EQ(S.Params[2].A, 0.1);
  EXPECT_EQ(S.Params[3].Init, InitKind::Ones);
  EXPECT_TRUE(S.Metrics.empty());
  ASSERT_EQ(C.F->Results.size(), 1u);
}

TEST(Sema, TrainSchedules) {
  auto schedule = [](const std::string &Settings) {
    Compiled C = compile("input x : f32[N, 2]\nloss mean(x)\ntrain {\n" +
                         Settings + "}\n");
    EXPECT_TRUE(C.Spec) << C.Diags;
    return C.Spec ? C.Spec->Train : TrainSpec();
  };
  TrainSpec T = schedule("");
  EXPECT_EQ(T.Schedule.Kind, ScheduleKind::Constant);
  EXPECT_EQ(T.Warmup, 0);
  T = schedule("  schedule = constant\n  warmup = 100\n");
  EXPECT_EQ(T.Schedule.Kind, ScheduleKind::Constant);
  EXPECT_EQ(T.Warmup, 100);
  T = schedule("  schedule = step(step_size = 100, gamma = 0.5)\n");
  EXPECT_EQ(T.Schedule.Kind, ScheduleKind::Step);
  EXPECT_EQ(T.Schedule.StepSize, 100);
  EXPECT_EQ(T.Schedule.Gamma, 0.5);
  T = schedule("  schedule = step(30)\n");
  EXPECT_EQ(T.Schedule.StepSize, 30);
  EXPECT_EQ(T.Schedule.Gamma, 0.1);
  T = schedule("  schedule = cosine(t_max = 1000, eta_min = 1e-5)\n");
  EXPECT_EQ(T.Schedule.Kind, ScheduleKind::Cosine);
  EXPECT_EQ(T.Schedule.TMax, 1000);
  EXPECT_EQ(T.Schedule.EtaMin, 1e-5);
  T = schedule("  schedule = cosine\n");
  EXPECT_EQ(T.Schedule.Kind, ScheduleKind::Cosine);
  EXPECT_EQ(T.Schedule.TMax, 0); // the run's number of steps
}

TEST(Sema, TrainAndDataBlocks) {
  Compiled C = compile("input x : f32[N, 2]\n"
                       "input y : f32[N, 1]\n"
                       "loss mean(x)\n"
                       "train {\n"
                       "  optimizer = adamw(lr = 0.01, beta2 = 0.99)\n"
                       "  epochs = 2\n"
                       "  seed = 7\n"
                       "}\n"
                       "data {\n"
                       "  train x = npy(\"x.npy\")\n"
                       "  train y = csv(\"/abs/y.csv\", columns = [0, 2], "
                       "header = true, scale = 0.5)\n"
                       "}\n");
  ASSERT_TRUE(C.Spec) << C.Diags;
  const ModelSpec &S = *C.Spec;
  EXPECT_EQ(S.Train.Optimizer.Name, "adamw");
  EXPECT_EQ(S.Train.Optimizer.Lr, 0.01);
  EXPECT_EQ(S.Train.Optimizer.Beta2, 0.99);
  EXPECT_EQ(S.Train.Optimizer.WeightDecay, 0.01);
  EXPECT_EQ(S.Train.Batch, 32);
  EXPECT_EQ(S.Train.Epochs, 2);
  EXPECT_EQ(S.Train.Seed, 7u);
  ASSERT_EQ(S.Data.size(), 2u);
  EXPECT_EQ(S.Data[0].Format, DataFormat::Npy);
  EXPECT_EQ(S.Data[0].Path, "x.npy"); // the model file has no directory
  EXPECT_EQ(S.Data[1].Format, DataFormat::Csv);
  EXPECT_EQ(S.Data[1].Path, "/abs/y.csv");
  EXPECT_EQ(S.Data[1].Columns, (std::vector<int64_t>{0, 2}));
  EXPECT_TRUE(S.Data[1].Header);
  EXPECT_EQ(S.Data[1].Scale, 0.5);

  C = compile(
      "input x : f32[N, 2]\nloss mean(x)\n"
      "train {\n  optimizer = sgd(momentum = 0.9, nesterov = true)\n}\n");
  ASSERT_TRUE(C.Spec) << C.Diags;
  EXPECT_EQ(C.Spec->Train.Optimizer.Name, "sgd");
  EXPECT_EQ(C.Spec->Train.Optimizer.Lr, 0.01);
  EXPECT_EQ(C.Spec->Train.Optimizer.Momentum, 0.9);
  EXPECT_TRUE(C.Spec->Train.Optimizer.Nesterov);
}

TEST(Sema, TextSourcesAndTokenIds) {
  Compiled C = compile("input x : i32[N, 8]\n"
                       "input y : i32[N, 8]\n"
                       "param emb : f32[300, 4] = normal(0, 1)\n"
                       "param w : f32[5, 4] = zeros\n"
                       "h = embedding(emb, reshape(x, [N, 2, 4]))\n"
                       "loss cross_entropy(linear(reshape(h, [N, 8, 4]), w), "
                       "y)\n"
                       "data {\n"
                       "  train x = text(\"t.txt\", seq = 8, end = 0.9)\n"
                       "  test y = text(\"t.txt\", 8, 1, 0.9)\n"
                       "}\n");
  ASSERT_TRUE(C.Spec) << C.Diags;
  const ModelSpec &S = *C.Spec;
  ASSERT_EQ(S.Data.size(), 2u);
  EXPECT_EQ(S.Data[0].Format, DataFormat::Text);
  EXPECT_EQ(S.Data[0].Path, "t.txt");
  EXPECT_EQ(S.Data[0].Seq, 8);
  EXPECT_EQ(S.Data[0].Offset, 0);
  EXPECT_EQ(S.Data[0].Start, 0);
  EXPECT_EQ(S.Data[0].End, 0.9);
  EXPECT_EQ(S.Data[1].Offset, 1);
  EXPECT_EQ(S.Data[1].Start, 0.9);
  EXPECT_EQ(S.Data[1].End, 1);
  // x (reshaped) holds ids of the table's 300 rows, y labels of 5 classes.
  ASSERT_EQ(S.Labels.size(), 2u);
  EXPECT_EQ(S.Labels[0].Input, "x");
  EXPECT_EQ(S.Labels[0].Classes, 300);
  EXPECT_EQ(S.Labels[0].What, "embedding");
  EXPECT_EQ(S.Labels[0].L.Line, 5u);
  EXPECT_EQ(S.Labels[1].Input, "y");
  EXPECT_EQ(S.Labels[1].Classes, 5);
  EXPECT_EQ(S.Labels[1].What, "");
}

//===--- Transfer learning: output, @predict and lr_mult ------------------===//

/// The names of \p F's arguments.
std::vector<std::string> argNames(const Function &F) {
  std::vector<std::string> Names;
  for (const auto &A : F.Args)
    Names.push_back(A->Name);
  return Names;
}

TEST(Sema, PredictReturnsTheOutputFromTheInputsItReads) {
  const std::string Model = "input x : f32[N, 4]\n"
                            "input y : i32[N]\n"
                            "param w : f32[4, 3] = zeros\n"
                            "logits = x @ w\n"
                            "probs = softmax(logits)\n"
                            "right = accuracy(logits, y)\n"
                            "loss cross_entropy(logits, y)\n"
                            "metric acc = accuracy(logits, y)\n";
  // Default: the loss's first argument; the labels are not read.
  Compiled C = compile(Model);
  ASSERT_TRUE(C.Spec && C.Spec->Predict) << C.Diags;
  const Function &P = *C.Spec->Predict->Functions.at(0);
  EXPECT_EQ(P.Name, "predict");
  EXPECT_EQ(argNames(P), (std::vector<std::string>{"x", "w"}));
  ASSERT_EQ(P.Results.size(), 1u);
  EXPECT_EQ(P.Results[0].Name, "logits");
  EXPECT_EQ(P.Results[0].V->Type.str(), "f32[N,3]");
  EXPECT_EQ(P.Ops.size(), 1u); // the matmul; probs, right and the loss pruned
  // `output NAME`, and @forward is as before.
  Compiled O = compile(Model + "output probs\n");
  ASSERT_TRUE(O.Spec && O.Spec->Predict) << O.Diags;
  EXPECT_EQ(O.Spec->Predict->Functions.at(0)->Results[0].Name, "probs");
  EXPECT_EQ(O.Spec->Output, "probs");
  EXPECT_EQ(O.Spec->M->Functions.size(), 1u);
  // A scalar first argument of the loss: no output, and no error.
  Compiled S = compile("input x : f32[N, 4]\nparam w : f32[4, 1] = zeros\n"
                       "loss sum(mean(x @ w))\n");
  ASSERT_TRUE(S.Spec) << S.Diags;
  EXPECT_EQ(S.Spec->Predict, nullptr);
  // `output` is still a name when bound.
  Compiled N = compile("input x : f32[N, 4]\nparam w : f32[4, 1] = zeros\n"
                       "output = x @ w\nloss mean(output)\n");
  EXPECT_TRUE(N.Spec) << N.Diags;
}

TEST(Sema, LrMultFromTheParamOrTheFirstMatchingGlob) {
  Compiled C = compile("input x : f32[N, 4]\ninput y : i32[N]\n"
                       "param conv1 : f32[4, 4] = zeros lr_mult = 0.5\n"
                       "param conv2 : f32[4, 4] = zeros\n"
                       "param fc : f32[4, 3] = zeros\n"
                       "loss cross_entropy(x @ conv1 @ conv2 @ fc, y)\n"
                       "train {\n  lr_mult = {\"conv*\": 0.1, \"*\": 2}\n}\n");
  ASSERT_TRUE(C.Spec) << C.Diags;
  EXPECT_EQ(C.Spec->Train.LrMult,
            (std::map<std::string, double>{
                {"conv1", 0.5}, {"conv2", 0.1}, {"fc", 2}}));
}

} // namespace
