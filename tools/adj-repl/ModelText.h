//===- ModelText.h - The REPL's model source and its edits ------*- C++ -*-===//
///
/// The REPL keeps a model's source text as the source of truth. A statement
/// typed at the prompt edits it: a statement of the same kind and name is
/// replaced in place (a `train { }` or `data { }` block merges its entries
/// into the existing block), anything else is inserted where it belongs —
/// inputs after inputs, params after params, defs after defs, bindings
/// before the loss, metrics after the loss, blocks at the end. The text is
/// split into statements with the frontend's lexer.
///
//===----------------------------------------------------------------------===//
#ifndef ADJ_TOOLS_REPL_MODELTEXT_H
#define ADJ_TOOLS_REPL_MODELTEXT_H

#include "frontend/AST.h"

#include <string>
#include <vector>

namespace adj {

/// One top-level statement: its kind, name (if any) and lines (0-based,
/// inclusive).
struct StmtSpan {
  StmtKind Kind = StmtKind::Bind;
  bool Known = false;  ///< false: not a recognisable statement
  bool Buffer = false; ///< a Param statement declared with `buffer`
  std::string Name;
  unsigned First = 0, Last = 0;
};

/// The statements of \p Source, in order.
std::vector<StmtSpan> splitStatements(const std::string &Source);

/// The result of applying one typed statement to a model's text.
struct Edit {
  std::string Text;  ///< the new source
  unsigned Line = 0; ///< 1-based line where the typed text went verbatim
                     ///< (0: merged into a block)
  std::string What;  ///< "redefined h", "added param w9", ...
};

/// Applies the one-line statement \p Typed (a single statement of \p Span's
/// kind and name) to \p Source.
Edit applyStatement(const std::string &Source, const StmtSpan &Span,
                    const std::string &Typed);

/// Removes the statement named \p Name; false when there is none.
bool removeStatement(const std::string &Source, const std::string &Name,
                     std::string &Out, std::string &What);

/// The names bound by the statements of \p Source (inputs, params, defs,
/// bindings, metrics), for completion.
std::vector<std::string> statementNames(const std::string &Source);

} // namespace adj

#endif
