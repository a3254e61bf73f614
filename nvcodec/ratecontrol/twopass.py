"""Two passes: the first records how hard each frame is, the second spends the bits where they buy most.

Pass 1 codes the input with one-pass rate control and writes a log (``PREFIX-0.log``, JSON) of each
frame's kind, qp and bits.  A frame's *complexity* is how far its bits lie from the model's shape at
its qp; pass 2 predicts every frame at every level from it, and picks for each group of frames the
level whose running total meets the running target (so the whole clip lands on it), re-planning the
rest after every group from the bits actually spent.  The log names the input (its first frame's
hash, size and rate) and the settings that shape the bits, and pass 2 refuses any other.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
from dataclasses import asdict, dataclass, field

import numpy as np

from nvcodec.errors import ConfigError
from nvcodec.media import Planes
from nvcodec.ratecontrol.controller import P_QP_MAX, RateController, p_bases
from nvcodec.ratecontrol.model import I_SHAPE, P_SHAPE, shape
from nvcodec.ratecontrol.vbv import Vbv
from nvcodec.settings import QP_MAX, CodingSettings

LOG_FORMAT = "nvc-pass-1"
#: a log larger than this is not one nvc wrote (a 10-hour 60 fps encode is about 60 MB)
MAX_LOG_BYTES = 256 << 20
#: the most the level moves between groups in pass 2 (it knows the future, so it needs few steps)
MAX_STEP_2 = 3


def log_path(prefix: str) -> str:
    """Where pass 1 writes and pass 2 reads (ffmpeg's naming)."""
    return f"{prefix}-0.log"


def input_id(first: Planes, frame_rate: float) -> str:
    """What names an input: its first frame's samples, size and rate."""
    digest = hashlib.sha256()
    for plane in (first.y, first.u, first.v):
        digest.update(np.ascontiguousarray(plane).tobytes())
    digest.update(f"{first.width}x{first.height}:{first.chroma}:{frame_rate:.6f}".encode())
    return digest.hexdigest()


def settings_id(settings: CodingSettings, model_sha256: str) -> dict:
    """The settings that shape the bits of each frame (the bitrate may differ between passes)."""
    return {"model": model_sha256, "intra_period": settings.intra_period, "reset_interval": settings.reset_interval,
            "p_qps": list(p_bases(settings)), "block_skip": bool(settings.block_skip),
            "motion": bool(settings.motion),
            "skip_threshold": settings.skip_threshold, "two_ec": settings.two_ec, "numerics": settings.numerics}


@dataclass
class PassLog:
    input: str
    settings: dict
    pixels: int
    fps: float
    frames: list[tuple[str, int, int]] = field(default_factory=list)  # (kind, qp, bits)

    def write(self, path: str) -> None:
        doc = {"format": LOG_FORMAT, **asdict(self)}
        tmp = f"{path}.partial"
        with open(tmp, "w", encoding="utf-8") as f:
            json.dump(doc, f)
        os.replace(tmp, path)


def read_pass_log(path: str) -> PassLog:
    """A pass-1 log, checked field by field (it is a file, and files lie)."""
    try:
        if os.path.getsize(path) > MAX_LOG_BYTES:
            raise ConfigError("passlogfile", path, f"a pass-1 log under {MAX_LOG_BYTES} bytes")
        with open(path, encoding="utf-8") as f:
            doc = json.load(f)
    except FileNotFoundError:
        raise ConfigError("passlogfile", path, "the log of a first pass (run -pass 1 first)") from None
    except (OSError, ValueError, RecursionError) as exc:
        raise ConfigError("passlogfile", path, f"a readable pass-1 log ({exc})") from None
    try:
        if doc.get("format") != LOG_FORMAT:
            raise ValueError("format tag")
        frames = [(str(k), int(q), int(b)) for k, q, b in doc["frames"]]
        if not frames or any(k not in ("I", "P") or not 0 <= q <= QP_MAX + 8 or b < 0 for k, q, b in frames):
            raise ValueError("frames")
        log = PassLog(str(doc["input"]), dict(doc["settings"]), int(doc["pixels"]), float(doc["fps"]), frames)
        if log.pixels <= 0 or not (0 < log.fps < 1e4):
            raise ValueError("size or rate")
    except (AttributeError, KeyError, TypeError, ValueError) as exc:
        raise ConfigError("passlogfile", path, f"a pass-1 log nvc wrote (bad {exc})") from None
    return log


class PassOneRecorder:
    """A pass-1 controller that also records each frame for the log."""

    def __init__(self, controller: RateController, settings: CodingSettings, model_sha256: str) -> None:
        self.controller = controller
        self.vbv = controller.vbv
        self.log = PassLog("", settings_id(settings, model_sha256), controller.model.pixels, controller.fps)

    def first_frame(self, planes: Planes) -> None:
        self.log.input = input_id(planes, self.log.fps)

    def choose(self, index: int) -> int:
        return self.controller.choose(index)

    def retry(self, index: int, qp: int, bits: int) -> int | None:
        return self.controller.retry(index, qp, bits)

    def update(self, index: int, qp: int, bits: int) -> None:
        self.controller.update(index, qp, bits)
        self.log.frames.append((self.controller.kind(self.controller.plan(index)), qp, bits))

    def summary(self, target_bps: float | None = None):
        return self.controller.summary(target_bps)


class TwoPass(RateController):
    """The second pass: levels planned over the whole clip from the first pass's complexities."""

    def __init__(self, settings: CodingSettings, pixels: int, fps: float, bitrate: float, log: PassLog,
                 model_sha256: str, vbv: Vbv | None = None) -> None:
        super().__init__(settings, pixels, fps, vbv)
        if log.settings != settings_id(settings, model_sha256):
            changed = sorted(k for k in log.settings.keys() | settings_id(settings, model_sha256).keys()
                             if log.settings.get(k) != settings_id(settings, model_sha256).get(k))
            raise ConfigError("passlogfile", "pass 2", f"the settings of pass 1 (they differ in "
                                                       f"{', '.join(changed)})")
        if log.pixels != pixels or not math.isclose(log.fps, fps, rel_tol=1e-6):
            raise ConfigError("passlogfile", "pass 2", "a log of this input (its size or frame rate differs)")
        self.bitrate = bitrate
        self.per_frame = bitrate / fps
        self.log = log
        # ln bpp of each frame beyond the shape at the qp pass 1 coded it at: how hard that frame is
        self.complexity = [math.log(max(b, 8) / pixels) - shape(k, q) for k, q, b in log.frames]
        self.correction = 0.0  # ln(actual / predicted) of pass 2 so far
        self._predicted_spent = 0.0

    def first_frame(self, first: Planes) -> None:
        if input_id(first, self.fps) != self.log.input:
            raise ConfigError("passlogfile", "pass 2", "a log of this input (pass 1 coded another)")

    def _bits(self, indices: list[int]) -> np.ndarray:
        """Predicted bits of frames ``indices`` at every level: [level, frame]."""
        if indices and indices[-1] >= len(self.complexity):
            raise ConfigError("passlogfile", "pass 2", f"a log of this input (it holds {len(self.complexity)} "
                                                       "frames, the input has more)")
        plans = [self.plan(i) for i in indices]
        intra = np.array([self.kind(p) == "I" for p in plans])
        shift = np.array([0 if self.kind(p) == "I" else p.qp - self.settings.base_qp_p for p in plans])
        levels = np.arange(QP_MAX + 1)[:, None]
        coded = np.where(intra, levels, np.minimum(P_QP_MAX, np.array(self.p_bases)[:, None] + shift))
        # the shapes span every qp a frame can be coded at (I 0-63, P 0-71), so interpolation is all it takes
        i_points, p_points = np.array(I_SHAPE).T, np.array(P_SHAPE).T
        shapes = np.where(intra, np.interp(coded, i_points[0], i_points[1]), np.interp(coded, p_points[0], p_points[1]))
        complexity = np.array([self.complexity[i] for i in indices]) + self.correction
        return self.model.pixels * np.exp(complexity[None, :] + shapes)

    def choose_level(self, index: int) -> int:
        total = len(self.complexity)
        left = max(self.bitrate * total / self.fps - self.spent, 1.0)
        groups = _groups(self, index, total)
        rest = [i for g in groups for i in g]
        bits = self._bits(rest)
        group_len = len(groups[0])
        # one level for everything left that meets the budget left, then this group's share of it
        totals = bits.sum(1)
        level_all = int(np.argmin(np.abs(np.log(totals / left))))
        share = left * bits[level_all, :group_len].sum() / totals[level_all]
        low, high = (0, QP_MAX) if self.frames == 0 else (max(0, self.level - MAX_STEP_2),
                                                          min(QP_MAX, self.level + MAX_STEP_2))
        group_totals = bits[low:high + 1, :group_len].sum(1)
        level = low + int(np.argmin(np.abs(np.log(group_totals / max(share, 1.0)))))
        self._group_prediction = float(bits[level, :group_len].sum())
        self._group_start_spent = self.spent
        return level

    def update(self, index: int, qp: int, bits: int) -> None:
        super().update(index, qp, bits)
        if self.is_decision(index + 1) or index + 1 >= len(self.complexity):
            actual = self.spent - self._group_start_spent
            if actual > 0 and self._group_prediction > 0:
                self.correction += 0.5 * math.log(actual / self._group_prediction)


def _groups(controller: RateController, start: int, total: int) -> list[list[int]]:
    """Frame indices from ``start`` to ``total`` split at the controller's decision points."""
    groups: list[list[int]] = []
    for i in range(start, total):
        if not groups or controller.is_decision(i):
            groups.append([])
        groups[-1].append(i)
    return groups


__all__ = ["PassLog", "PassOneRecorder", "TwoPass", "input_id", "log_path", "read_pass_log"]
