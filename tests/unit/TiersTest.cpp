//===- TiersTest.cpp - Tiered compilation ---------------------------------===//
///
/// \file
/// Tiered compilation (JIT::addModuleTiered, TieredFunctions): the MNIST
/// example's step functions come first from the -O0 code generator, then
/// from the -O2 one, as two different pieces of code; training that
/// switches tiers after a few steps (ADJ_TIER_SWITCH_AT), training on the
/// quick code only and training untiered give the same parameters and
/// losses, bit for bit; the switch happens at the step it was told to, the
/// trampolines count the quick calls, optimised IR carries no fast-math
/// flag (what makes the tiers agree), and a model that cannot get
/// trampolines compiles untiered. An optimised tier held (as on one CPU)
/// waits for its release, which the first quick call's return (or a call
/// waiting for the optimised code) gives, by default on one or two CPUs;
/// one CPU means one compile thread.
/// Runs under ThreadSanitizer (the switch races the background compile).
///
//===----------------------------------------------------------------------===//

#include "tools/engine/Tiers.h"
#include "codegen/Codegen.h"
#include "codegen/JIT.h"
#include "tools/engine/Engine.h"

#include "TestUtil.h"

#include <gtest/gtest.h>
#include <llvm/IR/Instructions.h>
#include <llvm/IR/LLVMContext.h>
#include <llvm/IR/Module.h>
#include <llvm/IR/Operator.h>
#include <llvm/Support/TargetSelect.h>
#include <llvm/Target/TargetMachine.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdlib>
#include <cstring>
#include <sched.h>
#include <sstream>
#include <thread>

using namespace adj;

namespace {

const std::string &mnistPath() {
  static const std::string P =
      std::string(ADJ_SOURCE_DIR) + "/examples/mnist_mlp.adj";
  return P;
}

std::unique_ptr<ModelSpec> mnistSpec() {
  std::ostringstream Err;
  DiagEngine Diags(Err);
  auto Spec =
      compileModelSource(mnistPath(), adj::test::readFile(mnistPath()), Diags);
  EXPECT_TRUE(Spec) << Err.str();
  return Spec;
}

/// Sets (or with null unsets) ADJ_TIER_SWITCH_AT while alive.
struct SwitchAt {
  explicit SwitchAt(const char *K) {
    if (K)
      setenv("ADJ_TIER_SWITCH_AT", K, 1);
    else
      unsetenv("ADJ_TIER_SWITCH_AT");
  }
  ~SwitchAt() { unsetenv("ADJ_TIER_SWITCH_AT"); }
};

std::unique_ptr<CompiledModel> compileMnist(bool Tiered, bool Deferred = false,
                                            int Hold = 0) {
  std::ostringstream Err;
  DiagEngine Diags(Err);
  EngineOptions EO;
  EO.ObjectCache = false;
  EO.Tiered = Tiered;
  EO.DeferQuick = Deferred;
  EO.HoldOptimised = Hold;
  Engine E(EO, Diags, Err, "test");
  auto CM = E.compile(mnistSpec());
  EXPECT_TRUE(CM) << Err.str();
  return CM;
}

/// Trains \p CM for \p Steps steps (batch 16, 1 or 2 threads) and returns
/// the test loss and accuracy and every parameter's bytes.
std::string train(CompiledModel &CM, int Steps, int Threads) {
  adj_rt_options O;
  adj_rt_options_init(&O);
  O.quiet = 1;
  O.batch = 16;
  O.threads = Threads;
  adj_rt_session *S = adj_rt_session_create(&CM.runtimeModel(), &O);
  EXPECT_TRUE(S) << adj_rt_last_error();
  if (!S)
    return "";
  std::string Bytes;
  EXPECT_EQ(adj_rt_session_train(S, 0, Steps), 0) << adj_rt_last_error();
  // The test split's loss and accuracy (@forward, tiered too).
  double Results[2];
  EXPECT_EQ(adj_rt_session_eval(S, Results), 0) << adj_rt_last_error();
  Bytes.append(reinterpret_cast<const char *>(Results), sizeof(Results));
  for (int P = 0;; ++P) {
    adj_rt_named_tensor T;
    if (adj_rt_session_param(S, P, &T) != 0)
      break;
    int64_t N = 1;
    for (int K = 0; K < T.rank; ++K)
      N *= T.dims[K];
    Bytes.append(static_cast<const char *>(T.data), size_t(N) * 4);
  }
  adj_rt_session_free(S);
  return Bytes;
}

int64_t quickCalls(CompiledModel &CM, const std::string &Name) {
  std::vector<std::pair<std::string, int64_t>> Calls;
  EXPECT_TRUE(CM.waitForOptimised(&Calls));
  for (auto &[N, C] : Calls)
    if (N == Name)
      return C;
  ADD_FAILURE() << Name << " has no trampoline";
  return -1;
}

/// Step functions for the trampolines alone: 10 + the first argument's
/// value, or 20 + it (the "optimised" code).
int32_t quickStep(int64_t N, void *const *, void *const *) {
  return int32_t(10 + N);
}
int32_t optimisedStep(int64_t N, void *const *, void *const *) {
  return int32_t(20 + N);
}

class TiersTest : public ::testing::Test {
protected:
  static void SetUpTestSuite() {
    llvm::InitializeNativeTarget();
    llvm::InitializeNativeTargetAsmPrinter();
  }
};

TEST_F(TiersTest, QuickAndOptimisedCodeAreDifferentCode) {
  auto Spec = mnistSpec();
  ASSERT_TRUE(Spec);
  std::ostringstream Err;
  DiagEngine Diags(Err);
  EngineOptions EO;
  Engine E(EO, Diags, Err, "test");
  auto IR = E.buildIR(*Spec, /*AllOptimizers=*/false);
  ASSERT_TRUE(IR) << Err.str();
  // Hold 1 and 2: the optimised tier held (JIT::holdOptimised) and released
  // by releaseOptimised, or by waitForOptimised (as lookup and ~JIT do).
  struct Case {
    unsigned Threads;
    int Hold;
  };
  for (Case C : {Case{1, 0}, Case{2, 0}, Case{1, 1}, Case{2, 2}}) {
    auto Ctx = std::make_unique<llvm::LLVMContext>();
    auto LM = lowerToLLVM(*IR, *Ctx);
    ASSERT_TRUE(bool(LM));
    auto J = JIT::create(2, "", C.Threads);
    ASSERT_TRUE(bool(J)) << llvm::toString(J.takeError());
    if (C.Hold)
      (*J)->holdOptimised();
    std::atomic<int> Called{0};
    ASSERT_FALSE(bool(
        (*J)->addModuleTiered(std::move(*LM), std::move(Ctx), "", [&](bool Ok) {
          EXPECT_TRUE(Ok);
          ++Called;
        })));
    EXPECT_TRUE((*J)->stats().Tiered);
    auto Quick = (*J)->lookupQuick("train_step");
    ASSERT_TRUE(bool(Quick)) << llvm::toString(Quick.takeError());
    double Released = 0; // steady-clock seconds
    if (C.Hold) {
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
      EXPECT_EQ(Called.load(), 0) << "the optimised tier was not held";
      Released = std::chrono::duration<double>(
                     std::chrono::steady_clock::now().time_since_epoch())
                     .count();
      if (C.Hold == 1)
        (*J)->releaseOptimised();
    }
    (*J)->waitForOptimised();
    EXPECT_EQ(Called.load(), 1);
    // A held compile started after its release (linked at ReadyAt after a
    // compile of Seconds).
    const OptimisedStats &S = (*J)->optimisedStats();
    if (C.Hold)
      EXPECT_GE(S.ReadyAt - S.Seconds, Released) << "hold " << C.Hold;
    EXPECT_TRUE((*J)->optimisedStats().Done) << (*J)->optimisedStats().Error;
    auto Optimised = (*J)->lookupOptimised("train_step");
    ASSERT_TRUE(bool(Optimised)) << llvm::toString(Optimised.takeError());
    EXPECT_NE(*Quick, *Optimised);
    auto Looked = (*J)->lookup("train_step");
    ASSERT_TRUE(bool(Looked));
    EXPECT_EQ(*Looked, *Optimised);
  }
}

TEST_F(TiersTest, OneCPUCompilesInOnePart) {
  // Under `taskset -c 0` the compile threads are one (more parts would only
  // add splitting); ADJ_COMPILE_THREADS still decides when set.
  cpu_set_t Old, One;
  ASSERT_EQ(sched_getaffinity(0, sizeof(Old), &Old), 0);
  int First = 0;
  while (!CPU_ISSET(First, &Old))
    ++First;
  CPU_ZERO(&One);
  CPU_SET(First, &One);
  ASSERT_EQ(sched_setaffinity(0, sizeof(One), &One), 0);
  unsetenv("ADJ_COMPILE_THREADS");
  unsigned Pinned = defaultCompileThreads(), CPUs = usableCPUs();
  setenv("ADJ_COMPILE_THREADS", "3", 1);
  unsigned Set = defaultCompileThreads();
  unsetenv("ADJ_COMPILE_THREADS");
  ASSERT_EQ(sched_setaffinity(0, sizeof(Old), &Old), 0);
  EXPECT_EQ(Pinned, 1u);
  EXPECT_EQ(CPUs, 1u);
  EXPECT_EQ(Set, 3u);
  unsigned All = std::min<unsigned>(
      CPU_COUNT(&Old), std::max(1u, std::thread::hardware_concurrency()));
  EXPECT_EQ(usableCPUs(), All);
  EXPECT_EQ(defaultCompileThreads(), std::min(All, 8u));
}

TEST_F(TiersTest, OptimisedTierIsHeldByDefaultOnOneOrTwoCPUs) {
  // On one or two CPUs the optimised compile waits for the first step (it
  // would share the CPUs of the data load and the step); on more it starts
  // at once. HoldOptimised 1 and 0 decide whatever the CPUs.
  EXPECT_TRUE(holdsOptimised(-1, 1));
  EXPECT_TRUE(holdsOptimised(-1, 2));
  EXPECT_FALSE(holdsOptimised(-1, 3));
  EXPECT_FALSE(holdsOptimised(-1, 64));
  EXPECT_TRUE(holdsOptimised(1, 64));
  EXPECT_FALSE(holdsOptimised(0, 1));
  EXPECT_FALSE(holdsOptimised(0, 2));
}

TEST_F(TiersTest, FirstReturnHookRunsOnceAfterTheFirstQuickCall) {
  static std::atomic<int> Hooked{0}, HookedAtCall{-1};
  struct Local {
    static int32_t quick(int64_t N, void *const *, void *const *) {
      HookedAtCall = Hooked.load();
      return int32_t(10 + N);
    }
  };
  Hooked = 0;
  auto T = TieredFunctions::create(1);
  ASSERT_TRUE(T);
  T->onFirstReturn([] { ++Hooked; });
  adj_rt_step_fn Fn = T->add("train_step", &Local::quick, nullptr, false);
  ASSERT_TRUE(Fn);
  EXPECT_EQ(Fn(1, nullptr, nullptr), 11);
  EXPECT_EQ(HookedAtCall.load(), 0); // not before the call returned
  EXPECT_EQ(Hooked.load(), 1);
  EXPECT_EQ(Fn(2, nullptr, nullptr), 12);
  EXPECT_EQ(Hooked.load(), 1); // once
}

TEST_F(TiersTest, FirstReturnHookRunsBeforeWaitingForTheOptimisedCode) {
  // ADJ_TIER_SWITCH_AT=1: the first call waits for the optimised code,
  // which here (as with a held compile) comes only from the hook.
  SwitchAt K("1");
  auto T = TieredFunctions::create(1);
  ASSERT_TRUE(T);
  TieredFunctions *Raw = T.get();
  std::thread Compiler;
  T->onFirstReturn([Raw, &Compiler] {
    Compiler = std::thread([Raw] {
      Raw->publish([](const std::string &) -> void * {
        return reinterpret_cast<void *>(&optimisedStep);
      });
    });
  });
  adj_rt_step_fn Fn = T->add("train_step", &quickStep, nullptr, false);
  ASSERT_TRUE(Fn);
  EXPECT_EQ(Fn(1, nullptr, nullptr), 21);
  Compiler.join();
}

TEST_F(TiersTest, OptimisedIRHasExactArithmetic) {
  // What lets any code generator give the same bits: after optimizeLLVM no
  // instruction carries a fast-math flag, and the contractions the -O2 code
  // generator would have made are explicit llvm.fma calls.
  auto Spec = mnistSpec();
  ASSERT_TRUE(Spec);
  std::ostringstream Err;
  DiagEngine Diags(Err);
  Engine E(EngineOptions(), Diags, Err, "test");
  auto IR = E.buildIR(*Spec, /*AllOptimizers=*/false);
  ASSERT_TRUE(IR) << Err.str();
  llvm::LLVMContext Ctx;
  auto LM = lowerToLLVM(*IR, Ctx);
  ASSERT_TRUE(bool(LM));
  size_t Flagged = 0, FP = 0, Fma = 0;
  for (const llvm::Function &F : **LM)
    for (const llvm::BasicBlock &BB : F)
      for (const llvm::Instruction &I : BB)
        if (llvm::isa<llvm::FPMathOperator>(I))
          Flagged += I.getFastMathFlags().any();
  EXPECT_GT(Flagged, 0u) << "the lowering no longer sets fast-math flags";
  auto TM = llvm::cantFail(createHostTargetMachine(2));
  optimizeLLVM(**LM, *TM, 2);
  Flagged = 0;
  for (const llvm::Function &F : **LM)
    for (const llvm::BasicBlock &BB : F)
      for (const llvm::Instruction &I : BB) {
        if (!llvm::isa<llvm::FPMathOperator>(I))
          continue;
        ++FP;
        Flagged += I.getFastMathFlags().any();
        if (auto *C = llvm::dyn_cast<llvm::CallInst>(&I))
          if (C->getCalledFunction() &&
              C->getCalledFunction()->getName().startswith("llvm.fma."))
            ++Fma;
      }
  EXPECT_GT(FP, 0u);
  EXPECT_EQ(Flagged, 0u);
  if (llvm::StringRef(TM->getTargetFeatureString()).contains("+fma"))
    EXPECT_GT(Fma, 0u);
}

TEST_F(TiersTest, SwitchingTiersGivesTheSameBits) {
  std::string Untiered;
  {
    auto CM = compileMnist(/*Tiered=*/false);
    ASSERT_TRUE(CM);
    EXPECT_FALSE(CM->tiered());
    Untiered = train(*CM, 12, 1);
  }
  ASSERT_FALSE(Untiered.empty());
  // Steps 1-4 on the quick code, then the optimised code; 1 and 2 threads.
  for (int Threads : {1, 2}) {
    SwitchAt K("5");
    auto CM = compileMnist(/*Tiered=*/true);
    ASSERT_TRUE(CM);
    ASSERT_TRUE(CM->tiered());
    EXPECT_EQ(train(*CM, 12, Threads), Untiered) << Threads << " threads";
    EXPECT_EQ(quickCalls(*CM, "train_step"), 4);
  }
  // The quick code alone.
  {
    SwitchAt K("1000");
    auto CM = compileMnist(/*Tiered=*/true);
    ASSERT_TRUE(CM && CM->tiered());
    EXPECT_EQ(train(*CM, 12, 1), Untiered);
    EXPECT_EQ(quickCalls(*CM, "train_step"), 12);
  }
  // The optimised code from the first step.
  {
    SwitchAt K("1");
    auto CM = compileMnist(/*Tiered=*/true);
    ASSERT_TRUE(CM && CM->tiered());
    EXPECT_EQ(train(*CM, 12, 1), Untiered);
    EXPECT_EQ(quickCalls(*CM, "train_step"), 0);
  }
}

TEST_F(TiersTest, DeferredQuickCodeGivesTheSameBits) {
  // compile() returns before the quick code is linked (adjc --run): the
  // first call waits for it, and every switch point gives the untiered
  // bits.
  std::string Untiered;
  {
    auto CM = compileMnist(/*Tiered=*/false);
    ASSERT_TRUE(CM);
    Untiered = train(*CM, 12, 1);
  }
  ASSERT_FALSE(Untiered.empty());
  // With the optimised compile held until the first step returned (as on
  // one CPU) too; at "1" the first call releases it before waiting for it.
  for (int Hold : {0, 1})
    for (const char *K : {"5", "1000", "1"}) {
      SwitchAt At(K);
      auto CM = compileMnist(/*Tiered=*/true, /*Deferred=*/true, Hold);
      ASSERT_TRUE(CM && CM->tiered());
      EXPECT_EQ(train(*CM, 12, 2), Untiered)
          << "switch at " << K << ", hold " << Hold;
      int64_t Want = std::strcmp(K, "5") == 0 ? 4
                     : std::strcmp(K, "1")    ? 12
                                              : 0;
      EXPECT_EQ(quickCalls(*CM, "train_step"), Want)
          << "switch at " << K << ", hold " << Hold;
    }
  // The deferred compile noted its seconds for --report: later reports of
  // this process take the options' compile_seconds again.
  adj_rt_note_compile_seconds(-1);
}

TEST_F(TiersTest, DeferredQuickCodeIsWaitedForOrItsFailureReported) {
  for (bool Fails : {false, true}) {
    auto T = TieredFunctions::create(2);
    ASSERT_TRUE(T);
    std::vector<std::string> Reported;
    T->deferQuick([&](const std::string &E) { Reported.push_back(E); });
    adj_rt_step_fn Fn = T->add("train_step", nullptr, nullptr, false);
    ASSERT_TRUE(Fn);
    // The first call blocks until the quick code (or its failure) comes
    // from another thread.
    std::thread Publisher([&] {
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
      if (Fails)
        return T->failQuick("codegen failed");
      T->publishQuick([](const std::string &Name, void (**Release)(),
                         std::string &) -> adj_rt_step_fn {
        return Name == "train_step" ? &quickStep : nullptr;
      });
    });
    int32_t First = Fn(1, nullptr, nullptr);
    Publisher.join();
    if (Fails) {
      EXPECT_EQ(First, 1);
      EXPECT_EQ(Fn(2, nullptr, nullptr), 1);
      ASSERT_EQ(Reported.size(), 1u); // once
      EXPECT_EQ(Reported[0], "codegen failed");
      continue;
    }
    EXPECT_EQ(First, 11);
    EXPECT_TRUE(Reported.empty());
    // A function added after the quick code came resolves at once; one the
    // resolver does not know fails the quick tier.
    adj_rt_step_fn Other = T->add("forward", nullptr, nullptr, false);
    ASSERT_TRUE(Other);
    EXPECT_EQ(Other(3, nullptr, nullptr), 1);
    ASSERT_EQ(Reported.size(), 1u);
    EXPECT_NE(Reported[0].find("forward"), std::string::npos);
    T->publish([](const std::string &) -> void * {
      return reinterpret_cast<void *>(&optimisedStep);
    });
  }
}

TEST_F(TiersTest, WithoutTrampolinesTheModelCompilesUntiered) {
  // Hold every trampoline: the next model compiles untiered and trains.
  std::vector<std::unique_ptr<TieredFunctions>> Held;
  while (auto T = TieredFunctions::create(1))
    Held.push_back(std::move(T));
  EXPECT_FALSE(Held.empty());
  auto CM = compileMnist(/*Tiered=*/true);
  ASSERT_TRUE(CM);
  EXPECT_FALSE(CM->tiered());
  Held.clear();
  EXPECT_FALSE(train(*CM, 3, 1).empty());
}

TEST_F(TiersTest, TierZeroInTheEnvironmentTurnsTieringOff) {
  setenv("ADJ_TIER", "0", 1);
  auto CM = compileMnist(/*Tiered=*/true);
  unsetenv("ADJ_TIER");
  ASSERT_TRUE(CM);
  EXPECT_FALSE(CM->tiered());
}

} // namespace
