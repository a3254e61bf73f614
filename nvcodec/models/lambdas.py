"""lambda(qp): the rate-distortion trade-off each qp stands for.

Training weighs distortion by it, and the encoder's rate-distortion choices
(block skip) must weigh with the same value the model was trained at, so it
lives below both and imports nothing heavy.  Distortion is the 6:1:1 YUV mean
square error on samples in [0, 1]; rate is in bits per pixel.

The curve is log-uniform between ``lambda_min`` at qp 0 and ``lambda_max`` at
qp 63, continued past 63 for the P frames' hierarchical shifts.  A model
records the ``lambda_max`` it was trained at (model files written before it
was recorded were trained at :data:`LAMBDA_MAX_NARROW`).
"""

from __future__ import annotations

import math

#: qp 0, the lowest rate
LAMBDA_MIN = 30.0
#: qp 63 of the first nvc-compact weights: about 34 dB on Kodak, where x264 reaches 41 and more
LAMBDA_MAX_NARROW = 3000.0
#: qp 63 of the wide quality range: at high rates D ~ 1 / (0.92 lambda), about 40 dB PSNR-YUV
LAMBDA_MAX_WIDE = 16000.0
#: the highest qp of the I frame's range
QP_TOP = 63


def lambda_for_qp(qp: float, lambda_max: float = LAMBDA_MAX_NARROW) -> float:
    """Log-uniform lambda: qp 0 is the lowest rate, qp 63 the highest quality."""
    t = qp / QP_TOP
    return math.exp(math.log(LAMBDA_MIN) + t * (math.log(lambda_max) - math.log(LAMBDA_MIN)))


def check_lambda_max(value: object) -> float:
    """A ``lambda_max`` read from a file: a finite number in a range training could have used."""
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise ValueError(f"lambda_max must be a finite number, got {value!r}")
    if not LAMBDA_MIN < value <= 1e6:
        raise ValueError(f"lambda_max {value} is outside ({LAMBDA_MIN}, 1e6]")
    return float(value)
