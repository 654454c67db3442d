//===- Sema.h - Checks that need no types -----------------------*- C++ -*-===//
///
/// The first of the two checking passes over a parsed model: declarations
/// (input and param types, the one batch dim, initialisers), names and
/// their scopes, calls against the builtin table and user functions,
/// recursion, the one loss, and the train { } and data { } blocks. It fills
/// the parts of the ModelSpec that do not need IR. Everything that depends
/// on tensor types — shapes, dtypes, axes — is checked while lowering.
///
//===----------------------------------------------------------------------===//
#ifndef ADJ_FRONTEND_SEMA_H
#define ADJ_FRONTEND_SEMA_H

#include "frontend/AST.h"
#include "frontend/Frontend.h"

#include <map>

namespace adj {

/// What lowering needs from Sema; points into the AST.
struct SemaInfo {
  std::string Batch = "N"; ///< The symbolic batch dim's name.
  std::vector<std::pair<const Stmt *, TensorType>> Inputs;
  std::map<std::string, const Stmt *> Defs;
};

/// Checks \p AST and fills the name, params, train and data parts of
/// \p Spec; false after reporting errors.
/// The names of the model language's initialisers (zeros, he_normal, ...).
std::vector<std::string> initialiserNames();

bool checkModel(const ModelAST &AST, DiagEngine &Diags, ModelSpec &Spec,
                SemaInfo &Info);

} // namespace adj

#endif
