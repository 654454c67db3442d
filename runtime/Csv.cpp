//===- Csv.cpp - The CSV data loader --------------------------------------===//
///
/// \file
/// Loads numeric CSV files, plain or gzipped, into a [rows, columns] tensor.
/// Cells are separated by commas and trimmed; a cell may be double-quoted
/// ("" inside quotes is a quote), which matters only for header names. Blank
/// lines are skipped. The header row is the first line when asked for, or
/// when auto-detecting, when one of its cells is not a number. `columns`
/// selects columns by header name or 0-based index, in the order given;
/// cells of other columns are never parsed, so an id or text column does
/// no harm. Every row must have the first row's number of cells.
///
/// Errors give the row as the file's line number and the column counting
/// from 1, as an editor shows them.
///
//===----------------------------------------------------------------------===//

#include "runtime/Internal.h"

#include <algorithm>
#include <cerrno>
#include <cmath>
#include <cstring>

using namespace adj::rt;

namespace {

/// Splits one line into trimmed, unquoted cells.
std::vector<std::string> splitCells(const std::string &line) {
  std::vector<std::string> cells;
  size_t i = 0, n = line.size();
  for (;;) {
    while (i < n && (line[i] == ' ' || line[i] == '\t'))
      ++i;
    std::string cell;
    if (i < n && line[i] == '"') {
      for (++i; i < n; ++i) {
        if (line[i] != '"') {
          cell += line[i];
          continue;
        }
        if (i + 1 < n && line[i + 1] == '"') {
          cell += '"';
          ++i;
          continue;
        }
        ++i;
        break;
      }
      while (i < n && line[i] != ',')
        ++i;
    } else {
      size_t start = i;
      while (i < n && line[i] != ',')
        ++i;
      cell = line.substr(start, i - start);
      while (!cell.empty() && (cell.back() == ' ' || cell.back() == '\t'))
        cell.pop_back();
    }
    cells.push_back(std::move(cell));
    if (i >= n)
      return cells;
    ++i; // the comma
  }
}

/// Whether `cell` is a decimal number: [+-]digits[.digits][e[+-]digits]
/// (either side of the point may be empty, not both). strtod alone would
/// also take hexadecimal (`0x10`), `inf` and `nan`.
static bool isDecimal(const std::string &cell) {
  size_t i = 0, n = cell.size();
  auto digits = [&] {
    size_t start = i;
    while (i < n && cell[i] >= '0' && cell[i] <= '9')
      ++i;
    return i - start;
  };
  while (i < n && (cell[i] == ' ' || cell[i] == '\t'))
    ++i;
  if (i < n && (cell[i] == '+' || cell[i] == '-'))
    ++i;
  size_t mantissa = digits();
  if (i < n && cell[i] == '.') {
    ++i;
    mantissa += digits();
  }
  if (mantissa == 0)
    return false;
  if (i < n && (cell[i] == 'e' || cell[i] == 'E')) {
    ++i;
    if (i < n && (cell[i] == '+' || cell[i] == '-'))
      ++i;
    if (digits() == 0)
      return false;
  }
  return i == n;
}

bool parseNumber(const std::string &cell, double &v) {
  if (!isDecimal(cell))
    return false;
  char *end = nullptr;
  errno = 0;
  v = std::strtod(cell.c_str(), &end);
  return *end == '\0' && std::isfinite(v);
}

/// A cell strtod reads completely as NaN or an infinity ("nan", "-inf",
/// "1e999").
bool isNonFinite(const std::string &cell) {
  char *end = nullptr;
  double v = cell.empty() ? 0 : std::strtod(cell.c_str(), &end);
  return !cell.empty() && *end == '\0' && !std::isfinite(v);
}

bool allNumbers(const std::vector<std::string> &cells) {
  double v;
  for (const std::string &c : cells)
    if (!parseNumber(c, v))
      return false;
  return true;
}

/// Resolves `columns` against the header (possibly empty) into indices.
int selectColumns(const std::string &name, const char *columns,
                  const std::vector<std::string> &header, size_t width,
                  std::vector<size_t> &out) {
  if (!columns) {
    for (size_t i = 0; i < width; ++i)
      out.push_back(i);
    return 0;
  }
  std::vector<std::string> wanted = splitCells(columns);
  for (const std::string &w : wanted) {
    if (w.empty())
      return fail(
          format("%s: empty column name in '%s'", name.c_str(), columns));
    int64_t index = 0;
    bool isIndex = true;
    for (char c : w)
      if (c < '0' || c > '9' || !checkedMul(index, 10, index) ||
          __builtin_add_overflow(index, c - '0', &index))
        isIndex = false;
    if (isIndex) {
      if (index >= int64_t(width))
        return fail(format("%s: column index %lld is out of range (%zu "
                           "columns)",
                           name.c_str(), (long long)index, width));
      out.push_back(size_t(index));
      continue;
    }
    if (header.empty())
      return fail(format("%s: column '%s' is named, but the file has no "
                         "header row",
                         name.c_str(), w.c_str()));
    size_t at = 0;
    while (at < header.size() && header[at] != w)
      ++at;
    if (at == header.size()) {
      std::string list;
      for (const std::string &h : header)
        list += (list.empty() ? "" : ", ") + escapeText(h);
      return fail(format("%s: no column '%s' (columns: %s)", name.c_str(),
                         w.c_str(), list.c_str()));
    }
    out.push_back(at);
  }
  return 0;
}

/// Reads the whole (possibly gzipped) file, in chunks from 64 KiB doubling
/// to 16 MiB (a small file does not pay for clearing a large buffer).
int readAll(FileReader &file, std::string &text) {
  for (int64_t Chunk = int64_t(64) << 10;;
       Chunk = std::min(Chunk * 2, int64_t(16) << 20)) {
    size_t have = text.size();
    if (int64_t(have) > MaxTensorBytes)
      return fail(file.name() + ": file too large");
    text.resize(have + size_t(Chunk));
    int64_t got = file.read(&text[have], Chunk);
    if (got < 0)
      return 1;
    text.resize(have + size_t(got));
    if (got < Chunk)
      return 0;
  }
}

} // namespace

extern "C" int adj_rt_load_csv(const char *path, adj_rt_dtype dtype,
                               double scale, const char *columns, int header,
                               adj_rt_tensor *out) {
  if (!path || !out)
    return fail("adj_rt_load_csv: null argument");
  out->data = nullptr;
  FileReader file;
  if (file.open(path))
    return 1;
  const std::string &name = file.name();
  std::string text;
  if (checkDestination(name, dtype, scale) || readAll(file, text))
    return 1;
  if (text.compare(0, 3, "\xEF\xBB\xBF") == 0) // a UTF-8 byte order mark
    text.erase(0, 3);

  std::vector<std::string> headerCells;
  std::vector<size_t> selected;
  std::vector<double> values;
  size_t width = 0;
  int64_t rows = 0, line = 0;
  for (size_t pos = 0; pos < text.size();) {
    size_t eol = text.find('\n', pos);
    if (eol == std::string::npos)
      eol = text.size();
    std::string row = text.substr(pos, eol - pos);
    pos = eol + 1;
    ++line;
    if (!row.empty() && row.back() == '\r')
      row.pop_back();
    if (row.find_first_not_of(" \t") == std::string::npos)
      continue;
    std::vector<std::string> cells = splitCells(row);
    if (!width) {
      width = cells.size();
      bool isHeader = header > 0 || (header < 0 && !allNumbers(cells));
      if (isHeader)
        headerCells = cells;
      if (selectColumns(name, columns, headerCells, width, selected))
        return 1;
      if (isHeader)
        continue;
    }
    if (cells.size() != width)
      return fail(format("%s: row %lld has %zu columns, expected %zu",
                         name.c_str(), (long long)line, cells.size(), width));
    for (size_t c : selected) {
      double v;
      if (!parseNumber(cells[c], v))
        return fail(format("%s: row %lld, column %zu: '%s' is not a%s number%s",
                           name.c_str(), (long long)line, c + 1,
                           escapeText(cells[c]).c_str(),
                           isNonFinite(cells[c]) ? " finite" : "",
                           isNonFinite(cells[c]) && !LoadContext.empty()
                               ? (" (" + LoadContext + ")").c_str()
                               : ""));
      if (dtype == ADJ_RT_I32 &&
          (v != std::floor(v) || v < INT32_MIN || v > INT32_MAX))
        return fail(format("%s: row %lld, column %zu: '%s' is not an i32 "
                           "integer",
                           name.c_str(), (long long)line, c + 1,
                           escapeText(cells[c]).c_str()));
      values.push_back(v);
    }
    ++rows;
  }
  if (rows == 0)
    return fail(name + ": no data rows");
  out->rank = 2;
  out->dims[0] = rows;
  out->dims[1] = int64_t(selected.size());
  std::vector<unsigned char> raw(values.size() * sizeof(double));
  std::memcpy(raw.data(), values.data(), raw.size());
  return finishTensor(name, raw, ElemType::F64, /*bigEndian=*/false, dtype,
                      scale, *out);
}
