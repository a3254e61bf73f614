// Block motion estimation for nvc's P frames: one quarter-pel vector per 16x16 block.
//
// A vector (vy, vx) in quarter-pel units predicts the block's pixel (y, x) from
// the reference at (y + vy/4, x + vx/4), sampled with the bilinear rule below.
// The Python side builds the prediction with the same float32 expression in the
// same order, so the search ranks candidates by the very samples the coder uses.
//
// The cost of a vector v is SAD(v) + lam * bits(v - pred), with pred the median
// predictor (median_predictor below) that the bitstream codes vectors against.
#pragma once

#include <cstdint>

namespace nvc::motion {

constexpr int kBlock = 16;               // pixels per side of a block
constexpr int32_t kMaxMv = 256;          // largest vector component, quarter-pel (64 pixels)
constexpr int kMaxSearchRange = 64;      // largest integer-pel refinement range
constexpr int64_t kMaxDimension = 8192;  // largest frame height or width

// The prediction sample for output pixel (y, x) with vector (vy, vx), in float32:
// sy = 4y + vy, iy = floor(sy / 4), fy = sy - 4 iy (likewise sx, ix, fx); the
// reference is read with edge replication at rows iy, iy + 1 and columns ix,
// ix + 1 (a, b on the top row, c, d below) and
//   p = ((a*(4-fx) + b*fx) * (4-fy) + (c*(4-fx) + d*fx) * fy) * 0.0625f
// evaluated in exactly that order.  An integer vector gives the reference sample.

// Bits of one vector-difference component: 1 for 0, else 2 * bit_length(|r|) + 1.
int component_bits(int64_t r);

// The vector predictor of block (by, bx) in a field of blocks_h x blocks_w vectors
// (row-major, (vy, vx) pairs), as the bitstream (nvcodec.codec.motion) codes vectors
// against it: in the first row the left neighbour's vector ((0, 0) for the first
// block), below it the component-wise median of the left, top and top-right
// neighbours' vectors, a neighbour outside the field counting as (0, 0) and, in the
// last column, the top-left neighbour standing in for the top-right one.  Only
// blocks before (by, bx) in raster order are read, so the search can call it on a
// field it is filling.
void median_predictor(const int32_t* field, int64_t blocks_h, int64_t blocks_w, int64_t by, int64_t bx,
                      int32_t out[2]);

// median_predictor for every block of the field: out has the field's shape.
void predictor_field(const int32_t* field, int64_t blocks_h, int64_t blocks_w, int32_t* out);

// The search: cur and ref are h x w luma planes (row-major, h and w multiples of
// kBlock), previous is the previous frame's field or nullptr, out receives
// (h / kBlock) x (w / kBlock) vectors.  Blocks are searched in raster order, each
// from candidate predictors, a coarse (4x downsampled) full search, an
// integer-pel diamond and square refinement at most search_range pels from the
// best candidate, then half- and quarter-pel refinement.  Every component stays
// within [-kMaxMv, kMaxMv].  Callers validate the arguments.
void motion_search(const float* cur, const float* ref, int64_t h, int64_t w, double lam, int search_range,
                   const int32_t* previous, int32_t* out);

}  // namespace nvc::motion
