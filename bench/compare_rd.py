"""Two nvc models from one ``bench_rd.py`` run, against each other: is the candidate worth committing?

``make train`` commits new weights only when the evaluation improves by 1 % or more, and that
question is one model against the other, not against x264: the BD-rate of the candidate with the
shipped model as anchor, per source and averaged per kind (video, image), plus both models' P/I
bit ratios and their PSNR at the highest qp.  Reads the ``rd.json`` of a run with two ``--model`` options.

    python bench/bench_rd.py --model nvc-compact --model cand.pt --out /tmp/cmp
    python bench/compare_rd.py /tmp/cmp/rd.json            # anchor: the first nvc model
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from nvcodec.eval import p_to_i_bit_ratio  # noqa: E402
from nvcodec.metrics.bdrate import bd_rate  # noqa: E402


class _StoredPoint:
    """A rate point as rd.json keeps it, seen through the one method ``p_to_i_bit_ratio`` reads."""

    def __init__(self, point: dict) -> None:
        self._by_type = point["by_type"]

    def by_type(self) -> dict:
        return self._by_type


def curve(source: dict, codec: str) -> list[dict]:
    return sorted((p for p in source["points"] if p["codec"] == codec), key=lambda p: p["value"])


def compare(doc: dict, anchor: str, test: str) -> dict:
    rows, per_kind, ratios = [], {}, {anchor: [], test: []}
    for source in doc["sources"]:
        a, t = curve(source, anchor), curve(source, test)
        if not a or not t:
            continue
        result = bd_rate([p["bpp"] for p in a], [p["psnr_yuv"] for p in a],
                         [p["bpp"] for p in t], [p["psnr_yuv"] for p in t])
        percent = result.percent
        row = {"source": source["name"], "kind": source["kind"], "bd_rate_percent": percent,
               "psnr_at_top_qp": {anchor: a[-1]["psnr_yuv"], test: t[-1]["psnr_yuv"]}}
        if percent is not None:
            per_kind.setdefault(source["kind"], []).append(percent)
        if source["kind"] == "video":
            # per rate point too: the mean hides where the P frames fall behind
            row["p_to_i_per_point"] = {}
            for codec, points in ((anchor, a), (test, t)):
                per_point = p_to_i_bit_ratio([_StoredPoint(p) for p in points])
                row["p_to_i_per_point"][codec] = [round(r, 3) for r in per_point]
                ratios[codec] += per_point
        rows.append(row)
    mean = {kind: sum(v) / len(v) for kind, v in per_kind.items()}
    p_i = {codec: (sum(v) / len(v) if v else None) for codec, v in ratios.items()}
    return {"anchor": anchor, "test": test, "mean_bd_rate_percent": mean, "p_to_i": p_i, "sources": rows}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("rd_json", type=Path)
    ap.add_argument("--anchor", help="codec label of the anchor (default: the first nvc codec)")
    ap.add_argument("--test", help="codec label of the candidate (default: the second nvc codec)")
    args = ap.parse_args(argv)
    doc = json.loads(args.rd_json.read_text())
    nvcs = [name for name, info in doc["codecs"].items() if info.get("codec") == "nvc"]
    anchor = args.anchor or (nvcs[0] if nvcs else None)
    test = args.test or (nvcs[1] if len(nvcs) > 1 else None)
    if anchor is None or test is None:
        print(f"error: need two nvc codecs in {args.rd_json} (found: {', '.join(nvcs) or 'none'})", file=sys.stderr)
        return 1
    json.dump(compare(doc, anchor, test), sys.stdout, indent=2)
    print()
    return 0


if __name__ == "__main__":
    sys.exit(main())
