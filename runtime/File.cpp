//===- File.cpp - Checked, atomic file writes -----------------------------===//
///
/// \file
/// Every file the runtime writes goes through here, so that every error of
/// open, write, fsync, close and rename is checked in one place and reported
/// as "'path': cannot write WHAT: reason" (strerror).
///
/// Checkpoints, reports, plots and predictions are replaced atomically, so
/// that a reader, a full disk, or a run killed with SIGKILL in the middle of
/// a write leaves either the old file or the complete new one: the data goes
/// to a temporary file created next to the destination (same directory,
/// hence same file system, so rename() is atomic), is flushed with fsync(),
/// and is renamed over the destination; then the directory is fsync'd so
/// that the rename itself survives a power loss. The temporary file is
/// created with O_EXCL under a name unique to this process and call, with
/// the usual 0666 & ~umask permissions, and removed on failure. A
/// destination that exists and is not a regular file (/dev/stdout, a FIFO,
/// /dev/full) is written in place: it cannot be renamed over.
///
/// The --log is appended to as training goes (AppendFile). The tools write
/// their own outputs (adjc -o TRAINER, --emit output, adj-repl :write)
/// through adj_rt_write_file (adjoint_rt_io.h), the same atomic writer.
///
/// Testing hook: ADJ_FAULT_WRITE=SUBSTRING[:BYTES][@N] makes writes to any
/// destination whose path contains SUBSTRING fail with ENOSPC once BYTES
/// bytes (default 0) have been written to it, as a full disk would;
/// ADJ_FAULT_WRITE=SUBSTRING:ro[@N] makes creating it fail with EROFS, as a
/// read-only directory would (chmod does not stop root, who runs the tests).
/// With @N the fault starts at the N-th time such a file is opened for
/// writing (counting from 1), e.g. the third checkpoint of a run.
///
//===----------------------------------------------------------------------===//

#include "runtime/Internal.h"

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <fcntl.h>
#include <mutex>
#include <sys/stat.h>
#include <unistd.h>

namespace adj::rt {

namespace {

/// What ADJ_FAULT_WRITE asks of writes to `path`.
struct Fault {
  bool Matches = false; ///< the path contains SUBSTRING
  bool Active = false;  ///< and the N-th such file has been opened
  bool ReadOnly = false;
  uint64_t AfterBytes = 0;
};

/// Files opened for writing whose path contains ADJ_FAULT_WRITE's SUBSTRING,
/// counted since the variable last changed (FaultSpec).
std::atomic<uint64_t> FaultOpens{0};
std::mutex FaultMutex;
std::string FaultSpec;

bool allDigits(const std::string &s) {
  return !s.empty() && s.find_first_not_of("0123456789") == std::string::npos;
}

Fault faultFor(const char *path) {
  Fault f;
  const char *env = std::getenv("ADJ_FAULT_WRITE");
  if (!env || !*env || !path)
    return f;
  std::string spec = env;
  uint64_t from = 1;
  size_t at = spec.rfind('@');
  if (at != std::string::npos && allDigits(spec.substr(at + 1))) {
    from = std::strtoull(spec.c_str() + at + 1, nullptr, 10);
    spec.resize(at);
  }
  std::string needle = spec;
  size_t colon = spec.rfind(':');
  if (colon != std::string::npos) {
    std::string arg = spec.substr(colon + 1);
    bool digits = allDigits(arg);
    if (arg == "ro" || digits) {
      needle = spec.substr(0, colon);
      f.ReadOnly = arg == "ro";
      if (digits)
        f.AfterBytes = std::strtoull(arg.c_str(), nullptr, 10);
    }
  }
  f.Matches = !needle.empty() && std::strstr(path, needle.c_str()) != nullptr;
  f.Active = f.Matches && FaultOpens.load() >= from;
  return f;
}

/// Makes a rename in the directory of `path` durable. Best effort: some file
/// systems refuse to fsync a directory, and the file is in place anyway.
void syncDirectory(const std::string &path) {
  size_t slash = path.rfind('/');
  std::string dir = slash == std::string::npos ? "."
                    : slash == 0               ? "/"
                                               : path.substr(0, slash);
  int fd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0)
    return;
  ::fsync(fd);
  ::close(fd);
}

/// Whether `path` exists and is something else than a regular file.
bool isSpecialFile(const char *path) {
  struct stat st;
  return ::stat(path, &st) == 0 && !S_ISREG(st.st_mode);
}

} // namespace

int openForWriting(const char *path, const char *dest, int flags,
                   unsigned mode) {
  if (faultFor(dest).Matches) {
    std::lock_guard<std::mutex> lock(FaultMutex);
    const char *env = std::getenv("ADJ_FAULT_WRITE");
    if (FaultSpec != env) {
      FaultSpec = env;
      FaultOpens = 0;
    }
    ++FaultOpens;
  }
  Fault fault = faultFor(dest);
  if (fault.Active && fault.ReadOnly) {
    errno = EROFS;
    return -1;
  }
  return ::open(path, flags | O_WRONLY | O_CLOEXEC, mode_t(mode));
}

bool writeFully(int fd, const char *dest, uint64_t offset, const void *data,
                size_t len) {
  Fault fault = faultFor(dest);
  const auto *p = static_cast<const char *>(data);
  while (len > 0) {
    size_t chunk = std::min<size_t>(len, size_t(1) << 30);
    if (fault.Active) {
      if (offset >= fault.AfterBytes) {
        errno = ENOSPC;
        return false;
      }
      chunk = size_t(std::min<uint64_t>(chunk, fault.AfterBytes - offset));
    }
    ssize_t n = ::write(fd, p, chunk);
    if (n < 0 && errno == EINTR)
      continue;
    if (n < 0)
      return false;
    if (n == 0) { // no progress and no error: treat as a full device
      errno = ENOSPC;
      return false;
    }
    p += n;
    len -= size_t(n);
    offset += uint64_t(n);
  }
  return true;
}

/// Writes `pieces` into the existing non-regular file `path` in place.
static int writeInPlace(const char *path, const char *what,
                        const std::vector<Piece> &pieces) {
  auto error = [&](int err) {
    return fail(format("%s: cannot write %s: %s", quoted(path).c_str(), what,
                       std::strerror(err)));
  };
  int fd = openForWriting(path, path, O_TRUNC);
  if (fd < 0)
    return error(errno);
  uint64_t offset = 0;
  for (const Piece &p : pieces) {
    if (!writeFully(fd, path, offset, p.first, p.second)) {
      int err = errno;
      ::close(fd);
      return error(err);
    }
    offset += p.second;
  }
  if (::close(fd) != 0)
    return error(errno);
  return 0;
}

int writeFileAtomically(const char *path, const char *what,
                        const std::vector<Piece> &pieces, unsigned mode) {
  static std::atomic<unsigned> Counter{0};
  if (!path || !*path)
    return fail(format("cannot write %s: empty file name", what));
  std::string name = quoted(path);
  auto error = [&](int err) {
    return fail(format("%s: cannot write %s: %s", name.c_str(), what,
                       std::strerror(err)));
  };
  if (isSpecialFile(path))
    return writeInPlace(path, what, pieces);
  std::string tmp;
  int fd = -1;
  for (int attempt = 0; fd < 0 && attempt < 100; ++attempt) {
    tmp = format("%s.tmp%ld.%u", path, long(getpid()), Counter++);
    fd = openForWriting(tmp.c_str(), path, O_CREAT | O_EXCL, mode);
    if (fd < 0 && errno != EEXIST)
      return error(errno);
  }
  if (fd < 0)
    return error(EEXIST);
  bool ok = true;
  uint64_t offset = 0;
  for (const Piece &p : pieces) {
    if (!ok || !p.second)
      continue;
    ok = writeFully(fd, path, offset, p.first, p.second);
    offset += p.second;
  }
  ok = ok && ::fsync(fd) == 0;
  int err = errno;
  if (::close(fd) != 0 && ok) {
    ok = false;
    err = errno;
  }
  if (ok && std::rename(tmp.c_str(), path) == 0) {
    syncDirectory(path);
    return 0;
  }
  if (ok)
    err = errno;
  ::unlink(tmp.c_str());
  return error(err);
}

} // namespace adj::rt

extern "C" int adj_rt_write_file(const char *path, const char *what,
                                 const void *data, size_t size, unsigned mode) {
  using namespace adj::rt;
  if (!data && size)
    return fail("adj_rt_write_file: null data");
  return writeFileAtomically(path, what && *what ? what : "file",
                             {{data, size}}, mode & 07777);
}

namespace adj::rt {

//===--- AppendFile -------------------------------------------------------===//

AppendFile::~AppendFile() {
  if (Fd >= 0)
    ::close(Fd);
}

int AppendFile::open(const char *path, const char *what) {
  close();
  Path = path ? path : "";
  What = what;
  Written = 0;
  Broken = 0;
  if (Path.empty())
    return fail(format("cannot write %s: empty file name", what));
  Fd = openForWriting(path, path, O_CREAT | O_TRUNC);
  if (Fd < 0)
    return error(errno);
  return 0;
}

int AppendFile::write(const std::string &text) {
  if (Fd < 0)
    return Broken ? error(Broken) : 0;
  if (!writeFully(Fd, Path.c_str(), Written, text.data(), text.size())) {
    Broken = errno;
    ::close(Fd);
    Fd = -1;
    return error(Broken);
  }
  Written += text.size();
  return 0;
}

int AppendFile::close() {
  if (Fd < 0)
    return Broken ? error(Broken) : 0;
  int fd = Fd;
  Fd = -1;
  if (::close(fd) != 0) {
    Broken = errno;
    return error(Broken);
  }
  return 0;
}

int AppendFile::error(int err) const {
  return fail(format("%s: cannot write %s: %s", quoted(Path.c_str()).c_str(),
                     What, std::strerror(err)));
}

} // namespace adj::rt
