"""Can a P frame copy its reference?  And would a motion-compensated reference help?

A classical codec copies a still block exactly for a few bits (skip).  A DCVC-RT P frame sees its
reference only through the feature path (pixels -> ``feature_adaptor_i`` -> feature extractor ->
context -> decoder -> reconstruction network), so even a perfect prediction arrives with that path's
loss.  This measures that loss directly, then asks whether motion is what the P frames miss:

* ``copy``: the I frame's reconstruction (rounded to 8 bits) coded again as a P frame with itself
  as the reference, then twice more along the feature chain: PSNR against that reference (a
  lossless copy would be infinite) and bits, beside the I frame's;
* ``motion_oracle``: the clip's second frame as the first P frame, once with the I frame's
  reconstruction as its reference and once with that reconstruction motion-compensated toward the
  source (8x8 blocks, full-pel search over +-12, the source itself chooses the vectors: an oracle the
  decoder would need the vectors for).  ``reference_psnr`` is how close each reference already is.

If the copy PSNR sits only a little above the I frame's own quality, the feature path caps every P
frame near the I frame's quality whatever the motion; if the motion oracle saves many bits, motion is
what the context misses.  Training-split clips only (docs/DATA_SPLIT.md).

    python bench/probes/probe_copy.py [--clip <training-split video>] [--qps 0,24,48,63] [--model nvc-compact]
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

CLIP = "../shared/data/video/compressed/openh264_test_cif_I_CABAC_slice_foreman_cif_300f.264"


def block_motion_compensate(ref, target, block: int = 8, radius: int = 12):
    """``ref`` moved block by block toward ``target`` (full-pel, 6:1:1 weighted MSE, replicate border)."""
    import torch
    import torch.nn.functional as F

    _, _, h, w = ref.shape
    padded = F.pad(ref, (radius, radius, radius, radius), mode="replicate")
    weights = torch.tensor([6.0, 1.0, 1.0]).view(1, 3, 1, 1) / 8
    span = 2 * radius + 1
    best_err = torch.full((h // block, w // block), float("inf"))
    best = torch.zeros(2, h // block, w // block, dtype=torch.long)
    for dy in range(span):
        for dx in range(span):
            moved = padded[:, :, dy:dy + h, dx:dx + w]
            err = F.avg_pool2d(((moved - target) ** 2 * weights).sum(1, keepdim=True), block)[0, 0]
            # a tiny pull toward zero motion breaks ties in flat areas
            err = err + 1e-7 * (abs(dy - radius) + abs(dx - radius))
            better = err < best_err
            best_err = torch.where(better, err, best_err)
            best[0][better], best[1][better] = dy, dx
    out = torch.empty_like(ref)
    for by in range(h // block):
        for bx in range(w // block):
            dy, dx = int(best[0, by, bx]), int(best[1, by, bx])
            y, x = by * block, bx * block
            out[:, :, y:y + block, x:x + block] = padded[:, :, y + dy:y + dy + block, x + dx:x + dx + block]
    return out


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--clip", type=Path, default=Path(CLIP))
    ap.add_argument("--model", default="nvc-compact")
    ap.add_argument("--qps", default="0,24,48,63")
    args = ap.parse_args()

    from nvcodec import numerics

    numerics.prepare_environment()
    import torch

    from nvcodec.codec.frames import Planes, planes_to_tensor
    from nvcodec.models.registry import resolve_model
    from nvcodec.training import forward
    from nvcodec.training.data import load_video

    clip = load_video(args.clip, 2, 4096)
    h, w = clip.y.shape[1] // 64 * 64, clip.y.shape[2] // 64 * 64

    def frame(i: int) -> torch.Tensor:
        return planes_to_tensor(Planes(clip.y[i, :h, :w].copy(), clip.uv[i, 0, : h // 2, : w // 2].copy(),
                                       clip.uv[i, 1, : h // 2, : w // 2].copy()))

    def psnr(a: torch.Tensor, b: torch.Tensor) -> float:
        return round(float(-10 * torch.log10(forward.yuv_mse(a.clamp(0, 1), b))), 2)

    model = resolve_model(args.model)
    rows = []
    with torch.no_grad():
        x0, x1 = frame(0), frame(1)
        for qp in (int(q) for q in args.qps.split(",")):
            qps = torch.tensor([qp])
            intra = forward.intra_forward(model.intra, x0, qps, hard_rate=True)
            ref = torch.round(intra.x_hat.clamp(0, 1) * 255) / 255
            copies, prev, feature = [], ref, None
            for _ in range(3):
                out = forward.inter_forward(model.inter, ref, qps, prev, feature, hard_rate=True, anchor=ref)
                copies.append({"bits": round(float(out.bits)), "psnr_vs_reference": psnr(out.x_hat, ref)})
                prev, feature = out.x_hat, out.feature
            oracle = {}
            for label, reference in (("plain", ref), ("motion_compensated", block_motion_compensate(ref, x1))):
                out = forward.inter_forward(model.inter, x1, qps, reference, None, hard_rate=True)
                oracle[label] = {"bits": round(float(out.bits)), "psnr_yuv": psnr(out.x_hat, x1),
                                 "reference_psnr": psnr(reference, x1)}
            rows.append({"qp": qp, "i_frame": {"bits": round(float(intra.bits)), "psnr_yuv": psnr(ref, x0)},
                         "copy": copies, "motion_oracle": oracle})
    json.dump({"clip": str(args.clip), "size": f"{w}x{h}", "model": model.name, "rows": rows}, sys.stdout, indent=1)
    print()
    return 0


if __name__ == "__main__":
    sys.exit(main())
