"""Write a small sample clip (H.264 + AAC in mp4) with PyAV, for `make demo` and for trying nvc out.

    python docs/examples/sample_clip.py out/sample.mp4 [--size 320x240] [--frames 25]
"""

import argparse
from fractions import Fraction
from pathlib import Path

import av
import numpy as np


def frame_at(t: int, width: int, height: int) -> np.ndarray:
    """Moving gradients and a sliding square: enough motion for P frames to matter."""
    yy, xx = np.mgrid[0:height, 0:width]
    r = 128 + 90 * np.sin((xx + 4 * t) / 17.0)
    g = 128 + 90 * np.cos((yy - 3 * t) / 13.0)
    b = 128 + 70 * np.sin((xx + yy + 2 * t) / 23.0)
    rgb = np.stack((r, g, b), axis=-1)
    x0 = (8 * t) % max(1, width - height // 3)
    rgb[height // 3 : 2 * height // 3, x0 : x0 + height // 3] = (240, 240, 40)
    return np.clip(rgb, 0, 255).astype(np.uint8)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("output", type=Path)
    parser.add_argument("--size", default="320x240")
    parser.add_argument("--frames", type=int, default=25)
    args = parser.parse_args()
    width, height = (int(v) for v in args.size.split("x"))
    args.output.parent.mkdir(parents=True, exist_ok=True)
    fps = 25
    with av.open(str(args.output), "w") as out:
        video = out.add_stream("libx264", rate=fps, options={"crf": "12"})
        video.width, video.height, video.pix_fmt = width, height, "yuv420p"
        cc = video.codec_context
        cc.colorspace = cc.color_primaries = cc.color_trc = 1  # BT.709, carried through the .nvc
        cc.color_range = 1
        audio = out.add_stream("aac", rate=48000)
        audio.layout = "stereo"
        for t in range(args.frames):
            frame = av.VideoFrame.from_ndarray(frame_at(t, width, height), format="rgb24")
            frame = frame.reformat(format="yuv420p", dst_colorspace=1, dst_color_range=1)
            frame.pts, frame.time_base = t, Fraction(1, fps)
            out.mux(video.encode(frame))
        samples = 48000 * args.frames // fps
        tone = (0.2 * np.sin(np.arange(samples) * 2 * np.pi * 330 / 48000)).astype(np.float32)
        for start in range(0, samples, 1024):
            chunk = tone[start : start + 1024]
            af = av.AudioFrame.from_ndarray(np.stack((chunk, chunk)), format="fltp", layout="stereo")
            af.sample_rate, af.pts = 48000, start
            out.mux(audio.encode(af))
        out.mux(audio.encode(None))
        out.mux(video.encode(None))
    print(f"wrote {args.output}: {width}x{height}, {args.frames} frames at {fps} fps, stereo AAC")


if __name__ == "__main__":
    main()
