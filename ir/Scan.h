//===- Scan.h - The scan op: a loop whose body is a function ----*- C++ -*-===//
///
/// `scan` is how the IR holds a recurrence once, whatever its length. Its
/// operands are K initial carries, S sequences and C captures (values the
/// body reads, such as weights), in that order; attribute `body` names a
/// function of the module taking (carry..., x_t..., capture...) and
/// returning (carry'..., y...): K next carries of the carries' types, then
/// Y per-step outputs. Step t reads x_t, element t of each sequence along
/// `axis` (that axis removed); steps run t = 0 .. T-1, or T-1 .. 0 when
/// `reverse`.
///
/// One scan op has one result, so a loop with several outputs is written
/// as *sibling* ops: the same body, operands and attributes except
/// `output` (which carry or y) and `final` (the carry after the last step
/// instead of every step's stacked along `axis`). Code generation runs
/// adjacent siblings as one loop, and autodiff differentiates them
/// together (one reverse scan, passes/ScanGrad.cpp).
///
//===----------------------------------------------------------------------===//
#ifndef ADJ_IR_SCAN_H
#define ADJ_IR_SCAN_H

#include "ir/IR.h"

#include <string>
#include <vector>

namespace adj {

/// The shape of a scan op's loop, read from its attributes and operands.
struct ScanShape {
  unsigned Carries = 0, Seqs = 0, Captures = 0;
  int64_t Axis = 1;
  int64_t Length = 0; ///< T.
  bool Reverse = false;

  /// Reads \p O (a scan op); "" or what is wrong with its counts or axis.
  std::string read(const Op &O);
  Value *init(const Op &O, unsigned K) const { return O.Operands[K]; }
  Value *seq(const Op &O, unsigned S) const { return O.Operands[Carries + S]; }
  Value *capture(const Op &O, unsigned C) const {
    return O.Operands[Carries + Seqs + C];
  }
};

/// \p T with dim \p Axis removed (a step's slice of a sequence).
TensorType dropAxis(const TensorType &T, int64_t Axis);
/// \p T with a dim of \p Len inserted at \p Axis (a stacked carry).
TensorType insertAxis(const TensorType &T, int64_t Axis, int64_t Len);

/// The body function a scan op names, or null.
const Function *scanBody(const Module &M, const Op &O);

/// Whether \p A and \p B are siblings: scans of one loop (same body,
/// operands and attributes but `output` and `final`).
bool scanSiblings(const Op &A, const Op &B);

/// The result type output \p Output (\p Final or stacked) of a loop over
/// \p Body with shape \p S has.
TensorType scanOutputType(const Function &Body, const ScanShape &S,
                          unsigned Output, bool Final);

/// Checks a scan op against its body: counts, types of every argument and
/// result, and the op's result type; "" or the first thing wrong.
std::string checkScan(const Module &M, const Op &O,
                      const std::string &Batch = "N");

/// The functions the scan ops of \p M name (scan bodies, whose argument
/// names are their own, not the model's).
std::vector<const Function *> scanBodies(const Module &M);

} // namespace adj

#endif
