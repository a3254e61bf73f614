"""The encoder's search for a better I-frame latent than its analysis transform gives.

The analysis network is trained to be good on average over pictures; for the one picture being
coded, the latent that minimises rate + lambda x distortion lies near its output, not at it.
Gradient descent on the latent itself, with the rest of the model fixed, finds a better one
(Campos et al., "Content adaptive optimization for neural image compression", 2019; Yang et al.,
"Improving inference for neural image compression", 2020).  Only the encoder changes: the stream
is an ordinary one, and the picture is whatever the coded symbols decode to, so the encoder's
reconstruction and the decoder's stay identical.

It costs ``iterations`` forward and backward passes of the I-frame model, so it is an encoder
effort setting, off unless asked for.  The cost it descends is training's (noisy rate, rounding
passed straight through), but the latent kept is the one whose cost *as coded* (rounded symbols,
the coder's skip rule) is lowest, the analysis' own among the candidates: a refined I frame is
never estimated worse than the plain one.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from nvcodec.codec.intra_codec import IntraCodec
from nvcodec.codec.surrogate import ste_clamp
from nvcodec.models.intra import IntraModel

#: Adam's step, in quantisation steps of the latent as the analysis gave it
STEP = 0.005
#: the step ends at this fraction of STEP (cosine), so the last iterations settle
STEP_END = 0.1
#: how often the cost as coded is checked (every iteration costs one more forward pass)
CHECK_EVERY = 5
#: the seed of the rate's noise during the search
NOISE_SEED = 0


def frame_distortion(x_hat: torch.Tensor, x: torch.Tensor, height: int, width: int, chroma_420: bool
                     ) -> torch.Tensor:
    """6:1:1 YUV mean square error of the picture as it is output: cropped, chroma at 4:2:0 where the
    frame is (the metric PSNR-YUV reports, where training's loss uses 4:4:4 crops)."""
    x_hat = ste_clamp(x_hat[..., :height, :width].float())
    x = x[..., :height, :width]
    luma = (x_hat[:, 0] - x[:, 0]).pow(2).mean()
    if chroma_420:
        ch, cw = height // 2 * 2, width // 2 * 2
        x_hat_c = F.avg_pool2d(x_hat[:, 1:, :ch, :cw], 2)
        x_c = F.avg_pool2d(x[:, 1:, :ch, :cw], 2)
    else:
        x_hat_c, x_c = x_hat[:, 1:], x[:, 1:]
    chroma = (x_hat_c - x_c).pow(2).mean(dim=(0, 2, 3))
    return (6 * luma + chroma[0] + chroma[1]) / 8


def coded_cost(model: IntraModel, x: torch.Tensor, y: torch.Tensor, qp: int, lambda_value: float, height: int,
               width: int, chroma_420: bool = True, skip_threshold: float | None = None) -> float:
    """Rate (bits per pixel, the coder's rounding and skip rule) + lambda x distortion of coding latent ``y``."""
    qps = torch.full((1,), qp, dtype=torch.long, device=x.device)
    with torch.no_grad():
        out = IntraCodec(model).forward_latent(y, qps, hard_rate=True, skip_threshold=skip_threshold)
        distortion = frame_distortion(out.x_hat, x, height, width, chroma_420)
    return float(out.bits.sum()) / (height * width) + lambda_value * float(distortion)


def refine_intra_latent(model: IntraModel, x: torch.Tensor, qp: int, lambda_value: float, iterations: int,
                        height: int, width: int, chroma_420: bool = True,
                        skip_threshold: float | None = None) -> torch.Tensor:
    """The latent to code for the padded frame ``x`` ([1, 3, H16, W16]) whose picture is ``height`` x
    ``width``: the analysis' output moved by ``iterations`` steps down the rate-distortion cost."""
    codec = IntraCodec(model)
    qps = torch.full((1,), qp, dtype=torch.long, device=x.device)
    pixels = height * width

    def training_cost(y: torch.Tensor) -> torch.Tensor:
        out = codec.forward_latent(y, qps)
        return out.bits.sum() / pixels + lambda_value * frame_distortion(out.x_hat, x, height, width, chroma_420)

    def as_coded(y: torch.Tensor) -> float:
        return coded_cost(model, x, y, qp, lambda_value, height, width, chroma_420, skip_threshold)

    with torch.no_grad():
        y0 = model.analysis(x, qp).detach()
    if iterations <= 0:
        return y0
    # the latent is searched in quantisation steps: Adam's step then means the same at every qp
    with torch.no_grad():
        unit = 1.0 / codec.quantisation_map(y0).expand_as(y0).clamp_min(1e-3)
    best, best_cost = y0, as_coded(y0)
    u = (y0 / unit).clone().requires_grad_(True)
    optimizer = torch.optim.Adam([u], lr=STEP)
    schedule = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, iterations, eta_min=STEP * STEP_END)
    # the noisy rate draws from a generator of its own, seeded the same for every frame: the same
    # picture is coded to the same bytes every time, and the caller's random stream is left alone
    devices = [x.device.index or 0] if x.device.type == "cuda" else []
    with torch.random.fork_rng(devices=devices), torch.enable_grad():
        torch.manual_seed(NOISE_SEED)
        for i in range(iterations):
            optimizer.zero_grad(set_to_none=True)
            training_cost(u * unit).backward(inputs=[u])  # the model's own gradients are not needed
            optimizer.step()
            schedule.step()
            if (i + 1) % CHECK_EVERY == 0 or i + 1 == iterations:
                y = (u * unit).detach()
                now = as_coded(y)
                if now < best_cost:
                    best, best_cost = y.clone(), now
    return best

