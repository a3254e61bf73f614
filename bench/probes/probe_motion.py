"""Does explicit motion pay with given weights?  The development clips coded with motion off and on.

The same model codes each clip twice (motion off: the anchor; on: the test) at the development
set's video rate points; prints ``compare_rd.py``'s verdict (BD-rate per clip, P/I ratios) and
the encode and decode seconds of both.  Development set only (bench/dev_set.json):

    python bench/probes/probe_motion.py [--model nvc-compact] [--frames 21] [--out /tmp/motion]
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
    args = parser.parse_args()
    spec = json.loads((ROOT / "bench" / "dev_set.json").read_text())
    spec["images"] = []
    videos = sources(spec, args.data, smoke=False)[: args.clips]

    from nvcodec import numerics

    numerics.prepare_environment(numerics.DEFAULT_PROFILE)
    from compare_rd import compare

    from nvcodec.eval import report_json, run_evaluation
    from nvcodec.eval.codecs import NvcCodec

    qps = spec.get("video_qps", spec["qps"])
    codecs = [NvcCodec(args.model, qps, name="nvc-still", motion=False),
              NvcCodec(args.model, qps, name="nvc-motion", motion=True)]
    report = run_evaluation(videos, codecs, max_frames=args.frames or spec["frames"],
                            intra_period=spec["intra_period"], progress=show_progress, on_read=show_read)
    args.out.mkdir(parents=True, exist_ok=True)
    doc = json.loads(report_json(report))
    (args.out / "motion.json").write_text(json.dumps(doc, indent=1))
    verdict = compare(doc, "nvc-still", "nvc-motion")
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
