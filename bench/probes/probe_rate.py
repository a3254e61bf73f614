"""What a sequence really costs, against what training believes it costs.

Codes the first frames of a training-split clip with nvc (the pinned profile, the hierarchical P
qps) and reports per frame: the bits of the stream, the ideal bits of the symbols it rounded
(the model's own distributions, no coder loss), the noisy rate proxy the training loss uses
(``nvcodec.training.forward``), and PSNR-YUV.  The first two show what the rANS coder and its
tables lose; the last two how far the proxy is from the rate the loss is meant to stand for.
``--still`` codes the first frame over and over: a scene that does not change, which a P frame
should code almost for free.

    python bench/probes/probe_rate.py [--clip <training-split video>] [--qp 32] [--frames 8] [--still]
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

CLIP = "../shared/data/video/compressed/openh264_test_cif_I_CABAC_slice_foreman_cif_300f.264"


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--clip", type=Path, default=Path(CLIP))
    ap.add_argument("--model", default="nvc-compact")
    ap.add_argument("--qp", type=int, default=32)
    ap.add_argument("--frames", type=int, default=8)
    ap.add_argument("--still", action="store_true", help="code the first frame again and again")
    args = ap.parse_args()

    from nvcodec import numerics

    numerics.prepare_environment()
    import torch

    from nvcodec.codec.frames import Planes, planes_to_tensor
    from nvcodec.codec.sequence import SequenceEncoder
    from nvcodec.metrics.psnr import frame_quality
    from nvcodec.models.registry import resolve_model
    from nvcodec.settings import CodingSettings
    from nvcodec.training import forward
    from nvcodec.training.data import load_video

    clip = load_video(args.clip, args.frames, 4096)
    h, w = clip.y.shape[1] // 64 * 64, clip.y.shape[2] // 64 * 64  # no padding: the forward pass takes the same frame
    pick = [0] * args.frames if args.still else range(min(args.frames, clip.frames))
    frames = [Planes(clip.y[i, :h, :w].copy(), clip.uv[i, 0, : h // 2, : w // 2].copy(),
                     clip.uv[i, 1, : h // 2, : w // 2].copy()) for i in pick]
    model = resolve_model(args.model)

    encoder = SequenceEncoder(model, CodingSettings(qp_i=args.qp, qp_p=args.qp, intra_period=-1, reset_interval=0),
                              device="cpu", reconstruct=True)
    coded = []
    for frame in frames:
        out = encoder.encode(frame)
        coded.append((out.plan.qp, 8 * sum(len(u.to_bytes()) for u in out.units),
                      frame_quality(frame, out.reconstruction).yuv))

    def forward_bits(hard_rate: bool) -> list[float]:
        """Bits per frame of the training forward pass along the same qps (hard: the rounded symbols)."""
        torch.manual_seed(0)
        bits, ref, feature, anchor = [], None, None, None
        with torch.no_grad(), numerics.pinned():
            for (qp, _, _), frame in zip(coded, frames, strict=True):
                x, q = planes_to_tensor(frame), torch.tensor([qp])
                if ref is None:
                    out = forward.intra_forward(model.intra, x, q, hard_rate)
                    ref = anchor = out.x_hat.clamp(0, 1)
                else:
                    out = forward.inter_forward(model.inter, x, q, ref, feature, hard_rate, anchor)
                    ref, feature = out.x_hat, out.feature
                bits.append(float(out.bits))
        return bits

    ideal, proxy = forward_bits(True), forward_bits(False)
    rows = [{"frame": i, "type": "I" if i == 0 else "P", "qp": qp, "stream_bits": bits,
             "ideal_bits": round(ideal[i]), "proxy_bits": round(proxy[i]), "psnr_yuv": round(psnr, 2)}
            for i, (qp, bits, psnr) in enumerate(coded)]
    total = {k: sum(r[k] for r in rows) for k in ("stream_bits", "ideal_bits", "proxy_bits")}
    p_rows = rows[1:]
    json.dump({
        "clip": str(args.clip), "size": f"{w}x{h}", "qp": args.qp, "still": args.still, "frames": rows,
        "stream_over_ideal": round(total["stream_bits"] / total["ideal_bits"], 4),
        "ideal_over_proxy_i": round(rows[0]["ideal_bits"] / rows[0]["proxy_bits"], 3),
        "ideal_over_proxy_p": (round(sum(r["ideal_bits"] for r in p_rows) / sum(r["proxy_bits"] for r in p_rows), 3)
                               if p_rows else None),
        "p_over_i_stream_bits": [round(r["stream_bits"] / rows[0]["stream_bits"], 3) for r in p_rows],
    }, sys.stdout, indent=2)
    print()
    return 0


if __name__ == "__main__":
    sys.exit(main())
