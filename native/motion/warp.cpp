#include "motion/warp.h"

#include <algorithm>
#include <vector>

namespace nvc::motion {

namespace {

int64_t floor_div(int64_t v, int64_t d) { return v >= 0 ? v / d : -((d - 1 - v) / d); }

// Samples per row or column of a block: N when it is known at compile time (the coder's whole
// 16 x 16 and 2 x 2 blocks, whose loops then unroll), else the block's own count n.
template <int N>
inline int64_t width(int64_t n) {
    return N > 0 ? N : n;
}

// One source row's horizontal pass for a block whose source columns all lie inside the frame:
// out[j] = src[j] * wx0 + src[j + 1] * wx1, src pointing at column x0 of the block's first sample.
template <int N>
inline void horizontal(const float* __restrict src, float wx0, float wx1, float* __restrict out, int64_t n) {
    for (int64_t j = 0; j < width<N>(n); ++j) out[j] = src[j] * wx0 + src[j + 1] * wx1;
}

// The same with clamped column indices (a block reading past the left or right edge).
inline void horizontal_clamped(const float* __restrict row, const int64_t* __restrict x0,
                               const int64_t* __restrict x1, float wx0, float wx1, float* __restrict out,
                               int64_t n) {
    for (int64_t j = 0; j < n; ++j) out[j] = row[x0[j]] * wx0 + row[x1[j]] * wx1;
}

// One output row from the horizontal passes of its rows y0 (top) and y1 (bottom).
template <int N>
inline void vertical(const float* __restrict top, const float* __restrict bottom, float wy0, float wy1, float scale,
                     float* __restrict out, int64_t n) {
    for (int64_t j = 0; j < width<N>(n); ++j) out[j] = (top[j] * wy0 + bottom[j] * wy1) * scale;
}

// Everything about one block that does not depend on the channel.
struct Block {
    int64_t rows, cols;      // output samples of the block (fewer than block at the bottom / right edge)
    int64_t out_offset;      // of its first sample within a plane
    const int64_t* src_row;  // rows + 1 offsets (clamped source row * w) of the source rows it reads
    bool inside;             // every source column x0..x1 inside the frame: no column clamps
    int64_t left;            // inside: column x0 of the first sample
    const int64_t* x0;       // not inside: clamped columns x0 and x1 of each sample
    const int64_t* x1;
    float wx0, wx1, wy0, wy1;
};

// Output row r reads source rows clamp(iy + r) and clamp(iy + r + 1): the horizontal pass of
// source row k is the `bottom` of output row k - 1 and the `top` of output row k (same inputs,
// weights and rounding), so each is computed once per block and channel, into pass.
template <int N>
void warp_block(const Block& b, const float* x, int64_t channels, int64_t plane, int64_t w, float scale, float* pass,
                float* out) {
    const int64_t rows = width<N>(b.rows), cols = width<N>(b.cols);
    for (int64_t c = 0; c < channels; ++c) {
        const float* src = x + c * plane;
        for (int64_t k = 0; k <= rows; ++k) {
            const float* row = src + b.src_row[k];
            if (N > 0 || b.inside)
                horizontal<N>(row + b.left, b.wx0, b.wx1, pass + k * cols, cols);
            else
                horizontal_clamped(row, b.x0, b.x1, b.wx0, b.wx1, pass + k * cols, cols);
        }
        float* dst = out + c * plane + b.out_offset;
        for (int64_t r = 0; r < rows; ++r)
            vertical<N>(pass + r * cols, pass + (r + 1) * cols, b.wy0, b.wy1, scale, dst + r * w, cols);
    }
}

}  // namespace

void warp(const float* x, int64_t channels, int64_t h, int64_t w, const int32_t* field, int64_t field_w,
          int64_t block, int64_t denominator, float* out) {
    if (channels <= 0 || h <= 0 || w <= 0) return;
    const int64_t blocks_h = (h + block - 1) / block, blocks_w = (w + block - 1) / block;
    const int64_t most_rows = std::min(block, h), most_cols = std::min(block, w), plane = h * w;
    const int64_t den = denominator;
    const float scale = 1.0f / static_cast<float>(den * den);  // a power of two: exact
    std::vector<float> pass((most_rows + 1) * most_cols);
    std::vector<int64_t> src_row(most_rows + 1), x0(most_cols), x1(most_cols);
    for (int64_t by = 0; by < blocks_h; ++by) {
        const int64_t top = by * block, rows = std::min(block, h - top);
        for (int64_t bx = 0; bx < blocks_w; ++bx) {
            const int64_t left = bx * block, cols = std::min(block, w - left);
            const int32_t* v = field + (by * field_w + bx) * 2;
            // sy = y * den + vy for y = top + r: iy = y + floor(vy / den), fy = vy mod den, the same for
            // every sample of the block
            const int64_t dy = floor_div(v[0], den), dx = floor_div(v[1], den);
            const int64_t fy = v[0] - dy * den, fx = v[1] - dx * den;
            Block b{};
            b.rows = rows;
            b.cols = cols;
            b.out_offset = top * w + left;
            for (int64_t k = 0; k <= rows; ++k) src_row[k] = std::clamp<int64_t>(top + dy + k, 0, h - 1) * w;
            b.src_row = src_row.data();
            // the block reads columns left + dx .. left + dx + cols (x1 of its last sample)
            b.inside = left + dx >= 0 && left + dx + cols <= w - 1;
            b.left = left + dx;
            if (!b.inside) {
                for (int64_t j = 0; j < cols; ++j) {
                    x0[j] = std::clamp<int64_t>(left + dx + j, 0, w - 1);
                    x1[j] = std::clamp<int64_t>(left + dx + j + 1, 0, w - 1);
                }
                b.x0 = x0.data();
                b.x1 = x1.data();
            }
            b.wx0 = static_cast<float>(den - fx);
            b.wx1 = static_cast<float>(fx);
            b.wy0 = static_cast<float>(den - fy);
            b.wy1 = static_cast<float>(fy);
            const bool full = b.inside && rows == block && cols == block;
            if (full && block == 16)
                warp_block<16>(b, x, channels, plane, w, scale, pass.data(), out);
            else if (full && block == 2)
                warp_block<2>(b, x, channels, plane, w, scale, pass.data(), out);
            else
                warp_block<0>(b, x, channels, plane, w, scale, pass.data(), out);
        }
    }
}

}  // namespace nvc::motion
