"""Why the first P frame after an I frame costs about as much as the I frame.

A P frame's reference comes from the previous decoded frame's pixels after an I frame (through
``feature_adaptor_i``) and from the previous P frame's decoder feature after a P frame (through
``feature_adaptor_p``).  This codes frames 0-2 of training-split clips (and a still made of frame 0
repeated) with the training forward pass on rounded symbols (ideal bits, the model's own
distributions) and reports I, P1 (from the I frame's pixels) and P2 two ways: from P1's feature, as
the codec does, and from P1's pixels.  If P2 from pixels costs about what P2 from the feature does,
the pixel path is not what makes P1 dear; what is left is refining an I-frame reconstruction to the
higher quality of P1's qp (the hierarchical +8).  ``p1_at_base_qp`` codes P1 at the I frame's own qp
beside an I frame of the same picture at that qp (``i1_at_base_qp``): what the reference buys at equal
qp.  ``adaptor_gap`` is the relative squared distance between the two adaptors' outputs for P1.

    python bench/probes/probe_first_p.py [--model nvc-compact] [--qps 16,40] [--data-root ../shared/data]
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

CLIPS = (
    "video/compressed/openh264_test_cif_I_CABAC_slice_foreman_cif_300f.264",
    "video/compressed/sam2_02_cups_1280x720.mp4",
)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", default="nvc-compact", help="registered name or nvc model file")
    ap.add_argument("--data-root", type=Path, default=Path("../shared/data"))
    ap.add_argument("--qps", default="16,40")
    args = ap.parse_args()

    from nvcodec import numerics

    numerics.prepare_environment()
    import torch
    import torch.nn.functional as F

    from nvcodec.models.registry import resolve_model
    from nvcodec.training import forward as fw
    from nvcodec.training.data import load_video, to_network
    from nvcodec.training.recipe import p_frame_qps

    model = resolve_model(args.model)

    def psnr(x_hat: torch.Tensor, x: torch.Tensor) -> float:
        return round(float(10 * torch.log10(1 / fw.yuv_mse(x_hat.clamp(0, 1), x))), 2)

    def row(out, x) -> dict:
        return {"bits": int(out.bits), "psnr_yuv": psnr(out.x_hat, x)}

    rows = []
    for rel in CLIPS:
        clip = load_video(args.data_root / rel, 3, 640)
        frames = [to_network(clip.y[i], clip.uv[i])[None] for i in range(3)]
        h, w = frames[0].shape[-2] // 64 * 64, frames[0].shape[-1] // 64 * 64
        frames = [f[..., :h, :w] for f in frames]
        for still in (False, True):
            seq = [frames[0]] * 3 if still else frames
            for base in (int(q) for q in args.qps.split(",")):
                qp1, qp2 = (torch.tensor([q]) for q in p_frame_qps(base, 3))
                with torch.no_grad():
                    i = fw.intra_forward(model.intra, seq[0], torch.tensor([base]), hard_rate=True)
                    p1 = fw.inter_forward(model.inter, seq[1], qp1, i.x_hat.clamp(0, 1), None, hard_rate=True)
                    p2_feature = fw.inter_forward(model.inter, seq[2], qp2, p1.x_hat, p1.feature, hard_rate=True,
                                                   anchor=i.x_hat.clamp(0, 1))
                    p2_pixels = fw.inter_forward(model.inter, seq[2], qp2, p1.x_hat, None, hard_rate=True)
                    p1_base = fw.inter_forward(model.inter, seq[1], torch.tensor([base]), i.x_hat.clamp(0, 1), None,
                                               hard_rate=True)
                    i1_base = fw.intra_forward(model.intra, seq[1], torch.tensor([base]), hard_rate=True)
                    from_pixels = model.inter.feature_adaptor_i(F.pixel_unshuffle(p1.x_hat, 8))
                    from_feature = model.inter.feature_adaptor_p(p1.feature)
                    gap = float((from_pixels - from_feature).pow(2).mean() / from_feature.pow(2).mean())
                rows.append({
                    "clip": Path(rel).name, "scene": "still" if still else "video", "size": f"{w}x{h}",
                    "qp": base, "i": row(i, seq[0]), "p1": row(p1, seq[1]),
                    "p2_from_feature": row(p2_feature, seq[2]), "p2_from_pixels": row(p2_pixels, seq[2]),
                    "p1_at_base_qp": row(p1_base, seq[1]), "i1_at_base_qp": row(i1_base, seq[1]),
                    "adaptor_gap": round(gap, 3),
                })
    print(json.dumps({"model": args.model, "config": model.config.name, "rows": rows}, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
