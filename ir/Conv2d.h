//===- Conv2d.h - The geometry of conv2d and its adjoints -------*- C++ -*-===//
///
/// conv2d and its adjoint ops (Ops.def) share four attributes: `stride`
/// [h, w], `padding` [top, bottom, left, right], `dilation` [h, w] and
/// `groups`. Conv2dGeometry reads and checks them once, for the shape rules
/// (ir/ShapeRules.cpp), the gradient rule and the kernels (codegen/Conv.cpp),
/// so that all of them agree on output sizes. samePadding is the frontend's
/// `padding = "same"`, as torch.nn.functional.conv2d resolves it: a total
/// of dilation * (k - 1) zeros along an axis, the odd one at the end
/// (bottom or right).
///
//===----------------------------------------------------------------------===//
#ifndef ADJ_IR_CONV2D_H
#define ADJ_IR_CONV2D_H

#include "ir/IR.h"

#include <array>
#include <optional>
#include <utility>

namespace adj {

struct Conv2dGeometry {
  std::array<int64_t, 2> Stride{1, 1};
  std::array<int64_t, 4> Padding{0, 0, 0, 0}; ///< top, bottom, left, right
  std::array<int64_t, 2> Dilation{1, 1};
  int64_t Groups = 1;

  /// The geometry of an op's attributes, or nullopt when one is missing or
  /// out of range (strides, dilations and groups >= 1, padding >= 0).
  static std::optional<Conv2dGeometry> of(const Attrs &A) {
    auto List = [&](const char *N) -> const std::vector<int64_t> * {
      auto It = A.find(N);
      return It == A.end() ? nullptr
                           : std::get_if<std::vector<int64_t>>(&It->second);
    };
    const std::vector<int64_t> *S = List("stride"), *P = List("padding"),
                               *D = List("dilation");
    if (!S || !P || !D || S->size() != 2 || P->size() != 4 || D->size() != 2)
      return std::nullopt;
    Conv2dGeometry G;
    for (unsigned I = 0; I < 2; ++I) {
      G.Stride[I] = (*S)[I];
      G.Dilation[I] = (*D)[I];
      if (G.Stride[I] < 1 || G.Dilation[I] < 1)
        return std::nullopt;
    }
    for (unsigned I = 0; I < 4; ++I)
      if ((G.Padding[I] = (*P)[I]) < 0)
        return std::nullopt;
    if (auto It = A.find("groups"); It != A.end()) {
      const int64_t *Gr = std::get_if<int64_t>(&It->second);
      if (!Gr || *Gr < 1)
        return std::nullopt;
      G.Groups = *Gr;
    }
    return G;
  }

  /// The attributes stride, padding, dilation and groups.
  Attrs attrs() const {
    return {
        {"stride", std::vector<int64_t>(Stride.begin(), Stride.end())},
        {"padding", std::vector<int64_t>(Padding.begin(), Padding.end())},
        {"dilation", std::vector<int64_t>(Dilation.begin(), Dilation.end())},
        {"groups", Groups}};
  }

  /// The padded input size along spatial axis \p Axis (0: H, 1: W).
  int64_t padded(unsigned Axis, int64_t In) const {
    return In + Padding[2 * Axis] + Padding[2 * Axis + 1];
  }
  /// The extent of a kernel of \p K taps with the axis' dilation.
  int64_t span(unsigned Axis, int64_t K) const {
    return Dilation[Axis] * (K - 1) + 1;
  }
  /// The output size along \p Axis for an input of \p In and a kernel of
  /// \p K taps; 0 when the kernel does not fit the padded input.
  int64_t outSize(unsigned Axis, int64_t In, int64_t K) const {
    int64_t Room = padded(Axis, In) - span(Axis, K);
    return Room < 0 ? 0 : Room / Stride[Axis] + 1;
  }
};

/// `padding = "same"` along one axis for a kernel of \p K taps with
/// \p Dilation: (before, after), the extra zero after when the total is odd.
inline std::pair<int64_t, int64_t> samePadding(int64_t K, int64_t Dilation) {
  int64_t Total = Dilation * (K - 1);
  return {Total / 2, Total - Total / 2};
}

} // namespace adj

#endif
