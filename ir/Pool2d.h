//===- Pool2d.h - The geometry of max_pool2d, avg_pool2d --------*- C++ -*-===//
///
/// max_pool2d, avg_pool2d and their adjoint ops (Ops.def) share three
/// attributes: `kernel` [h, w], `stride` [h, w] and `padding` [h, w] (that
/// many rows or columns on both sides, as torch.nn.functional's pools).
/// Pool2dGeometry reads and checks them once, for the shape rules
/// (ir/ShapeRules.cpp), the frontend and the kernels (codegen/Pool.cpp), so
/// that all of them agree on output sizes: floor mode, output =
/// (H + 2 * padding - kernel) / stride + 1. PyTorch's rule that padding is
/// at most half the window means every window holds at least one element
/// of the input.
///
//===----------------------------------------------------------------------===//
#ifndef ADJ_IR_POOL2D_H
#define ADJ_IR_POOL2D_H

#include "ir/IR.h"

#include <array>
#include <optional>
#include <tuple>

namespace adj {

struct Pool2dGeometry {
  std::array<int64_t, 2> Kernel{1, 1};
  std::array<int64_t, 2> Stride{1, 1};
  std::array<int64_t, 2> Padding{0, 0};

  /// The geometry of an op's attributes, or nullopt when one is missing or
  /// out of range (kernel and stride >= 1, padding >= 0).
  static std::optional<Pool2dGeometry> of(const Attrs &A) {
    Pool2dGeometry G;
    for (auto [Name, Dst, Min] :
         {std::tuple{"kernel", &G.Kernel, int64_t(1)},
          std::tuple{"stride", &G.Stride, int64_t(1)},
          std::tuple{"padding", &G.Padding, int64_t(0)}}) {
      auto It = A.find(Name);
      const auto *L = It == A.end()
                          ? nullptr
                          : std::get_if<std::vector<int64_t>>(&It->second);
      if (!L || L->size() != 2 || (*L)[0] < Min || (*L)[1] < Min)
        return std::nullopt;
      *Dst = {(*L)[0], (*L)[1]};
    }
    return G;
  }

  /// The attributes kernel, stride and padding.
  Attrs attrs() const {
    auto List = [](const std::array<int64_t, 2> &V) {
      return std::vector<int64_t>(V.begin(), V.end());
    };
    return {{"kernel", List(Kernel)},
            {"stride", List(Stride)},
            {"padding", List(Padding)}};
  }

  /// The padded input size along spatial axis \p Axis (0: H, 1: W).
  int64_t padded(unsigned Axis, int64_t In) const {
    return In + 2 * Padding[Axis];
  }
  /// Whether the padding along \p Axis is at most half the window.
  bool paddingFits(unsigned Axis) const {
    return 2 * Padding[Axis] <= Kernel[Axis];
  }
  /// The output size along \p Axis for an input of \p In; 0 when the window
  /// does not fit the padded input.
  int64_t outSize(unsigned Axis, int64_t In) const {
    int64_t Room = padded(Axis, In) - Kernel[Axis];
    return Room < 0 ? 0 : Room / Stride[Axis] + 1;
  }
};

} // namespace adj

#endif
