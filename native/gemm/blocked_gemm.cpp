#include "gemm/blocked_gemm.h"

#include <cmath>
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
// The same arithmetic eight outputs at a time: each lane is an independent
// output, so vector FMAs round exactly like std::fma above.
__attribute__((target("avx2,fma"))) void row_avx2(const float* a_row, const float* b, float* c_row, int64_t n,
                                                   const std::vector<std::pair<int64_t, int64_t>>& blocks,
                                                   std::vector<float>& acc) {
    const int64_t n8 = n - n % 8;
    for (const auto& [k0, k1] : blocks) {
        std::fill(acc.begin(), acc.end(), 0.0f);
        for (int64_t k = k0; k < k1; ++k) {
            const float a = a_row[k];
            const __m256 va = _mm256_set1_ps(a);
            const float* b_row = b + k * n;
            int64_t j = 0;
            for (; j < n8; j += 8) {
                __m256 s = _mm256_loadu_ps(acc.data() + j);
                s = _mm256_fmadd_ps(va, _mm256_loadu_ps(b_row + j), s);
                _mm256_storeu_ps(acc.data() + j, s);
            }
            for (; j < n; ++j) acc[j] = std::fma(a, b_row[j], acc[j]);
        }
        int64_t j = 0;
        for (; j < n8; j += 8)
            _mm256_storeu_ps(c_row + j, _mm256_add_ps(_mm256_loadu_ps(c_row + j), _mm256_loadu_ps(acc.data() + j)));
        for (; j < n; ++j) c_row[j] += acc[j];
    }
}

bool has_avx2_fma() {
    static const bool yes = __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
    return yes;
}
#endif

// Unfused: the product is rounded to float, then added (the build disables contraction).
void sequential_row_portable(const float* a_row, const float* b, float* c_row, int64_t n, int64_t k) {
    for (int64_t kk = 0; kk < k; ++kk) {
        const float a = a_row[kk];
        const float* b_row = b + kk * n;
        for (int64_t j = 0; j < n; ++j) {
            const float product = a * b_row[j];
            c_row[j] = c_row[j] + product;
        }
    }
}

}  // namespace

std::vector<std::pair<int64_t, int64_t>> reduction_blocks(int64_t k) {
    std::vector<std::pair<int64_t, int64_t>> blocks;
    if (k <= 0) return blocks;
    if (k > kBlock && k < 2 * kBlock) {
        const int64_t half = (k + 1) / 2;
        blocks.emplace_back(0, half);
        blocks.emplace_back(half, k);
        return blocks;
    }
    for (int64_t start = 0; start < k; start += kBlock) blocks.emplace_back(start, std::min(start + kBlock, k));
    return blocks;
}

void blocked_gemm(const float* a, const float* b, const float* bias, float* c, int64_t m, int64_t n, int64_t k) {
    const auto blocks = reduction_blocks(k);
    std::vector<float> acc(static_cast<size_t>(n));
    for (int64_t i = 0; i < m; ++i) {
        float* c_row = c + i * n;
        const float start = bias != nullptr ? bias[i] : 0.0f;
        for (int64_t j = 0; j < n; ++j) c_row[j] = start;
#ifdef NVC_GEMM_X86
        if (has_avx2_fma()) {
            row_avx2(a + i * k, b, c_row, n, blocks, acc);
            continue;
        }
#endif
        row_portable(a + i * k, b, c_row, n, blocks, acc);
    }
}

void sequential_gemm(const float* a, const float* b, const float* bias, float* c, int64_t m, int64_t n, int64_t k) {
    for (int64_t i = 0; i < m; ++i) {
        float* c_row = c + i * n;
        const float start = bias != nullptr ? bias[i] : 0.0f;
        for (int64_t j = 0; j < n; ++j) c_row[j] = start;
        sequential_row_portable(a + i * k, b, c_row, n, k);
    }
}

}  // namespace nvc::gemm
