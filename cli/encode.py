"""``nvc encode INPUT OUTPUT.nvc``: any video PyAV reads (or y4m on stdin) into a .nvc file."""

from __future__ import annotations

import click
from nvcodec_cli import common, scaleout

from nvcodec.settings import LAYER_KNEE, LAYER_P_KNEE, LAYER_P_TOP_STEP, LAYER_TOP_STEP, MAX_INTRA_REFINE


@click.command()
@common.input_output
@click.option("-q", "--qp", type=click.IntRange(0, 63), help="Quality 0..63; HIGHER is better quality (as in "
              f"DCVC-RT, unlike x264's crf); with nvc's own models a picture layer carries it on above {LAYER_KNEE} "
              "(see --layer). Default 32, or the preset's.")
@click.option("-b:v", "--bitrate", "bitrate", type=common.BITRATE, help="Target bitrate (500k, 2.5M, 1e6): each "
              "frame's qp from a rate model of this content, fitted as the frames are coded; instead of -q.")
@click.option("-maxrate", "--maxrate", type=common.BITRATE, help="With -bufsize: a decoder buffer of BUFSIZE bits, "
              "full at the start and refilled at MAXRATE bits/s between frames, from which each frame's bits are "
              "taken at its time, never runs dry. Works with -b:v and with a fixed -q (capped quality).")
@click.option("-bufsize", "--bufsize", type=common.BUFSIZE, help="The decoder buffer's size in bits (see -maxrate).")
@click.option("-pass", "--pass", "pass_number", type=click.IntRange(1, 2), help="Two-pass encoding: pass 1 "
              "records each frame's complexity in the pass log (its output may be /dev/null), pass 2 spends "
              "-b:v where it buys the most.")
@click.option("-passlogfile", "--passlogfile", default="nvc2pass", show_default=True, metavar="PREFIX",
              help="Where the two passes keep their log (PREFIX-0.log).")
@click.option("--qp-p", type=click.IntRange(0, 63), help="Base qp of P frames (default: under -q by the P "
              "offset, at least 0: 24 with block skip, 12 without; above -q 47 the offset narrows to 0 at 63).")
@click.option("-g", "--intra-period", type=int, help="Frames between intra frames; -1 (default) for one only.")
@click.option("--reset-interval", type=click.IntRange(min=0), help="P frames between reference resets "
              "(default 64; 0 never).")
@click.option("--block-skip/--no-block-skip", "block_skip", default=None, help="Let P frames repeat 16x16 "
              "blocks of the previous frame where coding them costs more than it gains (default: on with "
              "nvc's own models, off with DCVC-RT's, whose stream syntax has no place for it).")
@click.option("--motion/--no-motion", "motion", default=None, help="Predict P frames through a motion vector "
              "per 16x16 block, searched in the previous decoded frame (nvc's extension; default: "
              "as the model's defaults say, never with DCVC-RT's models).")
@click.option("--layer/--no-layer", "layer", default=None, help=f"Above -q {LAYER_KNEE}, code I frames with "
              f"the networks at qp {LAYER_KNEE} plus a picture layer (what the networks left, as an integer 8x8 "
              f"transform) whose step falls from 64 grey levels to {LAYER_TOP_STEP:g} at -q 63; above -q "
              f"{LAYER_P_KNEE} P frames carry one too (to {LAYER_P_TOP_STEP:g}): past the networks' ceiling to "
              "x264's top quality. nvc's extension, recorded in the stream (default: on with nvc's own models, "
              "off with DCVC-RT's).")
@click.option("--layer-step", "layer_step", type=click.FloatRange(1.0, 64.0), metavar="S",
              help="A picture layer on every frame at this step instead (1..64 grey levels, in sixteenths; "
              "smaller is better), over the networks at -q as given.")
@click.option("--intra-refine", "intra_refine", type=click.IntRange(0, MAX_INTRA_REFINE), metavar="N",
              help="Encoder effort on I frames: N steps of a search for the latent that codes each one best "
              "(each step costs a few I-frame encodes; streams decode as any other). Default 0 (off), or "
              "the preset's.")
@click.option("--frames", "-frames", "-frames:v", "-vframes", "frames", type=click.IntRange(min=1),
              help="Encode at most N frames.")
@click.option("--ss", "-ss", "start", type=common.TIME, default=0.0, help="Start at this time (seconds or "
              "[HH:]MM:SS).")
@click.option("-t", "--duration", type=common.TIME, help="Encode at most this long.")
@click.option("--pix-fmt", "pix_fmt", default="yuv420p", show_default=True,
              help="'rgb' codes RGB as BT.709 full-range YCbCr 4:4:4; for raw .yuv input, its FFmpeg pix_fmt.")
@click.option("-s", "--size", "raw_size", type=common.SIZE, help="Frame size of raw .yuv input (WxH).")
@click.option("-r", "--rate", "raw_rate", type=common.RATE, help="Frame rate of raw .yuv or PNG input.")
@click.option("--stream", type=click.IntRange(min=0), default=0, show_default=True,
              help="Which video stream of the input (0 = first).")
@click.option("-an", "--no-audio", "no_audio", is_flag=True, help="Leave the audio out.")
@click.option("-f", "--format", "out_format", type=click.Choice(["nvc"]), help="Write an .nvc file whatever "
              "OUTPUT's extension says (ffmpeg's -f).")
@click.option("--preset", help="Named preset (fast, balanced, archive) or a .toml file; options override it.")
@click.option("--model", help="Model name, file, INTRA,INTER checkpoints or synthetic:<config>:<seed>.")
@click.option("--device", type=click.Choice(["auto", "cpu", "cuda"]), default="auto", show_default=True)
@click.option("--numerics", help="Numerics profile of the stream (default cpu-avx2-t2 on CPU; see README).")
@click.option("--threads", type=click.IntRange(min=1), help="Threads of FFmpeg's decoder of the input (default: "
              "FFmpeg's choice), and of torch where the numerics profile leaves them free (cpu-native).")
@click.option("--psnr", is_flag=True, help="Measure PSNR against the input and report it.")
@scaleout.workers_options(feed=True)
@common.progress_options
@common.overwrite_options
@common.loglevel_option
@common.ffmpeg_compatibility
@click.pass_obj
def encode(obj, input_option, paths, out_format, qp, bitrate, maxrate, bufsize, pass_number, passlogfile, qp_p,
           intra_period, reset_interval, block_skip, motion, layer, layer_step, intra_refine: int, frames, start,
           duration, pix_fmt: str, raw_size, raw_rate,
           stream: int, no_audio: bool, preset, model, device, numerics, threads, psnr: bool, progress_to,
           overwrite: bool, no_overwrite: bool) -> None:
    """Encode INPUT (a file, a raw .yuv, a PNG pattern or folder, or - for y4m on stdin) into OUTPUT
    (.nvc, or - for stdout).

    \b
      nvc encode in.mp4 -q 40 out.nvc
      nvc encode in.yuv -s 1920x1080 -r 30 out.nvc
      ffmpeg -i in.mkv -f yuv4mpegpipe - | nvc encode - out.nvc
    """
    from nvcodec_cli.progress import Progress

    common.setup_logging(obj.loglevel)
    input_path, output = common.resolve_input_output(input_option, paths)
    _check_output_format(output, out_format)
    common.check_input_output(input_path, output, overwrite, no_overwrite, progress_to)
    common.check_duration(duration)

    from nvcodec.presets import Preset, load_preset
    from nvcodec.ratecontrol.request import RateRequest

    request = RateRequest(bitrate, maxrate, bufsize, pass_number, passlogfile)
    if bitrate is not None and qp is not None:
        raise click.UsageError("-q and -b:v contradict each other: give a quality or a bitrate")
    chosen = load_preset(preset) if preset else Preset("defaults")
    if chosen.is_ladder:
        raise click.UsageError(f"preset {preset!r} is a ladder: use nvc ladder")
    settings = chosen.settings(qp_i=qp, qp_p=qp_p, intra_period=intra_period, reset_interval=reset_interval,
                               numerics=numerics, block_skip=block_skip, motion=motion, layer=layer,
                               layer_step=layer_step)
    if request.active:
        settings = settings.for_rate_control()
    intra_refine = chosen.intra_refine if intra_refine is None else intra_refine
    opts = _input_options(pix_fmt, raw_size, raw_rate, stream, start, duration, frames, not no_audio, threads)
    if raw_rate is not None and not _is_raw_input(input_path, raw_size):
        common.warn(f"-r sets the frame rate of raw .yuv and PNG input; {input_path} keeps its own")
    scale = scaleout.requested()
    if scale is not None:
        rate_flags = [flag for flag, value in (("-b:v", bitrate), ("-maxrate", maxrate), ("-bufsize", bufsize),
                                               ("-pass", pass_number)) if value is not None]
        scaleout.encode(obj, scale, input_path, output, opts, settings, model, device, psnr, progress_to, rate_flags,
                        intra_refine)
        return

    import os
    import sys

    from nvcodec.io import open_source
    from nvcodec.metrics import mean_quality

    # the input is opened first: a missing or unreadable file is reported before torch is imported
    with open_source(sys.stdin.buffer if input_path == "-" else input_path, opts) as source:
        from nvcodec import transcode

        codec_model = common.load_model(model)
        common.apply_threads(threads)
        info = source.info
        rate = None
        if request.active:
            from nvcodec.ratecontrol import build_controller

            rate = build_controller(request, settings.resolve(codec_model.inter.cfg), info.width * info.height,
                                    float(info.frame_rate), codec_model.sha256, info.frame_count_hint)
        show = obj.loglevel in ("info", "debug")
        progress = Progress("encoding", info.frame_count_hint, float(info.frame_rate), show, progress_to)
        progress.target_kbps = bitrate / 1000 if bitrate else None
        qualities = []
        ok = False
        try:
            with common.atomic_output(output) as out:
                for result in transcode.encode(source, out, codec_model, settings, device, measure=psnr, rate=rate,
                                                 intra_refine=intra_refine):
                    progress.update(result.bytes)
                    if result.quality is not None:
                        qualities.append(result.quality)
                size = out.tell() if output not in ("-", os.devnull) else progress.size
            ok = True
        finally:
            progress.close(ok)
        if rate is not None:
            from nvcodec.ratecontrol import finish

            finish(request, rate)
    s = progress.stats()
    line = (f"encoded {progress.frames} frames {info.width}x{info.height} in {progress.elapsed:.1f} s "
            f"({s['fps']:.2f} fps): {common.human_bytes(size)}, {s['kbps']:.1f} kbit/s")
    if qualities:
        q = mean_quality(qualities)
        line += f", PSNR-Y {q.y:.2f} dB, PSNR-YUV {q.yuv:.2f} dB"
    if rate is not None:
        summary = rate.summary(bitrate)
        for warning in summary.warnings:
            common.warn(warning)
        if bitrate:
            line += (f" (target {bitrate / 1000:.1f} kbit/s, {100 * (s['kbps'] * 1000 / bitrate - 1):+.1f} %; "
                     f"qp {summary.qp_min}-{summary.qp_max})")
        if summary.reencoded:
            line += f", {summary.reencoded} frame(s) coded again to fit the buffer"
    common.info(f"{line} -> {output}")


def _check_output_format(output: str, out_format: str | None) -> None:
    """An .nvc bitstream under another format's name would fool every player and script that trusts it."""
    import os

    suffix = os.path.splitext(output)[1].lower()
    if output == "-" or out_format == "nvc" or suffix in ("", ".nvc"):
        return
    raise click.UsageError(f"{output}: nvc encode writes .nvc files, not {suffix}; encode to OUT.nvc and "
                           f"nvc decode it to {suffix}, or give -f nvc to keep this name")


def _is_raw_input(input_path: str, raw_size) -> bool:
    """Whether the input has no frame rate of its own (raw .yuv, PNG sequences and folders)."""
    import os

    from nvcodec.io.source import RAW_EXTENSIONS

    if input_path == "-":
        return False
    return (raw_size is not None or input_path.lower().endswith(RAW_EXTENSIONS) or "%" in input_path
            or os.path.isdir(input_path))


def _input_options(pix_fmt: str, raw_size, raw_rate, stream: int, start: float, duration, frames, audio: bool,
                   threads: int | None):
    from nvcodec.io import InputOptions

    mode = "rgb" if pix_fmt in ("rgb", "rgb24") else "yuv420p"
    raw_pix_fmt = "rgb24" if pix_fmt == "rgb" else pix_fmt
    if raw_size is None and mode == "yuv420p" and pix_fmt != "yuv420p":
        raise click.BadParameter(f"{pix_fmt!r}: for coded input use yuv420p or rgb (other pix_fmts describe raw "
                                 ".yuv input, given with -s)", param_hint="--pix-fmt")
    if raw_size is not None:
        import av

        try:
            av.VideoFormat(raw_pix_fmt)
        except (ValueError, av.error.FFmpegError):
            raise click.BadParameter(f"{pix_fmt!r} is not an FFmpeg pix_fmt", param_hint="--pix-fmt") from None
    return InputOptions(stream=stream, raw_size=raw_size, raw_rate=raw_rate, raw_pix_fmt=raw_pix_fmt, mode=mode,
                        start=start, duration=duration, frames=frames, audio=audio, threads=threads)
