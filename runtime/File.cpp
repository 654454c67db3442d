//===- File.cpp - Atomic file writes --------------------------------------===//
///
/// \file
/// Every file the runtime writes (checkpoint, report, log, plot) is replaced
/// atomically, so that a reader, or a run killed with SIGKILL in the middle
/// of a write, sees either the old file or the complete new one: the data
/// goes to a temporary file created next to the destination (same directory,
/// hence same file system, so rename() is atomic), is flushed with fsync(),
/// and is renamed over the destination; then the directory is fsync'd so
/// that the rename itself survives a power loss. The temporary file is
/// created with O_EXCL under a name unique to this process and call, with
/// the usual 0666 & ~umask permissions.
///
//===----------------------------------------------------------------------===//

#include "runtime/Internal.h"

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <fcntl.h>
#include <unistd.h>

namespace adj::rt {

/// Writes all of `len` bytes, retrying short writes and EINTR.
static bool writeAll(int fd, const void *data, size_t len) {
  const auto *p = static_cast<const char *>(data);
  while (len > 0) {
    ssize_t n = ::write(fd, p, std::min<size_t>(len, size_t(1) << 30));
    if (n < 0 && errno == EINTR)
      continue;
    if (n <= 0)
      return false;
    p += n;
    len -= size_t(n);
  }
  return true;
}

/// Makes a rename in the directory of `path` durable. Best effort: some file
/// systems refuse to fsync a directory, and the file is in place anyway.
static void syncDirectory(const std::string &path) {
  size_t slash = path.rfind('/');
  std::string dir = slash == std::string::npos ? "."
                    : slash == 0               ? "/"
                                               : path.substr(0, slash);
  int fd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY);
  if (fd < 0)
    return;
  ::fsync(fd);
  ::close(fd);
}

int writeFileAtomically(const char *path, const char *what,
                        const std::vector<Piece> &pieces) {
  static std::atomic<unsigned> Counter{0};
  std::string name = quoted(path);
  auto error = [&](int err) {
    return fail(format("%s: cannot write %s: %s", name.c_str(), what,
                       std::strerror(err)));
  };
  if (!path || !*path)
    return fail(format("cannot write %s: empty file name", what));
  std::string tmp;
  int fd = -1;
  for (int attempt = 0; fd < 0 && attempt < 100; ++attempt) {
    tmp = format("%s.tmp%ld.%u", path, long(getpid()), Counter++);
    fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0666);
    if (fd < 0 && errno != EEXIST)
      return error(errno);
  }
  if (fd < 0)
    return error(EEXIST);
  bool ok = true;
  for (const Piece &p : pieces)
    if (ok && p.second)
      ok = writeAll(fd, p.first, p.second);
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
