//===- RuntimeRuntimeCsv.cpp - Tests of the CSV data loader
//------------------===//
///
/// \file
/// adj_rt_load_csv on files written into a temporary directory: header
/// detection, column selection by name and index, the dialect (spaces,
/// quotes, CRLF, blank lines, a byte order mark, gzip), integer and scaled
/// loads, and the errors naming the file, row and column.
///
//===----------------------------------------------------------------------===//

#include "runtime/adjoint_rt.h"

#include <gtest/gtest.h>
#include <zlib.h>

#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

namespace fs = std::filesystem;

namespace {

class RuntimeCsv : public testing::Test {
protected:
  RuntimeCsv() {
    std::string tmpl = (fs::temp_directory_path() / "adj-csv-XXXXXX").string();
    Dir = mkdtemp(&tmpl[0]);
    Path = Dir + "/data.csv";
  }
  ~RuntimeCsv() override { fs::remove_all(Dir); }

  void write(const std::string &text) {
    std::ofstream out(Path, std::ios::binary);
    out << text;
  }
  /// Loads the file as f32; returns "RxC: v v v ..." or the error.
  std::string load(const char *columns = nullptr, int header = -1,
                   double scale = 1) {
    adj_rt_tensor t;
    if (adj_rt_load_csv(Path.c_str(), ADJ_RT_F32, scale, columns, header, &t) !=
        0)
      return adj_rt_last_error();
    std::string out =
        std::to_string(t.dims[0]) + "x" + std::to_string(t.dims[1]) + ":";
    EXPECT_EQ(t.rank, 2);
    const float *p = static_cast<const float *>(t.data);
    for (int64_t i = 0; i < t.dims[0] * t.dims[1]; ++i) {
      char buf[32];
      std::snprintf(buf, sizeof buf, " %g", p[i]);
      out += buf;
    }
    adj_rt_tensor_free(&t);
    return out;
  }
  std::string error(const std::string &message) {
    return "'" + Path + "': " + message;
  }

  std::string Dir, Path;
};

TEST_F(RuntimeCsv, DetectsTheHeaderRow) {
  write("a,b\n1,2\n3,4\n");
  EXPECT_EQ(load(), "2x2: 1 2 3 4");
  write("1,2\n3,4");
  EXPECT_EQ(load(), "2x2: 1 2 3 4");
  EXPECT_EQ(load(nullptr, 1), "1x2: 3 4");
  write("a,b\n1,2\n");
  EXPECT_EQ(load(nullptr, 0), error("row 1, column 1: 'a' is not a number"));
  write("x,y\n");
  EXPECT_EQ(load(), error("no data rows"));
  write("");
  EXPECT_EQ(load(), error("no data rows"));
}

TEST_F(RuntimeCsv, SelectsColumnsByNameOrIndex) {
  write("id,x1,x2,label\nfirst,1,2,0\nsecond,3,4,1\n");
  EXPECT_EQ(load("x2,x1"), "2x2: 2 1 4 3");
  EXPECT_EQ(load("3"), "2x1: 0 1");
  EXPECT_EQ(load("x1, 2"), "2x2: 1 2 3 4");
  EXPECT_EQ(load(), error("row 2, column 1: 'first' is not a number"));
  EXPECT_EQ(load("x3"), error("no column 'x3' (columns: id, x1, x2, label)"));
  EXPECT_EQ(load("4"), error("column index 4 is out of range (4 columns)"));
  EXPECT_EQ(load("x1,,x2"), error("empty column name in 'x1,,x2'"));
  write("1,2\n3,4\n");
  EXPECT_EQ(load("b"),
            error("column 'b' is named, but the file has no header row"));
}

TEST_F(RuntimeCsv, ReadsTheCommonDialect) {
  write(
      "\xEF\xBB\xBF\"x\", \"a \"\"b\"\"\" \r\n\r\n 1.5 ,\t-2e3\r\n\n3,.25\n\n");
  EXPECT_EQ(load(), "2x2: 1.5 -2000 3 0.25");
  EXPECT_EQ(load("a \"b\""), "2x1: -2000 0.25");
  EXPECT_EQ(load(nullptr, -1, 2), "2x2: 3 -4000 6 0.5");

  gzFile f = gzopen(Path.c_str(), "wb");
  ASSERT_NE(f, nullptr);
  gzputs(f, "v\n7\n8\n");
  gzclose(f);
  EXPECT_EQ(load(), "2x1: 7 8");
}

TEST_F(RuntimeCsv, ReportsBadCellsWithTheirRowAndColumn) {
  write("a,b,c\n1,2,3\n\n4,5,6\n7,8,abc\n");
  EXPECT_EQ(load(), error("row 5, column 3: 'abc' is not a number"));
  EXPECT_EQ(load("a,b"), "3x2: 1 2 4 5 7 8"); // column c is never read
  write("1,2,3\n4,,6\n");
  EXPECT_EQ(load(), error("row 2, column 2: '' is not a number"));
  write("1,2,3\n4,5\n");
  EXPECT_EQ(load(), error("row 2 has 2 columns, expected 3"));
  write("1,2\n4,5,6\n");
  EXPECT_EQ(load(), error("row 2 has 3 columns, expected 2"));
  write("1,inf\n");
  EXPECT_EQ(load(nullptr, 0),
            error("row 1, column 2: 'inf' is not a finite number"));
  write("1,2x\n");
  EXPECT_EQ(load(nullptr, 0), error("row 1, column 2: '2x' is not a number"));
}

// strtod alone takes hexadecimal and nan; a CSV cell is decimal only.
TEST_F(RuntimeCsv, RejectsCellsThatAreNotDecimal) {
  write("a,b\n1,2\n3,0x10\n");
  EXPECT_EQ(load(), error("row 3, column 2: '0x10' is not a number"));
  write("1,nan\n");
  EXPECT_EQ(load(nullptr, 0),
            error("row 1, column 2: 'nan' is not a finite number"));
  write("1,0X1p3\n");
  EXPECT_EQ(load(nullptr, 0),
            error("row 1, column 2: '0X1p3' is not a number"));
  write("+1.5,-.5\n2.,1e-3\n");
  EXPECT_EQ(load(nullptr, 0), "2x2: 1.5 -0.5 2 0.001");
}

TEST_F(RuntimeCsv, LoadsIntegers) {
  write("label\n3\n-1\n7\n");
  adj_rt_tensor t;
  ASSERT_EQ(adj_rt_load_csv(Path.c_str(), ADJ_RT_I32, 1, nullptr, -1, &t), 0)
      << adj_rt_last_error();
  const int32_t *p = static_cast<const int32_t *>(t.data);
  EXPECT_EQ(std::vector<int32_t>(p, p + 3), (std::vector<int32_t>{3, -1, 7}));
  adj_rt_tensor_free(&t);

  write("1\n2.5\n");
  EXPECT_EQ(adj_rt_load_csv(Path.c_str(), ADJ_RT_I32, 1, nullptr, -1, &t), 1);
  EXPECT_EQ(std::string(adj_rt_last_error()),
            error("row 2, column 1: '2.5' is not an i32 integer"));
  write("1\n3000000000\n");
  EXPECT_EQ(adj_rt_load_csv(Path.c_str(), ADJ_RT_I32, 1, nullptr, -1, &t), 1);
  EXPECT_EQ(std::string(adj_rt_last_error()),
            error("row 2, column 1: '3000000000' is not an i32 integer"));
  EXPECT_EQ(adj_rt_load_csv(Path.c_str(), ADJ_RT_I32, 0.5, nullptr, -1, &t), 1);
  EXPECT_EQ(std::string(adj_rt_last_error()),
            error("cannot scale integer data (scale = 0.5)"));

  std::string missing = Dir + "/missing.csv";
  EXPECT_EQ(adj_rt_load_csv(missing.c_str(), ADJ_RT_F32, 1, nullptr, -1, &t),
            1);
  EXPECT_EQ(std::string(adj_rt_last_error()),
            "'" + missing + "': cannot open: No such file or directory");
}

} // namespace

TEST_F(RuntimeCsv, DetectsAHeaderWhoseFirstCellLooksLikeANumber) {
  // Any non-number cell makes the first row a header, not just the first.
  write("2024,temp\n1,2\n3,4\n");
  EXPECT_EQ(load(), "2x2: 1 2 3 4");
  EXPECT_EQ(load("temp"), "2x1: 2 4");
  write("2024,1st\n1,2\n");
  EXPECT_EQ(load(), "1x2: 1 2");
  EXPECT_EQ(load("1st"), "1x1: 2");
  write("1st,2024\n5,6\n");
  EXPECT_EQ(load(), "1x2: 5 6");
  write("7,8,nan\n1,2,3\n");
  EXPECT_EQ(load(), "1x3: 1 2 3");
  // A row of numbers only is data, whatever it looks like.
  write("2024,1e3\n1,2\n");
  EXPECT_EQ(load(), "2x2: 2024 1000 1 2");
  // Forced off, such a header is reported as data.
  write("2024,1st\n1,2\n");
  EXPECT_EQ(load(nullptr, 0), error("row 1, column 2: '1st' is not a number"));
}
