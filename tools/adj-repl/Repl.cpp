//===- Repl.cpp - Model statements typed at the prompt --------------------===//
///
/// A typed statement is first parsed on its own as `<repl>` (so syntax
/// errors point into what was typed), then applied to the model's text
/// (ModelText.h) and the whole text recompiled: the frontend, the engine's
/// pass pipeline and the JIT. Errors on the typed line are reported as
/// `<repl>:1:COL` with a caret (in a script `SCRIPT:LINE:COL`, the script's
/// line; other errors in a script are `SCRIPT:LINE: error: ...`), others at
/// their line of the model. Only when
/// compilation and the session's rebind succeed does the new text replace
/// the old one; until the model first compiles (a model being built line
/// by line has no loss yet), edits are kept as long as the missing loss is
/// the only error.
///
//===----------------------------------------------------------------------===//
#include "tools/adj-repl/Repl.h"

#include "frontend/Lexer.h"
#include "frontend/Parser.h"
#include "tools/adj-repl/ModelText.h"
#include "tools/engine/Memory.h"

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <fmt/format.h>
#include <fstream>
#include <iostream>
#include <sstream>

namespace adj {

adj_rt_session *volatile Repl::Training = nullptr;

/// The script and line being run (empty name: typed at the prompt).
static std::string ScriptName;
static unsigned ScriptLine = 0;

void Repl::setScriptLine(const std::string &Name, unsigned Line) {
  ScriptName = Name;
  ScriptLine = Line;
}

/// Where line \p K of the typed text is: "<repl>:K", or in a script
/// "SCRIPT:LINE".
static std::string typedLoc(unsigned K) {
  if (ScriptName.empty())
    return fmt::format("<repl>:{}", K);
  return fmt::format("{}:{}", ScriptName, ScriptLine + K - 1);
}

/// Rewrites "<repl>:K:" at the start of diagnostic lines to typedLoc(K).
static std::string relocateTyped(const std::string &Diags) {
  if (ScriptName.empty())
    return Diags;
  static const std::string From = "<repl>:";
  std::istringstream In(Diags);
  std::string Out;
  for (std::string L; std::getline(In, L);) {
    unsigned K = 0;
    size_t I = From.size();
    if (L.compare(0, From.size(), From) == 0) {
      while (I < L.size() && std::isdigit((unsigned char)L[I]))
        K = K * 10 + unsigned(L[I++] - '0');
    }
    if (K > 0 && I < L.size() && L[I] == ':')
      L = typedLoc(K) + L.substr(I);
    Out += L + "\n";
  }
  return Out;
}

bool replError(const std::string &Message) {
  std::fflush(stdout);
  if (!ScriptName.empty())
    std::cerr << typedLoc(1) << ": ";
  std::cerr << "error: " << Message << "\n";
  std::cerr.flush();
  return false;
}

std::string groupDigits(int64_t V) {
  std::string S = std::to_string(V < 0 ? -V : V), Out;
  for (size_t I = 0; I < S.size(); ++I) {
    if (I && (S.size() - I) % 3 == 0)
      Out += ',';
    Out += S[I];
  }
  return (V < 0 ? "-" : "") + Out;
}

static double secondsSince(std::chrono::steady_clock::time_point T) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - T)
      .count();
}

Repl::Repl(std::string ModelPath, bool Interactive)
    : ModelPath(std::move(ModelPath)), Interactive(Interactive) {}

Repl::~Repl() { adj_rt_session_free(Session); }

std::string Repl::diagName() const {
  return ModelPath.empty() ? "<model>" : ModelPath;
}

EngineOptions Repl::engineOptions() const {
  EngineOptions EO;
  EO.Optimizer = Optimizer;
  return EO;
}

bool Repl::load() {
  if (!ModelPath.empty()) {
    std::ifstream In(ModelPath, std::ios::binary);
    if (!In)
      return replError(
          fmt::format("cannot open '{}': {}", ModelPath, std::strerror(errno)));
    std::stringstream Buf;
    Buf << In.rdbuf();
    Text = Buf.str();
  }
  bool Ok = true;
  if (!Text.empty())
    Ok = switchModel(Text, 0, "");
  if (CM && Session) {
    adj_rt_session_info I;
    adj_rt_session_get_info(Session, &I);
    std::string Buffers =
        I.num_buffers ? fmt::format(", {} buffers", I.num_buffers) : "";
    std::printf("%s: %d params (%s values)%s; train %lld, test %lld samples; "
                "compiled in %.2f s. Type :help.\n",
                I.model, I.num_params - I.num_buffers,
                groupDigits(I.param_values).c_str(), Buffers.c_str(),
                (long long)I.train_samples, (long long)I.test_samples,
                FrontendSeconds + CM->CompileSeconds);
  } else if (CM) {
    std::printf("%s: compiled; no training session: %s. Type :help.\n",
                CM->Spec->Name.c_str(), SessionError.c_str());
  } else if (Ok) {
    std::printf("empty model: type statements (input, param, def, h = ..., "
                "loss ...) to build one. Type :help.\n");
  }
  std::fflush(stdout);
  TextDirty = false;
  return Ok;
}

bool Repl::isIncomplete(const std::string &Line) {
  int Depth = 0;
  for (const Token &T : lex("<repl>", Line)) {
    if (T.Kind == Tok::LParen || T.Kind == Tok::LBracket ||
        T.Kind == Tok::LBrace)
      ++Depth;
    else if (T.Kind == Tok::RParen || T.Kind == Tok::RBracket ||
             T.Kind == Tok::RBrace)
      --Depth;
  }
  return Depth > 0;
}

bool Repl::endsWithOpener(const std::string &Line) {
  std::vector<Token> Toks = lex("<repl>", Line);
  for (auto I = Toks.rbegin(); I != Toks.rend(); ++I) {
    if (I->Kind == Tok::Newline || I->Kind == Tok::Eof)
      continue;
    return I->Kind == Tok::LParen || I->Kind == Tok::LBracket ||
           I->Kind == Tok::LBrace;
  }
  return false;
}

bool Repl::run(const std::string &Line) {
  size_t B = Line.find_first_not_of(" \t\r\n");
  if (B == std::string::npos || Line[B] == '#')
    return true;
  size_t E = Line.find_last_not_of(" \t\r\n");
  std::string L = Line.substr(B, E - B + 1);
  bool Ok = L[0] == ':' ? runCommand(L) : runStatement(L);
  std::fflush(stdout);
  return Ok;
}

bool Repl::runStatement(const std::string &Line) {
  std::ostringstream Errs;
  DiagEngine Diags(Errs);
  Diags.addSource("<repl>", Line);
  ModelAST AST;
  bool Parsed = parseModel(lex("<repl>", Line), Diags, AST);
  if (!Parsed || Diags.hasErrors()) {
    std::fflush(stdout);
    std::cerr << relocateTyped(Errs.str());
    return false;
  }
  if (AST.Stmts.size() != 1)
    return replError("type one statement per line");
  const Stmt &S = AST.Stmts.front();
  StmtSpan Span;
  Span.Known = true;
  Span.Kind = S.Kind;
  Span.Name = S.Name;
  Span.Buffer = S.Buffer;
  Edit E = applyStatement(Text, Span, Line);
  return switchModel(E.Text, E.Line, E.What);
}

/// Rewrites "NAME:LINE:" at the start of diagnostic lines to "<repl>:1:".
static std::string retarget(const std::string &Diags, const std::string &Name,
                            unsigned Line) {
  if (!Line)
    return Diags;
  std::string From = fmt::format("{}:{}:", Name, Line), Out;
  std::istringstream In(Diags);
  for (std::string L; std::getline(In, L);)
    Out += (L.compare(0, From.size(), From) == 0
                ? "<repl>:1:" + L.substr(From.size())
                : L) +
           "\n";
  return Out;
}

/// \p Diags without repeated lines (the optimizer variants warn alike).
static std::string uniqueLines(const std::string &Diags) {
  std::istringstream In(Diags);
  std::vector<std::string> Seen;
  std::string Out;
  for (std::string L; std::getline(In, L);) {
    if (std::find(Seen.begin(), Seen.end(), L) != Seen.end())
      continue;
    Seen.push_back(L);
    Out += L + "\n";
  }
  return Out;
}

/// Whether every error in \p Diags is the missing loss.
static bool onlyMissingLoss(const std::string &Diags) {
  std::istringstream In(Diags);
  bool Any = false;
  for (std::string L; std::getline(In, L);)
    if (L.find(": error: ") != std::string::npos) {
      if (L.find("the model has no loss") == std::string::npos)
        return false;
      Any = true;
    }
  return Any;
}

bool Repl::switchModel(const std::string &NewText, unsigned TypedLine,
                       const std::string &What) {
  std::ostringstream Errs;
  DiagEngine Diags(Errs);
  auto Start = std::chrono::steady_clock::now();
  std::unique_ptr<ModelSpec> Spec =
      compileModelSource(diagName(), NewText, Diags);
  double Frontend = secondsSince(Start);
  if (Spec && !Diags.hasErrors())
    checkParamMemory(*Spec, Diags, /*F64=*/false);
  auto Report = [&] {
    std::fflush(stdout);
    std::cerr << relocateTyped(retarget(Errs.str(), diagName(), TypedLine));
    std::cerr.flush();
  };
  if (!Spec || Diags.hasErrors()) {
    if (!CM && onlyMissingLoss(Errs.str())) {
      Text = NewText; // a model under construction
      TextDirty = true;
      if (!What.empty())
        std::printf("%s (no loss yet)\n", What.c_str());
      return true;
    }
    Report();
    return false;
  }
  Engine E(engineOptions(), Diags, Errs, "adj-repl");
  std::unique_ptr<CompiledModel> New = E.compile(std::move(Spec));
  if (!New || Diags.hasErrors()) {
    Report();
    return false;
  }
  std::string Kept;
  if (Session) {
    // Which parameters keep their values: same name, dtype and shape.
    adj_rt_session_info I;
    adj_rt_session_get_info(Session, &I);
    std::vector<std::pair<std::string, std::vector<int64_t>>> OldParams;
    for (int P = 0; P < I.num_params; ++P) {
      adj_rt_named_tensor T;
      adj_rt_session_param(Session, P, &T);
      OldParams.push_back(
          {T.name, std::vector<int64_t>(T.dims, T.dims + T.rank)});
    }
    if (adj_rt_session_rebind(Session, &New->runtimeModel()))
      return replError(adj_rt_last_error());
    adj_rt_session_get_info(Session, &I);
    int KeptCount = 0;
    std::string Fresh;
    for (int P = 0; P < I.num_params; ++P) {
      adj_rt_named_tensor T;
      adj_rt_session_param(Session, P, &T);
      std::pair<std::string, std::vector<int64_t>> Key = {
          T.name, std::vector<int64_t>(T.dims, T.dims + T.rank)};
      if (std::find(OldParams.begin(), OldParams.end(), Key) != OldParams.end())
        ++KeptCount;
      else
        Fresh += (Fresh.empty() ? "" : ", ") + std::string(T.name);
    }
    Kept = fmt::format("kept {} param{}", KeptCount, KeptCount == 1 ? "" : "s");
    if (!Fresh.empty())
      Kept += "; initialised " + Fresh;
  } else {
    adj_rt_options O;
    adj_rt_options_init(&O);
    O.quiet = 0;
    for (auto &[Flag, Value] : Pending)
      adj_rt_options_set(&O, Flag.c_str(),
                         Value.empty() ? nullptr : Value.c_str());
    Session = adj_rt_session_create(&New->runtimeModel(), &O);
    adj_rt_options_free(&O);
    SessionError = Session ? "" : adj_rt_last_error();
    if (!Session && !What.empty())
      Kept = "no training session: " + SessionError;
  }
  std::cerr << uniqueLines(Errs.str()); // warnings
  CM = std::move(New);
  FrontendSeconds = Frontend;
  Text = NewText;
  TextDirty = true;
  if (!What.empty())
    std::printf("%s; recompiled in %.2f s%s%s\n", What.c_str(),
                Frontend + CM->CompileSeconds, Kept.empty() ? "" : "; ",
                Kept.c_str());
  return true;
}

bool Repl::ensureSession(const char *Command) const {
  if (Session)
    return true;
  if (!CM)
    return replError(fmt::format("{}: no model yet (type model statements, "
                                 "ending with a loss)",
                                 Command));
  return replError(
      fmt::format("{}: no training session: {}", Command, SessionError));
}

} // namespace adj
