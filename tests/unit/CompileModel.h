//===- CompileModel.h - Compiling a model's source in unit tests -*- C++
//-*-===//
///
/// compileModel: a model's source text (as read from, or edited after
/// reading, the file at its path) through the frontend and the engine with
/// the object cache off, after \p Tweak has set the options a test compares
/// (lowering options, fusion, tiers). A failure is a test failure showing
/// the diagnostics, and returns null.
///
//===----------------------------------------------------------------------===//
#ifndef ADJ_TESTS_COMPILEMODEL_H
#define ADJ_TESTS_COMPILEMODEL_H

#include "tools/engine/Engine.h"

#include <gtest/gtest.h>

#include <functional>
#include <memory>
#include <sstream>
#include <string>

namespace adj::test {

inline std::unique_ptr<CompiledModel>
compileModel(const std::string &Path, const std::string &Source,
             const std::function<void(EngineOptions &)> &Tweak = {}) {
  std::ostringstream Err;
  DiagEngine Diags(Err);
  auto Spec = compileModelSource(Path, Source, Diags);
  EXPECT_TRUE(Spec) << Err.str();
  if (!Spec)
    return nullptr;
  EngineOptions EO;
  EO.ObjectCache = false;
  if (Tweak)
    Tweak(EO);
  Engine E(EO, Diags, Err, "test");
  auto CM = E.compile(std::move(Spec));
  EXPECT_TRUE(CM) << Err.str();
  return CM;
}

} // namespace adj::test

#endif
