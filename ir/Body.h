//===- Body.h - Elementwise bodies of fused ops and epilogues ---*- C++ -*-===//
///
/// The small language of a `fused` op's `body` and a matmul's `epilogue`
/// (see Ops.def): members separated by ';', each
/// `mnemonic[:name=value,...] operand...` naming an elementwise op of the op
/// table with its operands, an operand being `iK` (input K) or `tK` (the value
/// of an earlier member K). The last member is the body's value. The verifier
/// checks bodies with parseBody and codegen evaluates the members it returns.
///
/// A fused op's body may end in a reduction, e.g.
/// `relu_grad i0 i1; reduce_sum:axes=[0] t0`: a *reducing body*. The
/// elementwise members are evaluated over the op's *loop shape*, the
/// broadcast of its inputs' shapes (loopDims), and the op's result is the
/// last member's reduction of them, e.g. the bias gradient [C] of a [N, C]
/// loop. The fuse pass makes them; codegen accumulates the reduction in the
/// loop nest that computes its operand (emitLoopGroup), also when that
/// operand is stored for other readers.
///
//===----------------------------------------------------------------------===//
#ifndef ADJ_IR_BODY_H
#define ADJ_IR_BODY_H

#include "ir/IR.h"

#include <string>
#include <vector>

namespace adj {

/// An operand of a member: input Index, or member Index's value.
struct BodyRef {
  bool Input;
  unsigned Index;
};

/// One member of a body: an elementwise op applied to inputs and members.
struct BodyMember {
  OpKind Kind;
  Attrs Attributes; ///< `:name=value,...`; absent ones take Ops.def's default.
  std::vector<BodyRef> Args;
};

/// The product of a 2-D matmul's static sizes up to which its register
/// tiles run inline in the step's own code (codegen/MatMul.cpp), so that
/// its epilogue also takes tanh and sigmoid (passes/Fuse.cpp).
constexpr int64_t kInlineMatMulStatic = 32 * 32;

/// Parses \p Text, a body over \p NumInputs inputs, into \p Members.
/// Returns "" or what is wrong, e.g. "'i3' is not an input (i0..i1)".
std::string parseBody(const std::string &Text, unsigned NumInputs,
                      std::vector<BodyMember> &Members);

/// Whether \p K may end a body: reduce_sum, reduce_mean, reduce_max or
/// reduce_min.
bool isBodyReduction(OpKind K);

/// Whether the parsed body \p Members ends in a reduction.
bool isReducingBody(const std::vector<BodyMember> &Members);

/// Whether \p O is a fused op whose body ends in a reduction.
bool isReducingFused(const Op &O);

/// Whether \p O is a fused op whose body is only `reduce_sum:axes=[0,..,r-2]
/// i0`: the sum of the rows of its one input of rank r >= 2, one value per
/// element of the last dim (a bias gradient). Such a sum of a row op's
/// result (cross_entropy_grad) runs in that op's kernel (StepPlan's row
/// groups).
bool isRowSum(const Op &O);

/// The shape \p O's loop runs over: the broadcast of the inputs' shapes for
/// a reducing fused op, otherwise its result's.
std::vector<int64_t> loopDims(const Op &O);

/// "" or what is wrong with the reducing body \p Members of \p O (nothing
/// when it does not reduce): only fused ops reduce, their inputs broadcast to
/// the loop shape and the result is the reduction of it.
std::string checkReducingBody(const Op &O,
                              const std::vector<BodyMember> &Members);

/// The text of one member computing \p O from the operand references
/// \p Args (`iK` or `tK`): `mnemonic[:name=value,...] arg...`, what
/// parseBody reads.
std::string formatMember(const Op &O, const std::vector<std::string> &Args);

/// The body attribute of \p O (`body` of a fused op, `epilogue` of a
/// matmul or conv2d) and its number of inputs (the product is input 0, its
/// operands after the first two are inputs 1, 2, ...); null when \p O has
/// none.
const std::string *bodyOf(const Op &O, unsigned &NumInputs);

} // namespace adj

#endif
