"""Does the hierarchical P-frame qp pattern pay for nvc's own model?  Whole-sequence BD-rate per pattern.

DCVC-RT codes P frames at base qp + (0, +8, +4) by position in each group of 8 (nvcodec.codec.gop),
and nvc's training uses the same pattern.  The stream carries every frame's qp, so the pattern is
the encoder's choice; this codes training-split clips (never the evaluation set) with each pattern
and reports its BD-rate against the first one (every bit, mean PSNR-YUV over all frames) and its
P/I bit ratio at equal PSNR.

    python bench/probes/probe_qp_shifts.py [--shifts 0,8,4 --shifts 0,0,0 ...] [--frames 21] [--model nvc-compact]
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from probe_ip_offset import CLIPS, QPS, against_first  # noqa: E402


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--shifts", action="append", help="three shifts, e.g. 0,8,4 (repeatable; the first is the anchor)")
    ap.add_argument("--frames", type=int, default=21)
    ap.add_argument("--model", default="nvc-compact")
    args = ap.parse_args(argv)
    patterns = [tuple(int(v) for v in s.split(",")) for s in (args.shifts or ["0,8,4", "0,0,0", "0,4,2"])]

    from nvcodec import numerics

    numerics.prepare_environment()
    import nvcodec.codec.gop as gop
    from nvcodec.eval import evaluate
    from nvcodec.eval.codecs import NvcCodec
    from nvcodec.eval.sources import load_source

    class PatternCodec(NvcCodec):
        """nvc with another shift pattern while it codes (the pattern is a module constant of gop)."""

        def __init__(self, shifts: tuple[int, ...]) -> None:
            super().__init__(args.model, QPS, device="cpu", name="shifts-" + "-".join(map(str, shifts)))
            self.shifts = shifts

        def code(self, *a, **k):
            saved, gop.P_QP_SHIFTS = gop.P_QP_SHIFTS, self.shifts
            try:
                return super().code(*a, **k)
            finally:
                gop.P_QP_SHIFTS = saved

    sources = [load_source(c, args.frames) for c in CLIPS]
    codecs = [PatternCodec(p) for p in patterns]
    report = evaluate(sources, codecs)
    rows = {c.name: row for c, row in zip(codecs, against_first(report, codecs), strict=True)}
    json.dump(rows, sys.stdout, indent=1)
    print()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
