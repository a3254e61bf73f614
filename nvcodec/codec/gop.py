"""The frame structure: which frames are intra, each frame's qp, where resets fall.

Low-delay P only: one reference (the previous frame), no reordering.  The
hierarchical qp shift and the reset position depend on the absolute frame
index, exactly as in DCVC-RT.
"""

from __future__ import annotations

from dataclasses import dataclass

from nvcodec.bitstream import FrameType
from nvcodec.models.config import P_QP_SHIFTS
from nvcodec.settings import CodingSettings

#: position in each group of 8 frames -> index into P_QP_SHIFTS
_SHIFT_INDEX = (0, 1, 0, 2, 0, 2, 0, 2)


@dataclass(frozen=True)
class FramePlan:
    index: int
    frame_type: FrameType
    qp: int
    use_ada_i: bool


def plan_frame(index: int, settings: CodingSettings) -> FramePlan:
    period = settings.intra_period
    if index == 0 or (period > 0 and index % period == 0):
        return FramePlan(index, FrameType.I, settings.qp_i, False)
    qp = settings.base_qp_p + P_QP_SHIFTS[_SHIFT_INDEX[index % 8]]
    reset = settings.reset_interval > 0 and index % settings.reset_interval == 1
    return FramePlan(index, FrameType.P, qp, reset)
