//===- SemaDiagnosticsTest.cpp - The frontend's error messages ------------===//
///
/// What the checks reject and how they say it: one table of malformed
/// models with the first error each gives (file:line:col and the message),
/// notes at previous definitions and at calls, several errors in one run,
/// the batch dim's own name in messages, a missing file, and the format of
/// a diagnostic with its source line and caret.
///
//===----------------------------------------------------------------------===//
#include "SemaTestUtil.h"

#include <gtest/gtest.h>
#include <sstream>

using namespace adj;
using namespace adj::test;

namespace {

// Lines 1-4 of every case below.
const std::string Prelude = "input x : f32[N, 784]\n"
                            "input y : i32[N]\n"
                            "param w1 : f32[784, 10] = zeros\n"
                            "param b1 : f32[10] = zeros\n";
const std::string Loss = "loss cross_entropy(x @ w1 + b1, y)\n";

TEST(Sema, Diagnostics) {
  struct Case {
    std::string Src;
    const char *Error;
  } Cases[] = {
      // Names and calls.
      {Prelude + "h = relu(x @ w3 + b1)\n" + Loss,
       "m.adj:5:14: error: unknown name 'w3'"},
      {Prelude + "h = foo(x)\n" + Loss,
       "m.adj:5:5: error: unknown function 'foo'"},
      {Prelude + "h = x @ w1\nh = relu(h)\n" + Loss,
       "m.adj:6:1: error: 'h' is already defined"},
      {Prelude + "input w1 : f32[3]\n" + Loss,
       "m.adj:5:7: error: 'w1' is already defined"},
      {Prelude + "def dense(x, w, b) = x @ w + b\nh = dense(x, w1)\n" + Loss,
       "m.adj:6:5: error: 'dense' expects 3 arguments, got 2"},
      {Prelude + "h = relu(x, x)\n" + Loss,
       "m.adj:5:5: error: 'relu' expects 1 argument, got 2"},
      {Prelude + "h = softmax(x, 1, 2)\n" + Loss,
       "m.adj:5:5: error: 'softmax' expects 1 to 2 arguments, got 3"},
      {Prelude + "h = softmax(x, dim = 1)\n" + Loss,
       "m.adj:5:16: error: unknown keyword argument 'dim' for 'softmax'"},
      {Prelude + "h = softmax(x, 1, axis = 1)\n" + Loss,
       "m.adj:5:19: error: argument 'axis' of 'softmax' is given twice"},
      {Prelude + "h = cross_entropy(x, label_smoothing = 0.1)\n" + Loss,
       "m.adj:5:5: error: missing argument 'labels' for 'cross_entropy'"},
      {Prelude + "h = g + 1\ng = x\n" + Loss,
       "m.adj:5:5: error: 'g' is used before it is defined"},
      {Prelude + "h = relu\n" + Loss,
       "m.adj:5:5: error: 'relu' is a function, not a value"},
      {Prelude + "h = x\ng = h(x)\n" + Loss,
       "m.adj:6:5: error: 'h' is not a function"},
      {Prelude + "def relu(a) = a\n" + Loss,
       "m.adj:5:5: error: 'relu' is already a builtin function"},
      {Prelude + "def f(a) = a\ndef f(b) = b\n" + Loss,
       "m.adj:6:5: error: 'f' is already defined"},
      {Prelude + "def f(a, a) = a\n" + Loss,
       "m.adj:5:10: error: 'a' is already defined"},
      {Prelude + "h = x\ndef f(a) = a + h\n" + Loss,
       "m.adj:6:16: error: 'h' cannot be used inside a function; pass it as "
       "an argument"},
      {Prelude + "def f(a) = f(a)\n" + Loss,
       "m.adj:5:12: error: recursive call to 'f'; functions are inlined and "
       "cannot recurse"},
      {Prelude + "def f(a) = g(a)\ndef g(a) {\n  return f(a)\n}\n" + Loss,
       "m.adj:7:10: error: recursive call to 'f'; functions are inlined and "
       "cannot recurse"},
      {Prelude + "h = slice(x, 0, 0, 1)\n" + Loss,
       "m.adj:5:14: error: cannot slice the batch dim 'N' of f32[N,784]; "
       "only static dims can be sliced"},
      {Prelude + "h = slice(x, 1, 5, -780)\n" + Loss,
       "m.adj:5:5: error: slice [5:-780] is empty or out of range for axis 1 "
       "of f32[N,784]"},
      {Prelude + "h = concat([x, x], 0)\n" + Loss,
       "m.adj:5:5: error: 'concat' cannot join along the batch dim N of "
       "f32[N,784]"},
      {Prelude + "h = concat([x, b1], 1)\n" + Loss,
       "m.adj:5:5: error: 'concat' along axis 1 expects tensors that differ "
       "only in that axis, got f32[N,784] and f32[10]"},
      {Prelude + "h = concat(x, 1)\n" + Loss,
       "m.adj:5:12: error: 'concat' expects a list of tensors such as [a, b]"},
      {Prelude + "h = stack([x, x @ w1], 1)\n" + Loss,
       "m.adj:5:17: error: 'stack' expects tensors of one shape, got "
       "f32[N,784] and f32[N,10]"},
      {Prelude + "h = stack([x, x], 3)\n" + Loss,
       "m.adj:5:19: error: axis 3 is out of range for stacking f32[N,784]"},
      {Prelude + "h = argmax(x) * 2\n" + Loss,
       "m.adj:5:5: error: expected a float tensor, got i32[N] (argmax results "
       "are integers and have no gradient)"},
      {Prelude + "h = N\n" + Loss,
       "m.adj:5:5: error: the batch dim 'N' can only be used in shapes"},
      // Types of declarations.
      {Prelude + "input z : f32[B, 3]\n" + Loss,
       "m.adj:5:15: error: symbolic dim 'B' conflicts with 'N'; only one "
       "batch dim is allowed"},
      {Prelude + "input z : f32[N, N]\n" + Loss,
       "m.adj:5:18: error: the batch dim 'N' may appear only once in a type"},
      {Prelude + "input z : f32[0]\n" + Loss,
       "m.adj:5:15: error: dimension must be positive, got 0"},
      {Prelude + "param z : f32[N, 3] = zeros\n" + Loss,
       "m.adj:5:15: error: a param must have static dims, got 'N'"},
      {Prelude + "param z : i32[3] = zeros\n" + Loss,
       "m.adj:5:11: error: expected a float tensor, got i32[3]"},
      // Initialisers.
      {Prelude + "param z : f32[3] = xavier\n" + Loss,
       "m.adj:5:20: error: unknown initialiser 'xavier'"},
      {Prelude + "param z : f32[3] = normal\n" + Loss,
       "m.adj:5:20: error: 'normal' expects 2 arguments, got 0"},
      {Prelude + "param z : f32[3] = zeros(1)\n" + Loss,
       "m.adj:5:20: error: 'zeros' expects 0 arguments, got 1"},
      {Prelude + "param z : f32[3] = constant(x)\n" + Loss,
       "m.adj:5:29: error: expected a number"},
      {Prelude + "param z : f32[3] = normal(0, -1)\n" + Loss,
       "m.adj:5:20: error: 'normal' expects a non-negative std, got -1"},
      {Prelude + "param z : f32[3] = uniform(1, 0)\n" + Loss,
       "m.adj:5:20: error: 'uniform' expects lo <= hi, got 1 and 0"},
      {Prelude + "param z : f32[3] = 0.1\n" + Loss,
       "m.adj:5:20: error: expected an initialiser such as zeros or "
       "normal(0, 0.01)"},
      // Loss and metrics.
      {Prelude, "m.adj:1:1: error: the model has no loss"},
      {"model m\n" + Prelude, "m.adj:1:1: error: the model has no loss"},
      {Prelude + Loss + Loss, "m.adj:6:1: error: the model already has a loss"},
      {Prelude + "loss x @ w1\n",
       "m.adj:5:8: error: the loss must be a scalar, got f32[N,10]"},
      {Prelude + "loss sum(y)\n",
       "m.adj:5:10: error: expected a float tensor, got i32[N]"},
      {Prelude + Loss + "metric m = sum(x, axis = 1)\n",
       "m.adj:6:12: error: metric 'm' must be a scalar, got f32[N]"},
      {Prelude + Loss + "metric m = mean(x)\nmetric m = mean(x)\n",
       "m.adj:7:8: error: 'm' is already defined"},
      {"model a\nmodel b\n" + Prelude + Loss,
       "m.adj:2:1: error: the model already has a name"},
      // Shapes and dtypes.
      {Prelude + "param w2 : f32[128, 10] = zeros\nh = x @ w2\n" + Loss,
       "m.adj:6:7: error: matmul inner dimensions differ: f32[N,784] @ "
       "f32[128,10]"},
      {Prelude + "h = x + b1\n" + Loss,
       "m.adj:5:7: error: add: shapes f32[N,784] and f32[10] do not "
       "broadcast"},
      {Prelude + "h = relu(y)\n" + Loss,
       "m.adj:5:10: error: expected a float tensor, got i32[N]"},
      {Prelude + "h = y * 2\n" + Loss,
       "m.adj:5:5: error: expected a float tensor, got i32[N]"},
      {Prelude + "input t : f32[N]\nh = cross_entropy(x @ w1, t)\n" + Loss,
       "m.adj:6:5: error: 'cross_entropy' expects i32 labels, got f32[N]"},
      {Prelude + "input t : i32[N, 2]\nh = accuracy(x @ w1, t)\n" + Loss,
       "m.adj:6:5: error: 'accuracy' expects labels of shape [N] for logits "
       "f32[N,10], got i32[N,2]"},
      {Prelude + "input t : f32[N, 3]\nh = mse(x @ w1, t)\n" + Loss,
       "m.adj:6:5: error: 'mse' expects pred and target of one shape, got "
       "f32[N,10] and f32[N,3]"},
      {Prelude + "h = sum(x, axis = 2)\n" + Loss,
       "m.adj:5:19: error: axis 2 is out of range for f32[N,784]"},
      {Prelude + "h = sum(x, axis = [1, -1])\n" + Loss,
       "m.adj:5:19: error: axis -1 is repeated"},
      {Prelude + "h = softmax(x, axis = -3)\n" + Loss,
       "m.adj:5:23: error: axis -3 is out of range for f32[N,784]"},
      {Prelude + "h = softmax(x, axis = 0.5)\n" + Loss,
       "m.adj:5:23: error: expected an integer"},
      {Prelude + "h = sum(x, keepdims = 1)\n" + Loss,
       "m.adj:5:23: error: expected true or false"},
      {Prelude + "h = leaky_relu(x, alpha = x)\n" + Loss,
       "m.adj:5:27: error: expected a number"},
      {Prelude + "h = reshape(x, [N, 3])\n" + Loss,
       "m.adj:5:5: error: reshape: cannot reshape f32[N,784] to [N,3]"},
      {Prelude + "h = reshape(x, [-1, 784])\n" + Loss,
       "m.adj:5:17: error: expected a positive dimension or 'N', got -1"},
      {Prelude + "h = transpose(x, [0, 0])\n" + Loss,
       "m.adj:5:5: error: transpose: [0, 0] is not a permutation of 2 axes"},
      {Prelude + "h = cross_entropy(x @ w1, y, label_smoothing = 1)\n" + Loss,
       "m.adj:5:48: error: 'label_smoothing' must be in [0, 1), got 1"},
      {Prelude + "h = huber(x, x, delta = 0)\n" + Loss,
       "m.adj:5:25: error: 'delta' must be positive, got 0"},
      {Prelude + "h = relu(true)\n" + Loss,
       "m.adj:5:10: error: a boolean cannot be used as a tensor"},
      {Prelude + "h = relu(\"a\")\n" + Loss,
       "m.adj:5:10: error: a string cannot be used as a tensor"},
      {Prelude + "h = relu([1, 2])\n" + Loss,
       "m.adj:5:10: error: a list cannot be used as a tensor"},
      // Train block.
      {Prelude + Loss + "train {\n  optimizer = rmsprop(lr = 0.1)\n}\n",
       "m.adj:7:15: error: unknown optimizer 'rmsprop'; expected sgd, adam or "
       "adamw"},
      {Prelude + Loss + "train {\n  optimizer = adam(momentum = 0.9)\n}\n",
       "m.adj:7:20: error: unknown keyword argument 'momentum' for 'adam'"},
      {Prelude + Loss + "train {\n  optimizer = adam(lr = -1)\n}\n",
       "m.adj:7:25: error: 'lr' must be positive, got -1"},
      {Prelude + Loss + "train {\n  optimizer = adam(beta1 = 1)\n}\n",
       "m.adj:7:28: error: 'beta1' must be in [0, 1), got 1"},
      {Prelude + Loss + "train {\n  optimizer = sgd(nesterov = 1)\n}\n",
       "m.adj:7:30: error: expected true or false"},
      {Prelude + Loss + "train {\n  batch = 0\n}\n",
       "m.adj:7:11: error: 'batch' must be a positive integer"},
      {Prelude + Loss + "train {\n  epochs = 1.5\n}\n",
       "m.adj:7:12: error: 'epochs' must be a positive integer"},
      {Prelude + Loss + "train {\n  seed = -1\n}\n",
       "m.adj:7:10: error: 'seed' must be a non-negative integer"},
      {Prelude + Loss + "train {\n  lr = 0.1\n}\n",
       "m.adj:7:3: error: unknown train setting 'lr'; expected optimizer, "
       "batch, epochs, seed, clip_norm, schedule, warmup or lr_mult"},
      {Prelude + Loss + "train {\n  schedule = linear\n}\n",
       "m.adj:7:14: error: unknown schedule 'linear'; expected constant, step "
       "or cosine"},
      {Prelude + Loss + "train {\n  schedule = 3\n}\n",
       "m.adj:7:14: error: expected a schedule such as cosine(t_max = 1000)"},
      {Prelude + Loss + "train {\n  schedule = step(gamma = 0.5)\n}\n",
       "m.adj:7:14: error: missing argument 'step_size' for 'step'"},
      {Prelude + Loss + "train {\n  schedule = step(step_size = 0)\n}\n",
       "m.adj:7:31: error: 'step_size' must be a positive integer"},
      {Prelude + Loss + "train {\n  schedule = step(10, gamma = 0)\n}\n",
       "m.adj:7:31: error: 'gamma' must be positive, got 0"},
      {Prelude + Loss + "train {\n  schedule = cosine(t_max = 2.5)\n}\n",
       "m.adj:7:29: error: 't_max' must be a positive integer"},
      {Prelude + Loss + "train {\n  schedule = cosine(eta_min = -1)\n}\n",
       "m.adj:7:31: error: 'eta_min' must be non-negative, got -1"},
      {Prelude + Loss + "train {\n  schedule = constant(1)\n}\n",
       "m.adj:7:14: error: 'constant' expects 0 arguments, got 1"},
      {Prelude + Loss + "train {\n  warmup = -1\n}\n",
       "m.adj:7:12: error: 'warmup' must be a non-negative integer"},
      {Prelude + Loss + "train {\n  clip_norm = 0\n}\n",
       "m.adj:7:15: error: 'clip_norm' must be positive, got 0"},
      {Prelude + Loss + "train {\n  batch = 1\n  batch = 2\n}\n",
       "m.adj:8:3: error: 'batch' is already set"},
      {Prelude + Loss + "train {\n}\ntrain {\n}\n",
       "m.adj:8:1: error: the model already has a train block"},
      // Data block.
      {Prelude + Loss + "data {\n  valid x = idx(\"a\")\n}\n",
       "m.adj:7:3: error: unknown data split 'valid'; expected 'train' or "
       "'test'"},
      {Prelude + Loss + "data {\n  train z = idx(\"a\")\n}\n",
       "m.adj:7:9: error: unknown input 'z'"},
      {Prelude + Loss + "data {\n  train w1 = idx(\"a\")\n}\n",
       "m.adj:7:9: error: 'w1' is not an input"},
      {Prelude + Loss +
           "data {\n  train x = idx(\"a\")\n  train x = "
           "idx(\"b\")\n}\n",
       "m.adj:8:3: error: data for 'train x' is already given"},
      {Prelude + Loss + "data {\n  train x = hdf5(\"a\")\n}\n",
       "m.adj:7:13: error: unknown data format 'hdf5'; expected idx, npy, "
       "csv or text"},
      {Prelude + Loss + "data {\n  train x = idx(3)\n}\n",
       "m.adj:7:17: error: expected a string path"},
      {Prelude + Loss + "data {\n  train x = idx(\"a\", scale = x)\n}\n",
       "m.adj:7:30: error: expected a number"},
      {Prelude + Loss + "data {\n  train x = idx(\"a\", scale = 1/0)\n}\n",
       "m.adj:7:31: error: expected a finite number, got inf"},
      {Prelude + Loss + "data {\n  train x = csv(\"a\", columns = [-1])\n}\n",
       "m.adj:7:33: error: expected a column index (a non-negative integer)"},
      {Prelude + Loss + "data {\n  train x = \"a\"\n}\n",
       "m.adj:7:13: error: expected a data source such as idx(\"file\")"},
  };
  for (const Case &C : Cases)
    EXPECT_EQ(firstError(C.Src), C.Error) << C.Src;
}

TEST(Sema, RedefinitionsNoteThePreviousDefinition) {
  Compiled C = compile(Prelude + "h = x\nh = x\n" + Loss);
  EXPECT_EQ(C.Diags, "m.adj:6:1: error: 'h' is already defined\n"
                     "h = x\n"
                     "^\n"
                     "m.adj:5:1: note: previous definition is here\n"
                     "h = x\n"
                     "^\n");
}

TEST(Sema, ErrorsInsideFunctionsNoteTheCall) {
  Compiled C = compile(Prelude +
                       "param w2 : f32[128, 10] = zeros\n"
                       "def dense(a, w) = a @ w\n"
                       "h = dense(x, w2)\n" +
                       Loss);
  EXPECT_EQ(errorLines(C.Diags),
            (std::vector<std::string>{
                "m.adj:6:21: error: matmul inner dimensions differ: "
                "f32[N,784] @ f32[128,10]",
                "m.adj:7:5: note: in call to 'dense' here"}));
}

TEST(Sema, ReportsSeveralErrorsInOneRun) {
  Compiled C = compile(Prelude + "h = x @ w3\n"              // unknown name
                                 "g = foo(x)\n"              // unknown function
                                 "k = softmax(x, dim = 1)\n" // unknown keyword
                                 "metric a = relu\n"); // not a value; no loss
  EXPECT_EQ(errorLines(C.Diags),
            (std::vector<std::string>{
                "m.adj:5:9: error: unknown name 'w3'",
                "m.adj:6:5: error: unknown function 'foo'",
                "m.adj:7:16: error: unknown keyword argument 'dim' for "
                "'softmax'",
                "m.adj:8:12: error: 'relu' is a function, not a value",
                "m.adj:1:1: error: the model has no loss"}));
  // Shape errors in independent statements are all reported; a failed
  // binding does not cascade into its uses.
  C = compile(Prelude + "h = x + b1\ng = relu(y)\nk = h * 2\n" + Loss);
  EXPECT_EQ(errorLines(C.Diags),
            (std::vector<std::string>{
                "m.adj:5:7: error: add: shapes f32[N,784] and f32[10] do not "
                "broadcast",
                "m.adj:6:10: error: expected a float tensor, got i32[N]"}));
}

TEST(Sema, BatchDimNameAppearsInMessages) {
  Compiled C = compile("input x : f32[B, 3]\nloss x\n");
  EXPECT_EQ(errorLines(C.Diags),
            std::vector<std::string>{
                "m.adj:2:6: error: the loss must be a scalar, got f32[B,3]"});
  C = compile("input x : f32[B, 3]\nh = reshape(x, [B, 3, 1])\nloss mean(h)\n");
  ASSERT_TRUE(C.Spec) << C.Diags;
}

TEST(Sema, MissingFile) {
  std::ostringstream OS;
  DiagEngine D(OS);
  EXPECT_EQ(compileModelFile("/nonexistent/x.adj", D), nullptr);
  EXPECT_EQ(OS.str(), "error: cannot open '/nonexistent/x.adj': No such file "
                      "or directory\n");
  EXPECT_EQ(D.errorCount(), 1u);
}

TEST(Diagnostics, Format) {
  std::ostringstream OS;
  DiagEngine D(OS);
  D.addSource("f.adj", "a\n\tb = c\n");
  D.error(Loc{"f.adj", 2, 6}, "bad");
  D.warning(Loc{"f.adj", 1, 1}, "odd");
  D.note(Loc{"g.adj", 3, 2}, "no source");
  D.error(Loc{"f.adj", 0, 0}, "whole file");
  EXPECT_EQ(OS.str(), "f.adj:2:6: error: bad\n"
                      "\tb = c\n"
                      "\t    ^\n"
                      "f.adj:1:1: warning: odd\n"
                      "a\n"
                      "^\n"
                      "g.adj:3:2: note: no source\n"
                      "f.adj: error: whole file\n");
  EXPECT_EQ(D.errorCount(), 2u);
}

} // namespace
