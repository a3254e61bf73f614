"""Where an intra model's quality stops: PSNR-YUV with the latent rounded (as coded) and not rounded.

If the unrounded latent already stops near the rounded one at qp 63, no lambda, quantisation step
or rate can lift the ceiling: the analysis and synthesis transforms set it, and only more capacity
there will.  Run on development stills (never the evaluation set):

    python bench/probes/probe_intra_ceiling.py nvc-compact,candidate.pt ../shared/data/images/skimage/*.png
"""

from __future__ import annotations

import math
import sys

from nvcodec import numerics

numerics.prepare_environment(numerics.NATIVE.name)

import torch  # noqa: E402

from nvcodec.codec.frames import planes_to_tensor  # noqa: E402
from nvcodec.codec.hyperprior import hyper_input, round_z  # noqa: E402
from nvcodec.codec.intra_codec import IntraCodec  # noqa: E402
from nvcodec.io import open_source  # noqa: E402
from nvcodec.models.registry import resolve_model  # noqa: E402
from nvcodec.training.forward import yuv_mse  # noqa: E402


def first_frame(path: str) -> torch.Tensor:
    with open_source(path) as source:
        item = next(i for i in source.items() if hasattr(i, "planes"))
    return planes_to_tensor(item.planes)


@torch.no_grad()
def ceilings(model, x: torch.Tensor, qp: int) -> tuple[float, float]:
    """(PSNR with y rounded, PSNR with y exact) at ``qp``."""
    codec = IntraCodec(model.intra)
    y = model.intra.analysis(x, qp)
    z_hat = round_z(model.intra.hyper_analysis(hyper_input(y)))
    prior = codec._prior(z_hat, tuple(y.shape[-2:]))
    y = y * prior.q_enc
    out = []
    for y_hat in (torch.round(y), y):
        x_hat = model.intra.synthesis(y_hat * prior.q_dec, qp)
        out.append(-10 * math.log10(float(yuv_mse(x_hat, x).mean())))
    return out[0], out[1]


def main() -> None:
    specs, paths = sys.argv[1].split(","), sys.argv[2:]
    for spec in specs:
        model = resolve_model(spec)
        for path in paths:
            x = first_frame(path)
            cells = [f"qp {qp}: {r:.2f} rounded / {e:.2f} exact"
                     for qp in (32, 63) for r, e in [ceilings(model, x, qp)]]
            print(f"{spec} {path.rsplit('/', 1)[-1]}: " + "; ".join(cells))


if __name__ == "__main__":
    main()
