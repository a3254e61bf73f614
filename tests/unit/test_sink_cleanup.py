"""Every sink leaves nothing behind when writing fails, a full disk included."""

from __future__ import annotations

import errno
import io
from fractions import Fraction

import numpy as np
import pytest

from nvcodec.io.sink import StreamDescription, open_sink
from nvcodec.media import ColorInfo, Planes


class _FullDisk(io.RawIOBase):
    """A file on a full disk: every write fails with ENOSPC (so does the flush at close)."""

    def writable(self) -> bool:
        return True

    def write(self, data) -> int:
        raise OSError(errno.ENOSPC, "No space left on device")


def _planes() -> Planes:
    return Planes(np.zeros((16, 16), np.uint8), np.zeros((8, 8), np.uint8), np.zeros((8, 8), np.uint8))


@pytest.mark.parametrize("name", ["out.y4m", "out.yuv"])
def test_a_full_disk_leaves_no_partial_file(tmp_path, name):
    desc = StreamDescription(16, 16, "420", ColorInfo(), Fraction(25), Fraction(1, 25))
    sink = open_sink(str(tmp_path / name), desc)
    sink._out.close()
    sink._out = io.BufferedWriter(_FullDisk(), buffer_size=1 << 20)  # the frame fits the buffer: close fails
    sink.write_video(_planes(), 0, 1)
    with pytest.raises(OSError, match="space"):
        sink.close()
    assert list(tmp_path.iterdir()) == []
    sink.abort()  # a second abort (the caller's) is harmless
    assert list(tmp_path.iterdir()) == []
