//===- SemaBlocks.h - The train and data blocks' checks ---------*- C++ -*-===//
///
/// The parts of the first checking pass (frontend/Sema.h) that read the
/// train { } and data { } blocks — optimizer, schedule, settings, data
/// sources and their options — into the ModelSpec, and the small helpers
/// both halves share: constant numbers and booleans with their errors, and
/// a name or call bound against a parameter list. Internal to the frontend.
///
//===----------------------------------------------------------------------===//
#ifndef ADJ_FRONTEND_SEMABLOCKS_H
#define ADJ_FRONTEND_SEMABLOCKS_H

#include "frontend/Sema.h"

#include <functional>
#include <optional>

namespace adj {

/// A number that is a whole value, as an int64.
std::optional<int64_t> asInt(std::optional<double> V);

/// \p E as a finite constant number, or an error at \p E.
std::optional<double> constNumber(const Expr &E, DiagEngine &Diags);

/// \p E as `true` or `false`, or an error at \p E.
std::optional<bool> constBool(const Expr &E, DiagEngine &Diags);

/// A name or a call, bound against \p Params as a call with no arguments
/// when written without parentheses.
std::optional<std::vector<const Expr *>>
bindNameOrCall(const Expr &E, const std::vector<std::string> &Params,
               unsigned Required, DiagEngine &Diags);

/// \p P relative to the directory of the model file \p ModelPath.
std::string resolveModelPath(const std::string &ModelPath,
                             const std::string &P);

/// An error \p Msg at \p L and a note at the previous definition \p Prev.
void redefinedError(DiagEngine &Diags, const Loc &L, const std::string &Msg,
                    const Loc &Prev);

/// The helpers above as members, for the checkers that report to one
/// DiagEngine (Sema and the blocks' checker).
class CheckerBase {
protected:
  explicit CheckerBase(DiagEngine &Diags) : Diags(Diags) {}

  void redefined(const Loc &L, const std::string &Msg, const Loc &Prev) {
    redefinedError(Diags, L, Msg, Prev);
  }
  std::optional<double> number(const Expr &E) { return constNumber(E, Diags); }
  std::optional<bool> boolean(const Expr &E) { return constBool(E, Diags); }
  std::optional<std::vector<const Expr *>>
  bindNameOrCall(const Expr &E, const std::vector<std::string> &Params,
                 unsigned Required) {
    return adj::bindNameOrCall(E, Params, Required, Diags);
  }

  DiagEngine &Diags;
};

/// Checks a train block into Spec.Train. Its `lr_mult` dict is returned in
/// \p LrMultDict: it names params, so Sema resolves it after them.
void checkTrainBlock(const Stmt &S, DiagEngine &Diags, ModelSpec &Spec,
                     const Expr *&LrMultDict);

/// Whether a name is an input: nullopt when it is not defined at all.
using InputQuery = std::function<std::optional<bool>(const std::string &)>;

/// Checks a data block into Spec.Data against the model's inputs.
void checkDataBlock(const Stmt &S, DiagEngine &Diags, ModelSpec &Spec,
                    const SemaInfo &Info, const InputQuery &IsInput);

} // namespace adj

#endif // ADJ_FRONTEND_SEMABLOCKS_H
