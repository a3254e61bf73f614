#include "motion/motion_search.h"

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <vector>

namespace nvc::motion {

namespace {

constexpr int kPatch = kBlock + 1;  // a fractional prediction reads one row and one column past the block
constexpr int kCoarse = 4;          // downsampling factor of the coarse search
constexpr int kCoarseBlock = kBlock / kCoarse;

struct Mv {
    int32_t y, x;
};

bool operator==(Mv a, Mv b) { return a.y == b.y && a.x == b.x; }

int64_t floor_div4(int64_t v) { return v >= 0 ? v / 4 : -((3 - v) / 4); }

int32_t median3(int32_t a, int32_t b, int32_t c) { return std::max(std::min(a, b), std::min(std::max(a, b), c)); }

// Nearest integer-pel vector component (ties away from zero), within range.  Clamping first keeps
// arbitrary int32 input (a corrupt previous field) from overflowing and, as kMaxMv is a whole
// number of pels, gives the same result as rounding first.
int32_t to_pel(int32_t v) {
    const int32_t c = std::clamp(v, -kMaxMv, kMaxMv);
    return c >= 0 ? (c + 2) / 4 * 4 : -((2 - c) / 4 * 4);
}

// The 16 per-column partial sums are added in a fixed tree so the result does not depend on how the
// compiler vectorised the column loop (without -ffast-math it may not reassociate a single sum,
// which is why the columns have separate accumulators in the first place).
float sum_lanes(float (&acc)[kBlock]) {
    for (int width = kBlock / 2; width >= 1; width /= 2)
        for (int i = 0; i < width; ++i) acc[i] += acc[i + width];
    return acc[0];
}

// cur: the block, 16 x 16 contiguous.  ref: the reference area, rows `stride` apart.
float sad_integer(const float* cur, const float* ref, ptrdiff_t stride) {
    float acc[kBlock] = {};
    for (int r = 0; r < kBlock; ++r, cur += kBlock, ref += stride)
        for (int j = 0; j < kBlock; ++j) acc[j] += std::fabs(cur[j] - ref[j]);
    return sum_lanes(acc);
}

void horizontal(const float* row, float wx0, float wx1, float* out) {
    for (int j = 0; j < kBlock; ++j) out[j] = row[j] * wx0 + row[j + 1] * wx1;
}

void accumulate_row(const float* cur, const float* top, const float* bottom, float wy0, float wy1, float* acc) {
    for (int j = 0; j < kBlock; ++j) {
        const float p = (top[j] * wy0 + bottom[j] * wy1) * 0.0625f;
        acc[j] += std::fabs(cur[j] - p);
    }
}

// The sample formula over a 17 x 17 reference area.  A row's horizontal pass is the `top` of one
// output row and the `bottom` of the one above it (same inputs, same weights, same rounding), so
// each is computed once; two buffers alternate so the compiler sees they never alias.
float sad_fractional(const float* cur, const float* ref, ptrdiff_t stride, int fy, int fx) {
    const float wx0 = static_cast<float>(4 - fx), wx1 = static_cast<float>(fx);
    const float wy0 = static_cast<float>(4 - fy), wy1 = static_cast<float>(fy);
    float even[kBlock], odd[kBlock], acc[kBlock] = {};
    horizontal(ref, wx0, wx1, even);
    for (int r = 0; r < kBlock; r += 2) {
        horizontal(ref + (r + 1) * stride, wx0, wx1, odd);
        accumulate_row(cur + r * kBlock, even, odd, wy0, wy1, acc);
        horizontal(ref + (r + 2) * stride, wx0, wx1, even);
        accumulate_row(cur + (r + 1) * kBlock, odd, even, wy0, wy1, acc);
    }
    return sum_lanes(acc);
}

// The rows x cols reference area at (top, left): a pointer into ref where it lies inside the frame,
// else a copy in patch with the coordinates clamped, which is exactly what the sample formula's
// edge replication reads.  So interior blocks pay nothing and border blocks get identical values.
const float* reference_area(const float* ref, int64_t h, int64_t w, int64_t top, int64_t left, int size,
                            float* patch, ptrdiff_t* stride) {
    if (top >= 0 && left >= 0 && top + size <= h && left + size <= w) {
        *stride = w;
        return ref + top * w + left;
    }
    for (int r = 0; r < size; ++r) {
        const float* row = ref + std::clamp<int64_t>(top + r, 0, h - 1) * w;
        for (int c = 0; c < size; ++c) patch[r * kPatch + c] = row[std::clamp<int64_t>(left + c, 0, w - 1)];
    }
    *stride = kPatch;
    return patch;
}

// J(v) = SAD(v) + lam * bits(v - pred) for one block at a time.
class BlockCost {
   public:
    BlockCost(const float* ref, int64_t h, int64_t w, double lam) : ref_(ref), h_(h), w_(w), lam_(lam) {}

    void start(const float* cur, int64_t by, int64_t bx, Mv pred) {
        y0_ = by * kBlock;
        x0_ = bx * kBlock;
        pred_ = pred;
        for (int r = 0; r < kBlock; ++r)
            std::copy_n(cur + (y0_ + r) * w_ + x0_, kBlock, block_ + r * kBlock);
    }

    double operator()(Mv v) {
        const int64_t iy = floor_div4(v.y), ix = floor_div4(v.x);
        const int fy = static_cast<int>(v.y - 4 * iy), fx = static_cast<int>(v.x - 4 * ix);
        ptrdiff_t stride = 0;
        float sad;
        if (fy == 0 && fx == 0) {
            const float* area = reference_area(ref_, h_, w_, y0_ + iy, x0_ + ix, kBlock, patch_, &stride);
            sad = sad_integer(block_, area, stride);
        } else {
            const float* area = reference_area(ref_, h_, w_, y0_ + iy, x0_ + ix, kPatch, patch_, &stride);
            sad = sad_fractional(block_, area, stride, fy, fx);
        }
        const int bits = component_bits(int64_t{v.y} - pred_.y) + component_bits(int64_t{v.x} - pred_.x);
        return static_cast<double>(sad) + lam_ * bits;
    }

   private:
    const float* ref_;
    int64_t h_, w_;
    double lam_;
    int64_t y0_ = 0, x0_ = 0;
    Mv pred_{0, 0};
    float block_[kBlock * kBlock];
    float patch_[kPatch * kPatch];
};

// Mean of each 4 x 4 square, summed in raster order.
std::vector<float> downsample(const float* src, int64_t h, int64_t w) {
    const int64_t ch = h / kCoarse, cw = w / kCoarse;
    std::vector<float> out(static_cast<size_t>(ch * cw));
    for (int64_t y = 0; y < ch; ++y)
        for (int64_t x = 0; x < cw; ++x) {
            float s = 0.0f;
            for (int r = 0; r < kCoarse; ++r)
                for (int c = 0; c < kCoarse; ++c) s += src[(y * kCoarse + r) * w + x * kCoarse + c];
            out[y * cw + x] = s * 0.0625f;
        }
    return out;
}

// For large motion, which a diamond walk from the predictors would not reach or would lose its way
// towards: an exhaustive search over +-range coarse pels of the 4x downsampled frames, one 4 x 4
// coarse block per block, by SAD alone (the candidate's full cost, rate included, is judged later).
// The coarse reference is padded by edge replication so the inner loops need no clamps.
std::vector<Mv> coarse_search(const float* cur, const float* ref, int64_t h, int64_t w, int range) {
    const int64_t ch = h / kCoarse, cw = w / kCoarse, bh = h / kBlock, bw = w / kBlock;
    const std::vector<float> cur4 = downsample(cur, h, w), ref4 = downsample(ref, h, w);
    const int64_t pw = cw + 2 * range, ph = ch + 2 * range;
    std::vector<float> padded(static_cast<size_t>(ph * pw));
    for (int64_t y = 0; y < ph; ++y) {
        const float* row = ref4.data() + std::clamp<int64_t>(y - range, 0, ch - 1) * cw;
        for (int64_t x = 0; x < pw; ++x) padded[y * pw + x] = row[std::clamp<int64_t>(x - range, 0, cw - 1)];
    }

    std::vector<Mv> found(static_cast<size_t>(bh * bw));
    for (int64_t by = 0; by < bh; ++by)
        for (int64_t bx = 0; bx < bw; ++bx) {
            const float* block = cur4.data() + by * kCoarseBlock * cw + bx * kCoarseBlock;
            const float* origin = padded.data() + (by * kCoarseBlock + range) * pw + bx * kCoarseBlock + range;
            auto sad = [&](int dy, int dx) {
                const float* area = origin + dy * pw + dx;
                float acc[kCoarseBlock] = {};
                for (int r = 0; r < kCoarseBlock; ++r)
                    for (int c = 0; c < kCoarseBlock; ++c) acc[c] += std::fabs(block[r * cw + c] - area[r * pw + c]);
                return (acc[0] + acc[2]) + (acc[1] + acc[3]);
            };
            // (0, 0) first and only strict improvements: flat areas keep the zero vector
            int best_y = 0, best_x = 0;
            float best = sad(0, 0);
            for (int dy = -range; dy <= range; ++dy)
                for (int dx = -range; dx <= range; ++dx) {
                    const float s = sad(dy, dx);
                    if (s < best) {
                        best = s;
                        best_y = dy;
                        best_x = dx;
                    }
                }
            const int32_t scale = kCoarse * 4;  // coarse pels to quarter-pel
            found[by * bw + bx] = {std::clamp(best_y * scale, -kMaxMv, kMaxMv),
                                   std::clamp(best_x * scale, -kMaxMv, kMaxMv)};
        }
    return found;
}

}  // namespace

int component_bits(int64_t r) {
    if (r == 0) return 1;
    uint64_t magnitude = r < 0 ? uint64_t{0} - static_cast<uint64_t>(r) : static_cast<uint64_t>(r);
    int length = 0;
    for (; magnitude != 0; magnitude >>= 1) ++length;
    return 2 * length + 1;
}

void median_predictor(const int32_t* field, int64_t blocks_h, int64_t blocks_w, int64_t by, int64_t bx,
                      int32_t out[2]) {
    auto at = [&](int64_t y, int64_t x, int c) -> int32_t {
        if (y < 0 || x < 0 || y >= blocks_h || x >= blocks_w) return 0;
        return field[(y * blocks_w + x) * 2 + c];
    };
    // In the first row the median of the left vector and two outside (0, 0)s would always be 0;
    // the bitstream (nvcodec.codec.motion) takes the left vector there instead, so a pan costs one
    // vector per frame rather than one per block of the top row.
    if (by == 0) {
        for (int c = 0; c < 2; ++c) out[c] = at(0, bx - 1, c);
        return;
    }
    // the last column has no top-right block; the top-left one, also already coded, stands in
    const int64_t diagonal_x = bx + 1 < blocks_w ? bx + 1 : bx - 1;
    for (int c = 0; c < 2; ++c) out[c] = median3(at(by, bx - 1, c), at(by - 1, bx, c), at(by - 1, diagonal_x, c));
}

void predictor_field(const int32_t* field, int64_t blocks_h, int64_t blocks_w, int32_t* out) {
    for (int64_t by = 0; by < blocks_h; ++by)
        for (int64_t bx = 0; bx < blocks_w; ++bx)
            median_predictor(field, blocks_h, blocks_w, by, bx, out + (by * blocks_w + bx) * 2);
}

void motion_search(const float* cur, const float* ref, int64_t h, int64_t w, double lam, int search_range,
                   const int32_t* previous, int32_t* out) {
    const int64_t bh = h / kBlock, bw = w / kBlock;
    std::fill(out, out + bh * bw * 2, 0);
    const std::vector<Mv> coarse = coarse_search(cur, ref, h, w, std::max(2, search_range / 4));
    const int32_t reach = 4 * search_range;
    BlockCost cost(ref, h, w, lam);

    for (int64_t by = 0; by < bh; ++by)
        for (int64_t bx = 0; bx < bw; ++bx) {
            int32_t pred[2];
            median_predictor(out, bh, bw, by, bx, pred);
            cost.start(cur, by, bx, {pred[0], pred[1]});

            // 1. candidates, rounded to integer pel; the first of equally cheap ones wins, so (0, 0)
            // is kept when nothing pays for a vector
            Mv candidates[9];
            int count = 0;
            auto add = [&](const int32_t* v) {
                const Mv c{to_pel(v[0]), to_pel(v[1])};
                if (std::find(candidates, candidates + count, c) == candidates + count) candidates[count++] = c;
            };
            auto add_from = [&](const int32_t* field, int64_t y, int64_t x) {
                if (y >= 0 && x >= 0 && y < bh && x < bw) add(field + (y * bw + x) * 2);
            };
            const int32_t zero[2] = {0, 0};
            add(zero);
            add(pred);
            add_from(out, by, bx - 1);
            add_from(out, by - 1, bx);
            add_from(out, by - 1, bx + 1 < bw ? bx + 1 : bx - 1);
            if (previous != nullptr) {
                add_from(previous, by, bx);
                add_from(previous, by, bx + 1);
                add_from(previous, by + 1, bx);
            }
            const Mv& coarse_v = coarse[by * bw + bx];
            const int32_t coarse_pair[2] = {coarse_v.y, coarse_v.x};
            add(coarse_pair);

            Mv best = candidates[0];
            double best_cost = cost(best);
            for (int i = 1; i < count; ++i) {
                const double c = cost(candidates[i]);
                if (c < best_cost) {
                    best_cost = c;
                    best = candidates[i];
                }
            }

            // 2. integer refinement, confined to search_range pels around the best candidate
            const Mv origin = best;
            auto allowed = [&](Mv v) {
                return std::abs(v.y) <= kMaxMv && std::abs(v.x) <= kMaxMv && std::abs(v.y - origin.y) <= reach &&
                       std::abs(v.x - origin.x) <= reach;
            };
            if (search_range > 0) {
                // Diamond: up, left, right, down; index 3 - i is the opposite of i.  The step back to
                // where the walk came from is skipped: that point's cost is known to be higher.
                static constexpr Mv kDiamond[4] = {{-4, 0}, {0, -4}, {0, 4}, {4, 0}};
                int came_from = -1;
                for (;;) {
                    int moved = -1;
                    Mv next = best;
                    double next_cost = best_cost;
                    for (int i = 0; i < 4; ++i) {
                        if (i == came_from) continue;
                        const Mv v{best.y + kDiamond[i].y, best.x + kDiamond[i].x};
                        if (!allowed(v)) continue;
                        const double c = cost(v);
                        if (c < next_cost) {
                            next_cost = c;
                            next = v;
                            moved = i;
                        }
                    }
                    if (moved < 0) break;  // terminates: the cost falls strictly with every move
                    best = next;
                    best_cost = next_cost;
                    came_from = 3 - moved;
                }
                // The +-1 square: the diamond's last round has just checked the four edge neighbours
                // (or came from one that costs more), so only the corners are left to look at.
                static constexpr Mv kCorners[4] = {{-4, -4}, {-4, 4}, {4, -4}, {4, 4}};
                const Mv centre = best;
                for (const Mv& d : kCorners) {
                    const Mv v{centre.y + d.y, centre.x + d.x};
                    if (!allowed(v)) continue;
                    const double c = cost(v);
                    if (c < best_cost) {
                        best_cost = c;
                        best = v;
                    }
                }
            }

            // 3. half-pel, then quarter-pel: the eight neighbours at +-step around the best so far
            for (const int32_t step : {2, 1}) {
                const Mv centre = best;
                for (int32_t dy = -step; dy <= step; dy += step)
                    for (int32_t dx = -step; dx <= step; dx += step) {
                        if (dy == 0 && dx == 0) continue;
                        const Mv v{centre.y + dy, centre.x + dx};
                        if (std::abs(v.y) > kMaxMv || std::abs(v.x) > kMaxMv) continue;
                        const double c = cost(v);
                        if (c < best_cost) {
                            best_cost = c;
                            best = v;
                        }
                    }
            }

            out[(by * bw + bx) * 2] = best.y;
            out[(by * bw + bx) * 2 + 1] = best.x;
        }
}

}  // namespace nvc::motion
