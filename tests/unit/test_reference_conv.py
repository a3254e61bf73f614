"""The reference-order convolution: block rule, exact arithmetic, and when it applies."""

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from nvcodec import _kernels
from nvcodec.models import reference_conv
from nvcodec.models.reference_conv import Conv2d


def emulate(a: np.ndarray, b: np.ndarray, bias: np.ndarray | None, blocks) -> np.ndarray:
    """The documented order in numpy: float64 holds a float32 product exactly, so rounding
    ``product + accumulator`` to float32 is a fused multiply-add."""
    c = np.zeros((a.shape[0], b.shape[1]), np.float32) if bias is None else np.repeat(bias[:, None], b.shape[1], 1)
    for start, stop in blocks:
        acc = np.zeros_like(c)
        for k in range(start, stop):
            acc = (a[:, k : k + 1].astype(np.float64) * b[k : k + 1, :] + acc).astype(np.float32)
        c = (c + acc).astype(np.float32)
    return c


@pytest.mark.parametrize(
    ("k", "blocks"),
    [
        (0, []),
        (1, [(0, 1)]),
        (192, [(0, 192)]),
        (193, [(0, 96), (96, 192), (192, 193)]),
        (256, [(0, 128), (128, 256)]),
        (383, [(0, 191), (191, 382), (382, 383)]),
        (384, [(0, 192), (192, 384)]),
        (1024, [(0, 192), (192, 384), (384, 576), (576, 768), (768, 960), (960, 1024)]),
    ],
)
def test_reduction_blocks(k, blocks):
    assert [tuple(b) for b in _kernels.reduction_blocks(k)] == blocks


@pytest.mark.parametrize("k", [5, 192, 256, 300, 777])
@pytest.mark.parametrize("with_bias", [True, False])
def test_blocked_gemm_is_exactly_the_documented_order(k, with_bias):
    rng = np.random.default_rng(k)
    a = rng.standard_normal((9, k)).astype(np.float32)
    b = rng.standard_normal((k, 21)).astype(np.float32)  # 21 columns: vector body and scalar tail
    bias = rng.standard_normal(9).astype(np.float32) if with_bias else None
    got = _kernels.blocked_gemm(a, b, bias)
    assert got.dtype == np.float32 and got.shape == (9, 21)
    # 9 rows: under 12, so row 8 (after the last full group of four) takes the narrow order
    np.testing.assert_array_equal(got[:8], emulate(a[:8], b, None if bias is None else bias[:8],
                                                   _kernels.reduction_blocks(k)))
    np.testing.assert_array_equal(got[8:], narrow_order(a, b, np.zeros(9, np.float32) if bias is None else bias)[8:])
    np.testing.assert_allclose(got, a.astype(np.float64) @ b + (0 if bias is None else bias[:, None]), rtol=1e-4,
                               atol=1e-3)


def add_in_order(products: np.ndarray, start: np.ndarray) -> np.ndarray:
    acc = start
    for column in products.T:
        acc = (acc + column).astype(np.float32)
    return acc


def narrow_order(a: np.ndarray, b: np.ndarray, bias: np.ndarray) -> np.ndarray:
    """narrow_gemm's documented order in numpy, output by output."""
    m, k = a.shape
    n = b.shape[1]
    c = np.zeros((m, n), np.float32)
    for i in range(m):
        misaligned = -(i * n) % 4
        peeled = misaligned if n - misaligned >= 4 else 0
        for j in range(n):
            products = (a[i] * b[:, j]).astype(np.float32)[None, :]
            acc = bias[i : i + 1]
            full = k - k % 8 if j < peeled else 0
            for start in range(0, full, 8):
                acc = add_in_order(products[:, start : start + 4], acc)
                apart = add_in_order(products[:, start + 5 : start + 8], products[:, start + 4])
                acc = (acc + apart).astype(np.float32)
            c[i, j] = add_in_order(products[:, full:], acc)[0]
    return c


@pytest.mark.parametrize("k", [1, 8, 128, 515])
@pytest.mark.parametrize("n", [2, 5, 6, 11])
def test_narrow_gemm_is_exactly_the_documented_order(k, n):
    rng = np.random.default_rng(k + n)
    a = rng.standard_normal((7, k)).astype(np.float32)  # rows 0..6: every alignment phase
    b = rng.standard_normal((k, n)).astype(np.float32)
    bias = rng.standard_normal(7).astype(np.float32)
    got = _kernels.narrow_gemm(a, b, bias)
    np.testing.assert_array_equal(got, narrow_order(a, b, bias))
    if k > 1:  # unfused products round differently from the blocked kernel's fused sums
        assert not np.array_equal(got, _kernels.blocked_gemm(a, b, bias))


def test_narrow_gemm_peels_only_columns_before_an_aligned_run_of_four():
    rng = np.random.default_rng(3)
    k = 64
    a = rng.standard_normal((4, k)).astype(np.float32)
    b = rng.standard_normal((k, 5)).astype(np.float32)
    bias = np.zeros(4, np.float32)
    got = _kernels.narrow_gemm(a, b, bias)
    plain = np.stack([add_in_order((a[i][None, :] * b.T).astype(np.float32), np.zeros(5, np.float32))
                      for i in range(4)])
    # with 5 columns only row 3 (starting 15 floats in) has one column before a 16-byte boundary and 4 after it
    same = got == plain
    assert same[:3].all() and same[3, 1:].all()
    assert not same[3, 0]  # with these values the split-8 order rounds differently


def lanes_dot(products: np.ndarray, head: int, lanes: int, covered: int) -> np.float32:
    """Head into lane 0, round-robin lanes up to ``covered``, halving reduction, then the rest in order."""
    acc = [np.float32(0)] * lanes
    for i in range(head):
        acc[0] = np.float32(acc[0] + products[i])
    for i in range(head, covered):
        lane = (i - head) % lanes
        acc[lane] = np.float32(acc[lane] + products[i])
    while len(acc) > 1:
        half = len(acc) // 2
        acc = [np.float32(acc[i] + acc[i + half]) for i in range(half)]
    total = acc[0]
    for p in products[covered:]:
        total = np.float32(total + p)
    return total


def single_column_order(a: np.ndarray, b: np.ndarray, bias: np.ndarray | None) -> np.ndarray:
    """single_column_gemm's documented order in numpy, output by output."""
    m, k = a.shape
    c = np.zeros((m, b.shape[1]), np.float32)
    for i in range(m):
        for j in range(b.shape[1]):
            products = (a[i] * b[:, j]).astype(np.float32)
            if i < m - m % 4:
                dot = lanes_dot(products, (k - 1) % 4 + 1, 4, k)
            else:
                head = min(k, 4)
                dot = lanes_dot(products, head, 4 if i % 4 == 1 else 8, head + (k - head) // 8 * 8)
            c[i, j] = dot if bias is None else np.float32(dot + bias[i])
    return c


@pytest.mark.parametrize("k", [1, 3, 4, 5, 8, 12, 20, 128, 130, 512])
@pytest.mark.parametrize("with_bias", [True, False])
def test_single_column_gemm_is_exactly_the_documented_order(k, with_bias):
    rng = np.random.default_rng(k)
    a = rng.standard_normal((15, k)).astype(np.float32)  # 15 rows: three full groups, then rows 12, 13, 14
    b = rng.standard_normal((k, 2)).astype(np.float32)
    bias = rng.standard_normal(15).astype(np.float32) if with_bias else None
    np.testing.assert_array_equal(_kernels.single_column_gemm(a, b, bias), single_column_order(a, b, bias))


def leaf_tree(kernel, k: int):
    """The summation tree of one output of ``kernel`` over k products and the bias (leaf k), revealed as the
    trees of the reference's BLAS were: +2^40 at leaf i, -2^40 at leaf j and ones elsewhere sum to the number
    of ones outside the smallest subtree holding both."""
    n = k + 1
    pairs = [(i, j) for i in range(n) for j in range(i + 1, n)]
    a = np.ones((len(pairs), k), np.float32)
    bias = np.ones(len(pairs), np.float32)
    for row, (i, j) in enumerate(pairs):
        for leaf, v in ((i, 2.0**40), (j, -(2.0**40))):
            if leaf == k:
                bias[row] = v
            else:
                a[row, leaf] = v
    sums = kernel(a, np.ones((k, 1), np.float32), bias)[:, 0]
    meet = np.zeros((n, n), int)
    for row, (i, j) in enumerate(pairs):
        meet[i, j] = meet[j, i] = n - int(sums[row])

    def build(leaves):
        if len(leaves) == 1:
            return leaves[0]
        right = [j for j in leaves[1:] if meet[leaves[0], j] == len(leaves)]
        return (build([j for j in leaves if j not in right]), build(right))

    return build(list(range(n)))


def test_single_column_gemm_has_the_tree_read_off_the_reference_blas():
    # K = 9 as probed from the reference's BLAS: a head of one, lanes {1,5} {2,6} {3,7} {4,8}, bias last
    assert leaf_tree(_kernels.single_column_gemm, 9) == (((((0, 1), 5), (3, 7)), ((2, 6), (4, 8))), 9)
    assert leaf_tree(_kernels.single_column_gemm, 8) == ((((((((0, 1), 2), 3), 4), 6), (5, 7)), 8))
    # and the probe tells orders apart: the narrow kernel's single column is one chain onto the bias
    assert leaf_tree(_kernels.narrow_gemm, 4) == ((((0, 4), 1), 2), 3)  # (children in leaf order)


def test_single_column_gemm_products_are_unfused():
    # (1 + 2^-12)^2 is not a float: rounded first and added to -1 it gives 2^-11, fused 2^-11 + 2^-24
    x = np.float32(1 + 2.0**-12)
    a = np.array([[-1.0, x]], np.float32)
    b = np.array([[1.0], [x]], np.float32)
    assert _kernels.single_column_gemm(a, b)[0, 0] == np.float32(2.0**-11)


def test_blocked_gemm_from_12_rows_is_blocked_in_every_row():
    rng = np.random.default_rng(5)
    a = rng.standard_normal((13, 200)).astype(np.float32)
    b = rng.standard_normal((200, 12)).astype(np.float32)
    bias = rng.standard_normal(13).astype(np.float32)
    np.testing.assert_array_equal(_kernels.blocked_gemm(a, b, bias),
                                  emulate(a, b, bias, _kernels.reduction_blocks(200)))


def test_blocked_gemm_split_over_two_threads_is_exact():
    # over a million multiply-adds the rows are split between two threads; the order must not change
    rng = np.random.default_rng(7)
    a = rng.standard_normal((66, 512)).astype(np.float32)  # 66 rows: uneven halves and a row tail
    b = rng.standard_normal((512, 40)).astype(np.float32)
    bias = rng.standard_normal(66).astype(np.float32)
    expected = emulate(a, b, bias, _kernels.reduction_blocks(512))
    np.testing.assert_array_equal(_kernels.blocked_gemm(a, b, bias), expected)


def test_the_blocking_changes_the_last_bits():
    # the point of the kernel: one running sum over all 256 terms rounds differently
    rng = np.random.default_rng(1)
    a = rng.standard_normal((64, 256)).astype(np.float32)
    b = rng.standard_normal((256, 16)).astype(np.float32)
    assert not np.array_equal(_kernels.blocked_gemm(a, b), emulate(a, b, None, [(0, 256)]))


def test_blocked_gemm_checks_shapes():
    a = np.zeros((2, 3), np.float32)
    with pytest.raises(ValueError, match="rows"):
        _kernels.blocked_gemm(a, np.zeros((4, 5), np.float32))
    with pytest.raises(ValueError, match="bias"):
        _kernels.blocked_gemm(a, np.zeros((3, 5), np.float32), np.zeros(3, np.float32))
    with pytest.raises(ValueError, match="dimension"):
        _kernels.blocked_gemm(np.zeros(3, np.float32), np.zeros((3, 5), np.float32))


@pytest.mark.parametrize(
    ("kernel", "stride", "padding", "size"),
    [(1, 1, 0, (6, 5)), (2, 2, 0, (8, 10)), (3, 2, 1, (9, 11)), (3, 1, 1, (4, 4))],
)
def test_conv_follows_the_blocked_order_when_enabled(kernel, stride, padding, size):
    torch.manual_seed(0)
    conv = Conv2d(40, 24, kernel, stride=stride, padding=padding).requires_grad_(False)
    x = torch.randn(1, 40, *size)
    assert reference_conv.eligible(x, conv)
    with reference_conv.enabled():
        got = conv(x)
    expected = F.conv2d(x, conv.weight, conv.bias, stride=stride, padding=padding)
    assert got.shape == expected.shape
    torch.testing.assert_close(got, expected, rtol=1e-5, atol=1e-5)
    columns = F.unfold(x, kernel, padding=padding, stride=stride)[0].numpy()
    k = columns.shape[0]
    exact = emulate(conv.weight.reshape(24, -1).numpy(), columns, conv.bias.numpy(), _kernels.reduction_blocks(k))
    np.testing.assert_array_equal(got.reshape(24, -1).numpy(), exact)


def test_conv_with_few_positions_follows_the_narrow_order():
    torch.manual_seed(0)
    conv = Conv2d(40, 24, 2, stride=2).requires_grad_(False)
    x = torch.randn(1, 40, 4, 6)  # 2x3 output positions
    with reference_conv.enabled():
        got = conv(x)
    columns = F.unfold(x, 2, stride=2)[0].numpy()
    expected = _kernels.narrow_gemm(conv.weight.reshape(24, -1).numpy(), columns, conv.bias.numpy())
    np.testing.assert_array_equal(got.reshape(24, -1).numpy(), expected)
    torch.testing.assert_close(got, F.conv2d(x, conv.weight, conv.bias, stride=2), rtol=1e-5, atol=1e-5)


def test_conv_with_one_position_follows_the_single_column_order():
    torch.manual_seed(0)
    conv = Conv2d(40, 24, 2, stride=2).requires_grad_(False)
    x = torch.randn(1, 40, 2, 2)  # one output position, K = 160
    with reference_conv.enabled():
        got = conv(x)
    columns = F.unfold(x, 2, stride=2)[0].numpy()
    expected = _kernels.single_column_gemm(conv.weight.reshape(24, -1).numpy(), columns, conv.bias.numpy())
    np.testing.assert_array_equal(got.reshape(24, -1).numpy(), expected)
    torch.testing.assert_close(got, F.conv2d(x, conv.weight, conv.bias, stride=2), rtol=1e-5, atol=1e-5)


def test_conv_is_torchs_own_outside_the_profile():
    torch.manual_seed(0)
    conv = Conv2d(300, 16, 1).requires_grad_(False)
    x = torch.randn(1, 300, 4, 4)
    np.testing.assert_array_equal(conv(x).numpy(), F.conv2d(x, conv.weight, conv.bias).numpy())


def test_what_is_eligible():
    torch.manual_seed(0)
    conv = Conv2d(8, 8, 1).requires_grad_(False)
    assert reference_conv.eligible(torch.randn(1, 8, 4, 4), conv)
    assert not reference_conv.eligible(torch.randn(2, 8, 4, 4), conv)  # batches go to oneDNN
    assert reference_conv.eligible(torch.randn(1, 8, 2, 4), conv)  # 8 positions: the narrow order
    assert reference_conv.eligible(torch.randn(1, 8, 3, 4), conv)  # 12 positions: the blocked order
    assert reference_conv.eligible(torch.randn(1, 8, 1, 1), conv)  # 1 position: the four-accumulator order
    assert not reference_conv.eligible(torch.randn(1, 8, 60, 60), conv)  # over 20480 values: oneDNN
    assert not reference_conv.eligible(torch.randn(1, 8, 4, 4).double(), conv.double())
    grouped = Conv2d(8, 8, 3, padding=1, groups=8).requires_grad_(False)
    assert not reference_conv.eligible(torch.randn(1, 8, 4, 4), grouped)
    trained = Conv2d(8, 8, 1)
    assert not reference_conv.eligible(torch.randn(1, 8, 4, 4), trained)  # autograd needs torch's op
    with torch.no_grad():
        assert reference_conv.eligible(torch.randn(1, 8, 4, 4), trained)


def test_enabled_nests_and_restores():
    assert not reference_conv.active()
    with reference_conv.enabled():
        with reference_conv.enabled():
            assert reference_conv.active()
        assert reference_conv.active()
    assert not reference_conv.active()
