"""What a picture and its companions are, without torch: planes, chroma, colour, audio, size limits.

The container, the PyAV readers and writers, presets, metrics and the command
line's checks all speak in these types.  Keeping them free of torch lets
``nvc info``, ``nvc models`` and every error found before coding answer in a
fraction of a second instead of paying torch's import first.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from fractions import Fraction
from typing import Literal

import numpy as np

#: the networks' total downsampling: frames are padded to a multiple of this
FRAME_ALIGN = 16
#: the largest width or height nvc codes or accepts from a file (a 16384 x 16384 frame is 1.5 GB of float32)
MAX_DIMENSION = 16384

#: "420": chroma at half resolution both ways; "444": chroma at full resolution
ChromaFormat = Literal["420", "444"]
CHROMA_FORMATS: tuple[ChromaFormat, ...] = ("420", "444")


def chroma_size(height: int, width: int, chroma: ChromaFormat = "420") -> tuple[int, int]:
    """Chroma plane size: 4:2:0 of an odd size covers ``2*ceil(n/2)`` luma samples."""
    if chroma == "444":
        return height, width
    return (height + 1) // 2, (width + 1) // 2


def padded_size(height: int, width: int, align: int = FRAME_ALIGN) -> tuple[int, int]:
    return -(-height // align) * align, -(-width // align) * align


def latent_size(height: int, width: int, factor: int) -> tuple[int, int]:
    """Size of a latent at 1/factor resolution of an (unpadded) frame: rounded up."""
    return -(-height // factor), -(-width // factor)


@dataclass(frozen=True)
class Planes:
    """One 8-bit YCbCr frame; 4:2:0 chroma planes are ceil(h/2) x ceil(w/2), 4:4:4 ones h x w."""

    y: np.ndarray
    u: np.ndarray
    v: np.ndarray
    chroma: ChromaFormat = "420"

    @property
    def height(self) -> int:
        return int(self.y.shape[0])

    @property
    def width(self) -> int:
        return int(self.y.shape[1])

    def validate(self) -> None:
        for name, plane in (("y", self.y), ("u", self.u), ("v", self.v)):
            if plane.dtype != np.uint8 or plane.ndim != 2:
                raise ValueError(f"plane {name} must be a 2-D uint8 array, got {plane.dtype} {plane.shape}")
        if self.chroma not in CHROMA_FORMATS:
            raise ValueError(f"chroma format must be one of {CHROMA_FORMATS}, got {self.chroma!r}")
        ch, cw = chroma_size(self.height, self.width, self.chroma)
        if self.u.shape != (ch, cw) or self.v.shape != (ch, cw):
            raise ValueError(
                f"chroma planes of a {self.width}x{self.height} frame must be {cw}x{ch}, "
                f"got {self.u.shape[::-1]} and {self.v.shape[::-1]}"
            )


@dataclass(frozen=True)
class ColorInfo:
    """Colour description, as FFmpeg's enum values (ISO/IEC 23091-4 code points; range: 0 unknown, 1 limited, 2 full).

    2 means "unspecified" for matrix, primaries and transfer, as in H.273.
    """

    matrix: int = 2
    range: int = 0
    primaries: int = 2
    transfer: int = 2


@dataclass(frozen=True)
class AudioTrack:
    """One passed-through audio stream; ``params`` is what a muxer needs to write it again."""

    codec: str
    sample_rate: int
    channels: int
    time_base: Fraction
    params: bytes = field(repr=False, default=b"")


@dataclass(frozen=True)
class AudioPacket:
    """One compressed audio packet carried through unchanged (timestamps in its track's time base)."""

    track: int
    pts: int | None
    dts: int | None
    duration: int
    keyframe: bool
    data: bytes
