"""Does explicit motion pay with given weights?  The development clips coded with motion off and on.

The same model codes each clip twice (motion off: the anchor; on: the test) at the development
set's video rate points; prints ``compare_rd.py``'s verdict (BD-rate per clip, P/I ratios) and
the encode and decode seconds of both.  Development set only (bench/dev_set.json):

    python bench/probes/probe_motion.py [--model nvc-compact] [--frames 21] [--out /tmp/motion]
                                        [--scale S] [--anchor-scale A]

``--anchor-scale A`` makes the anchor motion at the search's bit weight A (the test: ``--scale``),
which compares two weights instead of motion against none.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from bench_rd import show_progress, show_read, sources  # noqa: E402


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="nvc-compact")
    parser.add_argument("--data", type=Path, default=ROOT.parent / "shared" / "data")
    parser.add_argument("--frames", type=int, default=None, help="frames per clip (default: the set's)")
    parser.add_argument("--clips", type=int, default=None, help="only the first N clips")
    parser.add_argument("--out", type=Path, default=Path("/tmp/motion"))
    parser.add_argument("--scale", type=float, default=None, help="motion.MOTION_LAMBDA_SCALE to try")
    parser.add_argument("--anchor-scale", type=float, default=None,
                        help="the anchor codes with motion at this scale instead of without motion")
    parser.add_argument("--variant", choices=("full", "frame-only", "integer"), default="full",
                        help="frame-only: the feature is not moved; integer: vectors rounded to whole pixels")
    parser.add_argument("--only", default=None, help="comma-separated substrings of the clips to run")
    args = parser.parse_args()
    spec = json.loads((ROOT / "bench" / "dev_set.json").read_text())
    videos = sources(spec, args.data, smoke=False)[: len(spec["videos"])][: args.clips]
    if args.only:
        videos = [v for v in videos if any(k in v.name for k in args.only.split(","))]

    from nvcodec import numerics

    numerics.prepare_environment(numerics.DEFAULT_PROFILE)
    from compare_rd import compare

    from nvcodec.codec import motion
    from nvcodec.eval import report_json, run_evaluation

    if args.scale is not None:
        motion.MOTION_LAMBDA_SCALE = args.scale
    if args.variant == "frame-only":
        motion.warp_feature = lambda feature, field: feature
    elif args.variant == "integer":
        searched = motion.search

        def whole_pixels(*a, **k):
            field = searched(*a, **k)
            return (((field.astype("int64") + 2) // 4) * 4).astype(field.dtype)

        motion.search = whole_pixels
    from nvcodec.eval.codecs import NvcCodec

    qps = spec.get("video_qps", spec["qps"])
    class AtScale(NvcCodec):
        """Motion with the search's bit weight set while this codec codes (the codecs take turns)."""

        def code(self, frames, value, intra_period, fps):
            motion.MOTION_LAMBDA_SCALE = self.scale
            return super().code(frames, value, intra_period, fps)

    test = AtScale(args.model, qps, name="nvc-motion", motion=True)
    test.scale = motion.MOTION_LAMBDA_SCALE
    anchor = NvcCodec(args.model, qps, name="nvc-still", motion=False)
    if args.anchor_scale is not None:
        anchor = AtScale(args.model, qps, name=f"nvc-motion-{args.anchor_scale:g}", motion=True)
        anchor.scale = args.anchor_scale
    codecs = [anchor, test]
    report = run_evaluation(videos, codecs, max_frames=args.frames or spec["frames"],
                            intra_period=spec["intra_period"], progress=show_progress, on_read=show_read)
    args.out.mkdir(parents=True, exist_ok=True)
    doc = json.loads(report_json(report))
    (args.out / "motion.json").write_text(json.dumps(doc, indent=1))
    verdict = compare(doc, anchor.name, test.name)
    fps: dict = {}
    for source in doc["sources"]:
        for point in source["points"]:
            for key in ("encode_fps", "decode_fps"):
                fps.setdefault(point["codec"], {}).setdefault(key, []).append(point.get(key) or 0.0)
    verdict["mean_fps"] = {codec: {k: sum(v) / len(v) for k, v in by.items()} for codec, by in fps.items()}
    json.dump(verdict, sys.stdout, indent=2)
    print()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
