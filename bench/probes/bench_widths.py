"""What a wider inter model would cost: CPU seconds per P frame against the shipped config.

The P frames of the compact model are capped by its 64-channel feature path (docs/MODEL_CARD.md), and
widening it is the obvious next capacity step, but 720p must stay at 5 fps.  This measures the price
before any training is spent: synthetic weights (speed does not depend on them), the pinned profile,
configs built from ``--base`` with one ``InterConfig`` width or depth (``--field``: feature, encoder_view,
recon, latent, ffn_expansion, or a stack's block count such as decoder_conv1_blocks) changed, taking
turns round by round, CPU time (steady on shared machines) of the fastest P frame per round, median
over rounds.

    python bench/probes/bench_widths.py [--base compact-recon128] [--field feature] [--widths 80,96,128]
                                 [--size 1280x720]
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import statistics
import sys
import time

from nvcodec import numerics


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--base", default="compact-recon128")
    ap.add_argument("--field", default="feature",
                    choices=("feature", "encoder_view", "recon", "latent", "ffn_expansion", "extractor_conv1_blocks",
                             "extractor_conv2_blocks", "encoder_conv2_blocks", "decoder_conv1_blocks", "recon_blocks"))
    ap.add_argument("--widths", default="80,96,128")
    ap.add_argument("--size", default="1280x720")
    ap.add_argument("--rounds", type=int, default=4)
    args = ap.parse_args(argv)
    numerics.prepare_environment()

    import numpy as np

    from nvcodec.codec.frames import Planes, chroma_size
    from nvcodec.codec.sequence import SequenceDecoder, SequenceEncoder
    from nvcodec.models.bundle import synthetic_model
    from nvcodec.models.config import ModelConfig, get_config, register_config
    from nvcodec.settings import CodingSettings

    base = get_config(args.base)
    names = [base.name]
    for width in (int(v) for v in args.widths.split(",")):
        name = f"{base.name}-{args.field}{width}"
        register_config(ModelConfig(name, base.intra, dataclasses.replace(base.inter, **{args.field: width})))
        names.append(name)
    w, h = (int(v) for v in args.size.split("x"))
    rng = np.random.default_rng(0)
    ch, cw = chroma_size(h, w)
    yy, xx = np.mgrid[0:h, 0:w]
    frames = [
        Planes((128 + 60 * np.sin((xx + 4 * t) / 23.0) * np.cos(yy / 31.0) + rng.normal(0, 4, (h, w)))
               .clip(0, 255).astype(np.uint8), np.full((ch, cw), 128, np.uint8), np.full((ch, cw), 120, np.uint8))
        for t in range(4)
    ]
    models = {n: synthetic_model(1, n) for n in names}
    settings = CodingSettings(qp_i=32, reset_interval=0)
    times: dict[str, tuple[list[float], list[float]]] = {n: ([], []) for n in names}
    with numerics.pinned():
        for _ in range(args.rounds):
            for n in names:
                encoder = SequenceEncoder(models[n], settings, device="cpu", reconstruct=False)
                units = list(encoder.encode(frames[0]).units)
                enc = []
                for f in frames[1:]:
                    t0 = time.process_time()
                    units += encoder.encode(f).units
                    enc.append(time.process_time() - t0)
                decoder = SequenceDecoder(models[n], settings.skip_threshold, device="cpu")
                dec = []
                for u in units:
                    t0 = time.process_time()
                    decoder.decode(u)
                    dec.append(time.process_time() - t0)
                times[n][0].append(min(enc))
                times[n][1].append(min(dec[2:]))  # the I frame and the first P frame warm up
    ref_enc, ref_dec = (statistics.median(v) for v in times[base.name])
    report = {
        n: {
            args.field: getattr(get_config(n).inter, args.field),
            "p_encode_cpu_s": round(statistics.median(e), 3),
            "p_decode_cpu_s": round(statistics.median(d), 3),
            "encode_vs_base": round(statistics.median(e) / ref_enc, 2),
            "decode_vs_base": round(statistics.median(d) / ref_dec, 2),
        }
        for n, (e, d) in times.items()
    }
    json.dump({"size": args.size, "rounds": args.rounds, "configs": report}, sys.stdout, indent=2)
    print()
    return 0


if __name__ == "__main__":
    sys.exit(main())
