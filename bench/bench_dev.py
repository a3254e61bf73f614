"""Candidate weights against the shipped ones on the development set (``make bench-dev``).

Which of two weights to keep is a choice, and docs/DATA_SPLIT.md allows no choice to look at the
evaluation set: this codes the training-split clips and stills of ``bench/dev_set.json`` with both
models (nvc only; clips as whole sequences, stills as I frames, which judge intra weights) and prints
``compare_rd.py``'s verdict: the candidate's BD-rate against the anchor per source and per kind, and
both models' P/I bit ratio at equal PSNR, in all and per rate point.

    python bench/bench_dev.py --candidate cand.pt [--anchor nvc-compact] [--kind video] [--out bench/results/dev]
                              [--anchor-from bench/results/dev-earlier]

``--kind video`` skips the stills: a candidate whose I frames are the anchor's (a P-frame stage) codes
them identically.  ``--anchor-from`` takes the anchor's points from an earlier run's reports (coding is
deterministic, so the same weights, sources and settings give the same points) and codes only the
candidate, half the time; a report whose anchor, settings or sources differ is refused.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DEV_SET = Path(__file__).resolve().parent / "dev_set.json"
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from bench_rd import load_eval_set, overlaps, show_progress, show_read, sources  # noqa: E402

# nvcodec.eval (and compare_rd, which imports it) imports torch, which must come after the numerics
# profile nvc eval runs under: imported late


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--candidate", required=True, help="nvc model spec of the weights under test")
    parser.add_argument("--anchor", default="nvc-compact", help="nvc model spec to compare against")
    parser.add_argument("--data", type=Path, default=ROOT.parent / "shared" / "data")
    parser.add_argument("--out", type=Path, default=ROOT / "bench" / "results" / "dev")
    parser.add_argument("--kind", choices=("video", "image"), default=None,
                        help="judge on the clips or the stills alone (default: both)")
    parser.add_argument("--frames", type=int, default=None,
                        help="frames per clip (default: the set's); choices are made at the set's count")
    parser.add_argument("--anchor-from", type=Path, default=None,
                        help="an earlier run's --out folder whose anchor points to reuse (same code, same anchor)")
    args = parser.parse_args()
    spec = json.loads(DEV_SET.read_text())
    evaluation = load_eval_set()
    clash = overlaps(spec["videos"] + spec["images"], evaluation["videos"] + evaluation["images"])
    if clash:
        raise SystemExit(f"bench_dev: development and evaluation sources overlap: {clash}")
    args.out.mkdir(parents=True, exist_ok=True)
    out = args.out / "dev.json"
    paths = sources(spec, args.data, smoke=False)
    # the clips at their own rate points (video_qps): with block skip the P frames sit 24 qp under
    # the I frame, so qps under 24 share P qp 0 and differ in the I frame alone, which leaves a clip's
    # lowest points costing about the same and its BD-rate undefined
    groups = [("video", paths[: len(spec["videos"])], spec.get("video_qps", spec["qps"])),
              ("image", paths[len(spec["videos"]):], spec["qps"])]
    groups = [g for g in groups if args.kind in (None, g[0])]

    from nvcodec import numerics

    numerics.prepare_environment(numerics.DEFAULT_PROFILE)  # as nvc eval runs, before torch is imported
    from nvcodec.errors import NvcError
    from nvcodec.eval import build_codecs, report_json, run_evaluation

    merged: dict = {}
    for kind, group, qps in groups:
        try:
            codecs = build_codecs(("nvc",), (args.anchor, args.candidate), qps)
            earlier = None
            if args.anchor_from is not None:
                earlier = json.loads((args.anchor_from / f"dev-{kind}.json").read_text())
                codecs = codecs[1:]
            report = run_evaluation(group, codecs, max_frames=args.frames or spec["frames"],
                                    intra_period=spec["intra_period"], progress=show_progress, on_read=show_read)
        except (NvcError, OSError, ValueError) as exc:
            raise SystemExit(f"bench_dev: {exc}") from None
        doc = json.loads(report_json(report))
        if earlier is not None:
            doc = with_anchor(doc, earlier, build_codecs(("nvc",), (args.anchor, args.candidate), qps)[0])
        (args.out / f"dev-{kind}.json").write_text(json.dumps(doc, indent=1) + "\n")
        merged.setdefault("codecs", doc["codecs"])
        merged.setdefault("sources", []).extend(doc["sources"])
    out.write_text(json.dumps(merged, indent=1))
    from compare_rd import compare

    doc = merged
    nvcs = [name for name, info in doc["codecs"].items() if info.get("codec") == "nvc"]
    if len(nvcs) != 2:
        raise SystemExit(f"bench_dev: expected two nvc models in {out}, found {nvcs}")
    json.dump(compare(doc, nvcs[0], nvcs[1]), sys.stdout, indent=2)
    print()
    return 0


def with_anchor(doc: dict, earlier: dict, anchor) -> dict:
    """``doc`` (the candidate's run) with the anchor's points of the ``earlier`` report put back in.

    The earlier run may have coded the anchor under another label (the candidate that has since become
    the default weights): what must match is its description (weights, settings).  Refused unless it is
    the same weights coded the same way, at the same rate points, on the same sources and frames:
    anything else would compare unlike runs.
    """
    label = anchor.name
    wanted = json.loads(json.dumps(anchor.describe()))
    codecs = earlier.get("codecs", {})
    found = [name for name in ([label] + list(codecs)) if codecs.get(name) == wanted]
    if not found:
        raise SystemExit(f"bench_dev: the earlier report has no codec that is {label} (weights or settings differ)")
    was = found[0]
    for key in ("intra_period", "max_frames"):
        if earlier["settings"].get(key) != doc["settings"].get(key):
            raise SystemExit(f"bench_dev: the earlier report's {key} differs")
    if earlier["settings"]["rate_points"].get(was) != {"parameter": anchor.parameter, "values": list(anchor.values)}:
        raise SystemExit(f"bench_dev: the earlier report's rate points for {label} differ")
    before = {(s["path"], s["frames"], s["width"], s["height"]): s for s in earlier["sources"]}
    for source in doc["sources"]:
        old = before.get((source["path"], source["frames"], source["width"], source["height"]))
        if old is None:
            raise SystemExit(f"bench_dev: the earlier report has no {source['name']} at {source['frames']} frames")
        source["points"] = [{**p, "codec": label} for p in old["points"] if p["codec"] == was] + source["points"]
        source.pop("bd_rate", None)  # the candidate's run alone had nothing to compare
    doc["codecs"] = {label: codecs[was], **doc["codecs"]}
    doc["settings"]["rate_points"] = {label: earlier["settings"]["rate_points"][was],
                                      **doc["settings"]["rate_points"]}
    doc["settings"]["anchor_from"] = earlier.get("created")
    return doc


if __name__ == "__main__":
    sys.exit(main())
