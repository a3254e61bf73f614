"""Evaluation sources as 8-bit YUV 4:2:0 :class:`Planes`, read through ``nvcodec.io``.

A source is a video file (y4m, mkv, mp4, raw .264, ...), a folder of image
frames in name order (one video), or a single image file (a still, which only
intra coding and JPEG see).  Anything not already yuv420p is converted by
FFmpeg's swscale with its defaults as PyAV applies them (RGB input: the BT.601
matrix at the image's own full range, so pure red is Y 76; gray gets neutral
chroma), so every codec in a run codes exactly the same samples.  That is not
the transcoder's conversion (BT.709, limited range), which is why the frames
come from :class:`nvcodec.io.source.PictureReader` and not ``VideoSource``.
Full-range 4:2:0 (yuvj420p, as JPEG decodes) is taken as it is, samples unchanged.
"""

from __future__ import annotations

from dataclasses import dataclass
from itertools import islice
from pathlib import Path
from typing import Literal

from nvcodec.codec.frames import Planes
from nvcodec.errors import InputError
from nvcodec.io.source import PictureReader

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
    with PictureReader(path) as reader:
        frames = tuple(picture.yuv420() for picture in islice(reader, limit))
        rate = reader.rate
    if not frames:
        raise InputError(f"{str(path)!r} has no decodable video frames")
    return frames, float(rate) if rate else None
