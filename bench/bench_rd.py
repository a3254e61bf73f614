"""Rate-distortion benchmark: ``nvc eval``'s run on the fixed evaluation set (``make bench-rd``).

The set is read from ``bench/eval_set.json`` (the one list; docs/DATA_SPLIT.md
explains it) and checked to be disjoint from the training sources
(``nvcodec.training.split``) before anything runs, so a result can never have
been tuned on.  Videos are coded as sequences (nvc, x264, x265); every Kodak
image as a still (plus JPEG).  Writes ``rd.json`` and ``rd.png`` to ``--out``
(the document ``nvc eval --json`` writes), a BD-rate summary to stdout and
progress to stderr.

    python bench/bench_rd.py --data ../shared/data --model nvc-compact --out bench/results
    python bench/bench_rd.py --smoke   # 2 frames, 2 images, 3 rate points: checks the plumbing
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path, PurePosixPath

ROOT = Path(__file__).resolve().parent.parent
EVAL_SET = Path(__file__).resolve().parent / "eval_set.json"
IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".ppm", ".bmp", ".tif", ".tiff")


def load_eval_set(path: Path = EVAL_SET) -> dict:
    return json.loads(path.read_text())


def overlaps(eval_paths: list[str], train_paths: list[str], held_out: tuple[str, ...] = ()) -> list[tuple[str, str]]:
    """Pairs of (evaluation, training) paths where one is the other or lies inside it; a file ``held_out``
    of a training folder (training skips it) does not count as inside that folder."""
    def inside(a: PurePosixPath, b: PurePosixPath) -> bool:
        return a == b or b in a.parents

    pairs = []
    for e in eval_paths:
        for t in train_paths:
            pe, pt = PurePosixPath(e), PurePosixPath(t)
            if (inside(pe, pt) and not (pe != pt and e in held_out)) or inside(pt, pe):
                pairs.append((e, t))
    return pairs


def held_out() -> tuple[str, ...]:
    from nvcodec.training.split import HELD_OUT

    return HELD_OUT


def training_paths() -> list[str]:
    from nvcodec.training.split import TRAINING_SOURCES

    return list(TRAINING_SOURCES)


def sources(spec: dict, data: Path, smoke: bool) -> list[Path]:
    videos = [data / v for v in spec["videos"]]
    images = []
    for folder in spec["images"]:
        images.extend(sorted(p for p in (data / folder).iterdir() if p.suffix.lower() in IMAGE_SUFFIXES))
    if smoke:
        images = images[:2]
    missing = [str(p) for p in videos + images if not p.exists()]
    if missing or not images:
        raise SystemExit(f"bench_rd: evaluation data missing under {data}: {missing or spec['images']}")
    return videos + images


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=ROOT.parent / "shared" / "data",
                        help="data root holding the evaluation set (default: ../shared/data)")
    parser.add_argument("--model", action="append", default=[],
                        help="nvc model spec (repeatable; default: the shipped default model)")
    parser.add_argument("--out", type=Path, default=ROOT / "bench" / "results", help="folder for rd.json, rd.png")
    parser.add_argument("--smoke", action="store_true", help="2 frames, 2 images, 3 rate points per codec")
    parser.add_argument("--device", default="auto", help="auto, cpu or cuda")
    args = parser.parse_args()

    spec = load_eval_set()
    clash = overlaps(spec["videos"] + spec["images"], training_paths(), held_out())
    if clash:
        raise SystemExit(f"bench_rd: evaluation and training sources overlap: {clash}")
    frames, qps, crfs, jpeg_q = spec["frames"], spec["qps"], spec["crfs"], spec["jpeg_q"]
    if args.smoke:
        frames, qps, crfs, jpeg_q = 2, qps[1::2][:3], crfs[1::2][:3], jpeg_q[1::2][:3]
    args.out.mkdir(parents=True, exist_ok=True)
    paths = sources(spec, args.data, args.smoke)

    from nvcodec import numerics

    numerics.prepare_environment(numerics.DEFAULT_PROFILE)  # as nvc eval runs, before torch is imported
    from nvcodec.errors import NvcError
    from nvcodec.eval import CODEC_NAMES, build_codecs, report_json, run_evaluation
    from nvcodec.eval.plot import plot_rd

    try:
        codecs = build_codecs(CODEC_NAMES, args.model, qps, crfs, jpeg_q, device=args.device)
        report = run_evaluation(paths, codecs, max_frames=frames, intra_period=spec["intra_period"],
                                progress=show_progress, on_read=show_read)
    except NvcError as exc:
        raise SystemExit(f"bench_rd: {exc}") from None
    text = report_json(report)
    (args.out / "rd.json").write_text(text + "\n")
    print_summary(json.loads(text))
    try:
        plot_rd(report, args.out / "rd.png")
    except ImportError as exc:
        raise SystemExit(f"bench_rd: {exc}") from None
    return 0


def show_read(source) -> None:
    print(f"read {source.name}: {len(source.frames)} frame(s) of {source.width}x{source.height}",
          file=sys.stderr, flush=True)


def show_progress(event) -> None:
    print(f"[{event.done + 1}/{event.total}] {event.source}: {event.codec} {event.parameter}={event.value}",
          file=sys.stderr, flush=True)


def print_summary(document: dict) -> None:
    """Mean BD-rates per kind of source, one line per codec and anchor (``nvc eval --json`` prints a table)."""
    for kind, group in document["summary"].items():
        print(f"BD-rate on PSNR-YUV, {kind}s ({group['sources']}), mean over sources:")
        for codec, row in group["bd_rate"].items():
            for anchor, entry in row.items():
                mean = "undefined" if entry["mean_percent"] is None else f"{entry['mean_percent']:+.1f} %"
                print(f"  {codec} vs {anchor}: {mean} ({entry['defined']} of {entry['sources']} defined)")
        for codec, cost in group.get("p_to_i_bits", {}).items():
            ratio = "undefined" if cost["mean_ratio"] is None else f"{cost['mean_ratio']:.3f}"
            print(f"  {codec}: P/I bits at equal PSNR {ratio} ({cost['points']} points)")

if __name__ == "__main__":
    sys.exit(main())
