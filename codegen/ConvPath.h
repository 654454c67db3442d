//===- ConvPath.h - Which kernel the convolutions take, for tests -*- C++
//-*-===//
///
/// Internal to codegen and its tests. Conv.cpp picks per shape between the
/// GEMM path (im2col and the micro-kernels) and direct kernels (the vector
/// rows of the weight gradient, the loop nests for huge im2col buffers).
/// Tests force either to compare every variant with the reference; the
/// choice must be set before the function is compiled (workspaceOf reads it
/// too) and is global, so tests reset it to Auto when done.
///
//===----------------------------------------------------------------------===//
#ifndef ADJ_CODEGEN_CONVPATH_H
#define ADJ_CODEGEN_CONVPATH_H

namespace adj::cg {

enum class ConvPath {
  Auto,   ///< Chosen per shape (the default).
  Gemm,   ///< im2col (when needed) and the GEMM micro-kernels.
  Direct, ///< The direct kernels: vector rows where they apply, else loops.
};

/// The path every convolution compiled from now on takes.
ConvPath &convPathForTesting();

} // namespace adj::cg

#endif
