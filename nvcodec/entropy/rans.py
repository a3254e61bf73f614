"""The rANS coder that turns symbols into a DCVC-RT frame payload and back.

The entropy model decides *what* is coded (which table row each symbol uses);
this module only codes it, byte-compatible with the DCVC-RT reference coder.
The work happens in the native extension ``nvcodec._rans``; this wrapper turns
any integer array into the int32 buffers the extension insists on, and turns a
bad payload into :class:`~nvcodec.errors.StreamError`.

Data flow of one frame (the decoder mirrors the encoder array by array)::

    encoder.encode(z, z_rows, z_table)          decoder.decode(z_rows, z_table)
    encoder.encode(y0, y0_rows, gauss)   -->    decoder.decode(y0_rows, gauss)
    encoder.encode(y1, y1_rows, gauss)          decoder.decode(y1_rows, gauss)
    payload = encoder.flush()                   decoder.finish()   # optional check

Every ``encode`` call is one "handed-over array": in two-coder mode
(``two_ec``, the SPS's ``ec_part``) each such array is split at ``n // 2`` and
the halves go to two independent rANS streams, so the decoder must be given
arrays of the same lengths in the same order.  Symbols are coded last-first at
``flush`` so that decoding runs forwards.

Coder objects are not thread-safe: use one per thread (a second thread calling
into a busy object gets ``RuntimeError``).  The native code releases the GIL
while it codes, so separate objects do run in parallel.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

from nvcodec import _rans
from nvcodec.errors import StreamError, TruncatedStreamError

__all__ = [
    "PRECISION",
    "CdfTable",
    "RansDecoder",
    "RansEncoder",
    "pmf_to_quantized_cdf",
    "quantize_pmfs",
]

PRECISION: int = _rans.PRECISION
"""Bits of probability precision: every CDF row ends at ``1 << PRECISION``."""

Payload = bytes | bytearray | memoryview | npt.NDArray[np.uint8]

_INT32 = np.iinfo(np.int32)


def _as_int32(values: npt.ArrayLike, name: str, ndim: int = 1) -> npt.NDArray[np.int32]:
    """Integer data as a C-contiguous int32 array (1-D input may have any shape: it is flattened)."""
    a = np.asarray(values)
    if a.dtype.kind not in "iu":
        raise ValueError(f"{name} must hold integers, got dtype {a.dtype}")
    if ndim == 1:
        a = a.reshape(-1)
    elif a.ndim != ndim:
        raise ValueError(f"{name} must have {ndim} dimensions, got {a.ndim}")
    if a.dtype != np.int32:
        if a.size and a.dtype.itemsize >= 4 and (a.min() < _INT32.min or a.max() > _INT32.max):
            raise ValueError(f"{name} has values outside the int32 range")
        a = a.astype(np.int32)
    return np.ascontiguousarray(a)


class CdfTable:
    """A set of quantised CDF rows, checked once and kept on the native side.

    Keeping the rows resident (with their encoder reciprocals and decoder
    lookup buckets precomputed) is what lets every frame hand over only the
    symbols and their row numbers.

    ``cdf[r, :lengths[r]]`` is row r: it starts at 0, rises strictly and ends at
    65536; entries past ``lengths[r]`` are ignored.  Bin ``lengths[r] - 2`` is
    the escape bin, so the row codes the values ``offsets[r]`` to
    ``offsets[r] + lengths[r] - 3`` directly and anything else through escape
    chunks.  Offsets must lie within +-2**30.
    """

    def __init__(self, cdf: npt.ArrayLike, lengths: npt.ArrayLike, offsets: npt.ArrayLike) -> None:
        self.cdf = _as_int32(cdf, "cdf", ndim=2)
        self.lengths = _as_int32(lengths, "lengths")
        self.offsets = _as_int32(offsets, "offsets")
        for a in (self.cdf, self.lengths, self.offsets):
            a.flags.writeable = False
        self._native = _rans.CdfTable(self.cdf, self.lengths, self.offsets)

    @property
    def num_rows(self) -> int:
        return self._native.num_rows

    def __len__(self) -> int:
        return self._native.num_rows


class RansEncoder:
    """Collects a frame's arrays, then writes its payload in one go.

    Coding waits until :meth:`flush` because rANS must run backwards over the
    whole frame; ``encode`` only checks and keeps a reference to the arrays
    (int32 C-contiguous input is not copied), so do not modify them before
    ``flush``.  An index array changed in between makes ``flush`` raise
    ``ValueError``.
    """

    def __init__(self, two_ec: bool = False) -> None:
        self._native = _rans.RansEncoder(bool(two_ec))

    @property
    def two_ec(self) -> bool:
        return self._native.two_ec

    @property
    def pending(self) -> int:
        """Symbols queued since the last flush."""
        return self._native.pending

    def encode(self, symbols: npt.ArrayLike, indexes: npt.ArrayLike, table: CdfTable) -> None:
        """Queue one array: ``symbols[i]`` is coded with row ``indexes[i]`` of ``table``.

        Any integer dtype is accepted (multi-dimensional arrays are flattened in
        C order).  Raises ``ValueError`` for a row number outside the table or
        mismatched lengths; nothing is queued then.
        """
        s = _as_int32(symbols, "symbols")
        i = _as_int32(indexes, "indexes")
        self._native.encode(s, i, table._native)

    def flush(self) -> bytes:
        """The payload of everything queued (empty if nothing was); the queue is cleared."""
        return self._native.flush()

    def reset(self) -> None:
        """Drop the queued arrays without coding them."""
        self._native.reset()


class RansDecoder:
    """Reads a payload back, one handed-over array per :meth:`decode` call.

    The payload is untrusted: running out of bytes or meeting an impossible
    escape never reads outside the payload, never loops unboundedly, and is
    reported as :class:`~nvcodec.errors.TruncatedStreamError` or
    :class:`~nvcodec.errors.StreamError` from the ``decode`` call that hit it
    (and from every later one).
    """

    def __init__(self, payload: Payload, two_ec: bool = False) -> None:
        data = payload.tobytes() if isinstance(payload, np.ndarray) else payload
        self._size = len(data)
        self._native = _rans.RansDecoder(data, bool(two_ec))

    @property
    def two_ec(self) -> bool:
        return self._native.two_ec

    @property
    def ok(self) -> bool:
        """False once the payload proved truncated or corrupt."""
        return self._native.ok

    def decode(
        self, indexes: npt.ArrayLike, table: CdfTable, out: npt.NDArray[np.int32] | None = None
    ) -> npt.NDArray[np.int32]:
        """Symbols of the next array, ``indexes[i]`` naming the table row of symbol i.

        The array must have the length the encoder was given for it: in two-coder
        mode that length decides where the halves split.  ``out`` (a contiguous
        1-D int32 array of that length) receives the symbols instead of a new
        array, which saves fresh memory per frame.
        """
        result = self._native.decode(_as_int32(indexes, "indexes"), table._native, out)
        self._raise_if_bad()
        return result

    def finish(self) -> None:
        """Check that the payload was used exactly: no bytes left over, coders back at their start state.

        A payload that decoded without running out can still be damaged; this
        catches most such payloads once every array has been decoded.
        """
        self._raise_if_bad()
        if not self._native.finished():
            raise StreamError("rANS payload does not end where its symbols do")

    def _raise_if_bad(self) -> None:
        if self._native.truncated:
            raise TruncatedStreamError("rANS payload ended before its symbols did", offset=self._size)
        if self._native.corrupt:
            raise StreamError("rANS payload holds an impossible state or escape code")


def pmf_to_quantized_cdf(pmf: npt.ArrayLike) -> npt.NDArray[np.int32]:
    """The reference's 16-bit CDF of one pmf whose last entry is the tail (escape) mass.

    The values are taken as float32, as the reference receives them, so pass
    the float32 pmf itself: a float64 pmf is rounded to float32 first, which is
    what the reference's own conversion does as well.  Returns ``len(pmf) + 1``
    entries from 0 to 65536.
    """
    p = np.ascontiguousarray(np.asarray(pmf, dtype=np.float32).reshape(-1))
    return _rans.pmf_to_quantized_cdf(p)


def quantize_pmfs(
    pmfs: npt.ArrayLike, pmf_lengths: npt.ArrayLike, tail_mass: npt.ArrayLike
) -> tuple[npt.NDArray[np.int32], npt.NDArray[np.int32]]:
    """A table's worth of CDFs: row r quantises ``pmfs[r, :pmf_lengths[r]]`` plus ``tail_mass[r]``.

    Returns ``(cdf, cdf_lengths)`` with ``cdf`` of shape ``[rows, width + 2]``
    (zero-padded) and ``cdf_lengths = pmf_lengths + 2``, ready for
    :class:`CdfTable` together with the offsets.
    """
    p = np.ascontiguousarray(np.asarray(pmfs, dtype=np.float32))
    t = np.ascontiguousarray(np.asarray(tail_mass, dtype=np.float32).reshape(-1))
    return _rans.quantize_pmfs(p, _as_int32(pmf_lengths, "pmf_lengths"), t)
