"""Seconds per frame for I and P encode/decode with a model config at a frame size.

Runs the measurement in a child process per numerics profile (a profile's
kernel settings must be in the environment before torch is imported), so one
run compares the pinned conformance profile with torch's default kernels on
the same machine.  Prints one JSON document on stdout.

    python bench/bench_codec.py --size 1920x1080 --config dcvc-rt --frames 3
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import time


def measure(args: argparse.Namespace) -> dict:
    from nvcodec import numerics

    numerics.prepare_environment(args.profile)
    import numpy as np
    import torch

    from nvcodec.codec.frames import Planes, chroma_size
    from nvcodec.codec.sequence import SequenceDecoder, SequenceEncoder
    from nvcodec.models.bundle import synthetic_model
    from nvcodec.settings import CodingSettings

    w, h = (int(v) for v in args.size.split("x"))
    rng = np.random.default_rng(0)
    ch, cw = chroma_size(h, w)
    yy, xx = np.mgrid[0:h, 0:w]
    frames = []
    for t in range(args.frames):
        y = (128 + 60 * np.sin((xx + 4 * t) / 23.0) * np.cos(yy / 31.0) + rng.normal(0, 4, (h, w))).clip(0, 255)
        frames.append(Planes(y.astype(np.uint8), np.full((ch, cw), 128, np.uint8), np.full((ch, cw), 120, np.uint8)))
    model = synthetic_model(1, args.config)
    settings = CodingSettings(qp_i=32, reset_interval=0, numerics=args.profile)
    encoder = SequenceEncoder(model, settings, device="cpu", reconstruct=False)
    enc_times, units = [], []
    for f in frames:
        t0 = time.perf_counter()
        units.extend(encoder.encode(f).units)
        enc_times.append(time.perf_counter() - t0)
    decoder = SequenceDecoder(model, settings.skip_threshold, device="cpu", numerics=args.profile)
    dec_times = []
    for u in units:
        t0 = time.perf_counter()
        out = decoder.decode(u)
        if out is not None:
            dec_times.append(time.perf_counter() - t0)
    p_enc, p_dec = enc_times[1:], dec_times[1:]
    return {
        "profile": args.profile,
        "threads": torch.get_num_threads(),
        "cpu_capability": torch.backends.cpu.get_cpu_capability(),
        "i_encode_s": round(enc_times[0], 3),
        "i_decode_s": round(dec_times[0], 3),
        "p_encode_s": round(min(p_enc), 3) if p_enc else None,
        "p_decode_s": round(min(p_dec), 3) if p_dec else None,
        "bytes": sum(len(u.to_bytes()) for u in units),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", default="1920x1080")
    parser.add_argument("--config", default="dcvc-rt")
    parser.add_argument("--frames", type=int, default=3)
    parser.add_argument("--profiles", default="cpu-avx2-t2,cpu-native")
    parser.add_argument("--profile", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.profile:
        print(json.dumps(measure(args)))
        return
    results = []
    for profile in args.profiles.split(","):
        cmd = [sys.executable, __file__, "--size", args.size, "--config", args.config,
               "--frames", str(args.frames), "--profile", profile]
        out = subprocess.run(cmd, check=True, capture_output=True, text=True, env=dict(os.environ))
        results.append(json.loads(out.stdout.strip().splitlines()[-1]))
    doc = {"size": args.size, "config": args.config, "machine": platform.processor() or platform.machine(),
           "cores": os.cpu_count(), "results": results}
    if len(results) == 2:
        a, b = results
        keys = ("i_encode_s", "i_decode_s", "p_encode_s", "p_decode_s")
        doc["profile_cost"] = {k: round(a[k] / b[k], 3) for k in keys if a.get(k) and b.get(k)}
    print(json.dumps(doc, indent=2))


if __name__ == "__main__":
    main()
