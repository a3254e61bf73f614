"""The decoder's buffer (``-maxrate`` / ``-bufsize``), and a checker that replays frame sizes through it.

The model, as the help text states it: the decoder holds a buffer of ``bufsize`` bits that starts full
and is refilled at ``maxrate`` bits per second between frames (never above ``bufsize``); each frame's
bits are taken out at its time.  A stream is valid when the buffer never runs dry, that is, when no
frame is larger than what the buffer holds at its time.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass


@dataclass
class Vbv:
    maxrate: float  # bits per second
    bufsize: float  # bits
    fps: float

    def __post_init__(self) -> None:
        if not (self.maxrate > 0 and self.bufsize > 0 and self.fps > 0):
            raise ValueError("maxrate, bufsize and the frame rate must be positive")
        self.level = float(self.bufsize)

    @property
    def refill(self) -> float:
        """Bits that arrive between two frames."""
        return self.maxrate / self.fps

    def room(self) -> float:
        """The most bits the next frame may take."""
        return self.level

    def take(self, bits: float) -> bool:
        """Remove a frame's bits and refill for the next frame; False when the buffer ran dry."""
        ok = bits <= self.level
        self.level = min(self.bufsize, self.level - bits + self.refill)
        return ok


def replay_buffer(frame_bits: Sequence[float], fps: float, maxrate: float, bufsize: float) -> int | None:
    """The index of the first frame that empties the buffer, or None when the stream fits it."""
    vbv = Vbv(maxrate, bufsize, fps)
    for i, bits in enumerate(frame_bits):
        if not vbv.take(bits):
            return i
    return None
