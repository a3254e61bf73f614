"""Choosing each frame's qp: to a bitrate in one pass, under a buffer, or at a fixed quality.

A controller picks one *level* q at a time, the qp the I frame would get with ``-q q``; every frame
is coded at the qp fixed-qp encoding gives it at that level (P frames under the I frame by the
settings' rule, plus DCVC-RT's hierarchical shift).  So the quality pattern of a stream is the one
fixed qp produces, and only its level moves.  The level changes only at the start of a group of
eight frames (or at an I frame), by a few qp at most, so neighbouring P frames never see-saw.  A
buffer (``-maxrate``/``-bufsize``) then caps each frame on its own: the qp goes down until the
expected size fits, and a frame that still overflows is coded again lower (the encoder rolls back).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

from nvcodec.codec.gop import FramePlan, plan_frame
from nvcodec.ratecontrol.model import RateModel
from nvcodec.ratecontrol.vbv import Vbv
from nvcodec.settings import QP_MAX, CodingSettings, default_p_qp

#: the highest coded qp of a P frame (63 plus the largest hierarchical shift)
P_QP_MAX = QP_MAX + 8
#: frames between level decisions: DCVC-RT's hierarchical qp pattern repeats every 8
GROUP = 8
#: the most the level moves at one decision once the first frames are coded
MAX_STEP = 4
#: frames over which a deficit or surplus is paid back
HORIZON = 24
#: a frame aims at this share of what the buffer holds, leaving room for the model's error
VBV_MARGIN = 0.85


@dataclass
class RateSummary:
    target_bps: float | None
    achieved_bps: float
    frames: int
    qp_min: int | None
    qp_max: int | None
    warnings: list[str] = field(default_factory=list)
    underflows: int = 0  # frames larger than the buffer held (only when even qp 0 was too large)
    reencoded: int = 0  # frames coded a second time to fit the buffer


def p_bases(settings: CodingSettings) -> tuple[int, ...]:
    """The P frames' base qp at each level 0..63: the default rule (``default_p_qp``) when resolved
    settings follow it, else their P frames' distance under the I frame at every level."""
    block_skip = bool(settings.block_skip)
    if settings.base_qp_p == default_p_qp(settings.qp_i, block_skip):
        return tuple(default_p_qp(level, block_skip) for level in range(QP_MAX + 1))
    offset = settings.qp_i - settings.base_qp_p
    return tuple(max(0, level - offset) for level in range(QP_MAX + 1))


class RateController:
    """Base: the pattern arithmetic, the buffer, the bookkeeping; subclasses choose the level."""

    def __init__(self, settings: CodingSettings, pixels: int, fps: float, vbv: Vbv | None = None) -> None:
        if not settings.is_resolved:
            raise ValueError("rate control needs settings resolved against the model")
        self.settings = settings
        self.p_bases = p_bases(settings)
        # the highest level whose P frames are coded as those of level 0 (levels under the offset)
        self.p_floor = max(level for level, base in enumerate(self.p_bases) if base == self.p_bases[0])
        self.fps = fps
        self.model = RateModel(pixels)
        self.vbv = vbv
        self.level = settings.qp_i
        self.frames = 0
        self.spent = 0.0
        self.qps: list[int] = []
        self.sizes: list[int] = []
        self.warnings: list[str] = []
        self.underflows = 0
        self.reencoded = 0
        self._warned: set[str] = set()

    # -- the pattern -------------------------------------------------------------------------------------------
    def plan(self, index: int) -> FramePlan:
        return plan_frame(index, self.settings)

    def coded_qp(self, plan: FramePlan, level: int) -> int:
        """The qp a frame of this plan gets at ``level`` (what ``-q level`` would code it at)."""
        if plan.frame_type.name == "I":
            return level
        shift = plan.qp - self.settings.base_qp_p
        return min(P_QP_MAX, self.p_bases[level] + shift)

    def kind(self, plan: FramePlan) -> str:
        return "I" if plan.frame_type.name == "I" else "P"

    def is_decision(self, index: int) -> bool:
        return index == 0 or self.kind(self.plan(index)) == "I" or index % GROUP == 1

    def group(self, index: int) -> list[FramePlan]:
        """The frames a decision at ``index`` is made for: to the next decision, and for an I frame the
        P frames after it too (the I frame's bits are an investment those P frames draw on; judged
        alone it would get one frame's share and be starved)."""
        plans = [self.plan(index)]
        intra = self.kind(plans[0]) == "I"
        while len(plans) < 2 * GROUP:
            nxt = self.plan(index + len(plans))
            if self.kind(nxt) == "I" or (self.is_decision(nxt.index) and not (intra and len(plans) <= GROUP)):
                break
            plans.append(nxt)
        return plans

    def predict(self, plans: list[FramePlan], level: int) -> float:
        return sum(self.model.predict(self.kind(p), self.coded_qp(p, level)) for p in plans)

    # -- the driver's calls -------------------------------------------------------------------------------------
    def first_frame(self, planes) -> None:
        """The first frame, before it is coded (a second pass checks it is the input it planned for)."""

    def choose(self, index: int) -> int:
        """The qp to code frame ``index`` at."""
        if self.is_decision(index):
            self.level = self.choose_level(index)
        plan = self.plan(index)
        qp = self.coded_qp(plan, self.level)
        if self.vbv is not None:
            room = VBV_MARGIN * self.vbv.room()
            while qp > 0 and self.model.predict(self.kind(plan), qp) > room:
                qp -= 1
        return qp

    def retry(self, index: int, qp: int, bits: int) -> int | None:
        """A lower qp to code the frame at again when it overflowed the buffer; None to keep it."""
        if self.vbv is None or bits <= self.vbv.room() or qp == 0:
            return None
        kind = self.kind(self.plan(index))
        self.model.update(kind, qp, bits)  # it told us the content is harder than thought
        room = VBV_MARGIN * self.vbv.room()
        lower = qp - 1
        while lower > 0 and self.model.predict(kind, lower) > room:
            lower -= 1
        self.reencoded += 1
        return lower

    def update(self, index: int, qp: int, bits: int) -> None:
        """A frame was coded (for good) at ``qp`` in ``bits``."""
        self.model.update(self.kind(self.plan(index)), qp, bits)
        self.frames += 1
        self.spent += bits
        self.qps.append(qp)
        self.sizes.append(bits)
        if self.vbv is not None and not self.vbv.take(bits):
            self.underflows += 1
            self.warn("buffer", "the buffer ran dry: a frame at qp 0 is larger than -bufsize holds; raise "
                                "-bufsize or -maxrate")

    def choose_level(self, index: int) -> int:
        return self.level

    def warn(self, key: str, message: str) -> None:
        if key not in self._warned:
            self._warned.add(key)
            self.warnings.append(message)

    def summary(self, target_bps: float | None = None) -> RateSummary:
        seconds = self.frames / self.fps if self.fps else 0.0
        achieved = self.spent / seconds if seconds else 0.0
        return RateSummary(target_bps, achieved, self.frames, min(self.qps, default=None),
                           max(self.qps, default=None), list(self.warnings), self.underflows, self.reencoded)


class FixedQp(RateController):
    """A fixed ``-q`` whose frames are capped by a buffer (capped quality)."""


class OnePass(RateController):
    """A bitrate in one pass: each group's level is the one whose expected bits meet the group's share of
    the target plus a part of the deficit or surplus so far."""

    def __init__(self, settings: CodingSettings, pixels: int, fps: float, bitrate: float,
                 vbv: Vbv | None = None, total_frames: int | None = None) -> None:
        super().__init__(settings, pixels, fps, vbv)
        self.bitrate = bitrate
        self.per_frame = bitrate / fps
        self.total_frames = total_frames  # when known, the debt is paid back before the end
        self.bound_hits = {"low": 0, "high": 0}  # decisions at an end of the range that still missed

    def choose_level(self, index: int) -> int:
        group = self.group(index)
        owed = self.frames * self.per_frame - self.spent
        horizon = HORIZON
        if self.total_frames is not None and self.total_frames > self.frames:
            horizon = min(HORIZON, self.total_frames - self.frames)
        target = max(0.25 * len(group) * self.per_frame,
                     len(group) * self.per_frame + owed * len(group) / max(horizon, len(group)))
        # levels under the P offset all code P frames at qp 0: for a group of P frames only, they are one
        current = self.level if any(self.kind(p) == "I" for p in group) else max(self.level, self.p_floor)
        # how far off the current level is decides how far the level may move: a little after a small
        # miss (no see-saw), anywhere after a large one (a scene change, or a model still learning the
        # content in its first groups)
        miss = abs(math.log(self.predict(group, current) / target))
        if self.frames <= 2 * GROUP or miss > math.log(2.0):
            step = QP_MAX
        else:
            step = 2 * MAX_STEP if miss > math.log(1.4) else MAX_STEP
        candidates = range(max(0, current - step), min(QP_MAX, current + step) + 1)
        level = min(candidates, key=lambda q: (round(abs(math.log(self.predict(group, q) / target)), 6),
                                               abs(q - current)))
        expected = self.predict(group, level)
        if expected <= self.predict(group, 0) * 1.0001 and expected > 1.15 * target:
            self.bound_hits["low"] += 1
        if expected >= self.predict(group, QP_MAX) * 0.9999 and expected < target / 1.15:
            self.bound_hits["high"] += 1
        return level

    def summary(self, target_bps: float | None = None) -> RateSummary:
        """As the base's, with one warning when the target was out of reach: the level sat at an end of
        the range and the rate still missed (a level at an end for a while on the way is no news)."""
        summary = super().summary(target_bps)
        if summary.achieved_bps > 1.05 * self.bitrate and self.bound_hits["low"]:
            summary.warnings.append(f"{self.bitrate / 1000:.0f} kbit/s is below what qp 0 spends on this input: "
                                    f"coded at qp 0 where it had to ({summary.achieved_bps / 1000:.0f} kbit/s)")
        if summary.achieved_bps < 0.95 * self.bitrate and self.bound_hits["high"]:
            summary.warnings.append(f"{self.bitrate / 1000:.0f} kbit/s is above what qp {QP_MAX} spends on this "
                                    f"input: coded at qp {QP_MAX} where it could "
                                    f"({summary.achieved_bps / 1000:.0f} kbit/s)")
        return summary
