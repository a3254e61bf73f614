"""``nvc ladder INPUT OUTDIR --preset NAME``: one .nvc per rung of a quality ladder, plus manifest.json."""

from __future__ import annotations

import dataclasses
import json
import os

import click
from nvcodec_cli import common


@click.command()
@click.argument("input_path", metavar="INPUT")
@click.argument("outdir", metavar="OUTDIR")
@click.option("--preset", required=True, help="A ladder preset (e.g. ladder-web) or a .toml file with [[rung]]s.")
@click.option("--frames", "-frames", "frames", type=click.IntRange(min=1), help="Encode at most N frames.")
@click.option("--ss", "-ss", "start", type=common.TIME, default=0.0, help="Start at this time.")
@click.option("-t", "--duration", type=common.TIME, help="Encode at most this long.")
@click.option("--stream", type=click.IntRange(min=0), default=0, show_default=True)
@click.option("-an", "--no-audio", "no_audio", is_flag=True, help="Leave the audio out.")
@click.option("--model", help="Model name, file or synthetic:<config>:<seed>.")
@click.option("--device", type=click.Choice(["auto", "cpu", "cuda"]), default="auto", show_default=True)
@click.option("--threads", type=click.IntRange(min=1), help="Threads of FFmpeg's decoder of the input, and of "
              "torch where the numerics profile leaves them free.")
@common.overwrite_options
@common.loglevel_option
@click.pass_obj
def ladder(obj, input_path: str, outdir: str, preset: str, frames, start, duration, stream, no_audio, model,
           device, threads, overwrite: bool, no_overwrite: bool) -> None:
    """Encode INPUT once per rung of a ladder preset into OUTDIR/<rung>.nvc and write OUTDIR/manifest.json
    with each rung's size, kbit/s and PSNR (measured against the input scaled to the rung's size)."""
    common.setup_logging(obj.loglevel)
    if input_path == "-":
        raise click.UsageError("a ladder reads its input once per rung: give a file, not -")
    from nvcodec.presets import load_preset, rung_settings

    chosen = load_preset(preset)
    if not chosen.is_ladder:
        raise click.UsageError(f"preset {preset!r} has no [[rung]] tables: use nvc encode --preset")
    if os.path.exists(outdir) and not os.path.isdir(outdir):
        raise click.UsageError(f"{outdir} exists and is not a folder")
    targets = [os.path.join(outdir, f"{r.name}.nvc") for r in chosen.rungs] + [os.path.join(outdir, "manifest.json")]
    if os.path.isdir(outdir):
        for target in targets:
            common.check_output(target, overwrite, no_overwrite)

    from nvcodec import transcode
    from nvcodec.io import InputOptions, open_source
    from nvcodec.metrics import mean_quality

    codec_model = common.load_model(model)
    common.apply_threads(threads)
    base = InputOptions(stream=stream, start=start, duration=duration, frames=frames, audio=not no_audio,
                        threads=threads)
    with open_source(input_path, base) as probe:
        src = probe.info
    os.makedirs(outdir, exist_ok=True)
    rungs, skipped = [], []
    for rung, target in zip(chosen.rungs, targets, strict=False):
        width, height = rung.size_for(src.width, src.height)
        if width > src.width or height > src.height:
            # upscaling adds bits and no picture: a player picks the source-sized rung instead
            common.warn(f"rung {rung.name} ({width}x{height}) is larger than the {src.width}x{src.height} source: "
                        "skipped")
            skipped.append({"name": rung.name, "width": width, "height": height, "reason": "larger than the source"})
            continue
        opts = dataclasses.replace(base, scale=(width, height))
        settings = rung_settings(chosen, rung)
        rate = None
        if rung.bitrate is not None or rung.maxrate is not None:
            from nvcodec.ratecontrol import RateRequest, build_controller

            settings = settings.for_rate_control()
            rate = build_controller(RateRequest(rung.bitrate, rung.maxrate, rung.bufsize),
                                    settings.resolve(codec_model.inter.cfg), width * height, float(src.frame_rate),
                                    codec_model.sha256)
        count = size = 0
        qualities = []
        with open_source(input_path, opts) as source, common.atomic_output(target) as out:
            for result in transcode.encode(source, out, codec_model, settings, device, measure=True, rate=rate,
                                           intra_refine=chosen.intra_refine):
                count += 1
                size += result.bytes
                if result.quality is not None:
                    qualities.append(result.quality)
            file_bytes = out.tell()
        q = mean_quality(qualities)
        seconds = count / float(src.frame_rate)
        kbps = file_bytes * 8 / 1000 / seconds  # the whole file, audio and container included
        target_kbps = rung.bitrate / 1000 if rung.bitrate is not None else None
        rungs.append({"name": rung.name, "file": os.path.basename(target), "width": width, "height": height,
                      "qp": rung.qp, "target_kbit_per_s": target_kbps,
                      "maxrate_kbit_per_s": rung.maxrate / 1000 if rung.maxrate else None,
                      "bufsize_kbit": rung.bufsize / 1000 if rung.bufsize else None,
                      "achieved_kbit_per_s": round(size * 8 / 1000 / seconds, 3),
                      "frames": count, "bytes": file_bytes, "video_bytes": size,
                      "kbit_per_s": round(kbps, 3), "video_kbit_per_s": round(size * 8 / 1000 / seconds, 3),
                      "psnr_y": round(q.y, 4), "psnr_u": round(q.u, 4),
                      "psnr_v": round(q.v, 4), "psnr_yuv": round(q.yuv, 4)})
        if rate is not None:
            for warning in rate.summary().warnings:
                common.warn(f"rung {rung.name}: {warning}")
        aim = f"target {target_kbps:.1f} kbit/s" if target_kbps else f"qp {rung.qp}"
        common.info(f"rung {rung.name}: {width}x{height} {aim}, {count} frames, {kbps:.1f} kbit/s, "
                    f"PSNR-YUV {q.yuv:.2f} dB -> {target}")
    manifest = {
        "input": input_path, "preset": chosen.name, "description": chosen.description,
        "model": {"name": codec_model.name, "sha256": codec_model.sha256},
        "source": {"width": src.width, "height": src.height, "frame_rate": str(src.frame_rate)},
        "psnr_reference": "the input scaled to each rung's size, by FFmpeg's swscale with the Lanczos filter (the "
                          "same frames the rung was coded from)",
        "scaler": "swscale lanczos",
        "rungs": rungs,
        "skipped": skipped,
    }
    with common.atomic_output(targets[-1]) as out:
        out.write((json.dumps(manifest, indent=2) + "\n").encode())
    common.info(f"ladder {chosen.name}: {len(rungs)} rungs and manifest.json in {outdir}")
