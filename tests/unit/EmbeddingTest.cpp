//===- EmbeddingTest.cpp - embedding, embedding_grad, one_hot vs PyTorch --===//
///
/// For each configuration of tests/fixtures/embedding.json (written by
/// scripts/torch_fixtures.py from F.embedding, autograd and F.one_hot:
/// repeated ids, a table of one row, ids of rank 1 to 3, a large table
/// with few ids), builds y = embedding(table, ids) with the ids' first dim
/// the batch dim, lets the gradient rule of passes/GradRules.cpp emit the
/// table's adjoint for a given dy (embedding_grad), and one_hot(ids, V);
/// JIT-compiles the function in f64 and f32 and compares with the
/// fixture's values: to 1e-12 in f64, 1e-5 in f32. Ids outside the table
/// make the step return 1 (negative ones too). The parallel kernels give
/// bit-identical results with 1, 2 and 3 threads.
///
//===----------------------------------------------------------------------===//
#include "CodegenTestUtil.h"
#include "Fixtures.h"
#include "passes/GradRules.h"
#include "runtime/adjoint_rt.h"

using namespace adj;
using namespace adj::cgtest;

namespace {

const nlohmann::json &fixtures() {
  return test::torchFixture("embedding.json");
}

/// y = embedding(table, ids), dtable from the rule for dy, one_hot(ids, V).
void buildEmbedding(Compiled &C, Dims TableShape, Dims Ids, DType T) {
  Function *F = C.add("emb");
  Ids[0] = kBatch;
  Dims YS = Ids;
  YS.push_back(TableShape[1]);
  Value *Table = F->addArg("table", ty(T, TableShape), ArgRole::Input);
  Value *I = F->addArg("ids", ty(DType::I32, Ids), ArgRole::Input);
  Value *DY = F->addArg("dy", ty(T, YS), ArgRole::Input);
  Builder B(*F);
  Value *Y = nullptr;
  TypeOrError E = B.tryCreate(OpKind::Embedding, {Table, I}, {}, Y);
  ASSERT_TRUE(E.Type) << E.Error;
  ASSERT_EQ(Y->Type, ty(T, YS));
  GradContext G{B, *Y->Def, DY, {true, false}, {nullptr, nullptr}};
  gradRule(OpKind::Embedding)(G);
  ASSERT_TRUE(G.Grads[0]);
  ASSERT_EQ(G.Grads[0]->Def->Kind, OpKind::EmbeddingGrad);
  ASSERT_FALSE(G.Grads[1]) << "ids get no adjoint";
  Value *Hot =
      B.create(OpKind::OneHot, {I}, {{"classes", int64_t(TableShape[0])}});
  // The float type an op reading only ids takes: f32, retyped like others.
  Hot->Type.Elt = T;
  F->Results = {{"y", Y}, {"dtable", G.Grads[0]}, {"one_hot", Hot}};
}

TEST(Embedding, MatchesPyTorch) {
  ASSERT_TRUE(fixtures().is_object())
      << "tests/fixtures/embedding.json: run /usr/bin/python3 "
         "scripts/torch_fixtures.py";
  const nlohmann::json &Configs = fixtures()["embedding"];
  ASSERT_GE(Configs.size(), 5u);
  for (const nlohmann::json &R : Configs) {
    for (DType T : FloatTypes) {
      std::string Name = R["name"].get<std::string>() + " " + dtypeName(T);
      SCOPED_TRACE(Name);
      Compiled C;
      buildEmbedding(C, R["table_shape"], R["ids_shape"], T);
      if (HasFatalFailure())
        return;
      C.compile();
      std::vector<Vec> Res;
      int64_t N = R["ids_shape"][0];
      ASSERT_EQ(C.run("emb", N, {R["table"], R["ids"], R["dy"]}, Res), 0);
      double Tol = T == DType::F64 ? 1e-12 : 1e-5;
      expectClose(Res[0], R["y"], Tol, Name + ": y");
      expectClose(Res[1], R["dtable"], Tol, Name + ": dtable");
      expectClose(Res[2], R["one_hot"], 0, Name + ": one_hot");
    }
  }
}

TEST(Embedding, IdsOutsideTheTableFail) {
  Compiled C;
  buildEmbedding(C, {5, 2}, {kBatch, 3}, DType::F32);
  if (HasFatalFailure())
    return;
  C.compile();
  Vec Table = randVec(10, -1, 1, DType::F32, 1), DY(12, 1);
  std::vector<Vec> Res;
  EXPECT_EQ(C.run("emb", 2, {Table, {0, 1, 2, 3, 4, 0}, DY}, Res), 0);
  EXPECT_EQ(C.run("emb", 2, {Table, {0, 1, 2, 3, 5, 0}, DY}, Res), 1);
  EXPECT_EQ(C.run("emb", 2, {Table, {0, -1, 2, 3, 4, 0}, DY}, Res), 1);
}

/// Many ids over a large table: both kernels are parallel loops, and every
/// row of dtable sums its rows of dy in the order of the ids whatever the
/// number of threads.
TEST(Embedding, ThreadsGiveIdenticalResults) {
  Compiled C;
  buildEmbedding(C, {300, 40}, {kBatch, 64}, DType::F32);
  if (HasFatalFailure())
    return;
  C.compile();
  int64_t N = 64;
  Vec Table = randVec(300 * 40, -1, 1, DType::F32, 2);
  Vec Ids = randLabels(N * 64, 300, 3);
  Vec DY = randVec(N * 64 * 40, -1, 1, DType::F32, 4);
  std::vector<Vec> One, Many;
  adj_rt_set_threads(1);
  ASSERT_EQ(C.run("emb", N, {Table, Ids, DY}, One), 0);
  for (int Threads : {2, 3}) {
    adj_rt_set_threads(Threads);
    ASSERT_EQ(C.run("emb", N, {Table, Ids, DY}, Many), 0);
    EXPECT_EQ(One, Many) << Threads << " threads";
  }
  adj_rt_set_threads(0);
  // Row 0 of dtable by hand, in the order of the ids.
  float Want = 0;
  for (int64_t R = 0; R < N * 64; ++R)
    if (Ids[R] == 0)
      Want += float(DY[R * 40]);
  EXPECT_EQ(One[1][0], Want);
}

} // namespace
