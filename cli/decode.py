"""``nvc decode IN.nvc OUTPUT``: a .nvc file back to video (mp4, mkv, y4m, .yuv, PNGs or stdout)."""

from __future__ import annotations

import click
from nvcodec_cli import common, scaleout


@click.command()
@common.input_output
@click.option("-c:v", "--codec", "codec", help="Video encoder for container outputs (default: H.264 High 4:2:0 "
              "at crf 16, visually lossless and playable everywhere, in mp4/mov/ts; lossless FFV1 in mkv).")
@click.option("--crf", "-crf", "crf", type=click.IntRange(0, 63), help="Quality of the output encoder (x264's "
              "crf); refused for encoders without one.")
@click.option("-f", "--format", "out_format", help="Output format, whatever OUTPUT's extension says (ffmpeg's "
              "-f: y4m, rawvideo, image2, or a muxer such as matroska or mp4).")
@click.option("--lossless", is_flag=True, help="Exact frames in mp4/mov/ts too (H.264 qp 0, High 4:4:4 "
              "Predictive, which browsers do not play); y4m, .yuv, PNG and mkv are always exact.")
@click.option("--frames", "-frames", "-frames:v", "-vframes", "frames", type=click.IntRange(min=1),
              help="Decode at most N frames.")
@click.option("--ss", "-ss", "start", type=common.TIME, default=0.0,
              help="Start at this time; seeks through the intra index when the input is a file.")
@click.option("-t", "--duration", type=common.TIME, help="Decode at most this long.")
@click.option("--model", help="Model to decode with (default: the one the stream names); another model's "
              "stream is refused.")
@click.option("--device", type=click.Choice(["auto", "cpu", "cuda"]), default="auto", show_default=True)
@click.option("--threads", type=click.IntRange(min=1), help="Threads of FFmpeg's encoder of the output (default: "
              "FFmpeg's choice), and of torch where the stream's numerics profile leaves them free.")
@click.option("--strict", is_flag=True, help="Treat a truncated input as an error instead of a warning.")
@scaleout.workers_options(feed=False)
@common.progress_options
@common.overwrite_options
@common.loglevel_option
@common.ffmpeg_compatibility
@click.pass_obj
def decode(obj, input_option, paths, out_format, codec, crf, lossless: bool, frames, start, duration, model, device,
           threads, strict: bool, progress_to, overwrite: bool, no_overwrite: bool) -> None:
    """Decode INPUT (.nvc, or - for stdin) to OUTPUT, cropped to the source size with its audio,
    colour description and timestamps.

    \b
      nvc decode clip.nvc clip.mp4            (H.264 that plays everywhere)
      nvc decode clip.nvc clip.mkv            (lossless FFV1)
      nvc decode clip.nvc frames/%04d.png
      nvc decode clip.nvc - | ffplay -
    """
    import sys

    from nvcodec_cli.progress import Progress

    common.setup_logging(obj.loglevel)
    input_path, output = common.resolve_input_output(input_option, paths)
    common.check_input_output(input_path, output, overwrite, no_overwrite, progress_to)
    common.check_duration(duration)
    scale = scaleout.requested()

    from nvcodec import transcode
    from nvcodec.container import NvcReader
    from nvcodec.errors import InputError, TruncatedStreamError
    from nvcodec.io import OutputOptions, open_sink
    from nvcodec.models.registry import resolve_stream_model

    with common.open_nvc_input(input_path) as source:
        reader = NvcReader(source)
        header = reader.header
        # the file names its model, but only the user names files: a stream's model name is looked up
        # among the shipped and synthetic models, never opened as a path
        codec_model = common.load_model(model) if model else resolve_stream_model(header.model_name)
        transcode.check_model(header, codec_model)
        common.apply_threads(threads)
        total = header.frame_count if header.frame_count is not None else None
        if frames is not None:
            total = min(total, frames) if total else frames
        show = obj.loglevel in ("info", "debug")
        progress = Progress("decoding", total, float(header.frame_rate), show, progress_to)
        sink = open_sink(sys.stdout.buffer if output == "-" else output, transcode.description(header, reader),
                         OutputOptions(codec=codec, crf=crf, threads=threads, lossless=lossless, format=out_format,
                                       quiet=obj.loglevel in ("quiet", "error")))
        ok = False
        pictures = None
        try:
            # --workers: the chunks between intra frames decoded in parallel, handed out in order
            pictures = scaleout.pictures(scale, input_path, header, model, device)
            selection = transcode.DecodeRange(start=start, frames=frames, duration=duration)
            for result in transcode.decode(reader, codec_model, sink, device, selection, pictures=pictures):
                progress.update(result.bytes)
            if reader.truncated_at is not None:
                message = (f"{input_path}: file is cut off at byte {reader.truncated_at}; "
                           f"decoded the {progress.frames} complete frames before it")
                if strict:
                    raise TruncatedStreamError(message)
                common.warn(message)
            if progress.frames == 0:
                raise InputError(f"{input_path}: no frames to decode in the selected range")
            sink.close()
            ok = True
        finally:
            if pictures is not None:
                pictures.close()
            if not ok:
                sink.abort()
            progress.close(ok)
    s = progress.stats()
    common.info(f"decoded {progress.frames} frames {header.width}x{header.height} in {progress.elapsed:.1f} s "
                f"({s['fps']:.2f} fps) from {s['kbps']:.1f} kbit/s -> {output}")
