"""What computing small convolutions in the reference's order costs, at small frame sizes.

Under the ``cpu-avx2-t2`` profile nvc computes the convolutions that torch would
send through im2col + sgemm with its own single-threaded kernels
(nvcodec.models.reference_conv), so that they agree with the DCVC-RT reference
bit for bit.  Only small inputs take that path, so only small frames can feel
it.  This encodes the same frames with the path on and off, alternating, in one
process, and prints seconds per sequence and the ratio as JSON.

    python bench/bench_reference_conv.py [--config dcvc-rt] [--sizes 64x64,128x192,256x256]
"""

from __future__ import annotations

import argparse
import json
import time


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--config", default="dcvc-rt")
    parser.add_argument("--sizes", default="64x64,128x192,256x256")
    parser.add_argument("--frames", type=int, default=3)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()

    from nvcodec import numerics

    numerics.prepare_environment()
    import numpy as np

    from nvcodec.codec.frames import Planes, chroma_size
    from nvcodec.codec.sequence import SequenceEncoder
    from nvcodec.models import reference_conv
    from nvcodec.models.bundle import synthetic_model
    from nvcodec.settings import CodingSettings

    model = synthetic_model(1, args.config)
    rng = np.random.default_rng(0)
    rows = []
    for size in args.sizes.split(","):
        h, w = (int(v) for v in size.split("x"))
        ch, cw = chroma_size(h, w)
        frames = [Planes(rng.integers(0, 256, (h, w), dtype=np.uint8), rng.integers(0, 256, (ch, cw), dtype=np.uint8),
                         rng.integers(0, 256, (ch, cw), dtype=np.uint8)) for _ in range(args.frames)]
        seconds: dict[str, list[float]] = {"reference": [], "torch": []}
        eligible = reference_conv.eligible
        for _ in range(args.repeat):
            for mode in seconds:
                reference_conv.eligible = eligible if mode == "reference" else (lambda *_: False)
                try:
                    encoder = SequenceEncoder(model, CodingSettings(qp_i=32, reset_interval=0), device="cpu",
                                              reconstruct=False)
                    start = time.perf_counter()
                    for frame in frames:
                        encoder.encode(frame)
                    seconds[mode].append(time.perf_counter() - start)
                finally:
                    reference_conv.eligible = eligible
        best = {mode: min(times) for mode, times in seconds.items()}
        rows.append({"size": size, "frames": args.frames, "reference_s": round(best["reference"], 3),
                     "torch_s": round(best["torch"], 3), "ratio": round(best["reference"] / best["torch"], 3)})
    print(json.dumps({"config": args.config, "profile": numerics.DEFAULT_PROFILE, "results": rows}, indent=2))


if __name__ == "__main__":
    main()
