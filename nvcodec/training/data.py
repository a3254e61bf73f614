"""Training data: frames from videos and images, as the networks see them.

Everything is decoded once through ``nvcodec.io`` into 8-bit YUV 4:2:0 clips held
in memory (the data set is small), then served as random crops of consecutive
frames converted exactly like coding input: chroma repeated 2x2, /255, YCbCr
planes.  Frames are scaled to even sizes with swscale's area filter, and those
wider than ``max_width`` to half size, since the model must learn motion and
texture statistics at several scales.  RGB sources become YUV by swscale's
defaults as PyAV applies them (the BT.601 matrix at the image's full range),
as the shipped weights were trained on; the transcoder's BT.709 would shift it.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from itertools import islice
from pathlib import Path

import numpy as np
import torch

from nvcodec.errors import InputError
from nvcodec.io.source import DecodedPicture, PictureReader

VIDEO_SUFFIXES = {".mp4", ".mkv", ".avi", ".mov", ".webm", ".264", ".h264", ".265", ".y4m", ".ts"}
IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff", ".webp"}


@dataclass
class Clip:
    """Consecutive frames of one source, 4:2:0 uint8: y [T, H, W], uv [T, 2, H/2, W/2]."""

    name: str
    y: np.ndarray
    uv: np.ndarray

    @property
    def frames(self) -> int:
        return int(self.y.shape[0])


def training_size(width: int, height: int, max_width: int) -> tuple[int, int]:
    """The size a frame is trained at: even (so that 4:2:0 chroma covers it exactly), halved when
    wider than ``max_width``."""
    if width > max_width:
        return (width // 4) * 2, (height // 4) * 2
    return width - width % 2, height - height % 2


def _planes(picture: DecodedPicture, max_width: int) -> tuple[np.ndarray, np.ndarray]:
    """A decoded picture as luma [H, W] and stacked chroma [2, H/2, W/2] at its training size."""
    width, height = training_size(picture.width, picture.height, max_width)
    planes = picture.yuv420(width, height, interpolation="AREA", keep=())
    return planes.y, np.stack((planes.u, planes.v))


def load_video(path: Path, max_frames: int, max_width: int, stride: int = 1) -> Clip:
    """Up to ``max_frames`` frames (every ``stride``-th), ending early where the frame size changes."""
    ys, uvs = [], []
    with PictureReader(path) as reader:
        for picture in islice(reader, 0, None, stride):
            y, uv = _planes(picture, max_width)
            if ys and y.shape != ys[0].shape:
                break
            ys.append(y)
            uvs.append(uv)
            if len(ys) >= max_frames:
                break
    if not ys:
        raise InputError(f"{path} has no video frames")
    return Clip(path.name, np.stack(ys), np.stack(uvs))


def load_image(path: Path, max_width: int) -> Clip:
    with PictureReader(path) as reader:
        picture = next(iter(reader), None)
        if picture is None:
            raise InputError(f"{path} has no picture")
        y, uv = _planes(picture, max_width)
    return Clip(path.name, y[None], uv[None])


def load_folder_of_frames(path: Path, max_frames: int, max_width: int) -> list[Clip]:
    """Numbered frames as clips; a size change starts a new clip (folders of unrelated stills)."""
    files = sorted(p for p in path.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)[:max_frames]
    groups: list[list[Clip]] = []
    for clip in (load_image(p, max_width) for p in files):
        if groups and groups[-1][0].y.shape == clip.y.shape:
            groups[-1].append(clip)
        else:
            groups.append([clip])
    return [Clip(f"{path.name}/{g[0].name}", np.concatenate([c.y for c in g]), np.concatenate([c.uv for c in g]))
            for g in groups]


def discover(roots: Iterable[str | os.PathLike[str]]) -> list[Path]:
    """Training sources under the given files/folders: videos, images and folders of frames."""
    found: list[Path] = []
    for root in map(Path, roots):
        if root.is_file():
            found.append(root)
            continue
        if not root.is_dir():
            raise InputError(f"training source {root} does not exist")
        frames = [p for p in root.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES]
        subdirs = [p for p in root.iterdir() if p.is_dir()]
        if frames and not subdirs and len(frames) > 1 and all(p.stem.isdigit() or "frame" in p.stem for p in frames):
            found.append(root)  # a frame sequence
            continue
        for p in sorted(root.iterdir()):
            if p.is_dir():
                found.extend(discover([p]))
            elif p.suffix.lower() in VIDEO_SUFFIXES | IMAGE_SUFFIXES:
                found.append(p)
    return found


def load_sources(paths: Iterable[Path], max_frames: int = 48, max_width: int = 960) -> list[Clip]:
    clips = []
    for path in paths:
        if path.is_dir():
            clips.extend(load_folder_of_frames(path, max_frames, max_width))
        elif path.suffix.lower() in IMAGE_SUFFIXES:
            clips.append(load_image(path, max_width))
        else:
            clips.append(load_video(path, max_frames, max_width))
    return clips


class StageSamplers:
    """Crop samplers for recipe stages, from sources read at the stage's ``max_frames``.

    Stages may read more of every video than the ones before them; the clips of one frame budget
    are held at a time (all of it is in memory), re-read only when a stage asks for another.
    """

    def __init__(self, sources: Iterable[Path], on_load: Callable[[int], None] | None = None):
        self.sources = list(sources)
        self.on_load = on_load
        self._clips: tuple[int, list[Clip]] | None = None

    def clips(self, max_frames: int) -> list[Clip]:
        if self._clips is None or self._clips[0] != max_frames:
            self._clips = None  # free the old set before reading the new one
            if self.on_load is not None:
                self.on_load(max_frames)
            self._clips = (max_frames, load_sources(self.sources, max_frames=max_frames))
        return self._clips[1]

    def __call__(self, stage) -> CropSampler:
        return CropSampler(self.clips(stage.max_frames), stage.crop, stage.length, stage.still_share)


def to_network(y: np.ndarray, uv: np.ndarray) -> torch.Tensor:
    """[..., H, W] luma and [..., 2, H/2, W/2] chroma (uint8) -> [..., 3, H, W] float in [0, 1]."""
    yt = torch.from_numpy(np.ascontiguousarray(y)).float() / 255.0
    uvt = torch.from_numpy(np.ascontiguousarray(uv)).float() / 255.0
    uvt = uvt.repeat_interleave(2, dim=-2).repeat_interleave(2, dim=-1)
    return torch.cat((yt.unsqueeze(-3), uvt), dim=-3)


def _with_still_share(weights: np.ndarray, still: np.ndarray, share: float) -> np.ndarray:
    """Normalised sampling weights in which still images get ``share`` of the draws.

    Weighting by frame count lets a few dozen video clips drown the still photographs, whose
    detail is what an intra model needs to learn (and what image benchmarks such as Kodak hold).
    ``share`` 0 keeps the plain frames-times-area weighting.
    """
    weights = weights / weights.sum()
    if share <= 0 or not still.any() or still.all():
        return weights
    out = np.where(still, weights / weights[still].sum() * share, weights / weights[~still].sum() * (1 - share))
    return out / out.sum()


class CropSampler:
    """Random crops of ``length`` consecutive frames (length 1 for intra training).

    Seeded by a numpy Generator the loop owns, so resuming restores the stream.
    """

    def __init__(self, clips: list[Clip], crop: int, length: int, still_share: float = 0.0):
        self.crop = crop
        self.length = length
        # with a still share, sequences are also made from still images: the crop held in place or
        # panned (see _still_sequence); the pan needs room for 2 pixels a frame
        pan_room = crop + 2 * (length - 1)
        self.clips = [c for c in clips if (c.frames >= length and min(c.y.shape[1:]) >= crop)
                      or (length > 1 and still_share > 0 and c.frames == 1 and min(c.y.shape[1:]) >= pan_room)]
        if not self.clips:
            raise InputError(f"no training source has {length} frames of at least {crop}x{crop}")
        weights = np.array([min(c.frames, 48) * c.y.shape[1] * c.y.shape[2] for c in self.clips], dtype=np.float64)
        self.weights = _with_still_share(weights, np.array([c.frames == 1 for c in self.clips]), still_share)

    def sample(self, rng: np.random.Generator, batch: int) -> torch.Tensor:
        """[batch, length, 3, crop, crop] float tensors in the network's YCbCr domain."""
        out = []
        for _ in range(batch):
            clip = self.clips[rng.choice(len(self.clips), p=self.weights)]
            if clip.frames < self.length:
                x = self._still_sequence(rng, clip)
                out.append(x.flip(-1) if rng.random() < 0.5 else x)
                continue
            t0 = int(rng.integers(0, clip.frames - self.length + 1))
            h, w = clip.y.shape[1:]
            top = int(rng.integers(0, (h - self.crop) // 2 + 1)) * 2
            left = int(rng.integers(0, (w - self.crop) // 2 + 1)) * 2
            frames = slice(t0, t0 + self.length)
            y = clip.y[frames, top : top + self.crop, left : left + self.crop]
            uv = clip.uv[frames, :, top // 2 : (top + self.crop) // 2, left // 2 : (left + self.crop) // 2]
            x = to_network(y, uv)
            if rng.random() < 0.5:
                x = x.flip(-1)
            out.append(x)
        return torch.stack(out)

    def _still_sequence(self, rng: np.random.Generator, clip: Clip) -> torch.Tensor:
        """``length`` frames from one still: the crop held still (half the time) or panned 2 pixels a frame.

        A talking head or a fixed camera repeats most of each frame, which a P frame should code almost
        for free, and the video clips hold too little of it; stills add it with photographs' detail.
        The step is even, so that the 4:2:0 chroma moves with the luma.
        """
        h, w = clip.y.shape[1:]
        v = np.zeros(2, np.int64) if rng.random() < 0.5 else rng.integers(-1, 2, 2)
        span = 2 * (self.length - 1) * np.abs(v)
        top = int(rng.integers(0, (h - self.crop - span[0]) // 2 + 1)) * 2 + int(span[0] if v[0] < 0 else 0)
        left = int(rng.integers(0, (w - self.crop - span[1]) // 2 + 1)) * 2 + int(span[1] if v[1] < 0 else 0)
        ys, uvs = [], []
        for t in range(self.length):
            ty, tx = top + 2 * t * int(v[0]), left + 2 * t * int(v[1])
            ys.append(clip.y[0, ty : ty + self.crop, tx : tx + self.crop])
            uvs.append(clip.uv[0, :, ty // 2 : (ty + self.crop) // 2, tx // 2 : (tx + self.crop) // 2])
        return to_network(np.stack(ys), np.stack(uvs))
