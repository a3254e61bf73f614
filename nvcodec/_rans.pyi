"""Native rANS coder for DCVC-RT payloads; use it through :mod:`nvcodec.entropy.rans`.

Arrays must already be C-contiguous with the exact dtype named (no implicit
conversion happens here); a wrong dtype, shape or index raises ``ValueError``.
"""

import numpy as np
import numpy.typing as npt

PRECISION: int
MAX_ABS_OFFSET: int

class CdfTable:
    def __init__(
        self,
        cdf: npt.NDArray[np.int32],
        lengths: npt.NDArray[np.int32],
        offsets: npt.NDArray[np.int32],
    ) -> None: ...
    @property
    def num_rows(self) -> int: ...
    @property
    def row_size(self) -> int: ...

class RansEncoder:
    def __init__(self, two_ec: bool = False) -> None: ...
    @property
    def two_ec(self) -> bool: ...
    @property
    def pending(self) -> int: ...
    def encode(self, symbols: npt.NDArray[np.int32], indexes: npt.NDArray[np.int32], table: CdfTable) -> None: ...
    def flush(self) -> bytes: ...
    def reset(self) -> None: ...

class RansDecoder:
    def __init__(
        self, payload: bytes | bytearray | memoryview | npt.NDArray[np.uint8], two_ec: bool = False
    ) -> None: ...
    @property
    def two_ec(self) -> bool: ...
    @property
    def ok(self) -> bool: ...
    @property
    def truncated(self) -> bool: ...
    @property
    def corrupt(self) -> bool: ...
    def finished(self) -> bool: ...
    def decode(
        self,
        indexes: npt.NDArray[np.int32],
        table: CdfTable,
        out: npt.NDArray[np.int32] | None = None,
    ) -> npt.NDArray[np.int32]: ...

def pmf_to_quantized_cdf(pmf: npt.NDArray[np.float32]) -> npt.NDArray[np.int32]: ...
def quantize_pmfs(
    pmfs: npt.NDArray[np.float32],
    pmf_lengths: npt.NDArray[np.int32],
    tail_mass: npt.NDArray[np.float32],
) -> tuple[npt.NDArray[np.int32], npt.NDArray[np.int32]]: ...
