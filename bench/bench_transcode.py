"""End-to-end frames per second of ``nvc encode`` and ``nvc decode`` on a real clip, beside x264.

``bench_codec.py`` times the networks alone on synthetic frames; a user waits for the whole command:
demuxing and decoding the input, colour conversion, padding, the networks, the rANS coder, the
container, and on the way back the output encoder.  This runs both commands as a user would (a fresh
process each, ``-an``), takes the fps each reports for its frames (start-up excluded) and, in the same
run, the fps of libx264 (preset medium, no B-frames, as ``nvc eval`` uses it) encoding the same
frames, so that a noisy shared machine still gives a ratio worth comparing.  Decoding is timed into
each ``--outputs`` container, since the output encoder shares the cores with the neural decoder.

The default clip is from the training split (docs/DATA_SPLIT.md): a speed measurement tunes nothing.

    python bench/bench_transcode.py [--clip ../shared/data/video/compressed/sam2_02_cups_1280x720.mp4]
                                    [--frames 30] [--qp 32] [--outputs y4m,mkv,mp4] [--rounds 2]
                                    [--model nvc-compact --model candidate.pt]
                                    [--encode-options= --encode-options=--no-block-skip]

With several ``--model`` options every model is timed in the same rounds, taking turns, and the
result holds one entry per model: the way to price a candidate architecture against the shipped one.
``--encode-options`` does the same for encoder options (write them with ``=``, one option string each).
"""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
import tempfile
import time
from fractions import Fraction
from pathlib import Path

CLIP = "../shared/data/video/compressed/sam2_02_cups_1280x720.mp4"
_FPS = re.compile(r"\(([0-9.]+) fps\)")


def nvc(*args: str) -> float:
    """Run one nvc command; the fps it reports for its own frames."""
    exe = Path(sys.executable).with_name("nvc")  # the console script of this environment
    out = subprocess.run([str(exe), *args], check=True, capture_output=True, text=True)
    found = _FPS.search(out.stderr + out.stdout)
    if not found:
        raise RuntimeError(f"no fps in the output of nvc {' '.join(args)}: {out.stderr.strip()}")
    return float(found.group(1))


def x264_fps(clip: str, frames: int) -> float:
    """libx264 (medium, no B-frames) encoding the clip's first ``frames`` frames, decoded beforehand."""
    import av

    with av.open(clip) as source:
        pictures = []
        for frame in source.decode(video=0):
            pictures.append(frame.reformat(format="yuv420p"))
            if len(pictures) == frames:
                break
    with tempfile.TemporaryDirectory() as tmp:
        out = av.open(str(Path(tmp) / "x264.mp4"), "w")
        stream = out.add_stream("libx264", rate=25, options={"preset": "medium", "crf": "27", "bframes": "0"})
        stream.width, stream.height, stream.pix_fmt = pictures[0].width, pictures[0].height, "yuv420p"
        start = time.perf_counter()
        for i, picture in enumerate(pictures):
            picture.pts, picture.time_base = i, Fraction(1, 25)
            out.mux(stream.encode(picture))
        out.mux(stream.encode(None))
        elapsed = time.perf_counter() - start
        out.close()
    return len(pictures) / elapsed


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--clip", default=CLIP)
    ap.add_argument("--frames", type=int, default=30)
    ap.add_argument("--qp", type=int, default=32)
    ap.add_argument("--outputs", default="y4m,mkv,mp4", help="containers to decode into, comma-separated")
    ap.add_argument("--rounds", type=int, default=2, help="best of this many runs of each command")
    ap.add_argument("--model", action="append", default=None,
                    help="model to time (name or file); repeat to compare models in the same run")
    ap.add_argument("--encode-options", action="append", default=None,
                    help="extra nvc encode options, e.g. '--no-block-skip'; repeat (one may be '') to compare "
                         "them in the same run")
    args = ap.parse_args()
    outputs = [o for o in args.outputs.split(",") if o]
    variants = [(m, o) for m in (args.model or [None]) for o in (args.encode_options or [""])]

    def key(command: str, variant: tuple[str | None, str]) -> str:
        if len(variants) == 1:
            return command
        model, options = variant
        label = ",".join(x for x in (Path(model).name if model else "default", options.strip()) if x)
        return f"{command}[{label}]"

    runs: dict[str, list[float]] = {"x264_encode": []}
    sizes: dict[str, int] = {}
    with tempfile.TemporaryDirectory() as tmp:
        for _ in range(args.rounds):  # taking turns, so that a busy spell hits every command alike
            runs["x264_encode"].append(x264_fps(args.clip, args.frames))
            for i, variant in enumerate(variants):
                model, options = variant
                chosen = ["--model", model] if model else []
                stream = str(Path(tmp) / f"clip{i}.nvc")
                runs.setdefault(key("nvc_encode", variant), []).append(
                    nvc("encode", args.clip, "-frames", str(args.frames), "-q", str(args.qp), "-an", "-y",
                        *chosen, *options.split(), stream))
                for o in outputs:
                    runs.setdefault(key(f"nvc_decode_{o}", variant), []).append(
                        nvc("decode", stream, "-y", *chosen, str(Path(tmp) / f"out.{o}")))
                sizes[key("stream_bytes", variant)] = os.path.getsize(stream)
    best = {k: round(max(v), 2) for k, v in runs.items()}
    doc = {
        "clip": args.clip, "frames": args.frames, "qp": args.qp, "rounds": args.rounds,
        "cores": os.cpu_count(), **sizes, "fps": best,
        "vs_x264_encode": {k: round(v / best["x264_encode"], 3) for k, v in best.items() if k != "x264_encode"},
    }
    json.dump(doc, sys.stdout, indent=2)
    print()
    return 0


if __name__ == "__main__":
    sys.exit(main())
