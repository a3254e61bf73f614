"""PSNR per plane and the 6:1:1 weighted PSNR-YUV, per frame and per sequence.

DCVC-RT (and the JVET common test conditions it follows) reports a sequence's
quality as the mean of per-frame PSNRs, not the PSNR of the mean squared error;
the two differ when quality varies across frames, so we do what DCVC-RT does.
Identical planes would give an infinite PSNR, which would swamp any mean, so a
frame's PSNR is capped at 99.9 dB (DCVC-RT's cap as well).
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Protocol

import numpy as np

#: the largest PSNR a frame can have (identical planes), in dB
PSNR_CAP = 99.9
#: the weights of Y, U and V in PSNR-YUV: luma counts six times each chroma plane
YUV_WEIGHTS = (6.0, 1.0, 1.0)


class PlanarFrame(Protocol):
    """Anything with three uint8 planes, such as :class:`nvcodec.media.Planes`."""

    y: np.ndarray
    u: np.ndarray
    v: np.ndarray


@dataclass(frozen=True)
class FrameQuality:
    """PSNR of Y, U, V and their 6:1:1 weighted mean, in dB."""

    y: float
    u: float
    v: float

    @property
    def yuv(self) -> float:
        wy, wu, wv = YUV_WEIGHTS
        return (wy * self.y + wu * self.u + wv * self.v) / (wy + wu + wv)


def psnr(reference: np.ndarray, distorted: np.ndarray, peak: float = 255.0) -> float:
    """10·log10(peak² / MSE) with the MSE in float64, capped at :data:`PSNR_CAP`."""
    if reference.shape != distorted.shape:
        raise ValueError(f"cannot compare planes of shapes {reference.shape} and {distorted.shape}")
    if reference.size == 0:
        raise ValueError("cannot compute the PSNR of an empty plane")
    diff = reference.astype(np.float64) - distorted.astype(np.float64)
    mse = float(np.mean(diff * diff))
    if mse == 0.0:
        return PSNR_CAP
    return min(PSNR_CAP, 10.0 * math.log10(peak * peak / mse))


def frame_quality(reference: PlanarFrame, distorted: PlanarFrame) -> FrameQuality:
    """PSNR of every plane of ``distorted`` against ``reference``."""
    return FrameQuality(
        y=psnr(reference.y, distorted.y),
        u=psnr(reference.u, distorted.u),
        v=psnr(reference.v, distorted.v),
    )


def mean_quality(frames: Iterable[FrameQuality]) -> FrameQuality:
    """A sequence's quality: the mean over frames of each plane's PSNR.

    PSNR-YUV of the result equals the mean of the frames' PSNR-YUV, since the
    weighting is linear.
    """
    values = np.array([(q.y, q.u, q.v) for q in frames], dtype=np.float64)
    if values.size == 0:
        raise ValueError("cannot average the quality of no frames")
    y, u, v = values.mean(axis=0)
    return FrameQuality(float(y), float(u), float(v))


def bits_per_pixel(bits: int, width: int, height: int, frames: int = 1) -> float:
    """Bits per luma pixel, the rate unit of learned-codec papers (chroma rides along)."""
    if width <= 0 or height <= 0 or frames <= 0:
        raise ValueError(f"bits per pixel needs a positive size and frame count, got {width}x{height}x{frames}")
    return bits / (width * height * frames)


def kbit_per_second(bits: int, frames: int, fps: float) -> float:
    """The bitrate a sequence of ``frames`` frames at ``fps`` would need, in kbit/s."""
    if frames <= 0 or fps <= 0:
        raise ValueError(f"kbit/s needs a positive frame count and rate, got {frames} frames at {fps} fps")
    return bits * fps / frames / 1000.0
