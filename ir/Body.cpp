//===- Body.cpp - Parsing the bodies of fused ops and epilogues -----------===//
///
/// Splits a body at ';', each member at blanks: the head names an
/// elementwise op of Ops.def, optionally with `:alpha` (a finite number),
/// and the operands follow, as many as the op takes (1 for unary ops, 2 for
/// binary ops and unary adjoints). Operands are `i` or `t` and decimal
/// digits; `tK` must name a member before this one, so a body is evaluated
/// front to back.
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
    if (!K || !hasProp(*K, props::Elementwise))
      return fmt::format("'{}' is not an elementwise op", Name);
    BodyMember M{*K,
                 *K == OpKind::LeakyRelu || *K == OpKind::LeakyReluGrad ? 0.01
                                                                        : 1.0,
                 {}};
    if (Colon != std::string::npos) {
      std::string A = Head.substr(Colon + 1);
      char *End = nullptr;
      M.Alpha = std::strtod(A.c_str(), &End);
      if (A.empty() || *End || !std::isfinite(M.Alpha))
        return fmt::format("bad alpha in '{}'", Head);
    }
    while (Words >> Arg) {
      BodyRef Ref;
      if (std::string E = parseRef(Arg, NumInputs, Members.size(), Ref);
          !E.empty())
        return E;
      M.Args.push_back(Ref);
    }
    size_t Want = hasProp(M.Kind, props::Unary) ? 1 : 2;
    if (M.Args.size() != Want)
      return fmt::format("'{}' takes {} operand{}, got {}", Name, Want,
                         Want == 1 ? "" : "s", M.Args.size());
    Members.push_back(std::move(M));
  }
  if (Members.empty())
    return "empty body";
  return "";
}

std::string formatMember(const Op &O, const std::vector<std::string> &Args) {
  std::string M = O.info().Mnemonic;
  if (O.hasAttr("alpha"))
    M += fmt::format(":{}", O.floatAttr("alpha"));
  for (const std::string &A : Args)
    M += " " + A;
  return M;
}

const std::string *bodyOf(const Op &O, unsigned &NumInputs) {
  const char *Name = O.Kind == OpKind::Fused    ? "body"
                     : O.Kind == OpKind::MatMul ? "epilogue"
                                                : nullptr;
  auto It = Name ? O.Attributes.find(Name) : O.Attributes.end();
  if (It == O.Attributes.end())
    return nullptr;
  size_t N = O.Operands.size();
  NumInputs = O.Kind == OpKind::Fused ? N : 1 + (N > 2 ? N - 2 : 0);
  return std::get_if<std::string>(&It->second);
}

} // namespace adj
