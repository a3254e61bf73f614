"""Small clips generated with PyAV for the transcoder tests (no files from outside the test run)."""

from __future__ import annotations

from fractions import Fraction
from pathlib import Path

import av
import numpy as np

FPS = 25


def pattern(t: int, height: int, width: int) -> np.ndarray:
    """Smooth moving RGB content, different each frame."""
    yy, xx = np.mgrid[0:height, 0:width]
    r = 128 + 80 * np.sin((xx + 3 * t) / 6.0)
    g = 128 + 80 * np.cos((yy - 2 * t) / 5.0)
    b = 128 + 60 * np.sin((xx + yy + t) / 7.0)
    return np.clip(np.stack((r, g, b), axis=-1), 0, 255).astype(np.uint8)


def make_clip(path: Path, frames: int = 5, width: int = 64, height: int = 48, audio: bool = True,
              audio_codec: str = "aac", t0: int = 0) -> Path:
    """An mp4 (or the container ``path`` names; H.264 4:2:0, BT.709 tags) with a stereo audio track (AAC unless
    ``audio_codec`` says otherwise) a little longer than the video."""
    with av.open(str(path), "w") as out:
        v = out.add_stream("libx264", rate=FPS, options={"qp": "10"})
        v.width, v.height, v.pix_fmt = width, height, "yuv420p"
        v.codec_context.colorspace = 1
        v.codec_context.color_primaries = 1
        v.codec_context.color_trc = 1
        v.codec_context.color_range = 1
        a = None
        if audio:
            a = out.add_stream(audio_codec, rate=44100)
            a.layout = "stereo"
        for t in range(frames):
            frame = av.VideoFrame.from_ndarray(pattern(t0 + t, height, width), format="rgb24")
            frame = frame.reformat(format="yuv420p", dst_colorspace=1, dst_color_range=1)
            frame.pts = t
            frame.time_base = Fraction(1, FPS)
            out.mux(v.encode(frame))
        if a is not None:
            samples = int(44100 * frames / FPS)
            tone = (0.2 * np.sin(np.arange(samples) * 2 * np.pi * 440 / 44100)).astype(np.float32)
            for start in range(0, samples, 1024):
                chunk = tone[start : start + 1024]
                af = av.AudioFrame.from_ndarray(np.stack((chunk, chunk)), format="fltp", layout="stereo")
                af.sample_rate = 44100
                af.pts = start
                out.mux(a.encode(af))
            out.mux(a.encode(None))
        out.mux(v.encode(None))
    return path


def make_y4m(path: Path, frames: int = 3, width: int = 33, height: int = 17) -> Path:
    """A y4m written by hand (odd sizes: chroma is ceil(h/2) x ceil(w/2))."""
    ch, cw = (height + 1) // 2, (width + 1) // 2
    rng = np.random.default_rng(5)
    with open(path, "wb") as f:
        f.write(f"YUV4MPEG2 W{width} H{height} F{FPS}:1 Ip A1:1 C420jpeg\n".encode())
        for t in range(frames):
            f.write(b"FRAME\n")
            f.write(pattern(t, height, width)[..., 1].tobytes())
            f.write(rng.integers(100, 160, (2, ch, cw), dtype=np.uint8).tobytes())
    return path


def make_pngs(folder: Path, frames: int = 3, width: int = 40, height: int = 24) -> Path:
    folder.mkdir()
    for t in range(frames):
        av.VideoFrame.from_ndarray(pattern(t, height, width), format="rgb24").save(str(folder / f"{t:03d}.png"))
    return folder


def read_video(path: str | Path) -> list[av.VideoFrame]:
    with av.open(str(path)) as c:
        return list(c.decode(video=0))


def audio_packets(path: str | Path) -> list[tuple[int, bytes]]:
    with av.open(str(path)) as c:
        if not c.streams.audio:
            return []
        s = c.streams.audio[0]
        return [(p.pts, bytes(p)) for p in c.demux(s) if p.size]


def read_y4m(path: Path) -> tuple[str, list[bytes]]:
    """Header line and the frames' raw bytes."""
    data = path.read_bytes()
    header, _, rest = data.partition(b"\n")
    frames = rest.split(b"FRAME\n")
    return header.decode(), [f for f in frames if f]
