//===- TrainerDataTest.cpp - Tests of the trainer's data and output -------===//
///
/// \file
/// What the trainer reads and writes besides checkpoints: NPY and CSV data
/// end to end and --data overrides by file name (IDX, CSV), the CSV log, the
/// SVG plot, and the live progress line on a terminal. The model is the one
/// of TrainerTestModel.h.
///
//===----------------------------------------------------------------------===//

#include "TrainerTestModel.h"

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <cstdio>
#include <pty.h>
#include <regex>
#include <sstream>
#include <string>
#include <termios.h>
#include <unistd.h>
#include <vector>

using namespace adj::trainertest;

namespace {

//===--- Data -------------------------------------------------------------===//

TEST(TrainerData, TrainsOnNpyAndCsvEndToEnd) {
  TempDir dir;
  Model b = linearModel(dir); // NPY sources
  std::string report = dir.file("r.json");
  train(b.model(), {"--epochs", "30", "--report", report});
  EXPECT_LT(readJson(report)["test_loss"].get<double>(), 1e-4);

  // The same data as one CSV file per split with a header: x, y and an id.
  for (const char *split : {"train", "test"}) {
    std::string csv = "id,x,y\n";
    adj_rt_tensor x, y;
    std::string prefix = dir.file(std::string(split) + "-");
    ASSERT_EQ(adj_rt_load_npy((prefix + "x.npy").c_str(), ADJ_RT_F64, 1, &x),
              0);
    ASSERT_EQ(adj_rt_load_npy((prefix + "y.npy").c_str(), ADJ_RT_F64, 1, &y),
              0);
    for (int64_t i = 0; i < x.dims[0]; ++i) {
      char row[128];
      std::snprintf(row, sizeof row, "row%lld, %.9g, %.9g\n", (long long)i,
                    static_cast<double *>(x.data)[i],
                    static_cast<double *>(y.data)[i]);
      csv += row;
    }
    adj_rt_tensor_free(&x);
    adj_rt_tensor_free(&y);
    writeFile(prefix + "xy.csv", csv);
  }
  Model c = linearModel(dir);
  c.Data.clear();
  for (const char *split : {"train", "test"}) {
    std::string path = dir.file(std::string(split) + "-xy.csv");
    c.addData(split, "x", ADJ_RT_DATA_CSV, path, "x");
    c.addData(split, "y", ADJ_RT_DATA_CSV, path, "2", 1);
  }
  train(c.model(), {"--epochs", "30", "--report", report});
  EXPECT_LT(readJson(report)["test_loss"].get<double>(), 1e-4);
}

TEST(TrainerData, OverridesSourcesByFileName) {
  TempDir dir;
  Model b = linearModel(dir);
  // y = -2x + 1 in other formats: the model must learn w = -2.
  writeLinearData(dir, "other-", 64, -2, 1, 99, false);
  adj_rt_tensor x, y;
  ASSERT_EQ(adj_rt_load_npy(dir.file("other-x.npy").c_str(), ADJ_RT_F32, 1, &x),
            0);
  ASSERT_EQ(adj_rt_load_npy(dir.file("other-y.npy").c_str(), ADJ_RT_F32, 1, &y),
            0);
  auto *xs = static_cast<float *>(x.data), *ys = static_cast<float *>(y.data);
  writeIdx(dir.file("other-x.idx"), std::vector<float>(xs, xs + 64));
  std::string csv;
  for (int i = 0; i < 64; ++i)
    csv += std::to_string(ys[i]) + "\n";
  writeFile(dir.file("other-y.csv"), csv);
  adj_rt_tensor_free(&x);
  adj_rt_tensor_free(&y);

  std::string ck = dir.file("ck.safetensors");
  train(b.model(),
        {"--epochs", "40", "--data", "train.x=" + dir.file("other-x.idx"),
         "--data", "train.y=" + dir.file("other-y.csv"), "--save", ck});
  EXPECT_NEAR(Checkpoint(ck).first("w"), -2, 1e-2);
  EXPECT_NEAR(Checkpoint(ck).first("b"), 1, 1e-2);

  // An input without a source gets one; a missing file names itself.
  b.Data.resize(2); // no test split
  std::string report = dir.file("r.json");
  train(b.model(),
        {"--epochs", "1", "--data", "test.x=" + dir.file("test-x.npy"),
         "--data", "test.y=" + dir.file("test-y.npy"), "--report", report});
  EXPECT_TRUE(readJson(report)["test_loss"].is_number());
  EXPECT_EQ(trainError(b.model(), {"--data", "train.x=" + dir.file("no.npy")}),
            "linear-trainer: error: '" + dir.file("no.npy") +
                "': cannot open: No such file or directory\n");
}

//===--- Log, plot and progress -------------------------------------------===//

TEST(TrainerLog, WritesEveryStepAndEpochAsCsv) {
  TempDir dir;
  Model b = linearModel(dir);
  std::string log = dir.file("log.csv"), plot = dir.file("plot.svg");
  train(b.model(), {"--epochs", "3", "--log", log, "--plot", plot});
  std::istringstream in(readFile(log));
  std::string line;
  std::getline(in, line);
  EXPECT_EQ(line, "kind,epoch,step,loss,test_loss,mae,samples_per_sec");
  std::regex step("step,[1-3],([1-9]|1[0-9]|2[0-4]),[-+.e0-9]+,,,[.0-9]+");
  std::regex epoch("epoch,[1-3],(8|16|24),[-+.e0-9]+,[-+.e0-9]+,[-+.e0-9]+,"
                   "[.0-9]+");
  int steps = 0, epochs = 0;
  while (std::getline(in, line)) {
    if (std::regex_match(line, step))
      ++steps;
    else if (std::regex_match(line, epoch))
      ++epochs;
    else
      ADD_FAILURE() << line;
  }
  EXPECT_EQ(steps, 24);
  EXPECT_EQ(epochs, 3);

  std::string svg = readFile(plot);
  EXPECT_EQ(svg.rfind("<svg xmlns=\"http://www.w3.org/2000/svg\"", 0), 0u);
  EXPECT_TRUE(contains(svg, "linear: loss per epoch"));
  EXPECT_TRUE(contains(svg, ">train loss</text>"));
  EXPECT_TRUE(contains(svg, ">test loss</text>"));
  EXPECT_TRUE(contains(svg, ">epoch</text>"));
  size_t polylines = 0;
  for (size_t at = 0; (at = svg.find("<polyline", at)) != std::string::npos;
       ++at)
    ++polylines;
  EXPECT_EQ(polylines, 2u);
  EXPECT_EQ(svg.substr(svg.size() - 7), "</svg>\n");
}

/// Runs adj_rt_train with stdout on a pseudo-terminal; returns its output.
std::string trainOnTerminal(const adj_rt_model *m) {
  int master, slave;
  if (openpty(&master, &slave, nullptr, nullptr, nullptr) != 0)
    return "openpty failed";
  struct termios raw;
  tcgetattr(slave, &raw);
  cfmakeraw(&raw);
  tcsetattr(slave, TCSANOW, &raw);
  std::fflush(stdout);
  int saved = dup(STDOUT_FILENO);
  dup2(slave, STDOUT_FILENO);
  adj_rt_options o;
  adj_rt_options_init(&o);
  int status = adj_rt_train(m, &o);
  std::fflush(stdout);
  dup2(saved, STDOUT_FILENO);
  close(saved);
  close(slave);
  std::string out;
  char buf[4096];
  ssize_t n;
  while ((n = read(master, buf, sizeof buf)) > 0)
    out.append(buf, size_t(n));
  close(master);
  return status == 0 ? out : std::string("failed: ") + adj_rt_last_error();
}

TEST(TrainerProgress, RedrawsALineOnATerminal) {
  TempDir dir;
  Model b = linearModel(dir);
  std::string out = trainOnTerminal(b.model());
  // The live line, erased before each epoch's line.
  EXPECT_TRUE(std::regex_search(
      out, std::regex("\r\033\\[Kepoch 1/2  step [1-8]/8  loss [0-9.]+  "
                      "[0-9,]+ samples/s  ETA [0-9]+:[0-9]{2}")))
      << out;
  EXPECT_TRUE(contains(out, "\r\033[Kepoch 1/2: train_loss ")) << out;
  EXPECT_TRUE(contains(out, "\r\033[Kepoch 2/2: train_loss ")) << out;

  // Not a terminal: the plain lines only.
  testing::internal::CaptureStdout();
  adj_rt_options o;
  adj_rt_options_init(&o);
  ASSERT_EQ(adj_rt_train(b.model(), &o), 0);
  out = testing::internal::GetCapturedStdout();
  EXPECT_FALSE(contains(out, "\r")) << out;
  EXPECT_TRUE(std::regex_match(
      out, std::regex("linear: .*\n(  .*\n){4}epoch 1/2: .*\nepoch 2/2: .*\n")))
      << out;
}

} // namespace
