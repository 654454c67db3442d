//===- Internal.h - Shared helpers of the runtime's implementation --------===//
///
/// \file
/// What the runtime's .cpp files share and nothing else sees: the error
/// helpers behind adj_rt_last_error(), 64-byte aligned buffers, element
/// conversion for the data loaders, checked and atomic file writes, the random
/// number generator and the fan computation of the initialisers. Everything
/// lives in adj::rt.
///
//===----------------------------------------------------------------------===//
#ifndef ADJOINT_RUNTIME_INTERNAL_H
#define ADJOINT_RUNTIME_INTERNAL_H

#include "runtime/adjoint_rt.h"

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <memory>
#include <string>
#include <utility>
#include <vector>

namespace adj::rt {

//===--- Errors -----------------------------------------------------------===//

/// printf-style formatting into a std::string.
std::string format(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/// Stores `msg` as this thread's last error and returns 1, so that a failing
/// entry point can `return fail(...)`.
int fail(std::string msg);

/// "'path'" for messages that name a file (escaped with escapeText).
std::string quoted(const char *s);

/// `s` with every byte that is not printable text escaped as \xNN: control
/// characters (tabs kept, and newlines with `keepNewlines`) and the bytes of
/// invalid UTF-8, as the frontend's escapeText (frontend/Diagnostics.h)
/// does, so that no message echoes raw bytes of a file. fail() applies it
/// to every message (keeping newlines); apply it to names from files.
std::string escapeText(const std::string &s, bool keepNewlines = false);

//===--- Buffers ----------------------------------------------------------===//

/// Bytes of one element of `t`.
size_t dtypeSize(adj_rt_dtype t);
const char *dtypeName(adj_rt_dtype t);

/// malloc-like allocation aligned to 64 bytes, size rounded up to 64; never
/// returns null for a zero size. Returns null when out of memory.
void *alignedAlloc(size_t bytes);

struct FreeDeleter {
  void operator()(void *p) const { std::free(p); }
};

/// An owned, 64-byte aligned, zero-initialised buffer.
class AlignedBuffer {
public:
  AlignedBuffer() = default;
  /// Returns false when out of memory.
  bool allocate(size_t bytes);
  void *data() const { return Ptr.get(); }
  size_t size() const { return Size; }

private:
  std::unique_ptr<void, FreeDeleter> Ptr;
  size_t Size = 0;
};

/// Multiplies `a` by `b` into `out`; false on overflow or a negative input.
bool checkedMul(int64_t a, int64_t b, int64_t &out);

/// The largest tensor a loader accepts (bytes), so that a malformed header
/// cannot make the runtime allocate absurd amounts of memory.
constexpr int64_t MaxTensorBytes = int64_t(1) << 36;

/// A data file read through zlib, so that gzipped and plain files read
/// alike. Errors name the file.
class FileReader {
public:
  FileReader() = default;
  FileReader(const FileReader &) = delete;
  FileReader &operator=(const FileReader &) = delete;
  ~FileReader();
  /// Fails with "'path': cannot open: reason".
  int open(const char *path);
  /// Reads up to `len` bytes; returns the count, or -1 with the error set.
  int64_t read(void *buf, int64_t len);
  /// Reads the rest of the file, which must be exactly `bytes` long.
  int readPayload(int64_t bytes, std::vector<unsigned char> &raw);
  /// "'path'".
  const std::string &name() const { return Name; }

private:
  void *File = nullptr; // gzFile
  std::string Name;
};

/// Element types found in data files.
enum class ElemType { U8, I8, I16, I32, I64, F32, F64 };

/// Converts `count` elements of type `src` (big- or little-endian) at `raw`
/// into `out` of type `dst`, multiplying by `scale` when `dst` is a float
/// type. Integer destinations take integer sources unscaled.
void convertElements(const unsigned char *raw, ElemType src, bool bigEndian,
                     int64_t count, adj_rt_dtype dst, double scale, void *out);
size_t elemTypeSize(ElemType t);

/// Loader helpers, with errors naming the file `name`.
/// Checks a load's destination type and scale.
int checkDestination(const std::string &name, adj_rt_dtype dtype, double scale);
/// Checks the element count of `t`'s dims and the byte sizes against
/// MaxTensorBytes; sets the size of the raw payload of `src` elements.
int sizeOf(const std::string &name, const adj_rt_tensor &t, ElemType src,
           adj_rt_dtype dtype, int64_t &rawBytes);
/// Allocates out.data and converts the payload into it.
int finishTensor(const std::string &name, const std::vector<unsigned char> &raw,
                 ElemType src, bool bigEndian, adj_rt_dtype dtype, double scale,
                 adj_rt_tensor &out);

//===--- Non-finite values (NonFinite.cpp) -------------------------------===//

/// The index of the first NaN or infinity among `count` elements of `dtype`
/// at `data`, or -1 (always -1 for i32).
int64_t firstNonFinite(const void *data, adj_rt_dtype dtype, int64_t count);

/// "nan", "inf" or "-inf" for a non-finite value, else "%g".
std::string valueText(double v);

/// What the tensor being loaded is for, appended to a loader's message about
/// a non-finite value ("train input 'x'"); set by the caller around a load
/// (LoadContextScope), empty otherwise.
extern thread_local std::string LoadContext;

struct LoadContextScope {
  explicit LoadContextScope(std::string what) { LoadContext = std::move(what); }
  ~LoadContextScope() { LoadContext.clear(); }
};

/// Fails with "NAME: value nan at index I is not a finite number" (and
/// " (CONTEXT)") when one of the `count` elements of `dtype` at `data` is
/// not finite. `raw` (or null) reads element i as it was in the file, for a
/// value that became infinite only by conversion or by the `scale` it was
/// multiplied by ("value 1e+39 at index I overflows f32").
int checkFiniteValues(const std::string &name, const void *data,
                      adj_rt_dtype dtype, int64_t count,
                      double (*raw)(const void *ctx, int64_t i) = nullptr,
                      const void *rawCtx = nullptr, double scale = 1);

//===--- Writing files ----------------------------------------------------===//

/// Bytes to write: a pointer and a length.
using Piece = std::pair<const void *, size_t>;

/// Writes the concatenation of `pieces` to `path` atomically: a temporary
/// file in the same directory, fsync, rename over `path`, fsync of the
/// directory. On failure the temporary file is removed and `path` is left
/// as it was; the error reads "'path': cannot write WHAT: reason". The file
/// is created with permissions `mode` & ~umask (0777 for an executable).
int writeFileAtomically(const char *path, const char *what,
                        const std::vector<Piece> &pieces, unsigned mode = 0666);

/// Opens `path` for writing with `flags` added (O_CREAT, O_TRUNC, O_EXCL);
/// `dest` is the file it stands for (the destination of a temporary file),
/// for the ADJ_FAULT_WRITE test hook (see File.cpp); a file created gets
/// permissions `mode` & ~umask. -1 with errno set.
int openForWriting(const char *path, const char *dest, int flags,
                   unsigned mode = 0666);

/// Writes all `len` bytes to `fd`, retrying short writes and EINTR; `dest`
/// and the `offset` of the bytes in it are for ADJ_FAULT_WRITE. False with
/// errno set.
bool writeFully(int fd, const char *dest, uint64_t offset, const void *data,
                size_t len);

/// A file written as a program goes (the --log): created or truncated by
/// open(), every write() checked. After a failure the file is closed and
/// every later call fails again. Errors read "'path': cannot write WHAT:
/// reason".
class AppendFile {
public:
  AppendFile() = default;
  AppendFile(const AppendFile &) = delete;
  AppendFile &operator=(const AppendFile &) = delete;
  ~AppendFile();
  /// Closes the current file, then creates or truncates `path`.
  int open(const char *path, const char *what);
  /// Appends `text` (nothing to do when no file is open).
  int write(const std::string &text);
  /// Closes the file, reporting an earlier failure or close()'s.
  int close();
  bool isOpen() const { return Fd >= 0; }
  const std::string &path() const { return Path; }

private:
  int error(int err) const;

  int Fd = -1;
  int Broken = 0; ///< errno of a failed write
  std::string Path;
  const char *What = "file";
  uint64_t Written = 0;
};

//===--- Random numbers and initialisers ----------------------------------===//

/// The splitmix64 finaliser: a good 64-bit mixing function.
uint64_t mix64(uint64_t x);

/// xoshiro256** seeded through splitmix64: small, fast and deterministic
/// across platforms.
class Rng {
public:
  explicit Rng(uint64_t seed);
  uint64_t next();
  /// Uniform in [0, 1) with 53 random bits.
  double uniform() { return double(next() >> 11) * 0x1.0p-53; }
  /// Uniform integer in [0, bound) without modulo bias; bound >= 1.
  uint64_t below(uint64_t bound);
  /// Standard normal by the Box-Muller transform.
  double normal();
  /// The full state as text: 64 hex digits, then ":" and 16 more when a
  /// normal() value is pending.
  std::string state() const;
  /// Restores a state() string; false (and no change) when malformed.
  bool setState(const std::string &text);

private:
  uint64_t S[4];
  double Spare = 0;
  bool HasSpare = false;
};

/// fan_in and fan_out of a parameter of shape `dims`, as adj_rt_fans().
void computeFans(int rank, const int64_t *dims, int64_t &fanIn,
                 int64_t &fanOut);

/// A schedule as --schedule's text, e.g. "step:step_size=100,gamma=0.1",
/// with " (warmup N)" appended when warmup > 0; for --help and messages.
std::string describeSchedule(const adj_rt_schedule &s, int64_t warmup);

} // namespace adj::rt

#endif // ADJOINT_RUNTIME_INTERNAL_H
