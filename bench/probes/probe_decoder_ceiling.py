"""Where P-frame quality stops: the decoder network, the reconstruction network, or the rate.

A still scene is the easiest P frame there is: the I frame's reconstruction is the best reference a P
frame can have, and copying it is the right answer.  This codes a training-split clip's first frame
as an I frame, then asks of the P-frame model, with that reconstruction as its reference:

* ``recon_of_best_feature``: how close the reconstruction network alone can come to the reference,
  given the best feature for it (found by gradient descent on the feature itself);
* ``decoder_of_best_latent``: how close to the source the decoder network can come with the real
  temporal context and the best unquantised latent (gradient descent on the latent, no rate);
* ``decoder_of_encoder_latent``: the same with the encoder's latent, unquantised;
* ``coded``: the P frame as the training forward pass codes it (rounded symbols), with its bits.

If the first is far above the others, the reconstruction network is not what caps the P frames.

    python bench/probes/probe_decoder_ceiling.py [--clip <training-split video>] [--qp 63] [--model nvc-compact]
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
    ap.add_argument("--qp", type=int, default=63)
    ap.add_argument("--iterations", type=int, default=300)
    args = ap.parse_args()

    from nvcodec import numerics

    numerics.prepare_environment()
    import torch

    from nvcodec.codec.frames import Planes, planes_to_tensor
    from nvcodec.models.registry import resolve_model
    from nvcodec.training import forward
    from nvcodec.training.data import load_video

    torch.manual_seed(0)
    clip = load_video(args.clip, 1, 4096)
    h, w = clip.y.shape[1] // 64 * 64, clip.y.shape[2] // 64 * 64
    x = planes_to_tensor(Planes(clip.y[0, :h, :w].copy(), clip.uv[0, 0, : h // 2, : w // 2].copy(),
                                clip.uv[0, 1, : h // 2, : w // 2].copy()))
    model = resolve_model(args.model)
    inter, qp = model.inter, args.qp

    def psnr(a: torch.Tensor, b: torch.Tensor) -> float:
        return round(float(-10 * torch.log10(forward.yuv_mse(a.clamp(0, 1), b))), 2)

    def descend(start: torch.Tensor, render, target: torch.Tensor) -> float:
        """PSNR against ``target`` after Adam on ``start`` alone (the networks stay fixed)."""
        value = start.clone().requires_grad_(True)
        opt = torch.optim.Adam([value], lr=0.02)
        for _ in range(args.iterations):
            loss = (render(value) - target).pow(2).mean()
            opt.zero_grad()
            loss.backward()
            opt.step()
        with torch.no_grad():
            return psnr(render(value), target)

    with torch.no_grad():
        intra = forward.intra_forward(model.intra, x, torch.tensor([qp]), hard_rate=True)
        ref = intra.x_hat.clamp(0, 1)
        coded = forward.inter_forward(inter, x, torch.tensor([qp]), ref, None, hard_rate=True)
        # the coding path's own stages (InterModel), up to the latent, unquantised
        f1, _ = inter.temporal_context(inter.reference_feature(ref, None), qp)
        ctx = inter.context(f1)
        y = inter.analysis(x, ctx, qp)
        from_encoder = inter.reconstruct(inter.synthesis_feature(y, ctx, qp), qp)

    def recon(feature: torch.Tensor) -> torch.Tensor:
        return inter.recon_generation_net.unclamped(feature, inter.q_recon[qp : qp + 1])

    def decode(latent: torch.Tensor) -> torch.Tensor:
        return recon(inter.synthesis_feature(latent, ctx, qp))

    with torch.enable_grad():
        best_feature = descend(coded.feature.detach(), recon, ref)
        best_latent = descend(y, decode, x)
    json.dump({
        "clip": str(args.clip), "size": f"{w}x{h}", "qp": args.qp, "model": model.name,
        "i_frame": {"bits": round(float(intra.bits)), "psnr_yuv": psnr(ref, x)},
        "recon_of_best_feature": {"psnr_yuv_vs_reference": best_feature},
        "decoder_of_best_latent": {"psnr_yuv": best_latent},
        "decoder_of_encoder_latent": {"psnr_yuv": psnr(from_encoder, x)},
        "coded": {"bits": round(float(coded.bits)), "psnr_yuv": psnr(coded.x_hat, x)},
    }, sys.stdout, indent=2)
    print()
    return 0


if __name__ == "__main__":
    sys.exit(main())
