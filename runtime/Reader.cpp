//===- Reader.cpp - Reading data files, plain or gzipped ------------------===//
///
/// \file
/// The data loaders read through zlib's gzread, which decompresses gzip
/// files and passes other files through unchanged. Payloads are read in
/// chunks into a buffer that grows only as data arrives, so a header that
/// lies about its size cannot make the runtime allocate gigabytes, and a
/// short or over-long file is reported with the byte counts.
///
//===----------------------------------------------------------------------===//

#include "runtime/Internal.h"

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

namespace adj::rt {

FileReader::~FileReader() {
  if (File)
    gzclose(static_cast<gzFile>(File));
}

int FileReader::open(const char *path) {
  Name = quoted(path);
  int fd = ::open(path, O_RDONLY);
  if (fd < 0)
    return fail(Name + ": cannot open: " + std::strerror(errno));
  struct stat st;
  if (::fstat(fd, &st) == 0 && S_ISDIR(st.st_mode)) {
    ::close(fd);
    return fail(Name + ": cannot open: " + std::strerror(EISDIR));
  }
  gzFile f = gzdopen(fd, "rb");
  if (!f) {
    ::close(fd);
    return fail(Name + ": cannot open: out of memory");
  }
  gzbuffer(f, 1 << 17);
  File = f;
  return 0;
}

int64_t FileReader::read(void *buf, int64_t len) {
  auto f = static_cast<gzFile>(File);
  auto *p = static_cast<unsigned char *>(buf);
  int64_t got = 0;
  while (got < len) {
    unsigned chunk = unsigned(std::min<int64_t>(len - got, 1 << 30));
    int r = gzread(f, p + got, chunk);
    if (r < 0) {
      int code = 0;
      const char *msg = gzerror(f, &code);
      fail(Name + ": " +
           (code == Z_ERRNO ? std::strerror(errno)
                            : (msg && *msg ? msg : "read error")));
      return -1;
    }
    if (r == 0)
      break;
    got += r;
  }
  return got;
}

int FileReader::readPayload(int64_t bytes, std::vector<unsigned char> &raw) {
  int64_t have = 0;
  while (have < bytes) {
    int64_t want = std::min<int64_t>(bytes - have, int64_t(16) << 20);
    raw.resize(size_t(have + want));
    int64_t r = read(raw.data() + have, want);
    if (r < 0)
      return 1;
    have += r;
    if (r < want)
      break;
  }
  if (have < bytes)
    return fail(format("%s: truncated: expected %lld bytes of data, got %lld",
                       Name.c_str(), (long long)bytes, (long long)have));
  unsigned char extra;
  int64_t r = read(&extra, 1);
  if (r < 0)
    return 1;
  if (r > 0)
    return fail(format("%s: trailing data after the %lld bytes the header "
                       "declares",
                       Name.c_str(), (long long)bytes));
  return 0;
}

} // namespace adj::rt
