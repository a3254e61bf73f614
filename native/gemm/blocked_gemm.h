// float32 matrix products with fixed, documented summation orders.
//
// Why: DCVC-RT's reference ran its small convolutions through ATen's slow
// convolution path, i.e. a BLAS sgemm whose rounding depends on how that BLAS
// orders the reduction on the reference machine.  The conformance traces pin
// those orders down (see nvcodec/models/reference_conv.py); no BLAS setting on
// another CPU reproduces them, so nvc computes those products itself.
//
// blocked_gemm's order, for C[m][n] = bias[m] + sum_k A[m][k] * B[k][n]:
//   * the reduction dimension K is cut into blocks (reduction_blocks below);
//   * inside a block, one float accumulator per output starts at 0 and takes
//     fused multiply-adds in increasing k;
//   * C starts as the bias (or 0) and each block's accumulator is added to it
//     with one float addition, in block order;
//   * except that a product with fewer than 12 rows computes the rows after
//     its last full group of four in narrow_gemm's order.
#pragma once

#include <cstddef>
#include <cstdint>
#include <utility>
#include <vector>

namespace nvc::gemm {

// Blocks of at most 192; a reduction longer than one block but shorter than
// two is cut into two equal halves instead of 192 + rest (an odd last product
// then forms a third block of one).
std::vector<std::pair<int64_t, int64_t>> reduction_blocks(int64_t k);

// a: m x k row-major, b: k x n row-major, bias: m values or nullptr, c: m x n row-major.
void blocked_gemm(const float* a, const float* b, const float* bias, float* c, int64_t m, int64_t n, int64_t k);

// The order the reference took for products with 2 to 11 columns (output positions).  Mostly each
// output starts as the bias and takes each product in increasing k, rounded to float before the
// addition (no fused multiply-add): C[m][n] = (...((bias[m] + A[m][0]B[0][n]) + A[m][1]B[1][n]) ...).
// The exception comes from the reference BLAS vectorising each output row m, which starts m*n floats
// into a 16-byte aligned buffer: when p = (-m*n) mod 4 leading columns stand before the next 16-byte
// boundary and at least 4 columns follow it, those p columns are peeled off and computed in "split-8"
// order instead: per full block of 8 products, the first 4 are added onto the output one by one and
// the other 4 are summed apart (((p4 + p5) + p6) + p7) and then added; products past the last full
// block of 8 are added one by one.  (Read off the reference BLAS; see reference_conv.py.)
void narrow_gemm(const float* a, const float* b, const float* bias, float* c, int64_t m, int64_t n, int64_t k);

// The order the reference took for a single output position (a 1x1 hyperprior on a 1x1 latent),
// found by probing that BLAS with sums whose rounding reveals their tree (see reference_conv.py).
// Every product is rounded to float before it is added (no fused multiply-add).  Rows come in
// groups of four; in every full group, per output:
//   * a head of h = ((k - 1) mod 4) + 1 products is summed in order into accumulator 0;
//   * the remaining k - h products (a multiple of 4) go round-robin to accumulators 0..3, each
//     taking its products in increasing k (accumulators 1..3 start at 0);
//   * the accumulators are reduced as (acc0 + acc2) + (acc1 + acc3), and the bias is added last.
// The last m mod 4 rows take another loop: a head of min(k, 4) products into accumulator 0, then
// 8 * floor((k - 4) / 8) products round-robin over accumulators 0..7, reduced as
// ((acc0 + acc4) + (acc2 + acc6)) + ((acc1 + acc5) + (acc3 + acc7)) (in row 4q + 1: over
// accumulators 0..3, reduced as in the full groups), then the products left over added one by
// one, and the bias last.
// Written for any number of columns, each column computed independently in that order.
void single_column_gemm(const float* a, const float* b, const float* bias, float* c, int64_t m, int64_t n,
                        int64_t k);

}  // namespace nvc::gemm
