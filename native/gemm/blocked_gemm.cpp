#include "gemm/blocked_gemm.h"

#include <algorithm>
#include <cmath>
#include <thread>
#include <vector>

#if defined(__x86_64__) || defined(_M_X64)
#include <immintrin.h>
#define NVC_GEMM_X86 1
#endif

namespace nvc::gemm {

namespace {

constexpr int64_t kBlock = 192;

// One output row: row[j] = start[j] + sum over the blocks, each block accumulated from zero.
void row_portable(const float* a_row, const float* b, float* c_row, int64_t n,
                  const std::vector<std::pair<int64_t, int64_t>>& blocks, std::vector<float>& acc) {
    for (const auto& [k0, k1] : blocks) {
        std::fill(acc.begin(), acc.end(), 0.0f);
        for (int64_t k = k0; k < k1; ++k) {
            const float a = a_row[k];
            const float* b_row = b + k * n;
            for (int64_t j = 0; j < n; ++j) acc[j] = std::fma(a, b_row[j], acc[j]);
        }
        for (int64_t j = 0; j < n; ++j) c_row[j] += acc[j];
    }
}

#ifdef NVC_GEMM_X86
// The same arithmetic, four rows by eight columns at a time with the block sums
// held in registers.  Every lane is one output and its own chain of fused
// multiply-adds in increasing k, so the result is bit-identical to row_portable.
__attribute__((target("avx2,fma"))) void block_avx2(const float* a, const float* b, float* c, int64_t m, int64_t n,
                                                     int64_t k, int64_t k0, int64_t k1) {
    const int64_t n8 = n - n % 8;
    int64_t i = 0;
    for (; i + 4 <= m; i += 4) {
        const float* a0 = a + i * k;
        for (int64_t j = 0; j < n8; j += 8) {
            __m256 s0 = _mm256_setzero_ps(), s1 = _mm256_setzero_ps(), s2 = _mm256_setzero_ps(),
                   s3 = _mm256_setzero_ps();
            for (int64_t kk = k0; kk < k1; ++kk) {
                const __m256 vb = _mm256_loadu_ps(b + kk * n + j);
                s0 = _mm256_fmadd_ps(_mm256_set1_ps(a0[kk]), vb, s0);
                s1 = _mm256_fmadd_ps(_mm256_set1_ps(a0[k + kk]), vb, s1);
                s2 = _mm256_fmadd_ps(_mm256_set1_ps(a0[2 * k + kk]), vb, s2);
                s3 = _mm256_fmadd_ps(_mm256_set1_ps(a0[3 * k + kk]), vb, s3);
            }
            const __m256 sums[4] = {s0, s1, s2, s3};
            for (int r = 0; r < 4; ++r) {
                float* out = c + (i + r) * n + j;
                _mm256_storeu_ps(out, _mm256_add_ps(_mm256_loadu_ps(out), sums[r]));
            }
        }
        for (int64_t j = n8; j < n; ++j) {
            for (int r = 0; r < 4; ++r) {
                float s = 0.0f;
                for (int64_t kk = k0; kk < k1; ++kk) s = std::fma(a0[r * k + kk], b[kk * n + j], s);
                c[(i + r) * n + j] += s;
            }
        }
    }
    for (; i < m; ++i) {
        const float* a_row = a + i * k;
        for (int64_t j = 0; j < n8; j += 8) {
            __m256 s = _mm256_setzero_ps();
            for (int64_t kk = k0; kk < k1; ++kk)
                s = _mm256_fmadd_ps(_mm256_set1_ps(a_row[kk]), _mm256_loadu_ps(b + kk * n + j), s);
            float* out = c + i * n + j;
            _mm256_storeu_ps(out, _mm256_add_ps(_mm256_loadu_ps(out), s));
        }
        for (int64_t j = n8; j < n; ++j) {
            float s = 0.0f;
            for (int64_t kk = k0; kk < k1; ++kk) s = std::fma(a_row[kk], b[kk * n + j], s);
            c[i * n + j] += s;
        }
    }
}

bool has_avx2_fma() {
    static const bool yes = __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
    return yes;
}
#endif

// Unfused: the product is rounded to float, then added (the build disables contraction).
float sequential_dot(const float* a_row, const float* b, int64_t n, int64_t j, int64_t k, float start) {
    float acc = start;
    for (int64_t kk = 0; kk < k; ++kk) {
        const float product = a_row[kk] * b[kk * n + j];
        acc = acc + product;
    }
    return acc;
}

// narrow_gemm's peeled columns: per full block of 8, four products onto the output, four summed apart.
float split8_dot(const float* a_row, const float* b, int64_t n, int64_t j, int64_t k, float start) {
    float acc = start;
    int64_t kk = 0;
    for (; kk + 8 <= k; kk += 8) {
        for (int64_t t = kk; t < kk + 4; ++t) {
            const float product = a_row[t] * b[t * n + j];
            acc = acc + product;
        }
        float apart = a_row[kk + 4] * b[(kk + 4) * n + j];
        for (int64_t t = kk + 5; t < kk + 8; ++t) {
            const float product = a_row[t] * b[t * n + j];
            apart = apart + product;
        }
        acc = acc + apart;
    }
    return sequential_dot(a_row + kk, b + kk * n, n, j, k - kk, acc);
}

// One output of single_column_gemm: a_row[0..k) against column j of b (row stride n), without the bias.
// `lanes` accumulators (4 or 8) after a head of `head` products; the first `k_lanes` products are
// covered by head and lanes, the rest are added one by one after the reduction.
float lane_dot(const float* a_row, const float* b, int64_t n, int64_t j, int64_t head, int lanes, int64_t k_lanes,
               int64_t k) {
    float acc[8] = {0.0f, 0.0f, 0.0f, 0.0f, 0.0f, 0.0f, 0.0f, 0.0f};
    for (int64_t kk = 0; kk < head; ++kk) {
        const float product = a_row[kk] * b[kk * n + j];
        acc[0] = acc[0] + product;
    }
    for (int64_t kk = head; kk < k_lanes; kk += lanes) {
        for (int lane = 0; lane < lanes; ++lane) {
            const float product = a_row[kk + lane] * b[(kk + lane) * n + j];
            acc[lane] = acc[lane] + product;
        }
    }
    // Halving: lane i takes lane i + lanes/2 until one is left; with 4 lanes (0+2)+(1+3), with 8
    // ((0+4)+(2+6))+((1+5)+(3+7)).
    for (int width = lanes / 2; width >= 1; width /= 2)
        for (int lane = 0; lane < width; ++lane) acc[lane] = acc[lane] + acc[lane + width];
    float sum = acc[0];
    for (int64_t kk = k_lanes; kk < k; ++kk) {
        const float product = a_row[kk] * b[kk * n + j];
        sum = sum + product;
    }
    return sum;
}

// narrow_gemm for rows first_row.. of a larger output: a row's peel depends on where it starts in the whole.
void narrow_rows(const float* a, const float* b, const float* bias, float* c, int64_t m, int64_t n, int64_t k,
                 int64_t first_row) {
    for (int64_t i = 0; i < m; ++i) {
        const float start = bias != nullptr ? bias[i] : 0.0f;
        const int64_t misaligned = (4 - ((first_row + i) * n) % 4) % 4;
        const int64_t peeled = n - misaligned >= 4 ? misaligned : 0;
        const float* a_row = a + i * k;
        for (int64_t j = 0; j < n; ++j) {
            c[i * n + j] = j < peeled ? split8_dot(a_row, b, n, j, k, start) : sequential_dot(a_row, b, n, j, k, start);
        }
    }
}

}  // namespace

std::vector<std::pair<int64_t, int64_t>> reduction_blocks(int64_t k) {
    std::vector<std::pair<int64_t, int64_t>> blocks;
    if (k <= 0) return blocks;
    if (k > kBlock && k < 2 * kBlock) {
        // Two equal halves; an odd last product is a block of its own.
        const int64_t half = k / 2;
        blocks.emplace_back(0, half);
        blocks.emplace_back(half, 2 * half);
        if (k % 2 != 0) blocks.emplace_back(2 * half, k);
        return blocks;
    }
    for (int64_t start = 0; start < k; start += kBlock) blocks.emplace_back(start, std::min(start + kBlock, k));
    return blocks;
}

void blocked_gemm(const float* a, const float* b, const float* bias, float* c, int64_t m, int64_t n, int64_t k) {
    // With fewer than 12 rows, the rows after the last full group of four take the narrow order.
    const int64_t narrow_from = m < 12 ? m - m % 4 : m;
    if (narrow_from < m) {
        narrow_rows(a + narrow_from * k, b, bias != nullptr ? bias + narrow_from : nullptr, c + narrow_from * n,
                    m - narrow_from, n, k, narrow_from);
        m = narrow_from;
    }
    const auto blocks = reduction_blocks(k);
    for (int64_t i = 0; i < m; ++i) {
        const float start = bias != nullptr ? bias[i] : 0.0f;
        std::fill(c + i * n, c + (i + 1) * n, start);
    }
#ifdef NVC_GEMM_X86
    if (has_avx2_fma()) {
        // Rows are independent, so two threads (the profile's count) split them without touching the
        // order inside any output; below about a million multiply-adds the thread start costs more.
        const auto rows = [&](int64_t r0, int64_t r1) {
            for (const auto& [k0, k1] : blocks) block_avx2(a + r0 * k, b, c + r0 * n, r1 - r0, n, k, k0, k1);
        };
        const int64_t half = (m / 2 + 3) / 4 * 4;
        if (m * n * k >= (int64_t{1} << 20) && half > 0 && half < m) {
            std::thread second(rows, half, m);
            rows(0, half);
            second.join();
        } else {
            rows(0, m);
        }
        return;
    }
#endif
    std::vector<float> acc(static_cast<size_t>(n));
    for (int64_t i = 0; i < m; ++i) row_portable(a + i * k, b, c + i * n, n, blocks, acc);
}

void narrow_gemm(const float* a, const float* b, const float* bias, float* c, int64_t m, int64_t n, int64_t k) {
    narrow_rows(a, b, bias, c, m, n, k, 0);
}

void single_column_gemm(const float* a, const float* b, const float* bias, float* c, int64_t m, int64_t n,
                        int64_t k) {
    const int64_t full_groups = m - m % 4;
    for (int64_t i = 0; i < m; ++i) {
        const float start = bias != nullptr ? bias[i] : 0.0f;
        for (int64_t j = 0; j < n; ++j) {
            float dot;
            if (k <= 0) {
                dot = 0.0f;
            } else if (i < full_groups) {
                dot = lane_dot(a + i * k, b, n, j, (k - 1) % 4 + 1, 4, k, k);
            } else {
                // (row 4q + 1 of the last group reduces over four accumulators, rows 4q and 4q + 2 over eight)
                const int64_t head = std::min<int64_t>(k, 4);
                dot = lane_dot(a + i * k, b, n, j, head, i % 4 == 1 ? 4 : 8, head + (k - head) / 8 * 8, k);
            }
            c[i * n + j] = dot + start;
        }
    }
}

}  // namespace nvc::gemm
