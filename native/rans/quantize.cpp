// pmf -> 16-bit CDF, following the reference quantiser step by step so that
// the tables (and hence every payload) come out identical.
#include <cmath>
#include <cstdint>
#include <string>
#include <vector>

#include "rans/rans.h"

namespace nvc::rans {
namespace {

// Longest pmf accepted; the steal loop is quadratic in the worst case.
constexpr size_t kMaxPmfLength = 8192;

}  // namespace

std::vector<int32_t> pmf_to_quantized_cdf(const float* pmf, size_t n) {
    if (n == 0) throw InvalidArgument("pmf is empty");
    if (n > kMaxPmfLength) throw InvalidArgument("pmf longer than 8192 entries");

    std::vector<uint32_t> cdf(n + 1, 0);
    uint64_t total = 0;
    for (size_t i = 0; i < n; ++i) {
        const float p = pmf[i];
        if (!(p >= 0.0f) || !std::isfinite(p))
            throw InvalidArgument("pmf entry " + std::to_string(i) + " is negative or not finite");
        // The reference multiplies in float and rounds half away from zero;
        // scaling by 2^16 is exact, so only the float32 input value matters.
        const float scaled = std::round(p * static_cast<float>(kTotal));
        if (scaled >= 2147483648.0f) throw InvalidArgument("pmf entry " + std::to_string(i) + " is too large");
        cdf[i + 1] = static_cast<uint32_t>(scaled);
        total += cdf[i + 1];
    }
    // The reference sums in 32 bits; keeping the total below 2^31 makes that exact.
    if (total == 0) throw InvalidArgument("pmf sums to zero after rounding");
    if (total >= (uint64_t{1} << 31)) throw InvalidArgument("pmf sum too large");

    for (auto& c : cdf) c = static_cast<uint32_t>((uint64_t{kTotal} * c) / total);
    for (size_t i = 1; i <= n; ++i) cdf[i] += cdf[i - 1];
    cdf[n] = kTotal;

    // Give every empty bin one unit, taken from the narrowest bin still wider
    // than one (the first such bin on ties), shifting the entries in between.
    for (size_t i = 0; i < n; ++i) {
        if (cdf[i] != cdf[i + 1]) continue;
        uint32_t best = UINT32_MAX;
        size_t steal = n;
        for (size_t j = 0; j < n; ++j) {
            const uint32_t f = cdf[j + 1] - cdf[j];
            if (f > 1 && f < best) {
                best = f;
                steal = j;
            }
        }
        if (steal == n) throw InvalidArgument("no bin wide enough to give an empty bin its unit");
        if (steal < i) {
            for (size_t j = steal + 1; j <= i; ++j) --cdf[j];
        } else {
            for (size_t j = i + 1; j <= steal; ++j) ++cdf[j];
        }
    }
    return std::vector<int32_t>(cdf.begin(), cdf.end());
}

}  // namespace nvc::rans
