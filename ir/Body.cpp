//===- Body.cpp - Parsing the bodies of fused ops and epilogues -----------===//
///
/// Splits a body at ';', each member at blanks: the head names an
/// elementwise op of Ops.def, optionally with `:name=value,...` giving
/// attributes of its Ops.def schema (finite floats, integers, booleans),
/// and the operands follow, as many as the op takes (1 for unary ops, 2 for
/// binary ops and unary adjoints). Operands are `i` or `t` and decimal
/// digits; `tK` must name a member before this one, so a body is evaluated
/// front to back. The last member of a fused op's body may be a reduction
/// (reduce_sum, reduce_mean, reduce_max, reduce_min) of one operand, its
/// `axes` written without blanks (`reduce_sum:axes=[0,1] t3`): a *reducing
/// body* (see Body.h).
///
//===----------------------------------------------------------------------===//
#include "ir/Body.h"

#include <cctype>
#include <cmath>
#include <cstdlib>
#include <fmt/format.h>
#include <sstream>

namespace adj {

/// Parses `iK` / `tK` into \p Ref; "" or what is wrong.
static std::string parseRef(const std::string &Arg, unsigned NumInputs,
                            unsigned NumMembers, BodyRef &Ref) {
  bool Digits = Arg.size() >= 2 && Arg.size() <= 9;
  for (size_t I = 1; I < Arg.size() && Digits; ++I)
    Digits = std::isdigit((unsigned char)Arg[I]);
  if ((Arg[0] != 'i' && Arg[0] != 't') || !Digits)
    return fmt::format("bad operand '{}' (expected iK or tK)", Arg);
  Ref = {Arg[0] == 'i', unsigned(std::strtoul(Arg.c_str() + 1, nullptr, 10))};
  if (Ref.Input && Ref.Index >= NumInputs)
    return fmt::format("'{}' is not an input ({})", Arg,
                       NumInputs == 0 ? "there are none"
                       : NumInputs == 1
                           ? "only i0"
                           : fmt::format("i0..i{}", NumInputs - 1));
  if (!Ref.Input && Ref.Index >= NumMembers)
    return fmt::format("'{}' does not name an earlier member", Arg);
  return "";
}

/// Parses one `name=value` of a member's head into \p M.Attributes.
static std::string parseMemberAttr(const std::string &Head,
                                   const std::string &Item, BodyMember &M) {
  size_t Eq = Item.find('=');
  std::string Name = Item.substr(0, Eq), Text;
  const AttrSpec *S = opInfo(M.Kind).attr(Name);
  if (Eq == std::string::npos || !S)
    return fmt::format("bad attribute '{}' in '{}'", Item, Head);
  Text = Item.substr(Eq + 1);
  char *End = nullptr;
  switch (S->Kind) {
  case AttrKind::Float: {
    double V = std::strtod(Text.c_str(), &End);
    if (Text.empty() || *End || !std::isfinite(V))
      return fmt::format("bad {} in '{}'", Name, Head);
    M.Attributes[Name] = V;
    return "";
  }
  case AttrKind::Int: {
    long long V = std::strtoll(Text.c_str(), &End, 10);
    if (Text.empty() || *End)
      return fmt::format("bad {} in '{}'", Name, Head);
    M.Attributes[Name] = int64_t(V);
    return "";
  }
  case AttrKind::Bool:
    if (Text != "true" && Text != "false")
      return fmt::format("bad {} in '{}'", Name, Head);
    M.Attributes[Name] = Text == "true";
    return "";
  case AttrKind::IntList: {
    // [K,K,...]: what formatMember writes.
    if (Text.size() < 2 || Text.front() != '[' || Text.back() != ']')
      return fmt::format("bad {} in '{}'", Name, Head);
    std::vector<int64_t> L;
    std::stringstream Items(Text.substr(1, Text.size() - 2));
    std::string Item;
    while (std::getline(Items, Item, ',')) {
      long long V = std::strtoll(Item.c_str(), &End, 10);
      if (Item.empty() || *End || V < -64 || V > 64)
        return fmt::format("bad {} in '{}'", Name, Head);
      L.push_back(V);
    }
    if (Text.size() > 2 && Text[Text.size() - 2] == ',')
      return fmt::format("bad {} in '{}'", Name, Head);
    M.Attributes[Name] = std::move(L);
    return "";
  }
  default:
    return fmt::format("attribute '{}' cannot appear in a body", Name);
  }
}

/// Parses the `:name=value,...` of a member's head after \p Colon.
static std::string parseMemberAttrs(const std::string &Head, size_t Colon,
                                    BodyMember &M) {
  // Items are separated by the ',' outside brackets.
  std::string Item;
  unsigned Depth = 0;
  bool Any = false;
  for (size_t I = Colon + 1; I <= Head.size(); ++I) {
    char C = I < Head.size() ? Head[I] : ',';
    if (C != ',' || Depth > 0) {
      Depth += C == '[';
      Depth -= C == ']' && Depth > 0;
      Item += C;
      continue;
    }
    if (Item.empty() && I == Head.size() && Any)
      break;
    if (std::string E = parseMemberAttr(Head, Item, M); !E.empty())
      return E;
    Item.clear();
    Any = true;
  }
  return Any ? "" : fmt::format("bad attribute list in '{}'", Head);
}

std::string parseBody(const std::string &Text, unsigned NumInputs,
                      std::vector<BodyMember> &Members) {
  Members.clear();
  std::stringstream All(Text);
  std::string Member;
  while (std::getline(All, Member, ';')) {
    std::istringstream Words(Member);
    std::string Head, Arg;
    if (!(Words >> Head))
      return "empty member";
    size_t Colon = Head.find(':');
    std::string Name = Head.substr(0, Colon);
    auto K = opKindByName(Name);
    if (K && isBodyReduction(*K) && !Members.empty() &&
        isBodyReduction(Members.back().Kind))
      return fmt::format("a reduction ('{}') must be the body's last member",
                         opInfo(Members.back().Kind).Mnemonic);
    if (!K || !(hasProp(*K, props::Elementwise) || isBodyReduction(*K)))
      return fmt::format("'{}' is not an elementwise op or a reduction", Name);
    BodyMember M{*K, {}, {}};
    if (Colon != std::string::npos)
      if (std::string E = parseMemberAttrs(Head, Colon, M); !E.empty())
        return E;
    while (Words >> Arg) {
      BodyRef Ref;
      if (std::string E = parseRef(Arg, NumInputs, Members.size(), Ref);
          !E.empty())
        return E;
      M.Args.push_back(Ref);
    }
    size_t Want =
        hasProp(M.Kind, props::Unary) || isBodyReduction(M.Kind) ? 1 : 2;
    if (M.Args.size() != Want)
      return fmt::format("'{}' takes {} operand{}, got {}", Name, Want,
                         Want == 1 ? "" : "s", M.Args.size());
    Members.push_back(std::move(M));
  }
  if (Members.empty())
    return "empty body";
  for (size_t I = 0; I + 1 < Members.size(); ++I)
    if (isBodyReduction(Members[I].Kind))
      return fmt::format("a reduction ('{}') must be the body's last member",
                         opInfo(Members[I].Kind).Mnemonic);
  return "";
}

bool isBodyReduction(OpKind K) {
  return K == OpKind::ReduceSum || K == OpKind::ReduceMean ||
         K == OpKind::ReduceMax || K == OpKind::ReduceMin;
}

bool isReducingBody(const std::vector<BodyMember> &Members) {
  return !Members.empty() && isBodyReduction(Members.back().Kind);
}

bool isReducingFused(const Op &O) {
  if (O.Kind != OpKind::Fused)
    return false;
  auto It = O.Attributes.find("body");
  const std::string *Body = It == O.Attributes.end()
                                ? nullptr
                                : std::get_if<std::string>(&It->second);
  if (!Body)
    return false;
  // The last member's head: after the last ';', up to ':' or a blank.
  size_t From = Body->rfind(';');
  From = From == std::string::npos ? 0 : From + 1;
  From = Body->find_first_not_of(' ', From);
  if (From == std::string::npos)
    return false;
  size_t To = Body->find_first_of(": ", From);
  auto K = opKindByName(Body->substr(From, To - From));
  return K && isBodyReduction(*K);
}

bool isRowSum(const Op &O) {
  unsigned NumInputs = 0;
  const std::string *Body = bodyOf(O, NumInputs);
  std::vector<BodyMember> Ms;
  if (O.Kind != OpKind::Fused || !Body || O.Operands.size() != 1 ||
      !parseBody(*Body, NumInputs, Ms).empty() || Ms.size() != 1 ||
      Ms[0].Kind != OpKind::ReduceSum || !Ms[0].Args[0].Input)
    return false;
  size_t R = O.Operands[0]->type().rank();
  std::vector<int64_t> Leading(R > 0 ? R - 1 : 0);
  for (size_t I = 0; I < Leading.size(); ++I)
    Leading[I] = int64_t(I);
  return R >= 2 && reduceAxes(Ms[0].Attributes, R) == Leading;
}

std::string checkReducingBody(const Op &O,
                              const std::vector<BodyMember> &Members) {
  if (!isReducingBody(Members))
    return "";
  if (O.Kind != OpKind::Fused)
    return "only a fused body may end in a reduction";
  TensorType Loop(O.type().Elt, loopDims(O));
  for (const Value *V : O.Operands)
    if (!broadcastShapes(V->type().Dims, Loop.Dims))
      return fmt::format("input {} does not broadcast to the loop shape {}",
                         V->type().str(), Loop.str());
  TypeOrError T =
      inferType(Members.back().Kind, {Loop}, Members.back().Attributes);
  if (!T.Type)
    return T.Error;
  if (*T.Type != O.type())
    return fmt::format("reducing the loop shape {} gives {}, not {}",
                       Loop.str(), T.Type->str(), O.type().str());
  return "";
}

std::vector<int64_t> loopDims(const Op &O) {
  if (!isReducingFused(O))
    return O.type().Dims;
  // The broadcast of the inputs' shapes, aligned at the last dim.
  std::vector<int64_t> Dims;
  for (const Value *V : O.Operands) {
    const std::vector<int64_t> &D = V->type().Dims;
    if (D.size() > Dims.size())
      Dims.insert(Dims.begin(), D.size() - Dims.size(), 1);
    for (size_t I = 0; I < D.size(); ++I) {
      int64_t &To = Dims[Dims.size() - D.size() + I];
      if (To == 1)
        To = D[I];
    }
  }
  return Dims;
}

std::string formatMember(const Op &O, const std::vector<std::string> &Args) {
  std::string M = O.info().Mnemonic;
  const char *Sep = ":";
  for (const auto &[Name, Value] : O.Attributes) {
    // Lists without blanks: a member is one word before its operands.
    auto *L = std::get_if<std::vector<int64_t>>(&Value);
    M += fmt::format("{}{}={}", Sep, Name,
                     L ? fmt::format("[{}]", fmt::join(*L, ","))
                       : attrStr(Value));
    Sep = ",";
  }
  for (const std::string &A : Args)
    M += " " + A;
  return M;
}

const std::string *bodyOf(const Op &O, unsigned &NumInputs) {
  const char *Name = O.Kind == OpKind::Fused ? "body"
                     : O.Kind == OpKind::MatMul || O.Kind == OpKind::Conv2d
                         ? "epilogue"
                         : nullptr;
  auto It = Name ? O.Attributes.find(Name) : O.Attributes.end();
  if (It == O.Attributes.end())
    return nullptr;
  size_t N = O.Operands.size();
  NumInputs = O.Kind == OpKind::Fused ? N : 1 + (N > 2 ? N - 2 : 0);
  return std::get_if<std::string>(&It->second);
}

} // namespace adj
