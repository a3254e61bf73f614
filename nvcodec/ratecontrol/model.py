"""How many bits a frame takes at a qp: a shape shared by all content, fitted to this content online.

ln(bits per pixel) = alpha[kind] + slope * shape[kind](coded qp).  The shapes are nvc-compact's mean
curves (Kodak stills for I frames, the evaluation clips' P frames over their coded qp, from
docs/results/rd.json); what differs from clip to clip is mostly a level (alpha: how hard the content
is) and a little the steepness (slope), and both are learnt from the frames already coded.  The shape
is concave (bits grow more slowly at high qp), which a single exponential would miss by 2x across
the range.
"""

from __future__ import annotations

import bisect
import math
from dataclasses import dataclass, field

#: (qp, ln bpp) of an I frame, nvc-compact on Kodak
I_SHAPE = ((0, -3.016), (12, -2.400), (24, -1.833), (36, -1.354), (48, -0.955), (63, -0.572))
#: (coded qp, ln bpp) of a P frame with block skip, nvc-compact on the evaluation clips (the base qp plus
#: the mean hierarchical shift, 2.5), continued at the top slope to qp 71
P_SHAPE = ((0, -2.95), (2.5, -2.91), (14.5, -2.447), (26.5, -2.039), (41.5, -1.62), (71, -0.79))
_SHAPES = {"I": I_SHAPE, "P": P_SHAPE}
#: a P frame costs about this much less than an I frame at the same shape value before any is seen
_P_START = -1.0


def shape(kind: str, qp: float) -> float:
    """The shape's ln bpp at ``qp``, linear between its points and beyond its ends."""
    points = _SHAPES[kind]
    qps = [p[0] for p in points]
    i = min(max(bisect.bisect_right(qps, qp) - 1, 0), len(points) - 2)
    (q0, v0), (q1, v1) = points[i], points[i + 1]
    return v0 + (v1 - v0) * (qp - q0) / (q1 - q0)


@dataclass
class RateModel:
    pixels: int
    alpha: dict[str, float] = field(default_factory=lambda: {"I": 0.0, "P": _P_START})
    slope: float = 1.0
    seen: dict[str, int] = field(default_factory=lambda: {"I": 0, "P": 0})
    # (shape value, ln bpp - alpha) pairs the slope is fitted on
    _points: list[tuple[str, float, float]] = field(default_factory=list)

    def predict(self, kind: str, qp: float) -> float:
        """Expected bits of a frame of ``kind`` coded at ``qp``."""
        return self.pixels * math.exp(self.alpha[kind] + self.slope * shape(kind, qp))

    def update(self, kind: str, qp: float, bits: float) -> None:
        """Learn from a coded frame: its kind's level at once, the slope once qps have spread."""
        observed = math.log(max(bits, 8.0) / self.pixels)
        residual = observed - self.slope * shape(kind, qp) - self.alpha[kind]
        weight = 0.6 if self.seen[kind] == 0 else 0.3
        if self.seen[kind] == 0 and kind == "I" and self.seen["P"] == 0:
            # the first I frame says something of how hard the content is for P frames too, but only
            # something: still, textured content is cheap to predict and dear to code, noise the reverse
            self.alpha["P"] += 0.5 * residual
        self.alpha[kind] += weight * residual
        self.seen[kind] += 1
        self._points.append((kind, shape(kind, qp), observed))
        self._fit_slope()

    def _fit_slope(self) -> None:
        """Least squares of ln bpp on the shape within each kind, once its qps span a useful range."""
        recent = self._points[-48:]
        num = den = 0.0
        for kind in ("I", "P"):
            pts = [(x, y) for k, x, y in recent if k == kind]
            if len(pts) < 4:
                continue
            mx = sum(x for x, _ in pts) / len(pts)
            my = sum(y for _, y in pts) / len(pts)
            num += sum((x - mx) * (y - my) for x, y in pts)
            den += sum((x - mx) ** 2 for x, _ in pts)
        if den > 0.3:  # about 10 qp of spread: below that the fit is noise
            self.slope = min(2.0, max(0.5, 0.7 * self.slope + 0.3 * num / den))
