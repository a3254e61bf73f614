"""Quality and rate measures as DCVC-RT reports them: PSNR per plane, PSNR-YUV 6:1:1, BD-rate.

Nothing here imports torch: the measures work on any objects with uint8 ``y``,
``u`` and ``v`` arrays (:class:`nvcodec.media.Planes` among them), so
evaluation of the baseline codecs never pays for loading the networks.
"""

from nvcodec.metrics.bdrate import BdRate, bd_rate, bd_rate_implementation
from nvcodec.metrics.psnr import (
    PSNR_CAP,
    FrameQuality,
    bits_per_pixel,
    frame_quality,
    kbit_per_second,
    mean_quality,
    psnr,
)

__all__ = [
    "PSNR_CAP",
    "BdRate",
    "FrameQuality",
    "bd_rate",
    "bd_rate_implementation",
    "bits_per_pixel",
    "frame_quality",
    "kbit_per_second",
    "mean_quality",
    "psnr",
]
