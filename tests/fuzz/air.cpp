//===- air.cpp - Fuzzing the IR parser and verifier -----------------------===//
///
/// libFuzzer target: the input is an .air file. It is parsed and verified;
/// a module that verifies is printed, and the printed text must parse to a
/// module that prints the same (print(parse(print(M))) == print(M), the
/// parser's contract).
///
//===----------------------------------------------------------------------===//
#include "ir/Parser.h"
#include "ir/Printer.h"
#include "ir/Verifier.h"

#include <cstdio>
#include <cstdlib>

extern "C" int LLVMFuzzerTestOneInput(const uint8_t *Data, size_t Size) {
  std::string Text(reinterpret_cast<const char *>(Data), Size);
  adj::ParseError Err;
  adj::SourceMap Map;
  std::unique_ptr<adj::Module> M =
      adj::parseModule("fuzz.air", Text, Err, &Map);
  if (!M)
    return 0;
  if (!adj::verify(*M, &Map).empty())
    return 0;
  std::string Printed = adj::printModule(*M);
  adj::ParseError Err2;
  std::unique_ptr<adj::Module> M2 =
      adj::parseModule("printed.air", Printed, Err2);
  if (!M2) {
    std::fprintf(stderr, "printed module does not parse: %u:%u: %s\n%s",
                 Err2.Where.Line, Err2.Where.Col, Err2.Message.c_str(),
                 Printed.c_str());
    std::abort();
  }
  std::string Again = adj::printModule(*M2);
  if (Again != Printed) {
    std::fprintf(stderr, "print(parse(print(M))) differs:\n%s\n---\n%s",
                 Printed.c_str(), Again.c_str());
    std::abort();
  }
  return 0;
}
