//===- IR.cpp - Types, the op table, functions and the builder ------------===//
///
/// Implements the pieces of IR.h that are not printing, parsing or
/// verification: dtype facts, op-table lookups, attribute access, argument
/// and use bookkeeping, deep cloning and the op builder.
///
//===----------------------------------------------------------------------===//
#include "ir/IR.h"

#include <cassert>
#include <cstdlib>
#include <fmt/format.h>
#include <unordered_map>

namespace adj {

const char *dtypeName(DType T) {
  switch (T) {
  case DType::F32:
    return "f32";
  case DType::F64:
    return "f64";
  case DType::I32:
    return "i32";
  }
  return "?";
}

bool isFloat(DType T) { return T == DType::F32 || T == DType::F64; }
unsigned dtypeBytes(DType T) { return T == DType::F64 ? 8 : 4; }

bool TensorType::hasBatch() const {
  for (int64_t D : Dims)
    if (D == kBatch)
      return true;
  return false;
}

int64_t TensorType::numElements(int64_t N) const {
  int64_t E = 1;
  for (int64_t D : Dims)
    E *= D == kBatch ? N : D;
  return E;
}

std::string TensorType::str(const std::string &Batch) const {
  std::string S = fmt::format("{}[", dtypeName(Elt));
  for (size_t I = 0; I < Dims.size(); ++I) {
    if (I)
      S += ",";
    S += Dims[I] == kBatch ? Batch : std::to_string(Dims[I]);
  }
  return S + "]";
}

static const OpInfo OpTable[] = {
#define OP(Name, Mnemonic, Arity, Rule, Props, DTypes, Fusion, Attrs, Doc)     \
  {Mnemonic, Arity, #Rule, (Props), DTypeRule::DTypes, FusionClass::Fusion,    \
   Attrs,    Doc},
#define Pure props::Pure
#define Elementwise props::Elementwise
#define Unary props::Unary
#define Binary props::Binary
#define Commutative props::Commutative
#define Differentiable props::Differentiable
#define Reduction props::Reduction
#define Loss props::Loss
#define Grad props::Grad
#define MayFail props::MayFail
#define Syntax props::Syntax
#include "ir/Ops.def"
#undef Pure
#undef Elementwise
#undef Unary
#undef Binary
#undef Commutative
#undef Differentiable
#undef Reduction
#undef Loss
#undef Grad
#undef MayFail
#undef Syntax
};

const OpInfo &opInfo(OpKind K) {
  assert(K < OpKind::NumOps && "bad op kind");
  return OpTable[static_cast<unsigned>(K)];
}

std::vector<OpKind> allOps() {
  std::vector<OpKind> All;
  for (unsigned I = 0; I < unsigned(OpKind::NumOps); ++I)
    All.push_back(OpKind(I));
  return All;
}

const char *attrKindName(AttrKind K) {
  switch (K) {
  case AttrKind::Int:
    return "an integer";
  case AttrKind::Float:
    return "a float";
  case AttrKind::Bool:
    return "a boolean";
  case AttrKind::IntList:
    return "a list of integers";
  case AttrKind::String:
    return "a string";
  }
  return "?";
}

static std::string trim(const std::string &S) {
  size_t B = S.find_first_not_of(' '), E = S.find_last_not_of(' ');
  return B == std::string::npos ? "" : S.substr(B, E - B + 1);
}

/// Parses one `name: kind [= default]` or `name: kind?` of an Attrs column;
/// a malformed entry is a bug in Ops.def, caught by the first lookup.
static AttrSpec parseAttrSpec(const std::string &Text, const char *Op) {
  static const std::unordered_map<std::string, AttrKind> Kinds = {
      {"int", AttrKind::Int},
      {"float", AttrKind::Float},
      {"bool", AttrKind::Bool},
      {"ints", AttrKind::IntList},
      {"string", AttrKind::String}};
  size_t Colon = Text.find(':'), Eq = Text.find('=');
  AttrSpec S;
  S.Name = trim(Text.substr(0, Colon));
  std::string Kind = trim(Text.substr(
      Colon + 1, Eq == std::string::npos ? std::string::npos : Eq - Colon - 1));
  bool Optional = !Kind.empty() && Kind.back() == '?';
  if (Optional)
    Kind.pop_back();
  auto It = Kinds.find(Kind);
  if (Colon == std::string::npos || S.Name.empty() || It == Kinds.end()) {
    fmt::print(stderr, "internal error: Ops.def: bad attribute '{}' of '{}'\n",
               Text, Op);
    std::abort();
  }
  S.Kind = It->second;
  S.HasDefault = Eq != std::string::npos;
  S.Required = !Optional && !S.HasDefault;
  if (S.HasDefault) {
    std::string V = trim(Text.substr(Eq + 1));
    S.Default = V == "true" ? 1 : V == "false" ? 0 : std::stod(V);
  }
  return S;
}

const std::vector<AttrSpec> &OpInfo::attrs() const {
  static const std::vector<std::vector<AttrSpec>> Schemas = [] {
    std::vector<std::vector<AttrSpec>> All;
    for (const OpInfo &I : OpTable) {
      std::vector<AttrSpec> Specs;
      std::string Text = I.AttrText;
      for (size_t Pos = 0; Pos < Text.size();) {
        size_t Comma = Text.find(',', Pos);
        if (Comma == std::string::npos)
          Comma = Text.size();
        Specs.push_back(
            parseAttrSpec(Text.substr(Pos, Comma - Pos), I.Mnemonic));
        Pos = Comma + 1;
      }
      All.push_back(std::move(Specs));
    }
    return All;
  }();
  return Schemas[this - OpTable];
}

const AttrSpec *OpInfo::attr(const std::string &Name) const {
  for (const AttrSpec &S : attrs())
    if (S.Name == Name)
      return &S;
  return nullptr;
}

bool OpInfo::explicitType() const { return std::string(Rule) == "Explicit"; }

std::optional<OpKind> opKindByName(const std::string &Mnemonic) {
  static const std::unordered_map<std::string, OpKind> ByName = [] {
    std::unordered_map<std::string, OpKind> M;
    for (unsigned I = 0; I < unsigned(OpKind::NumOps); ++I)
      M[OpTable[I].Mnemonic] = OpKind(I);
    return M;
  }();
  auto It = ByName.find(Mnemonic);
  if (It == ByName.end())
    return std::nullopt;
  return It->second;
}

std::optional<OpKind> unaryGradOf(OpKind K) {
  if (!hasProp(K, props::Unary))
    return std::nullopt;
  // UNARY entries place the _grad op right after the op.
  return OpKind(unsigned(K) + 1);
}

std::optional<OpKind> unaryForwardOf(OpKind K) {
  if (K == OpKind(0))
    return std::nullopt;
  OpKind Prev = OpKind(unsigned(K) - 1);
  if (unaryGradOf(Prev) == K)
    return Prev;
  return std::nullopt;
}

std::string attrStr(const Attr &A) {
  if (auto *I = std::get_if<int64_t>(&A))
    return std::to_string(*I);
  if (auto *D = std::get_if<double>(&A)) {
    // Shortest text that reads back to the same double, always with a '.'
    // or exponent so that it parses as a float.
    std::string S = fmt::format("{}", *D);
    if (S.find_first_of(".eEn") == std::string::npos)
      S += ".0";
    return S;
  }
  if (auto *L = std::get_if<std::vector<int64_t>>(&A))
    return fmt::format("[{}]", fmt::join(*L, ", "));
  if (auto *B = std::get_if<bool>(&A))
    return *B ? "true" : "false";
  return fmt::format("\"{}\"", std::get<std::string>(A));
}

int64_t Op::intAttr(const std::string &N, int64_t Default) const {
  auto It = Attributes.find(N);
  if (It == Attributes.end())
    return Default;
  if (auto *I = std::get_if<int64_t>(&It->second))
    return *I;
  return Default;
}

double Op::floatAttr(const std::string &N, double Default) const {
  auto It = Attributes.find(N);
  if (It == Attributes.end())
    return Default;
  if (auto *D = std::get_if<double>(&It->second))
    return *D;
  if (auto *I = std::get_if<int64_t>(&It->second))
    return double(*I);
  return Default;
}

double Op::attrOr(const std::string &N) const {
  const AttrSpec *S = info().attr(N);
  assert(S && S->HasDefault && "attrOr: no default in Ops.def");
  return floatAttr(N, S ? S->Default : 0);
}

bool Op::boolAttr(const std::string &N, bool Default) const {
  auto It = Attributes.find(N);
  if (It == Attributes.end())
    return Default;
  if (auto *B = std::get_if<bool>(&It->second))
    return *B;
  return Default;
}

const std::vector<int64_t> *Op::listAttr(const std::string &N) const {
  auto It = Attributes.find(N);
  if (It == Attributes.end())
    return nullptr;
  return std::get_if<std::vector<int64_t>>(&It->second);
}

const char *argRoleName(ArgRole R) {
  switch (R) {
  case ArgRole::Input:
    return "input";
  case ArgRole::Param:
    return "param";
  case ArgRole::State:
    return "state";
  case ArgRole::Hyper:
    return "hyper";
  case ArgRole::Buffer:
    return "buffer";
  }
  return "?";
}

Value *Function::addArg(const std::string &N, TensorType T, ArgRole R,
                        bool IsFrozen) {
  auto V = std::make_unique<Value>();
  V->Type = std::move(T);
  V->Name = N;
  V->ArgNo = Args.size();
  Args.push_back(std::move(V));
  Roles.push_back(R);
  Frozen.push_back(IsFrozen);
  return Args.back().get();
}

void Function::eraseArg(size_t I) {
  Args.erase(Args.begin() + I);
  Roles.erase(Roles.begin() + I);
  Frozen.erase(Frozen.begin() + I);
  for (size_t J = I; J < Args.size(); ++J)
    Args[J]->ArgNo = int(J);
}

Value *Function::arg(const std::string &N) const {
  int I = argIndex(N);
  return I < 0 ? nullptr : Args[I].get();
}

int Function::argIndex(const std::string &N) const {
  for (size_t I = 0; I < Args.size(); ++I)
    if (Args[I]->Name == N)
      return I;
  return -1;
}

const Result *Function::result(const std::string &N) const {
  for (const Result &R : Results)
    if (R.Name == N)
      return &R;
  return nullptr;
}

void Function::replaceAllUses(Value *From, Value *To) {
  for (auto &O : Ops)
    for (Value *&V : O->Operands)
      if (V == From)
        V = To;
  for (Result &R : Results)
    if (R.V == From)
      R.V = To;
}

std::map<const Value *, unsigned> Function::useCounts() const {
  std::map<const Value *, unsigned> Uses;
  for (auto &O : Ops)
    for (Value *V : O->Operands)
      ++Uses[V];
  for (const Result &R : Results)
    ++Uses[R.V];
  return Uses;
}

std::unique_ptr<Function> Function::clone() const {
  auto F = std::make_unique<Function>();
  F->Name = Name;
  std::unordered_map<const Value *, Value *> Map;
  for (size_t I = 0; I < Args.size(); ++I)
    Map[Args[I].get()] =
        F->addArg(Args[I]->Name, Args[I]->Type, Roles[I], Frozen[I]);
  for (auto &O : Ops) {
    auto N = std::make_unique<Op>();
    N->Kind = O->Kind;
    N->Attributes = O->Attributes;
    N->Location = O->Location;
    N->Result.Type = O->Result.Type;
    N->Result.Def = N.get();
    for (Value *V : O->Operands)
      N->Operands.push_back(Map.at(V));
    Map[&O->Result] = &N->Result;
    F->Ops.push_back(std::move(N));
  }
  for (const Result &R : Results)
    F->Results.push_back({R.Name, Map.at(R.V)});
  return F;
}

Function *Module::function(const std::string &N) const {
  for (auto &F : Functions)
    if (F->Name == N)
      return F.get();
  return nullptr;
}

Function *Module::addFunction(const std::string &N) {
  Functions.push_back(std::make_unique<Function>());
  Functions.back()->Name = N;
  return Functions.back().get();
}

std::unique_ptr<Module> Module::clone() const {
  auto M = std::make_unique<Module>();
  M->BatchDim = BatchDim;
  for (auto &F : Functions)
    M->Functions.push_back(F->clone());
  return M;
}

TypeOrError Builder::tryCreate(OpKind K, std::vector<Value *> Operands, Attrs A,
                               Value *&Out) {
  std::vector<TensorType> Types;
  for (Value *V : Operands)
    Types.push_back(V->Type);
  TypeOrError T = inferType(K, Types, A);
  if (!T.Type)
    return T;
  auto O = std::make_unique<Op>();
  O->Kind = K;
  O->Operands = std::move(Operands);
  O->Attributes = std::move(A);
  O->Location = CurLoc;
  O->Result.Type = *T.Type;
  O->Result.Def = O.get();
  Out = &O->Result;
  F.Ops.push_back(std::move(O));
  return T;
}

Value *Builder::createExplicit(OpKind K, std::vector<Value *> Operands, Attrs A,
                               TensorType T) {
  auto O = std::make_unique<Op>();
  O->Kind = K;
  O->Operands = std::move(Operands);
  O->Attributes = std::move(A);
  O->Location = CurLoc;
  O->Result.Type = std::move(T);
  O->Result.Def = O.get();
  Value *Out = &O->Result;
  F.Ops.push_back(std::move(O));
  return Out;
}

Value *Builder::create(OpKind K, std::vector<Value *> Operands, Attrs A) {
  Value *Out = nullptr;
  TypeOrError T = tryCreate(K, std::move(Operands), std::move(A), Out);
  assert(T.Type && "builder: operands do not fit the op's shape rule");
  (void)T;
  return Out;
}

Value *Builder::constant(double V, DType T, std::vector<int64_t> Dims) {
  Attrs A;
  A["value"] = V;
  return createExplicit(OpKind::Constant, {}, std::move(A),
                        TensorType(T, std::move(Dims)));
}

} // namespace adj
