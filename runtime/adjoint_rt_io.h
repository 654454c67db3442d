/*===- adjoint_rt_io.h - Data files and checkpoints ---------------*- C -*-===*\
 *
 * The runtime's file formats, exposed for tests and tools: loading IDX, NumPy
 * .npy, CSV and text data into host tensors (adj_rt_tensor), and writing and
 * reading safetensors checkpoints of named tensors in the caller's memory
 * (adj_rt_named_tensor). Failures store their message for
 * adj_rt_last_error() (adjoint_rt_train.h).
 *
\*===----------------------------------------------------------------------===*/
#ifndef ADJOINT_RT_IO_H
#define ADJOINT_RT_IO_H

#include "runtime/adjoint_rt_abi.h"

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/** A dense host tensor owned by the runtime. */
typedef struct {
  adj_rt_dtype dtype;
  int rank;
  int64_t dims[8];
  void *data; /**< 64-byte aligned */
} adj_rt_tensor;

/** Loads an IDX file (gzipped or not) into a new f32 (scale applied) or
 *  i32 tensor, as `dtype`. Returns 0 or non-zero with the error set. */
int adj_rt_load_idx(const char *path, adj_rt_dtype dtype, double scale,
                    adj_rt_tensor *out);

/** Loads a NumPy .npy file (optionally gzipped; C order; u1 i1 i2 i4 i8 f4
 *  f8 b1 elements) like adj_rt_load_idx. */
int adj_rt_load_npy(const char *path, adj_rt_dtype dtype, double scale,
                    adj_rt_tensor *out);

/** Loads a CSV file (optionally gzipped) as a [rows, columns] tensor:
 *  numeric cells separated by commas, an optional header row (header -1:
 *  present when the first row has a non-numeric cell; 0 absent; 1 present)
 *  and `columns` picking columns by header name or 0-based index ("x1,x2",
 *  "0,3"; NULL: all). Errors name the row (the line, counting from 1) and
 *  column (from 1) of a bad cell: "'x.csv': row 7, column 3: 'abc' is not a
 *  number". */
int adj_rt_load_csv(const char *path, adj_rt_dtype dtype, double scale,
                    const char *columns, int header, adj_rt_tensor *out);

/** Loads a file's bytes (gzipped or not) as a [K, seq] tensor of token ids
 *  0-255, as `dtype`: of the fraction [start, end) of the file (bytes [a,
 *  b) with a = floor(start * size), b = floor(end * size)), window k is the
 *  seq bytes from a + k * seq + offset, and K = floor((b - a - 1) / seq),
 *  one byte held back so that offsets 0 and 1 (inputs and next-byte
 *  targets) give as many windows. Fails naming the file when the fraction
 *  is shorter than one window and the byte after it, or when a window
 *  (offset > 1) runs past the end of the file. */
int adj_rt_load_text(const char *path, adj_rt_dtype dtype, int64_t seq,
                     int64_t offset, double start, double end,
                     adj_rt_tensor *out);

/** Frees t->data (NULL is fine) and sets it to NULL. */
void adj_rt_tensor_free(adj_rt_tensor *t);

/** A tensor of a checkpoint, in the caller's memory (row-major). */
typedef struct {
  const char *name;
  adj_rt_dtype dtype;
  int rank;
  const int64_t *dims;
  void *data;
} adj_rt_named_tensor;

/** Writes a safetensors file: an 8-byte little-endian header length, a JSON
 *  header (padded with spaces to a multiple of 8 bytes) with `__metadata__`
 *  holding the string pairs metadata[2i] = metadata[2i + 1], then the
 *  tensors' data in order (dtypes F32, F64, I32). Atomic: a temporary file
 *  in the same directory is written, fsync'd and renamed over `path`, and
 *  the directory fsync'd, so a crash leaves the old file or the new one
 *  (and, after SIGKILL, possibly a PATH.tmp* file). */
int adj_rt_save_checkpoint(const char *path, int num_tensors,
                           const adj_rt_named_tensor *tensors, int num_metadata,
                           const char *const *metadata);

/** Reads and validates the safetensors file `path` completely (header size
 *  and JSON, dtypes, shapes against byte sizes, data offsets contiguous and
 *  in bounds) and checks that it holds exactly the tensors named in
 *  `tensors`, with their shapes; only then copies each into its data,
 *  converting F32 and F64 to the tensor's dtype. On failure no buffer has
 *  been written. */
int adj_rt_load_checkpoint(const char *path, int num_tensors,
                           const adj_rt_named_tensor *tensors);

/** Writes the `size` bytes at `data` to `path` as the runtime writes its
 *  checkpoints: into a temporary file created next to `path` (permissions
 *  `mode` & ~umask: 0666 for data, 0777 for an executable), fsync'd and
 *  renamed over `path`, then the directory fsync'd. On failure `path` is
 *  left as it was, the temporary file is removed and the error reads
 *  "'path': cannot write WHAT: reason". A `path` that exists and is not a
 *  regular file (/dev/stdout) is written in place. ADJ_FAULT_WRITE
 *  (runtime/File.cpp) injects failures, for tests. */
int adj_rt_write_file(const char *path, const char *what, const void *data,
                      size_t size, unsigned mode);

#ifdef __cplusplus
}
#endif

#endif /* ADJOINT_RT_IO_H */
