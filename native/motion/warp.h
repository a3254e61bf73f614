// The coder's block motion warp: nvcodec.codec.motion.warp without autograd, bit for bit.
//
// x is a C x H x W float32 volume (row-major planes); field holds one vector (vy, vx) per
// block x block area, in 1/denominator of a sample, as int32 pairs with field_w vectors per
// row.  Output sample (c, y, xx) uses (vy, vx) = field[y / block][xx / block] and
//   sy = y * den + vy, iy = floor(sy / den), fy = sy - iy * den   (likewise sx, ix, fx)
//   y0 = clamp(iy, 0, H-1), y1 = clamp(iy+1, 0, H-1), x0, x1 likewise   (edge replication)
//   top    = a * wx0 + b * wx1      a = x[c, y0, x0], b = x[c, y0, x1], wx0 = den - fx, wx1 = fx
//   bottom = c * wx0 + d * wx1      c = x[c, y1, x0], d = x[c, y1, x1], wy0 = den - fy, wy1 = fy
//   out    = (top * wy0 + bottom * wy1) * (1 / den^2)
// every product and sum rounded to float32 on its own (the file is built with
// -ffp-contract=off and without -ffast-math), which is what the torch version computes.
#pragma once

#include <cstdint>

namespace nvc::motion {

constexpr int64_t kMaxWarpVector = int64_t{1} << 20;  // largest |component| the warp takes
constexpr int64_t kMaxWarpDenominator = 64;          // largest denominator (a power of two)

// out: C x H x W like x, not overlapping it.  The caller checks: block > 0; denominator a
// power of two in 1..kMaxWarpDenominator; the field has at least ceil(H / block) rows of at
// least ceil(W / block) <= field_w vectors; every vector of those within +-kMaxWarpVector.
// Single-threaded.
void warp(const float* x, int64_t channels, int64_t h, int64_t w, const int32_t* field, int64_t field_w,
          int64_t block, int64_t denominator, float* out);

}  // namespace nvc::motion
