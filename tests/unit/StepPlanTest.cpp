//===- StepPlanTest.cpp - Loop groups and in-place results ----------------===//
///
/// planStep on hand-built functions: an optimizer-like chain becomes one
/// loop group that stores only its results and writes them in place; a
/// member read by another op before the group would run, or of another
/// shape, stays apart; a reader of the argument after the writer, a read
/// through a reshape, or the argument returned as well keeps the update out
/// of place; the options turn both off. The arena plan (no LLVM IR built)
/// reuses a block once its last reader has run, gives reshapes their
/// operand's buffer unless they are results, and results the caller's. The
/// compiled chain gives the same bits grouped or not (after the fuse pass, as
/// the pipeline runs it), with its results in separate buffers or in the
/// arguments' own, serial and split into parallel tasks.
///
//===----------------------------------------------------------------------===//
#include "CodegenTestUtil.h"

#include "codegen/StepPlan.h"
#include "passes/Pass.h"

using namespace adj;
using namespace adj::cgtest;

namespace {

/// m' = 0.9 m + g; p' = p - lr m' over [K]: results p and opt.m.p.
void buildChain(Module &M, DType T, int64_t K) {
  Function &F = *M.addFunction("step");
  Builder B(F);
  Value *P = F.addArg("p", ty(T, {K}), ArgRole::Param);
  Value *Mv = F.addArg("opt.m.p", ty(T, {K}), ArgRole::State);
  Value *G = F.addArg("g", ty(T, {K}), ArgRole::Input);
  Value *Lr = F.addArg("lr", ty(T, {}), ArgRole::Hyper);
  Value *M1 = B.create(OpKind::Mul, {B.constant(0.9, T), Mv});
  Value *M2 = B.create(OpKind::Add, {M1, G});
  Value *P2 = B.create(OpKind::Sub, {P, B.create(OpKind::Mul, {Lr, M2})});
  F.Results = {{"p", P2}, {"opt.m.p", M2}};
}

TEST(StepPlan, AnOptimizerChainIsOneLoopWrittenInPlace) {
  Module M;
  buildChain(M, DType::F32, 8);
  const Function &F = *M.function("step");
  StepPlan P = planStep(F);
  ASSERT_EQ(P.Units.size(), 2u); // the constant, then the group
  const StepUnit &U = P.Units[1];
  EXPECT_TRUE(U.Loop);
  EXPECT_EQ(U.Ops, (std::vector<size_t>{1, 2, 3, 4}));
  EXPECT_EQ(U.Stored, (std::vector<bool>{false, true, false, true}));
  std::vector<const Value *> Inputs = {&F.Ops[0]->Result, F.arg("opt.m.p"),
                                       F.arg("g"), F.arg("lr"), F.arg("p")};
  EXPECT_EQ(U.Inputs, Inputs);
  EXPECT_EQ(P.InPlace, (std::vector<bool>{true, true}));
  // p' is output 1 over input 4 (p), m' output 0 over input 1 (m).
  using Pairs = std::vector<std::pair<unsigned, unsigned>>;
  EXPECT_EQ(U.InPlace, (Pairs{{1, 4}, {0, 1}}));
  EXPECT_EQ(P.numGroups(), 1u);
  EXPECT_EQ(P.numGroupedOps(), 4u);
}

TEST(StepPlan, OptionsTurnGroupsAndInPlaceOff) {
  Module M;
  buildChain(M, DType::F32, 8);
  const Function &F = *M.function("step");
  StepPlan Apart = planStep(F, {/*GroupLoops=*/false, /*InPlace=*/true});
  EXPECT_EQ(Apart.Units.size(), F.Ops.size());
  EXPECT_EQ(Apart.numGroups(), 0u);
  EXPECT_EQ(Apart.InPlace, (std::vector<bool>{true, true}));
  StepPlan Copies = planStep(F, {/*GroupLoops=*/true, /*InPlace=*/false});
  EXPECT_EQ(Copies.numGroups(), 1u);
  EXPECT_EQ(Copies.InPlace, (std::vector<bool>{false, false}));
  for (const StepUnit &U : Copies.Units)
    EXPECT_TRUE(U.InPlace.empty());
}

TEST(StepPlan, AReadInBetweenOrAnotherShapeKeepsOpsApart) {
  Module M;
  Function &F = *M.addFunction("f");
  Builder B(F);
  Value *X = F.addArg("x", ty(DType::F32, {3, 4}), ArgRole::Input);
  Value *V = F.addArg("v", ty(DType::F32, {4}), ArgRole::Input);
  Value *A = B.create(OpKind::Neg, {X});
  Value *S = B.create(OpKind::ReduceSum, {A}, axesAttr({0, 1}));
  Value *Y = B.create(OpKind::Add, {A, S}); // A was read by S meanwhile
  Value *E = B.create(OpKind::Exp, {V});    // [4]: broadcast into Z
  Value *Z = B.create(OpKind::Mul, {Y, E}); // joins Y
  Value *W = B.create(OpKind::Tanh, {Z});   // joins Z
  F.Results = {{"y", Y}, {"w", W}};
  StepPlan P = planStep(F);
  // neg, reduce_sum, exp, then y, z and w in one loop after exp.
  ASSERT_EQ(P.Units.size(), 4u);
  EXPECT_EQ(P.Units[0].Ops, (std::vector<size_t>{0}));
  EXPECT_EQ(P.numGroups(), 1u);
  EXPECT_EQ(P.Units.back().Ops, (std::vector<size_t>{2, 4, 5}));
  EXPECT_EQ(P.Units.back().Stored, (std::vector<bool>{true, false, true}));
  EXPECT_EQ(P.InPlace, (std::vector<bool>{false, false}));
}

/// The buffers of \p P's arena, as (kind, index) pairs.
std::vector<std::pair<Buffer::KindT, size_t>> kinds(const StepPlan &P) {
  std::vector<std::pair<Buffer::KindT, size_t>> Out;
  for (const Buffer &B : P.Arena.Buffers)
    Out.push_back({B.Kind, B.Index});
  return Out;
}

/// The offsets of \p P's buffers in their slices (0 for those not scratch).
std::vector<int64_t> offsets(const StepPlan &P) {
  std::vector<int64_t> Out;
  for (const Buffer &B : P.Arena.Buffers)
    Out.push_back(B.Offset);
  return Out;
}

TEST(StepPlan, ArenaSlicesAreReusedOnceTheirLastReaderHasRun) {
  // a = -x, b = e^a, c = -b, d = e^c over [n, 3]: a and b need two blocks
  // of the slice of n^1; c takes a's, free once b (its last reader) has
  // run; d is the result.
  Module M;
  Function &F = *M.addFunction("f");
  Builder B(F);
  Value *X = F.addArg("x", ty(DType::F32, {kBatch, 3}), ArgRole::Input);
  Value *A = B.create(OpKind::Neg, {X});
  Value *Bv = B.create(OpKind::Exp, {A});
  Value *C = B.create(OpKind::Neg, {Bv});
  Value *D = B.create(OpKind::Exp, {C});
  F.Results = {{"d", D}};
  StepPlan P = planStep(F, {/*GroupLoops=*/false, /*InPlace=*/true});
  ASSERT_EQ(P.Units.size(), 4u);
  EXPECT_EQ(P.Arena.Slices, (std::vector<ByteSize>{{128, 1}}));
  using K = Buffer::KindT;
  EXPECT_EQ(kinds(P), (std::vector<std::pair<K, size_t>>{{Buffer::Scratch, 0},
                                                         {Buffer::Scratch, 0},
                                                         {Buffer::Scratch, 0},
                                                         {Buffer::Result, 0}}));
  EXPECT_EQ(offsets(P), (std::vector<int64_t>{0, 64, 0, 0}));
  std::vector<const Value *> Values;
  for (const Buffer &Buf : P.Arena.Buffers)
    Values.push_back(Buf.V);
  EXPECT_EQ(Values, (std::vector<const Value *>{A, Bv, C, D}));
  // Blocks of 12 n bytes at offsets 0 and 64 n (aligned for every n), and
  // 64 bytes of alignment slack.
  EXPECT_EQ(P.Arena.bytes(10), 1280 + 64);
  EXPECT_EQ(P.Arena.bytes(100), 12800 + 64);
  EXPECT_EQ(bytesOf(ty(DType::F64, {kBatch, kBatch, 5})), (ByteSize{40, 2}));
  EXPECT_EQ(bytesOf(ty(DType::F32, {kBatch, 0})), (ByteSize{0, 0}));
  // Grouped, the loop keeps a, b and c in registers: no arena at all.
  StepPlan G = planStep(F);
  ASSERT_EQ(G.Units.size(), 1u);
  EXPECT_EQ(G.Units[0].Outputs, (std::vector<const Value *>{D}));
  EXPECT_TRUE(G.Arena.Slices.empty());
  EXPECT_EQ(G.Arena.bytes(10), 0);
  EXPECT_EQ(kinds(G), (std::vector<std::pair<K, size_t>>{{Buffer::Result, 0}}));
}

TEST(StepPlan, ReshapesShareTheirOperandsBufferUnlessResults) {
  // r = reshape(-x) shares the slice of -x; s = sum(r) is of another size;
  // the result t = reshape(s) is written to the caller's buffer, and so is
  // -x, returned first as "neg" and then repeated as "again".
  Module M;
  Function &F = *M.addFunction("f");
  Builder B(F);
  Value *X = F.addArg("x", ty(DType::F32, {2, 3}), ArgRole::Input);
  Value *Neg = B.create(OpKind::Neg, {X});
  Value *E = B.create(OpKind::Exp, {Neg});
  Value *R = B.create(OpKind::Reshape, {E}, {{"shape", Attr(Dims{6})}});
  Value *S = B.create(OpKind::ReduceSum, {R}, axesAttr({0}));
  Value *T = B.create(OpKind::Reshape, {S}, {{"shape", Attr(Dims{1})}});
  F.Results = {{"neg", Neg}, {"t", T}, {"again", Neg}};
  StepPlan P = planStep(F, {/*GroupLoops=*/false, /*InPlace=*/true});
  ASSERT_EQ(P.Units.size(), 5u);
  EXPECT_TRUE(P.Units[2].Alias);
  EXPECT_FALSE(P.Units[4].Alias); // a result
  // e (24 bytes) and s (4) are live together at the sum: two blocks of
  // the slice of n^0.
  EXPECT_EQ(P.Arena.Slices, (std::vector<ByteSize>{{128, 0}}));
  ASSERT_EQ(P.Arena.Buffers.size(), 5u);
  const std::vector<Buffer> &Bufs = P.Arena.Buffers;
  EXPECT_EQ(Bufs[0].Kind, Buffer::Result);
  EXPECT_EQ(Bufs[0].Index, 0u);
  EXPECT_EQ(Bufs[1].Kind, Buffer::Scratch);
  EXPECT_EQ(Bufs[1].Index, 0u);
  EXPECT_EQ(Bufs[2].Kind, Buffer::Alias);
  EXPECT_EQ(Bufs[2].Source, E);
  EXPECT_EQ(Bufs[3].Kind, Buffer::Scratch);
  EXPECT_EQ(Bufs[3].Index, 0u);
  EXPECT_EQ(offsets(P), (std::vector<int64_t>{0, 0, 0, 64, 0}));
  EXPECT_EQ(Bufs[4].Kind, Buffer::Result);
  EXPECT_EQ(Bufs[4].Index, 1u);
  EXPECT_EQ(P.Arena.bytes(1), 128 + 64);
}

/// The plan of p' = p - g, p read as \p Read gives it, with the results
/// \p Results sets.
StepPlan
planUpdate(const std::function<Value *(Function &, Builder &, Value *)> &Read,
           const std::function<void(Function &, Value *, Value *)> &Results) {
  Module M;
  Function &F = *M.addFunction("f");
  Builder B(F);
  Value *P = F.addArg("p", ty(DType::F32, {4}), ArgRole::Param);
  Value *G = F.addArg("g", ty(DType::F32, {4}), ArgRole::Input);
  Value *P2 = B.create(OpKind::Sub, {Read(F, B, P), G});
  Results(F, P, P2);
  return planStep(F);
}

TEST(StepPlan, InPlaceOnlyWhenNoReaderFollowsTheWriter) {
  auto Direct = [](Function &, Builder &, Value *P) { return P; };
  auto Sum = [](Function &F, Value *P) {
    Builder B(F);
    return B.create(OpKind::ReduceSum, {P}, axesAttr({0}));
  };
  EXPECT_EQ(planUpdate(Direct,
                       [](Function &F, Value *, Value *P2) {
                         F.Results = {{"p", P2}};
                       })
                .InPlace,
            std::vector<bool>{true});
  // sum(p) after the writer would read p'.
  EXPECT_EQ(planUpdate(Direct,
                       [&](Function &F, Value *P, Value *P2) {
                         F.Results = {{"p", P2}, {"s", Sum(F, P)}};
                       })
                .InPlace,
            (std::vector<bool>{false, false}));
  // p returned as well is copied after the writer.
  EXPECT_EQ(planUpdate(Direct,
                       [](Function &F, Value *P, Value *P2) {
                         F.Results = {{"p", P2}, {"old", P}};
                       })
                .InPlace,
            (std::vector<bool>{false, false}));
  // A result named like an input is not an update.
  EXPECT_EQ(planUpdate(Direct,
                       [](Function &F, Value *, Value *P2) {
                         F.Results = {{"g", P2}};
                       })
                .InPlace,
            std::vector<bool>{false});
  // The writer reads p through a reshape alias.
  auto Reshaped = [](Function &, Builder &B, Value *P) {
    Value *R = B.create(OpKind::Reshape, {P}, {{"shape", Attr(Dims{2, 2})}});
    return B.create(OpKind::Reshape, {R}, {{"shape", Attr(Dims{4})}});
  };
  EXPECT_EQ(planUpdate(Reshaped,
                       [](Function &F, Value *, Value *P2) {
                         F.Results = {{"p", P2}};
                       })
                .InPlace,
            std::vector<bool>{false});
}

/// The fuse pass on \p M, as the pipeline runs it before codegen.
void fuse(Module &M) {
  PassManager PM;
  std::string Err;
  ASSERT_TRUE(PM.parsePipeline("fuse", Err)) << Err;
  PassContext Ctx;
  std::ostringstream Log;
  ASSERT_TRUE(PM.run(M, Ctx, Log)) << Log.str();
}

TEST(StepPlan, GroupedAndInPlaceGiveTheSameBits) {
  // As the pipeline builds it, the chain is two fused ops (m', then p'
  // multiplying m'): one loop evaluates the same float ops, so it gives
  // the same bits. Unfused, the loop lets LLVM contract 0.9 * m into the
  // add that follows, as a fused op would (one rounding instead of two).
  // 1000 elements: one vectorised loop; 40000: split into parallel tasks.
  for (bool Fused : {true, false})
    for (int64_t K : {int64_t(1000), int64_t(40000)})
      for (DType T : FloatTypes) {
        Compiled Old, New;
        buildChain(Old.M, T, K);
        buildChain(New.M, T, K);
        if (Fused) {
          fuse(Old.M);
          fuse(New.M);
          ASSERT_EQ(New.M.function("step")->Ops.size(), 3u);
        }
        Old.compile(2, {/*GroupLoops=*/false, /*InPlace=*/false});
        New.compile();
        std::vector<Vec> Args = {randVec(K, -1, 1, T, 1),
                                 randVec(K, -1, 1, T, 2),
                                 randVec(K, -1, 1, T, 3),
                                 {0.01}};
        std::vector<Vec> Want, Apart, Shared;
        ASSERT_EQ(Old.run("step", 1, Args, Want), 0);
        ASSERT_EQ(New.run("step", 1, Args, Apart), 0);
        ASSERT_EQ(New.run("step", 1, Args, Shared, /*InPlace=*/true), 0);
        for (size_t R = 0; R < Want.size(); ++R) {
          std::string What = label("result " + std::to_string(R), T, K) +
                             (Fused ? " fused" : " unfused");
          EXPECT_NE(Want[R], Args[R == 0 ? 0 : 1]) << What;
          EXPECT_EQ(Shared[R], Apart[R]) << What << " in place";
          if (Fused)
            EXPECT_EQ(Apart[R], Want[R]) << What << " grouped";
          else
            expectClose(Apart[R], Want[R], tolFor(T), What + " grouped");
        }
      }
}

} // namespace
