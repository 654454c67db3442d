//===- IR.h - Adjoint's SSA IR ----------------------------------*- C++ -*-===//
///
/// The IR: tensor types with static dims and one symbolic batch dim, values
/// (function arguments and op results), ops described by the op table in
/// Ops.def, functions with named results, and a module holding them.
///
/// Every op has exactly one result. Function arguments carry a role (data
/// input, parameter, optimizer state, hyperparameter); results carry a name.
/// A result named like an argument is that argument's value for the next step
/// (an updated parameter or optimizer state); `loss` and metric names are
/// reported.
///
//===----------------------------------------------------------------------===//
#ifndef ADJ_IR_IR_H
#define ADJ_IR_IR_H

#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <variant>
#include <vector>

namespace adj {

enum class DType { F32, F64, I32 };
const char *dtypeName(DType T);
bool isFloat(DType T);
unsigned dtypeBytes(DType T);

/// A dimension value standing for the symbolic batch dim.
constexpr int64_t kBatch = -1;

struct TensorType {
  DType Elt = DType::F32;
  std::vector<int64_t> Dims; ///< kBatch marks the symbolic batch dim.

  TensorType() = default;
  TensorType(DType E, std::vector<int64_t> D) : Elt(E), Dims(std::move(D)) {}
  static TensorType scalar(DType E) { return TensorType(E, {}); }

  unsigned rank() const { return Dims.size(); }
  bool isScalar() const { return Dims.empty(); }
  bool hasBatch() const;
  /// Elements with the batch dim taken as \p N.
  int64_t numElements(int64_t N) const;
  bool operator==(const TensorType &O) const {
    return Elt == O.Elt && Dims == O.Dims;
  }
  bool operator!=(const TensorType &O) const { return !(*this == O); }
  TensorType withElt(DType E) const { return TensorType(E, Dims); }
  /// `f32[N,784]`; \p Batch names the symbolic dim.
  std::string str(const std::string &Batch = "N") const;
};

/// A source location: where in the model (or IR) file an op came from.
/// `Grad` marks ops of the adjoint graph (they carry the forward op's place).
struct Loc {
  std::string File;
  unsigned Line = 0, Col = 0;
  bool Grad = false;
  bool known() const { return Line != 0; }
  Loc asGrad() const {
    Loc L = *this;
    L.Grad = true;
    return L;
  }
};

enum class OpKind : unsigned {
#define OP(Name, Mnemonic, Arity, Rule, Props, DTypes, Fusion, Attrs, Doc) Name,
#include "ir/Ops.def"
  NumOps
};

namespace props {
enum : unsigned {
  Pure = 0,
  Elementwise = 1u << 0,
  Unary = 1u << 1,
  Binary = 1u << 2,
  Commutative = 1u << 3,
  Differentiable = 1u << 4,
  Reduction = 1u << 5,
  Loss = 1u << 6,
  Grad = 1u << 7,
  MayFail = 1u << 8, ///< The kernel may report bad data at run time.
  Syntax = 1u << 9,  ///< A unary op written as an operator, not a builtin.
};
}

/// The element-type rule of an op (Ops.def's DTypes column).
enum class DTypeRule {
  Any,    ///< Operands share one dtype, float or not.
  Float,  ///< Float operands of one dtype.
  Labels, ///< The last operand holds i32 labels, the others one float dtype.
};

/// How the fuse pass treats an op (Ops.def's Fusion column).
enum class FusionClass {
  None,     ///< Not elementwise.
  Loop,     ///< Joins a fused elementwise loop.
  Epilogue, ///< Also a member of a matmul's epilogue.
  Cheap,    ///< Also recomputed in every user instead of stored.
};

/// The kind of an attribute value.
enum class AttrKind { Int, Float, Bool, IntList, String };
const char *attrKindName(AttrKind K); ///< "an integer", "a float", ...

struct OpInfo;
/// One attribute of an op's schema (Ops.def's Attrs column).
struct AttrSpec {
  std::string Name;
  AttrKind Kind;
  bool Required;      ///< No default and not optional.
  bool HasDefault;    ///< Default holds the value used when absent.
  double Default = 0; ///< Numeric and boolean defaults.
};

struct OpInfo {
  const char *Mnemonic;
  int Arity;        ///< -1: variadic.
  const char *Rule; ///< The shape rule's name (ir/ShapeRules.cpp).
  unsigned Props;
  DTypeRule DTypes;
  FusionClass Fusion;
  const char *AttrText; ///< The attribute schema as written in Ops.def.
  const char *Doc;
  /// The parsed attribute schema.
  const std::vector<AttrSpec> &attrs() const;
  /// The schema's entry for \p Name, or null.
  const AttrSpec *attr(const std::string &Name) const;
  /// Whether the result type is given explicitly (no shape rule).
  bool explicitType() const;
};
const OpInfo &opInfo(OpKind K);
std::optional<OpKind> opKindByName(const std::string &Mnemonic);
inline bool hasProp(OpKind K, unsigned P) { return (opInfo(K).Props & P) == P; }
/// For a unary op, its `_grad` op; for others, nullopt.
std::optional<OpKind> unaryGradOf(OpKind K);
/// For a unary op's `_grad` op, the unary op; for others, nullopt.
std::optional<OpKind> unaryForwardOf(OpKind K);
/// Every op kind, in table order.
std::vector<OpKind> allOps();

/// Attribute values: integers, floats, integer lists, booleans, strings.
using Attr =
    std::variant<int64_t, double, std::vector<int64_t>, bool, std::string>;
/// Attributes of an op, kept sorted by name so printing is canonical.
using Attrs = std::map<std::string, Attr>;
std::string attrStr(const Attr &A);

class Op;

/// An SSA value: a function argument or the result of an op.
class Value {
public:
  TensorType Type;
  Op *Def = nullptr; ///< Null for arguments.
  int ArgNo = -1;    ///< Index among the function's arguments, or -1.
  std::string Name;  ///< Argument names; op results are numbered on print.
  const TensorType &type() const { return Type; }
  bool isArg() const { return ArgNo >= 0; }
};

class Op {
public:
  OpKind Kind;
  std::vector<Value *> Operands;
  Value Result;
  Attrs Attributes;
  Loc Location;

  const OpInfo &info() const { return opInfo(Kind); }
  const TensorType &type() const { return Result.Type; }
  bool hasAttr(const std::string &N) const { return Attributes.count(N); }
  int64_t intAttr(const std::string &N, int64_t Default = 0) const;
  double floatAttr(const std::string &N, double Default = 0) const;
  bool boolAttr(const std::string &N, bool Default = false) const;
  /// A float attribute, or the op's schema default when absent.
  double attrOr(const std::string &N) const;
  const std::vector<int64_t> *listAttr(const std::string &N) const;
};

enum class ArgRole { Input, Param, State, Hyper, Buffer };
const char *argRoleName(ArgRole R);

struct Result {
  std::string Name;
  Value *V;
};

class Function {
public:
  std::string Name;
  std::vector<std::unique_ptr<Value>> Args;
  std::vector<ArgRole> Roles;
  std::vector<bool> Frozen; ///< Per argument: a frozen parameter.
  std::vector<std::unique_ptr<Op>> Ops;
  std::vector<Result> Results;

  Value *addArg(const std::string &Name, TensorType T, ArgRole R,
                bool IsFrozen = false);
  /// Removes argument \p I (it must have no uses) and renumbers the rest.
  void eraseArg(size_t I);
  Value *arg(const std::string &Name) const;
  int argIndex(const std::string &Name) const;
  const Result *result(const std::string &Name) const;
  /// Replaces every use of \p From (operands and results) with \p To.
  void replaceAllUses(Value *From, Value *To);
  /// Number of uses of each op result, indexed like Ops; results count.
  std::map<const Value *, unsigned> useCounts() const;
  std::unique_ptr<Function> clone() const;
};

class Module {
public:
  std::string BatchDim = "N";
  std::vector<std::unique_ptr<Function>> Functions;

  Function *function(const std::string &Name) const;
  Function *addFunction(const std::string &Name);
  std::unique_ptr<Module> clone() const;
};

/// Infers the result type of an op from its operand types and attributes.
/// Returns an error message (no location) when the operands do not fit.
struct TypeOrError {
  std::optional<TensorType> Type;
  std::string Error;
};
TypeOrError inferType(OpKind K, const std::vector<TensorType> &Operands,
                      const Attrs &A, const std::string &Batch = "N");

/// NumPy broadcasting of two shapes; nullopt when incompatible.
std::optional<std::vector<int64_t>>
broadcastShapes(const std::vector<int64_t> &A, const std::vector<int64_t> &B);
/// Normalises a possibly negative axis; nullopt when out of range.
std::optional<int64_t> normAxis(int64_t Axis, unsigned Rank);
/// Sorted, normalised reduction axes of an op (`axes` attr, default all).
std::vector<int64_t> reduceAxes(const Attrs &A, unsigned Rank);

/// Builds ops at the end of a function, inferring result types.
class Builder {
public:
  explicit Builder(Function &F) : F(F) {}
  Loc CurLoc;

  /// Appends an op; the types must fit (checked with an assert: callers
  /// validate user input first).
  Value *create(OpKind K, std::vector<Value *> Operands, Attrs A = {});
  /// Appends an op, or returns the shape-rule error.
  TypeOrError tryCreate(OpKind K, std::vector<Value *> Operands, Attrs A,
                        Value *&Out);
  /// Appends an op of the Explicit shape rule with its result type.
  Value *createExplicit(OpKind K, std::vector<Value *> Operands, Attrs A,
                        TensorType T);
  Value *constant(double V, DType T = DType::F32,
                  std::vector<int64_t> Dims = {});
  Function &function() { return F; }

private:
  Function &F;
};

} // namespace adj

#endif
