"""RGB <-> BT.709 full-range YCbCr 4:4:4, the form RGB sources are coded in.

The networks code three full-resolution channels; for RGB sources nvc gives
them BT.709 YCbCr at full range (no chroma subsampling, no headroom), so the
only loss a round trip adds on top of the codec is one rounding each way.
Done here in numpy rather than swscale so the two directions are exactly the
inverse formulas of each other, whatever FFmpeg build is installed.
"""

from __future__ import annotations

import numpy as np

from nvcodec.media import Planes

__all__ = ["KB", "KR", "rgb_to_ycbcr444", "ycbcr444_to_rgb"]

KR = 0.2126
KB = 0.0722
KG = 1.0 - KR - KB


def _round8(x: np.ndarray) -> np.ndarray:
    return np.clip(np.rint(x), 0, 255).astype(np.uint8)


def rgb_to_ycbcr444(rgb: np.ndarray) -> Planes:
    """An H x W x 3 uint8 RGB image as 4:4:4 planes (BT.709 matrix, full range)."""
    if rgb.dtype != np.uint8 or rgb.ndim != 3 or rgb.shape[2] != 3:
        raise ValueError(f"expected an H x W x 3 uint8 RGB image, got {rgb.dtype} {rgb.shape}")
    r, g, b = (rgb[..., i].astype(np.float64) for i in range(3))
    y = KR * r + KG * g + KB * b
    cb = (b - y) / (2.0 * (1.0 - KB)) + 128.0
    cr = (r - y) / (2.0 * (1.0 - KR)) + 128.0
    return Planes(_round8(y), _round8(cb), _round8(cr), chroma="444")


def ycbcr444_to_rgb(planes: Planes) -> np.ndarray:
    """The inverse of :func:`rgb_to_ycbcr444`: H x W x 3 uint8 RGB."""
    if planes.chroma != "444":
        raise ValueError("RGB output needs 4:4:4 planes")
    y = planes.y.astype(np.float64)
    cb = planes.u.astype(np.float64) - 128.0
    cr = planes.v.astype(np.float64) - 128.0
    r = y + 2.0 * (1.0 - KR) * cr
    b = y + 2.0 * (1.0 - KB) * cb
    g = (y - KR * r - KB * b) / KG
    return np.stack((_round8(r), _round8(g), _round8(b)), axis=-1)
