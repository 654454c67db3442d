//===- StepPlan.h - Kernel calls, loop groups, buffers ----------*- C++ -*-===//
///
/// What a step function does, decided before any LLVM IR is built: the
/// list of kernel calls (units) in the order they run, which results may be
/// written into the buffer of the argument they update, and where every
/// other value lives (the caller's result buffers, reshape aliases and the
/// slices of one scratch arena). Lowering (Lower.cpp) follows the plan; the
/// model description given to the runtime (tools/engine/Describe.cpp)
/// publishes its in-place results, so both read the one function planStep.
///
/// A unit is one op, or a *loop group*: elementwise ops (`fused` or single
/// elementwise ops) of one result shape in which later members read earlier
/// members' results at the same index, emitted as one loop nest that keeps
/// the members' values in registers and stores only those needed elsewhere
/// (function results and values read outside the group). Adam's update of a
/// parameter (m', v', then p' reading both) is one loop instead of three.
///
//===----------------------------------------------------------------------===//
#ifndef ADJ_CODEGEN_STEPPLAN_H
#define ADJ_CODEGEN_STEPPLAN_H

#include "ir/IR.h"

#include <string>
#include <utility>
#include <vector>

namespace adj {

/// How lowerToLLVM plans a step function (the defaults are the fast ones;
/// adjc -disable-loop-groups / -disable-inplace turn them off).
struct LowerOptions {
  /// Elementwise producer-consumer chains of one shape share a loop nest.
  bool GroupLoops = true;
  /// Parameter and state updates may be written into their inputs' buffers.
  bool InPlace = true;
  /// A large weight gradient runs in its update's loop (StepUnit::Product).
  /// (Not part of the object cache's key: only tests turn it off, without
  /// the cache.)
  bool FuseProducts = true;
  /// The function of this name (if any) is lowered in checked mode: one
  /// kernel per op (no loop groups, no in-place results), every float
  /// result passed to the runtime's adj_rt_check_values with the op's index
  /// as its site, the step returning ADJ_RT_STEP_NONFINITE (3) at the first
  /// non-finite one. The runtime re-runs a failing step in it.
  std::string CheckFunction;

  /// The options function \p Name is planned and lowered with.
  LowerOptions forFunction(const std::string &Name) const {
    LowerOptions O = *this;
    if (!CheckFunction.empty() && Name == CheckFunction)
      O.GroupLoops = O.InPlace = false;
    return O;
  }
  bool checks(const std::string &Name) const {
    return !CheckFunction.empty() && Name == CheckFunction;
  }
};

/// A size in bytes, `Mul * n^Pow` for the run-time batch size n.
struct ByteSize {
  int64_t Mul = 0;
  unsigned Pow = 0;

  bool operator==(ByteSize O) const { return Mul == O.Mul && Pow == O.Pow; }
  bool operator<(ByteSize O) const {
    return Mul != O.Mul ? Mul < O.Mul : Pow < O.Pow;
  }
  /// The bytes at batch size \p N (INT64_MAX when they overflow).
  int64_t at(int64_t N) const;
};

/// Where a block of the scratch arena starts: \p Offset * n^p bytes into
/// slice \p Slice, p being that slice's power of the batch size n.
struct ArenaPlace {
  size_t Slice = 0;
  int64_t Offset = 0;

  bool operator==(ArenaPlace O) const {
    return Slice == O.Slice && Offset == O.Offset;
  }
};

/// One kernel call of a step function.
struct StepUnit {
  /// Indices into Function::Ops in program order; the unit runs where the
  /// last one stands. More than one only for a loop group.
  std::vector<size_t> Ops;
  /// Per op: its value is written to a buffer. Always true outside groups;
  /// in a group, for results, values read by later units and the last op.
  std::vector<bool> Stored;
  /// The values the kernel reads, one pointer parameter each: the op's
  /// operands for single non-elementwise ops, otherwise the distinct
  /// values the members read that the unit does not compute.
  std::vector<const Value *> Inputs;
  /// (output, input) parameter pairs that may be one buffer: an in-place
  /// result and the argument it updates. Outputs count the stored ops in
  /// order, inputs index Inputs.
  std::vector<std::pair<unsigned, unsigned>> InPlace;
  /// The values the kernel writes, one output parameter each: the results
  /// of the Stored ops, in order.
  std::vector<const Value *> Outputs;
  /// Whether the unit is an elementwise loop (emitted by emitLoopGroup).
  bool Loop = false;
  /// Whether the unit is a reshape that is not a result: it shares its
  /// operand's buffer (Buffer::Alias) and calls no kernel.
  bool Alias = false;
  /// Scratch the kernel uses while it runs, each a block of the arena
  /// (WorkspaceAt, in order) passed after the outputs: a convolution's
  /// im2col buffer (workspaceOf), a scan's carries, step slices and
  /// per-step outputs (scanWorkspace).
  std::vector<ByteSize> Workspace;
  std::vector<ArenaPlace> WorkspaceAt;
  /// A loop unit's fused product (ProductLoop.cpp), or SIZE_MAX: the index
  /// in Function::Ops of a large 2-D matmul whose result only this loop
  /// reads (a weight gradient and the optimizer's update of the weight).
  /// The kernel computes the product block by block into its workspace and
  /// runs the loop over each block while it is in cache, so the product is
  /// never stored: it is not among Inputs, its two operands are the last
  /// two Inputs.
  size_t Product = SIZE_MAX;
};

/// The bytes of a tensor of type \p T.
ByteSize bytesOf(const TensorType &T);

/// Where a value a unit stores is written during a step.
struct Buffer {
  enum KindT {
    Result,  ///< The caller's buffer of result Index (its first naming).
    Alias,   ///< The buffer of Source: a reshape copies nothing.
    Scratch, ///< At Offset * n^p bytes into slice Index of the arena.
  };
  const Value *V = nullptr;
  KindT Kind = Scratch;
  size_t Index = 0;
  int64_t Offset = 0;
  const Value *Source = nullptr;
};

/// A step function's scratch memory: one malloc'ed arena of 64-byte
/// aligned slices, one per power p of the batch size n that the stored
/// values (and workspaces) have. Slice p holds the values of `a * n^p`
/// bytes, each at its own offset `o * n^p` (o and the slice's multiplier
/// are multiples of 64, so the layout holds for every n): values live at
/// the same unit never overlap (a value is live from its unit through the
/// last unit reading it, through reshape aliases, so a unit's outputs never
/// alias its inputs); offsets are chosen greedily by size (StepPlan.cpp).
struct ArenaPlan {
  /// The slices in the arena's order, each at the sum of the earlier ones
  /// rounded up to 64 bytes.
  std::vector<ByteSize> Slices;
  /// Every value a unit stores, in unit order, with its buffer.
  std::vector<Buffer> Buffers;

  /// What the step mallocs at batch size \p N: the slices, each rounded to
  /// 64 bytes, plus 64 bytes of alignment slack (0 when they need none);
  /// about INT64_MAX when that overflows.
  int64_t bytes(int64_t N) const;
};

struct StepPlan {
  std::vector<StepUnit> Units;
  /// Per result of the function: its step function accepts being passed
  /// the buffer of the argument of the same name for it (an in-place
  /// update; adj_rt_value_desc::inplace). The writer reads that argument
  /// only at the index it writes, after every other reader has run.
  std::vector<bool> InPlace;

  /// The buffers of the values the units store.
  ArenaPlan Arena;

  /// Loop groups of more than one op, and the ops in them.
  unsigned numGroups() const;
  unsigned numGroupedOps() const;
};

/// A size in bytes that is a polynomial in the run-time batch size n:
/// `sum_k Coef[k] * n^k`.
struct BytePoly {
  std::vector<int64_t> Coef;

  void add(ByteSize S);
  void add(const BytePoly &P);
  /// The bytes at batch size \p N (saturating at INT64_MAX).
  int64_t at(int64_t N) const;
  /// Whether every coefficient is at most \p O's (so at(N) <= O.at(N) for
  /// every N >= 0).
  bool dominatedBy(const BytePoly &O) const;
  bool operator==(const BytePoly &O) const;
};

/// The memory a step needs at least, as `--report`'s
/// memory_lower_bound_bytes defines it (memoryBound; docs/memory.md):
/// the parameters and buffers, one gradient per parameter the step updates,
/// the optimizer state, and the largest set of activations and temporaries
/// live at once.
struct MemoryBound {
  BytePoly Params; ///< Param and Buffer arguments.
  BytePoly Grads;  ///< Param arguments the step returns the next value of.
  BytePoly State;  ///< State arguments (Adam's m and v, momentum).
  /// Per program point (unit) that may hold the maximum, the bytes of the
  /// scratch values live there that are not gradients, plus the unit's
  /// workspace; points dominated by another are dropped.
  std::vector<BytePoly> Peaks;
  /// The index of the unit of each peak.
  std::vector<size_t> PeakUnits;

  /// The largest set of activations live at once at batch size \p N.
  int64_t activations(int64_t N) const;
  /// Params + Grads + State + activations(N), saturating.
  int64_t bytes(int64_t N) const;
  /// Params + Grads + State added to each peak: the bound at N is the
  /// largest of these polynomials (what adj_rt_function.bound carries).
  std::vector<BytePoly> polynomials() const;
};

/// The lower bound of \p F planned as \p P. A value a unit stores in the
/// scratch arena is live from its unit through the last unit reading it
/// (through reshape aliases); it is a gradient when it is reached from the
/// next value of a parameter p by walking back through loop ops and
/// reshapes, has p's bytes and is not itself a loop op's value; arguments
/// and results (the caller's buffers) are not activations.
MemoryBound memoryBound(const Function &F, const StepPlan &P);

/// What \p F planned as \p P holds while it runs at batch size \p N, to
/// set against memoryBound: the scratch arena (ArenaPlan::bytes), the Param,
/// Buffer and State arguments, and a second buffer for each of their next
/// values not written in place. Inputs, hyperparameters and the other
/// results (loss, metrics) are counted on neither side.
int64_t heldBytes(const Function &F, const StepPlan &P, int64_t N);

/// The scratch bytes the kernel of \p O uses while it runs (a convolution's
/// im2col buffers; defined with the kernels in Conv.cpp), 0 for none.
ByteSize workspaceOf(const Op &O);
/// The scratch bytes of a matmul that runs with roles swapped (C^T = B @
/// A^T: A^T and C^T; defined with the kernel in MatMul.cpp), 0 for none.
ByteSize matMulWorkspace(const Op &O);
/// Whether the matmul \p Product may be fused into a loop unit reading its
/// result (StepUnit::Product): the workspace that kernel then uses, in
/// order (defined with the kernel in ProductLoop.cpp), none for products it
/// does not take.
std::vector<ByteSize> productLoopWorkspace(const Op &Product);

/// The buffers a scan unit's loop uses (defined with its kernel in
/// Scan.cpp), in the order its kernel reads them: two per carry (they take
/// turns as a step's input and output), one per sequence unless a step's
/// slice is contiguous in place, one per per-step output of the body.
std::vector<TensorType> scanBuffers(const Module &M, const Op &Scan);

/// Whether \p O lowers to an elementwise loop (a `fused` op or a single
/// elementwise op on floats), which loop groups are made of.
bool isLoopOp(const Op &O);

/// Plans \p F: groups elementwise loops (greedily, in program order, when
/// \p Opts.GroupLoops) and adjacent sibling scans, finds the in-place
/// results (\p Opts.InPlace) and gives every stored value a buffer
/// (ArenaPlan). \p M, F's module, holds the bodies that size a scan's
/// workspace (needed for code, not for the in-place results).
StepPlan planStep(const Function &F, const LowerOptions &Opts = {},
                  const Module *M = nullptr);

} // namespace adj

#endif
