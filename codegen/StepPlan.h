//===- StepPlan.h - Kernel calls, loop groups and in-place results -*- C++
//-*-===//
///
/// What a step function does, decided before any LLVM IR is built: the
/// list of kernel calls (units) in the order they run, and which results
/// may be written into the buffer of the argument they update. Lowering
/// (Lower.cpp) follows the plan; the model description given to the runtime
/// (tools/engine/Describe.cpp) publishes its in-place results, so both read
/// the one function planStep.
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
  /// Whether the unit is an elementwise loop (emitted by emitLoopGroup).
  bool Loop = false;
};

struct StepPlan {
  std::vector<StepUnit> Units;
  /// Per result of the function: its step function accepts being passed
  /// the buffer of the argument of the same name for it (an in-place
  /// update; adj_rt_value_desc::inplace). The writer reads that argument
  /// only at the index it writes, after every other reader has run.
  std::vector<bool> InPlace;

  /// Loop groups of more than one op, and the ops in them.
  unsigned numGroups() const;
  unsigned numGroupedOps() const;
};

/// Whether \p O lowers to an elementwise loop (a `fused` op or a single
/// elementwise op on floats), which loop groups are made of.
bool isLoopOp(const Op &O);

/// Plans \p F: groups elementwise loops (greedily, in program order, when
/// \p Opts.GroupLoops) and finds the in-place results (\p Opts.InPlace).
StepPlan planStep(const Function &F, const LowerOptions &Opts = {});

} // namespace adj

#endif
