"""The rANS coder: reference payloads byte for byte, round trips, hostile input.

``tests/fixtures/rans_trace.npz`` holds, for every frame of two conformance cases
(c1: one coder, c2: two coders), the symbol arrays exactly as the DCVC-RT
reference handed them to its coder, their table rows and the payload it wrote,
plus the 128 Gaussian CDFs and the float32 pmfs they are quantised from.  Rebuild
it with ``python tests/unit/test_rans.py <conformance folder>``.
"""

from __future__ import annotations

import os
import sys
import threading
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from nvcodec.entropy import rans_reference as ref
from nvcodec.entropy.rans import (
    CdfTable,
    RansDecoder,
    RansEncoder,
    pmf_to_quantized_cdf,
    quantize_pmfs,
)
from nvcodec.errors import StreamError, TruncatedStreamError

FIXTURE = Path(__file__).resolve().parents[1] / "fixtures" / "rans_trace.npz"
I32_MIN, I32_MAX = int(np.iinfo(np.int32).min), int(np.iinfo(np.int32).max)


@pytest.fixture(scope="module")
def trace() -> dict[str, np.ndarray]:
    with np.load(FIXTURE) as d:
        return {k: d[k] for k in d.files}


def frames_of(trace: dict[str, np.ndarray], case: str) -> list[str]:
    return sorted({"/".join(k.split("/")[:3]) for k in trace if k.startswith(f"{case}/f")})


def frame_arrays(trace: dict[str, np.ndarray], frame: str, gauss: CdfTable):
    """The (symbols, indexes, table) arrays of one frame, in coding order: z, then y steps."""
    z = CdfTable(trace[f"{frame}/z_cdf"], trace[f"{frame}/z_cdf_length"], trace[f"{frame}/z_cdf_offset"])
    items = [(trace[f"{frame}/z_symbols"], trace[f"{frame}/z_index"], z)]
    step = 0
    while f"{frame}/step{step}/symbols" in trace:
        items.append((trace[f"{frame}/step{step}/symbols"], trace[f"{frame}/step{step}/indices"], gauss))
        step += 1
    return items


TRACE_FRAMES = [("c1", f"f{i}") for i in range(4)] + [("c2", f"f{i}") for i in range(5)]


@pytest.mark.parametrize(("case", "frame_no"), TRACE_FRAMES)
def test_reference_payloads(trace, case, frame_no):
    gauss = CdfTable(trace["gauss/cdf"], trace["gauss/cdf_length"], trace["gauss/offset"])
    (frame,) = [f for f in frames_of(trace, case) if f.split("/")[1] == frame_no]
    two_ec = bool(trace[f"{case}/two_ec"])
    items = frame_arrays(trace, frame, gauss)
    expected = trace[f"{frame}/payload"].tobytes()

    enc = RansEncoder(two_ec)
    for symbols, indexes, table in items:
        enc.encode(symbols, indexes, table)
    assert enc.flush() == expected

    dec = RansDecoder(expected, two_ec)
    for i, (symbols, indexes, table) in enumerate(items):
        np.testing.assert_array_equal(dec.decode(indexes, table), symbols, err_msg=f"array {i}")
    dec.finish()


def test_trace_covers_both_modes(trace):
    assert not trace["c1/two_ec"] and trace["c2/two_ec"]
    assert len(frames_of(trace, "c1")) == 4 and len(frames_of(trace, "c2")) == 5


def test_gaussian_table_from_pmfs(trace):
    """The reference's 128 Gaussian CDFs, rebuilt from their float32 pmfs."""
    lengths = trace["gauss/cdf_length"] - 2
    cdf, cdf_lengths = quantize_pmfs(trace["gauss/pmf"], lengths, trace["gauss/tail_mass"])
    np.testing.assert_array_equal(cdf, trace["gauss/cdf"])
    np.testing.assert_array_equal(cdf_lengths, trace["gauss/cdf_length"])
    for r in (0, 40, 41, 73, 120, 127):
        row = np.append(trace["gauss/pmf"][r, : lengths[r]], trace["gauss/tail_mass"][r])
        np.testing.assert_array_equal(pmf_to_quantized_cdf(row), trace["gauss/cdf"][r, : lengths[r] + 2])
        assert ref.pmf_to_quantized_cdf(row) == list(trace["gauss/cdf"][r, : lengths[r] + 2])


# ---------------------------------------------------------------------------
# Random tables and symbols


def random_table(rng: np.random.Generator, rows: int, max_len: int = 20) -> CdfTable:
    lengths = rng.integers(3, max_len + 1, rows)
    pmfs = np.zeros((rows, max_len - 1), np.float32)
    for r in range(rows):
        p = rng.gamma(0.5, size=lengths[r] - 1)
        p[rng.random(lengths[r] - 1) < 0.15] = 0  # empty bins exercise the steal rule
        p[-1] = max(p[-1], 1e-3)
        pmfs[r, : lengths[r] - 1] = p / p.sum()
    cdf = np.zeros((rows, max_len), np.int32)
    for r in range(rows):
        cdf[r, : lengths[r]] = pmf_to_quantized_cdf(pmfs[r, : lengths[r] - 1])
    offsets = rng.integers(-10, 3, rows)
    return CdfTable(cdf, lengths, offsets)


def random_symbols(rng: np.random.Generator, table: CdfTable, n: int, extreme: float = 0.05):
    """Symbols mostly inside each row's range, some escapes, a few at the int32 limits."""
    idx = rng.integers(0, len(table), n).astype(np.int32)
    lo = table.offsets[idx].astype(np.int64)
    hi = lo + table.lengths[idx] - 2
    sym = rng.integers(lo - 3, hi + 3)
    far = rng.random(n) < extreme
    sym[far] = rng.choice([I32_MIN, I32_MAX, I32_MIN + 1, I32_MAX - 1, -(2**20), 2**24], far.sum())
    return sym.astype(np.int32), idx


def encode_native(arrays, two_ec: bool) -> bytes:
    enc = RansEncoder(two_ec)
    for s, i, t in arrays:
        enc.encode(s, i, t)
    return enc.flush()


def encode_reference(arrays, two_ec: bool) -> bytes:
    return ref.encode_payload([(s, i, ref.Table(t.cdf, t.lengths, t.offsets)) for s, i, t in arrays], two_ec)


def decode_native(payload: bytes, arrays, two_ec: bool) -> list[np.ndarray]:
    dec = RansDecoder(payload, two_ec)
    out = [dec.decode(i, t) for _, i, t in arrays]
    dec.finish()
    return out


@pytest.mark.parametrize("two_ec", [False, True])
@pytest.mark.parametrize("seed", range(6))
def test_native_matches_reference_coder(seed, two_ec):
    rng = np.random.default_rng(seed)
    tables = [random_table(rng, int(rng.integers(1, 12))) for _ in range(2)]
    arrays = []
    for _ in range(int(rng.integers(1, 5))):
        t = tables[int(rng.integers(0, 2))]
        arrays.append((*random_symbols(rng, t, int(rng.integers(0, 400))), t))
    payload = encode_native(arrays, two_ec)
    assert payload == encode_reference(arrays, two_ec)
    for (s, _, _), got in zip(arrays, decode_native(payload, arrays, two_ec), strict=True):
        np.testing.assert_array_equal(got, s)
    ref_out, ref_ok = ref.decode_payload(
        payload, [(i, ref.Table(t.cdf, t.lengths, t.offsets)) for _, i, t in arrays], two_ec
    )
    assert ref_ok
    for (s, _, _), got in zip(arrays, ref_out, strict=True):
        np.testing.assert_array_equal(got, s)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    seed=st.integers(0, 2**32 - 1),
    sizes=st.lists(st.integers(0, 9), min_size=0, max_size=5),
    two_ec=st.booleans(),
)
def test_small_arrays_round_trip(seed, sizes, two_ec):
    """Empty, single and odd/even-length arrays, in either mode, against the reference."""
    rng = np.random.default_rng(seed)
    table = random_table(rng, 3, max_len=6)
    arrays = [(*random_symbols(rng, table, n, extreme=0.2), table) for n in sizes]
    payload = encode_native(arrays, two_ec)
    assert payload == encode_reference(arrays, two_ec)
    if sum(sizes) == 0:
        assert payload == b""
    for (s, _, _), got in zip(arrays, decode_native(payload, arrays, two_ec), strict=True):
        np.testing.assert_array_equal(got, s)


def test_empty_frame():
    for two_ec in (False, True):
        enc = RansEncoder(two_ec)
        assert enc.flush() == b""
        dec = RansDecoder(b"", two_ec)
        table = CdfTable([[0, 1, 65536]], [3], [0])
        assert dec.decode(np.zeros(0, np.int32), table).shape == (0,)
        dec.finish()


@pytest.mark.parametrize("n", [3000, 30000])  # two-coder mode: one interleaving thread, then two threads
def test_int32_extremes_and_many_escapes(n):
    """Every symbol an escape at the far ends of int32: the output buffer must grow, not overflow."""
    table = CdfTable([[0, 40000, 65535, 65536], [0, 100, 200, 65536]], [4, 4], [-(2**30), 2**30])
    rng = np.random.default_rng(7)
    sym = rng.choice(np.array([I32_MIN, I32_MAX, 0, -1], np.int32), n)
    idx = rng.integers(0, 2, n).astype(np.int32)
    for two_ec in (False, True):
        payload = encode_native([(sym, idx, table)], two_ec)
        assert len(payload) > 5 * n  # far more than one byte per symbol
        (got,) = decode_native(payload, [(sym, idx, table)], two_ec)
        np.testing.assert_array_equal(got, sym)


def test_shared_zero_tail_is_stored_once():
    """Streams ending in zero bytes: the two-coder payload keeps up to 8 of them once."""
    # Bin 0 spans exactly half the range, so coding 0s only doubles the state and
    # every byte the coder flushes out is zero.
    table = CdfTable([[0, 32768, 65535, 65536]], [4], [0])
    for n in (2, 20, 200):
        sym = np.zeros(n, np.int32)
        idx = np.zeros(n, np.int32)
        s0 = encode_native([(sym[: n // 2], idx[: n // 2], table)], False)
        s1 = encode_native([(sym[n // 2 :], idx[n // 2 :], table)], False)
        both = encode_native([(sym, idx, table)], True)
        assert both == ref.merge_streams(s0, s1)
        zeros = min(8, len(s0) - len(s0.rstrip(b"\0")), len(s1) - len(s1.rstrip(b"\0")))
        shared = zeros or int(s0[-1] == s1[-1])
        assert len(both) == len(s0) + len(s1) - shared
        decode_native(both, [(sym, idx, table)], True)


def test_threaded_halves_equal_separate_coders():
    """Large arrays run the halves on two threads; bytes must not depend on that."""
    rng = np.random.default_rng(3)
    table = random_table(rng, 16)
    sym, idx = random_symbols(rng, table, 60001, extreme=0.001)
    h = len(sym) // 2
    s0 = encode_native([(sym[:h], idx[:h], table)], False)
    s1 = encode_native([(sym[h:], idx[h:], table)], False)
    both = encode_native([(sym, idx, table)], True)
    assert both == ref.merge_streams(s0, s1)
    (got,) = decode_native(both, [(sym, idx, table)], True)
    np.testing.assert_array_equal(got, sym)


@pytest.mark.skipif(not hasattr(os, "sched_setaffinity"), reason="CPU affinity is a Linux call")
def test_one_cpu_codes_the_halves_interleaved_to_the_same_bytes():
    """Confined to one CPU the coder keeps large halves on one thread; the payload must not change."""
    rng = np.random.default_rng(5)
    table = random_table(rng, 16)
    sym, idx = random_symbols(rng, table, 60001, extreme=0.001)
    threaded = encode_native([(sym, idx, table)], True)
    allowed = os.sched_getaffinity(0)
    os.sched_setaffinity(0, {min(allowed)})
    try:
        single = encode_native([(sym, idx, table)], True)
        (got,) = decode_native(single, [(sym, idx, table)], True)
    finally:
        os.sched_setaffinity(0, allowed)
    assert single == threaded
    np.testing.assert_array_equal(got, sym)


def test_coders_release_the_gil_and_run_in_parallel():
    rng = np.random.default_rng(4)
    table = random_table(rng, 8)
    data = [random_symbols(rng, table, 20000) for _ in range(4)]
    results: dict[int, bytes] = {}

    def work(k: int) -> None:
        results[k] = encode_native([(*data[k], table)], False)

    threads = [threading.Thread(target=work, args=(k,)) for k in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    for k in range(4):
        assert results[k] == encode_native([(*data[k], table)], False)


def test_any_integer_dtype_and_shape_is_accepted():
    table = CdfTable(np.array([[0, 30000, 60000, 65536]], np.int64), [4], [-1])
    sym = np.array([[-1, 0], [5, -7]], np.int8)
    idx = np.zeros((2, 2), np.uint8)
    payload = encode_native([(sym, idx, table)], False)
    assert payload == encode_native([(sym.ravel().astype(np.int32), idx.ravel().astype(np.int32), table)], False)
    dec = RansDecoder(np.frombuffer(payload, np.uint8))
    np.testing.assert_array_equal(dec.decode(idx, table), sym.ravel())


# ---------------------------------------------------------------------------
# Hostile payloads


def sample_frame(seed: int, two_ec: bool):
    rng = np.random.default_rng(seed)
    table = random_table(rng, 6)
    arrays = [(*random_symbols(rng, table, n, extreme=0.1), table) for n in (37, 300, 151)]
    return arrays, encode_native(arrays, two_ec)


def decode_all(payload: bytes, arrays, two_ec: bool) -> None:
    dec = RansDecoder(payload, two_ec)
    for _, i, t in arrays:
        dec.decode(i, t)
    dec.finish()


@pytest.mark.parametrize("two_ec", [False, True])
def test_truncated_payloads_raise(two_ec):
    arrays, payload = sample_frame(11, two_ec)
    for cut in range(len(payload)):
        with pytest.raises(StreamError):
            decode_all(payload[:cut], arrays, two_ec)


def test_truncation_is_reported_as_truncated():
    arrays, payload = sample_frame(12, False)
    dec = RansDecoder(payload[: len(payload) // 2])
    with pytest.raises(TruncatedStreamError):
        for _, i, t in arrays:
            dec.decode(i, t)
    assert not dec.ok
    with pytest.raises(TruncatedStreamError):  # the flag is sticky
        dec.decode(arrays[0][1], arrays[0][2])


@pytest.mark.parametrize("two_ec", [False, True])
def test_bit_flips_never_crash(two_ec):
    arrays, payload = sample_frame(13, two_ec)
    rng = np.random.default_rng(14)
    caught = 0
    for _ in range(300):
        damaged = bytearray(payload)
        for pos in rng.integers(0, len(damaged), int(rng.integers(1, 4))):
            damaged[pos] ^= 1 << int(rng.integers(0, 8))
        try:
            decode_all(bytes(damaged), arrays, two_ec)
        except StreamError:
            caught += 1
    assert caught > 250  # nearly every damaged payload is noticed


@settings(max_examples=150, deadline=None)
@given(garbage=st.binary(min_size=0, max_size=64), two_ec=st.booleans())
def test_garbage_with_escape_heavy_table(garbage, two_ec):
    """Random bytes against a table whose escape bin is almost everything: bounded work, no crash."""
    table = CdfTable([[0, 1, 2, 65536]], [4], [0])
    dec = RansDecoder(garbage, two_ec)
    try:
        out = dec.decode(np.zeros(200, np.int32), table)
        assert out.shape == (200,)
        dec.finish()
    except StreamError:
        pass


# ---------------------------------------------------------------------------
# Argument checking


@pytest.mark.parametrize(
    ("cdf", "lengths", "offsets"),
    [
        ([[0, 10, 65536]], [3], [0, 0]),  # row counts differ
        ([[1, 10, 65536]], [3], [0]),  # does not start at 0
        ([[0, 10, 65535]], [3], [0]),  # does not end at 65536
        ([[0, 10, 10, 65536]], [4], [0]),  # empty bin
        ([[0, 70000, 65536]], [3], [0]),  # decreasing
        ([[0, 65536, 0]], [2], [0]),  # too short
        ([[0, 10, 65536]], [4], [0]),  # longer than the row
        ([[0, 10, 65536]], [3], [2**31 - 1]),  # offset out of range
        ([0, 10, 65536], [3], [0]),  # not 2-D
        (np.array([[0.0, 10.0, 65536.0]]), [3], [0]),  # not integers
        (np.zeros((0, 3), np.int32), np.zeros(0, np.int32), np.zeros(0, np.int32)),  # no rows
    ],
)
def test_invalid_tables_are_rejected(cdf, lengths, offsets):
    with pytest.raises(ValueError):
        CdfTable(cdf, lengths, offsets)


def test_invalid_indexes_are_rejected():
    table = CdfTable([[0, 10, 65536], [0, 20, 65536]], [3, 3], [0, 0])
    enc = RansEncoder()
    for bad in ([0, 2], [-1, 0]):
        with pytest.raises(ValueError, match="not a row"):
            enc.encode([0, 0], bad, table)
    assert enc.pending == 0
    with pytest.raises(ValueError, match="same length"):
        enc.encode([0, 0, 0], [0, 0], table)
    with pytest.raises(ValueError, match="int32"):
        enc.encode(np.array([2**40, 0]), [0, 0], table)
    with pytest.raises(ValueError, match="integers"):
        enc.encode(np.array([0.5, 0]), [0, 0], table)
    dec = RansDecoder(b"\0\0\x80\0")
    with pytest.raises(ValueError, match="not a row"):
        dec.decode([5], table)
    assert dec.ok


def test_queued_arrays_are_read_in_place_and_kept_alive():
    """encode() keeps references instead of copies: temporaries survive until flush(), and an
    index array changed in between makes flush() raise (never read outside the table)."""
    table = CdfTable([[0, 10, 65536], [0, 20, 65536]], [3, 3], [0, 0])
    rng = np.random.default_rng(5)
    sym = rng.integers(-3, 4, 5000).astype(np.int32)
    idx = rng.integers(0, 2, 5000).astype(np.int32)
    expected = RansEncoder()
    expected.encode(sym, idx, table)
    enc = RansEncoder()
    enc.encode(sym.copy(), idx.copy(), table)  # temporaries: only the coder holds them
    assert enc.flush() == expected.flush()

    changed = idx.copy()
    enc.encode(sym, changed, table)
    changed[4000] = 7
    with pytest.raises(ValueError, match="changed"):
        enc.flush()
    assert enc.pending == 0
    enc.encode(sym, idx, table)
    expected.encode(sym, idx, table)
    assert enc.flush() == expected.flush()


def test_stream_errors_are_value_errors():
    assert issubclass(StreamError, ValueError)


def test_pmf_quantiser_matches_reference():
    rng = np.random.default_rng(5)
    for n in (1, 2, 3, 17, 100, 600):
        for _ in range(5):
            p = rng.gamma(0.3, size=n).astype(np.float32)
            p[rng.random(n) < 0.3] = 0
            p[0] += np.float32(1e-3)
            p /= p.sum()
            got = pmf_to_quantized_cdf(p)
            assert got.dtype == np.int32 and got[0] == 0 and got[-1] == 65536
            assert list(got) == ref.pmf_to_quantized_cdf(p)
            assert (np.diff(got) > 0).all()


def test_pmf_quantiser_rounds_half_away_from_zero():
    # 0.5 / 65536 -> 0.5 units -> rounds to 1 (half-to-even would give 0 and then steal).
    p = np.array([0.5 / 65536, 1.0], np.float32)
    q = pmf_to_quantized_cdf(p)
    assert list(q) == ref.pmf_to_quantized_cdf(p)


@pytest.mark.parametrize("pmf", [[], [-0.1, 1.0], [np.nan, 1.0], [0.0, 0.0], [np.inf, 1.0]])
def test_pmf_quantiser_rejects_bad_pmfs(pmf):
    with pytest.raises(ValueError):
        pmf_to_quantized_cdf(np.array(pmf, np.float32))


def test_quantize_pmfs_shapes():
    pmfs = np.array([[0.2, 0.5, 0.2], [0.7, 0.25, 0.0]], np.float32)
    cdf, lengths = quantize_pmfs(pmfs, [3, 2], [0.1, 0.05])
    assert cdf.shape == (2, 5) and list(lengths) == [5, 4]
    assert list(cdf[1]) == list(pmf_to_quantized_cdf([0.7, 0.25, 0.05])) + [0]
    with pytest.raises(ValueError):
        quantize_pmfs(pmfs, [4, 2], [0.1, 0.1])


# ---------------------------------------------------------------------------


def _rebuild_fixture(conformance: Path) -> None:
    """Writes FIXTURE from the shared conformance folder (needs torch and glibc's erff)."""
    import ctypes
    import json
    import math

    import torch

    out: dict[str, np.ndarray] = {}
    for tag, name in [("c1", "c1_64x64_ip-1_reset2"), ("c2", "c2_48x80_ip3_twoec_fzt")]:
        d = np.load(conformance / "trace" / f"{name}.npz")
        out[f"{tag}/two_ec"] = d["meta/two_ec"]
        for fr in sorted({"/".join(k.split("/")[:2]) for k in d.files if k.startswith("f")}):
            qp = int(d[f"{fr}/qp"])
            p = f"{tag}/{fr}/"
            out[p + "z_symbols"] = d[f"{fr}/z_symbols"]
            out[p + "z_index"] = (d[f"{fr}/z_table_index"] - qp * 128).astype(np.uint8)
            for k in ("z_cdf", "z_cdf_length", "z_cdf_offset"):
                out[p + k] = d[f"{fr}/{k}"]
            step = 0
            while f"{fr}/step{step}/coded_symbols" in d.files:
                out[p + f"step{step}/symbols"] = d[f"{fr}/step{step}/coded_symbols"]
                out[p + f"step{step}/indices"] = d[f"{fr}/step{step}/coded_indices"]
                step += 1
            out[p + "payload"] = d[f"{fr}/payload"]
    g = json.loads((conformance / "gaussian_cdf_table.json").read_text())
    out["gauss/cdf"] = np.array(g["cdf"], np.int32)
    out["gauss/cdf_length"] = np.array(g["cdf_length"], np.int32)
    out["gauss/offset"] = np.array(g["offset"], np.int32)
    # The reference's Normal.cdf evaluated element by element with libm's erff:
    # that is what reproduces the table (torch's vectorised erf differs by an ulp).
    libm = ctypes.CDLL("libm.so.6")
    libm.erff.restype, libm.erff.argtypes = ctypes.c_float, [ctypes.c_float]
    scales = torch.exp(torch.linspace(math.log(0.11), math.log(16.0), 128))
    half = torch.from_numpy(-out["gauss/offset"].astype(np.int64))
    v = (torch.arange(int(2 * half.max() + 1)) - half[:, None]).float()
    s = torch.zeros_like(v) + scales[:, None]

    def cdf(x: torch.Tensor) -> np.ndarray:
        a = ((x - 0.0) * s.reciprocal() / math.sqrt(2)).numpy()
        e = np.vectorize(lambda t: libm.erff(float(t)))(a).astype(np.float32)
        return np.float32(0.5) * (np.float32(1) + e)

    upper, lower = cdf(v + 0.5), cdf(v - 0.5)
    out["gauss/pmf"] = (upper - lower).astype(np.float32)
    out["gauss/tail_mass"] = (np.float32(2) * lower[:, 0]).astype(np.float32)
    np.savez_compressed(FIXTURE, **out)


if __name__ == "__main__":
    _rebuild_fixture(Path(sys.argv[1]))
