"""Progress while coding: a rich line on a terminal's stderr, key=value blocks for scripts, a summary.

The rich display appears only when stderr is a terminal (and the log level
shows info), so logs and pipes never fill with control codes.  ``--progress``
writes blocks in ffmpeg's ``-progress`` format (``frame=``, ``fps=``,
``bitrate=``, ``total_size=``, ``out_time_us=``, ``speed=``, ``progress=continue|end``).
"""

from __future__ import annotations

import sys
import time
from typing import IO


class Progress:
    """Feed it one :meth:`update` per frame; :meth:`close` at the end."""

    def __init__(self, verb: str, total: int | None, fps: float, show: bool, progress_to: str | None) -> None:
        self.verb = verb
        self.total = total
        self.fps = fps if fps > 0 else 25.0
        self.t0 = time.perf_counter()
        self.frames = 0
        self.size = 0
        self.target_kbps: float | None = None  # rate control's target, shown beside the achieved rate
        self._file: IO[str] | None = None
        self._own_file = False
        if progress_to == "-":
            self._file = sys.stdout
        elif progress_to:
            self._file = open(progress_to, "w", encoding="ascii")  # noqa: SIM115 - closed in close()
            self._own_file = True
        self._live = None
        if show and sys.stderr.isatty():
            from rich.console import Console
            from rich.progress import BarColumn, TextColumn, TimeRemainingColumn
            from rich.progress import Progress as RichProgress

            self._live = RichProgress(
                TextColumn("{task.description}"), BarColumn(), TextColumn("{task.fields[stats]}"),
                TimeRemainingColumn(), console=Console(stderr=True), transient=True,
            )
            self._task = self._live.add_task(verb, total=total, stats="")
            self._live.start()

    @property
    def elapsed(self) -> float:
        return max(time.perf_counter() - self.t0, 1e-9)

    def stats(self) -> dict[str, float]:
        media = self.frames / self.fps
        return {
            "fps": self.frames / self.elapsed,
            "kbps": self.size * 8 / 1000 / media if media else 0.0,
            "speed": media / self.elapsed,
            "media": media,
        }

    def update(self, frame_bytes: int) -> None:
        self.frames += 1
        self.size += frame_bytes
        s = self.stats()
        if self._live is not None:
            aim = f"/{self.target_kbps:.1f}" if self.target_kbps else ""
            text = (f"frame={self.frames} fps={s['fps']:.2f} bitrate={s['kbps']:.1f}{aim}kbit/s "
                    f"size={self.size / 1024:.1f}KiB speed={s['speed']:.3f}x")
            self._live.update(self._task, completed=self.frames, stats=text)
        self._block("continue")

    def _block(self, state: str) -> None:
        if self._file is None:
            return
        s = self.stats()
        us = int(s["media"] * 1e6)
        hh, rem = divmod(us, 3_600_000_000)
        mm, rem = divmod(rem, 60_000_000)
        ss = rem / 1e6
        self._file.write(
            f"frame={self.frames}\nfps={s['fps']:.2f}\nbitrate={s['kbps']:.1f}kbits/s\ntotal_size={self.size}\n"
            f"out_time_us={us}\nout_time={hh:02d}:{mm:02d}:{ss:09.6f}\nspeed={s['speed']:.3f}x\nprogress={state}\n"
        )
        self._file.flush()

    def close(self, ok: bool = True) -> None:
        if self._live is not None:
            self._live.stop()
            self._live = None
        if ok:
            self._block("end")
        if self._own_file and self._file is not None:
            self._file.close()
        self._file = None
