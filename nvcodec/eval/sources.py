"""Evaluation sources read through PyAV as 8-bit YUV 4:2:0 :class:`Planes`.

Deliberately small and private to evaluation (``nvcodec/io`` is the transcoder's
reader): a source is a video file (y4m, mkv, mp4, raw .264, ...), a folder of
image frames in name order (one video), or a single image file (a still, which
only intra coding and JPEG see).  Anything not already yuv420p is converted by
FFmpeg's swscale with its defaults (BT.601, limited range for RGB input; gray
gets neutral chroma), so every codec in a run codes exactly the same samples.
Full-range 4:2:0 (yuvj420p, as JPEG decodes) is taken as it is, samples unchanged.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import numpy as np

from nvcodec.codec.frames import Planes
from nvcodec.errors import InputError

#: file name suffixes read as still images (and as frames inside a folder)
IMAGE_SUFFIXES = frozenset({".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff", ".ppm", ".pgm", ".webp"})
#: frame rate assumed where a source states none (image folders), for kbit/s only
DEFAULT_FPS = 30.0

SourceKind = Literal["video", "image"]


@dataclass(frozen=True)
class Source:
    """The frames of one evaluation item and what its rate is reported against."""

    name: str
    path: str
    kind: SourceKind
    frames: tuple[Planes, ...]
    fps: float

    @property
    def width(self) -> int:
        return self.frames[0].width

    @property
    def height(self) -> int:
        return self.frames[0].height


def load_source(path: str | Path, max_frames: int | None = None) -> Source:
    """Read up to ``max_frames`` frames (all when None) of a video, frame folder or image."""
    path = Path(path)
    if max_frames is not None and max_frames < 1:
        raise ValueError(f"max_frames must be at least 1, got {max_frames}")
    if path.is_dir():
        files = sorted(p for p in path.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)
        if not files:
            raise InputError(f"{str(path)!r} holds no image frames ({', '.join(sorted(IMAGE_SUFFIXES))})")
        files = files[:max_frames]
        frames = tuple(_read_frames(f, 1)[0][0] for f in files)
        sizes = {(f.width, f.height) for f in frames}
        if len(sizes) > 1:
            raise InputError(f"the frames in {str(path)!r} differ in size: {sorted(sizes)}")
        return Source(path.name, str(path), "video", frames, DEFAULT_FPS)
    if not path.exists():
        raise InputError(f"source {str(path)!r} does not exist")
    if path.suffix.lower() in IMAGE_SUFFIXES:
        frames, _ = _read_frames(path, 1)
        return Source(path.stem, str(path), "image", frames, DEFAULT_FPS)
    frames, fps = _read_frames(path, max_frames)
    return Source(path.stem, str(path), "video", frames, fps or DEFAULT_FPS)


def _read_frames(path: Path, limit: int | None) -> tuple[tuple[Planes, ...], float | None]:
    import av

    frames: list[Planes] = []
    try:
        with av.open(str(path)) as container:
            if not container.streams.video:
                raise InputError(f"{str(path)!r} has no video stream")
            stream = container.streams.video[0]
            rate = stream.average_rate or stream.guessed_rate
            for frame in container.decode(stream):
                frames.append(frame_to_planes(frame))
                if limit is not None and len(frames) >= limit:
                    break
    except av.FFmpegError as exc:
        raise InputError(f"cannot read {str(path)!r}: {exc}") from None
    if not frames:
        raise InputError(f"{str(path)!r} has no decodable video frames")
    return tuple(frames), float(rate) if rate else None


def frame_to_planes(frame, width: int | None = None, height: int | None = None) -> Planes:
    """A PyAV video frame as 4:2:0 :class:`Planes`, cropped to ``width`` x ``height`` if given.

    yuv420p and yuvj420p samples are taken unchanged (a decoder's output must be
    compared sample for sample with what was coded); other formats are converted
    to yuv420p.  Planes are read row by row through the line size (which pads rows), chroma
    sizes rounded up, so odd frame sizes come through intact.
    """
    if frame.format.name not in ("yuv420p", "yuvj420p"):
        frame = frame.reformat(format="yuv420p")
    w = frame.width if width is None else width
    h = frame.height if height is None else height
    cw, ch = (w + 1) // 2, (h + 1) // 2
    y, u, v = (_plane(frame.planes[i], pw, ph) for i, (pw, ph) in enumerate(((w, h), (cw, ch), (cw, ch))))
    return Planes(y, u, v)


def _plane(plane, width: int, height: int) -> np.ndarray:
    rows = np.frombuffer(plane, dtype=np.uint8).reshape(-1, plane.line_size)
    return np.ascontiguousarray(rows[:height, :width])
