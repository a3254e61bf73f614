"""nvc encode / decode / info / models / ladder end to end, through the real entry point."""

import json
import os
import signal
import subprocess
import sys
from fractions import Fraction

import numpy as np
import pytest

from nvcodec.codec.frames import Planes
from nvcodec.color import ycbcr444_to_rgb
from tests.cli.conftest import MODEL
from tests.cli.media import FPS, audio_packets, make_clip, read_video, read_y4m


def test_info_text_and_json(media, nvc):
    code, out, err = nvc("info", media["nvc"])
    assert code == 0, err
    assert "64x48 4:2:0" in out and "synthetic-tiny-seed1" in out and "aac" in out
    code, out, _ = nvc("info", media["nvc"], "--json", "--frames")
    doc = json.loads(out)
    assert doc["video"]["frames"] == 5 and doc["video"]["frame_count_in_header"] == 5
    assert doc["complete"] and doc["intra_frames"] == [0]
    assert doc["video"]["color"] == {"matrix": "bt709", "range": "tv", "primaries": "bt709", "transfer": "bt709"}
    assert [f["type"] for f in doc["frames"]] == ["I", "P", "P", "P", "P"]
    assert doc["audio"][0]["codec"] == "aac" and doc["audio"][0]["packets"] > 0
    assert doc["settings"]["block_skip"] is False  # the tiny config is DCVC-RT's: its own syntax


def test_decode_mp4_keeps_frames_timestamps_colour_and_audio(media, nvc, tmp_path):
    out_path = tmp_path / "back.mp4"
    code, _, err = nvc("decode", media["nvc"], out_path)
    assert code == 0, err
    assert "decoded 5 frames" in err
    src, back = read_video(media["clip"]), read_video(out_path)
    assert len(back) == len(src) == 5
    assert [(f.width, f.height) for f in back] == [(64, 48)] * 5
    assert [f.time for f in back] == pytest.approx([f.time for f in src])
    assert back[0].colorspace == 1 and back[0].color_range == 1
    assert audio_packets(out_path) == audio_packets(media["clip"])  # stream copy, bit for bit


def test_lossless_outputs_agree_with_y4m(media, nvc, tmp_path):
    """mp4 --lossless (x264 qp 0), mkv (ffv1), raw .yuv and y4m all carry the same decoded samples."""
    assert nvc("decode", media["nvc"], tmp_path / "a.y4m")[0] == 0
    header, frames = read_y4m(tmp_path / "a.y4m")
    assert header.startswith("YUV4MPEG2 W64 H48 F25:1") and len(frames) == 5
    assert nvc("decode", media["nvc"], tmp_path / "a.yuv")[0] == 0
    assert (tmp_path / "a.yuv").read_bytes() == b"".join(frames)
    for name in ("a.mp4", "a.mkv"):
        assert nvc("decode", media["nvc"], tmp_path / name, *(["--lossless"] if name == "a.mp4" else []))[0] == 0
        for frame, raw in zip(read_video(tmp_path / name), frames, strict=True):
            planes = b"".join(np.frombuffer(p, np.uint8).reshape(p.height, p.line_size)[:, : p.width].tobytes()
                              for p in frame.planes)
            assert planes == raw, name
    assert audio_packets(tmp_path / "a.mkv")  # mkv takes the aac track too


def test_png_sequence_output(media, nvc, tmp_path):
    code, _, err = nvc("decode", media["nvc"], tmp_path / "png" / "f%03d.png")
    assert code == 0, err
    names = sorted(os.listdir(tmp_path / "png"))
    assert names == [f"f{i:03d}.png" for i in range(1, 6)]
    assert read_video(tmp_path / "png" / "f001.png")[0].width == 64


def test_odd_size_round_trip(media, nvc, tmp_path):
    coded, out = tmp_path / "odd.nvc", tmp_path / "odd.y4m"
    assert nvc("encode", media["odd"], coded, *MODEL)[0] == 0
    assert nvc("decode", coded, out)[0] == 0
    header, frames = read_y4m(out)
    assert "W33 H17" in header and len(frames) == 3
    assert all(len(f) == 33 * 17 + 2 * 17 * 9 for f in frames)
    assert nvc("decode", coded, tmp_path / "odd.mp4")[0] == 0  # H.264 needs even 4:2:0: written as 4:4:4
    assert [(f.width, f.height) for f in read_video(tmp_path / "odd.mp4")] == [(33, 17)] * 3


def test_rgb_mode_round_trip(media, nvc, tmp_path):
    coded = tmp_path / "rgb.nvc"
    code, _, err = nvc("encode", media["pngs"], coded, "--pix-fmt", "rgb", "-r", "10", *MODEL, "--psnr")
    assert code == 0, err
    assert "PSNR-Y" in err
    doc = json.loads(nvc("info", coded, "--json")[1])
    assert doc["video"]["chroma"] == "4:4:4" and doc["video"]["rgb_source"]
    assert doc["video"]["color"]["range"] == "pc" and doc["video"]["color"]["matrix"] == "bt709"
    assert Fraction(doc["video"]["frame_rate"]) == 10
    assert nvc("decode", coded, tmp_path / "out" / "%02d.png")[0] == 0
    frames = [read_video(tmp_path / "out" / f"{i:02d}.png")[0] for i in (1, 2, 3)]
    assert all(f.format.name == "rgb24" and (f.width, f.height) == (40, 24) for f in frames)
    header, raw = read_y4m(_decode_y4m(nvc, coded, tmp_path))
    assert "C444" in header and "XCOLORRANGE=FULL" in header and len(raw[0]) == 3 * 40 * 24
    for png, ycbcr in zip(frames, raw, strict=True):  # PNGs are the exact inverse of the coded YCbCr
        y, u, v = np.frombuffer(ycbcr, np.uint8).reshape(3, 24, 40)
        assert np.array_equal(png.to_ndarray(), ycbcr444_to_rgb(Planes(y, u, v, chroma="444")))
    assert nvc("decode", coded, tmp_path / "rgb.mp4", "--lossless")[0] == 0
    assert read_video(tmp_path / "rgb.mp4")[0].format.name in ("yuv444p", "yuvj444p")
    assert nvc("decode", coded, tmp_path / "play.mp4")[0] == 0  # the default plays everywhere: 4:2:0
    assert read_video(tmp_path / "play.mp4")[0].format.name in ("yuv420p", "yuvj420p")


def _decode_y4m(nvc, coded, tmp_path):
    out = tmp_path / "x.y4m"
    assert nvc("decode", coded, out, "-y")[0] == 0
    return out


def test_frame_range_and_seek(media, nvc, tmp_path):
    coded = tmp_path / "g2.nvc"
    assert nvc("encode", media["clip"], coded, *MODEL, "-g", "2", "--frames", "4")[0] == 0
    doc = json.loads(nvc("info", coded, "--json")[1])
    assert doc["video"]["frames"] == 4 and doc["intra_frames"] == [0, 2]
    out = tmp_path / "tail.y4m"
    code, _, err = nvc("decode", coded, out, "--ss", "0.08", "--loglevel", "debug")
    assert code == 0, err
    assert "seeking to intra frame 2" in err
    assert len(read_y4m(out)[1]) == 2
    assert nvc("decode", coded, tmp_path / "two.mp4", "--frames", "2")[0] == 0
    assert len(read_video(tmp_path / "two.mp4")) == 2
    cut = tmp_path / "cut.nvc"
    assert nvc("encode", media["clip"], cut, *MODEL, "--ss", "0.04", "-t", "0.08", "-an")[0] == 0
    doc = json.loads(nvc("info", cut, "--json", "--frames")[1])
    assert doc["video"]["frames"] == 2 and doc["audio"] == []
    assert doc["frames"][0]["time"] == pytest.approx(0.0)


def test_overwrite_rules(media, nvc, tmp_path):
    target = tmp_path / "exists.y4m"
    target.write_bytes(b"keep me")
    code, _, err = nvc("decode", media["nvc"], target)
    assert code == 1 and "already exists" in err and target.read_bytes() == b"keep me"
    code, _, err = nvc("decode", media["nvc"], target, "-n")
    assert code == 1 and target.read_bytes() == b"keep me"
    assert nvc("decode", media["nvc"], target, "-y")[0] == 0
    assert target.read_bytes().startswith(b"YUV4MPEG2")
    assert not [p for p in os.listdir(tmp_path) if "partial" in p]


def test_progress_file(media, nvc, tmp_path):
    progress = tmp_path / "progress.txt"
    assert nvc("decode", media["nvc"], tmp_path / "p.y4m", "--progress", progress)[0] == 0
    blocks = progress.read_text().split("progress=")
    assert "frame=5" in blocks[-2] and blocks[-1].strip() == "end"
    assert "out_time_us=" in blocks[0] and "speed=" in blocks[0]


def test_quiet_mode_prints_nothing(media, nvc, tmp_path):
    code, out, err = nvc("--loglevel", "quiet", "decode", media["nvc"], tmp_path / "q.y4m")
    assert code == 0 and out == "" and err == ""


def test_pipes_both_ways(media, tmp_path):
    """y4m on stdin -> .nvc on stdout -> decoder reading stdin -> y4m on stdout, as real processes."""
    cmd = [sys.executable, "-m", "nvcodec_cli.main"]
    env = dict(os.environ)
    with open(media["odd"], "rb") as src:
        enc = subprocess.Popen([*cmd, "encode", "-", "-", *MODEL], stdin=src, stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE, env=env)
        dec = subprocess.run([*cmd, "decode", "-", "-"], stdin=enc.stdout, capture_output=True, env=env,
                             timeout=120)
        enc.stdout.close()
        assert enc.wait(timeout=120) == 0, enc.stderr.read().decode()
    assert dec.returncode == 0, dec.stderr.decode()
    piped = tmp_path / "piped.y4m"
    piped.write_bytes(dec.stdout)
    header, frames = read_y4m(piped)
    assert "W33 H17" in header and f"F{FPS}:1" in header and len(frames) == 3


def test_models_lists_the_shipped_models_and_the_published_one(nvc):
    code, out, _ = nvc("models", "--json")
    doc = json.loads(out)
    names = [m["name"] for m in doc["models"]]
    assert code == 0 and names[0] == "nvc-compact" and doc["models"][0]["default"] and "dcvc-rt" in names
    # experiments and test configs are not the product's
    assert doc["configs"] == ["compact-skip", "compact-skip-deep-intra", "dcvc-rt"]


def test_preset_and_override(media, nvc, tmp_path):
    coded = tmp_path / "fast.nvc"
    assert nvc("encode", media["clip"], coded, *MODEL, "--preset", "fast", "-q", "40", "--frames", "2")[0] == 0
    doc = json.loads(nvc("info", coded, "--json")[1])
    assert doc["settings"]["qp"] == 40 and doc["settings"]["intra_period"] == 32


def test_ladder_writes_every_rung_and_a_manifest(media, nvc, tmp_path):
    out = tmp_path / "ladder"
    code, _, err = nvc("ladder", media["clip"], out, "--preset", "ladder-mini", *MODEL, "--frames", "2")
    assert code == 0, err
    manifest = json.loads((out / "manifest.json").read_text())
    assert [r["name"] for r in manifest["rungs"]] == ["quarter", "half", "full"]
    assert [(r["width"], r["height"]) for r in manifest["rungs"]] == [(32, 24), (64, 48), (64, 48)]
    for rung in manifest["rungs"]:
        assert (out / rung["file"]).stat().st_size == rung["bytes"]
        assert rung["frames"] == 2 and rung["kbit_per_s"] > rung["video_kbit_per_s"] > 0 and rung["psnr_yuv"] > 0
        assert rung["video_kbit_per_s"] == pytest.approx(rung["video_bytes"] * 8 / 1000 / (2 / FPS), abs=1e-3)
    code, _, err = nvc("ladder", media["clip"], out, "--preset", "ladder-mini", *MODEL, "--frames", "2")
    assert code == 1 and "already exists" in err


def _overlapping_audio(clip, start: Fraction, end: Fraction) -> list[tuple[int, bytes]]:
    """The source's audio packets holding a sample in [start, end), timestamps moved back by ``start``."""
    import av

    with av.open(str(clip)) as c:
        s = c.streams.audio[0]
        packets = [(p.pts, p.duration, bytes(p)) for p in c.demux(s) if p.size]
        tb = s.time_base
    shift = round(start / tb)
    return [(pts - shift, data) for pts, dur, data in packets if pts * tb < end and (pts + dur) * tb > start]


def test_audio_follows_the_selected_range(media, nvc, tmp_path):
    """--ss/-t/--frames keep exactly the audio packets overlapping the selection, on encode and on decode."""
    coded, out = tmp_path / "range.nvc", tmp_path / "range.mp4"
    assert nvc("encode", media["clip"], coded, *MODEL, "--ss", "0.05", "-t", "0.08")[0] == 0
    assert nvc("decode", coded, out)[0] == 0
    assert len(read_video(out)) == 2  # frames at 0.08 and 0.12
    expected = _overlapping_audio(media["clip"], Fraction(5, 100), Fraction(13, 100))
    assert audio_packets(out) == expected and expected[0][0] < 0  # the packet sounding at --ss is kept
    # decoding: -g 2 puts an intra frame at 0.08, so --ss 0.09 seeks there; --frames 1 ends the range at 0.16
    coded, out = tmp_path / "g2.nvc", tmp_path / "part.mp4"
    assert nvc("encode", media["clip"], coded, *MODEL, "-g", "2")[0] == 0
    code, _, err = nvc("decode", coded, out, "--ss", "0.09", "--frames", "1", "--loglevel", "debug")
    assert code == 0 and "seeking to intra frame 2" in err
    assert audio_packets(out) == _overlapping_audio(media["clip"], Fraction(9, 100), Fraction(16, 100))


def test_threads_reach_ffmpeg(media, nvc, tmp_path, monkeypatch):
    """--threads sets the thread count of FFmpeg's input decoder (encode, ladder) and output encoder (decode)."""
    import torch

    import nvcodec.io

    seen = []

    def spy_source(path, opts=None):
        source = open_source(path, opts)
        seen.append(("decoder", source._video.codec_context.thread_count))
        return source

    def spy_sink(target, desc, opts=None):
        sink = open_sink(target, desc, opts)
        seen.append(("encoder", sink._stream.codec_context.thread_count))
        return sink

    open_source, open_sink = nvcodec.io.open_source, nvcodec.io.open_sink
    monkeypatch.setattr(nvcodec.io, "open_source", spy_source)
    monkeypatch.setattr(nvcodec.io, "open_sink", spy_sink)
    torch_threads = torch.get_num_threads()
    try:
        assert nvc("encode", media["clip"], tmp_path / "t.nvc", *MODEL, "--frames", "1", "--threads", "3")[0] == 0
        assert nvc("decode", tmp_path / "t.nvc", tmp_path / "t.mp4", "--threads", "2")[0] == 0
        assert nvc("ladder", media["clip"], tmp_path / "l", "--preset", "ladder-mini", *MODEL, "--frames", "1",
                   "--threads", "1")[0] == 0
        assert nvc("decode", tmp_path / "t.nvc", tmp_path / "auto.mp4")[0] == 0
    finally:
        torch.set_num_threads(torch_threads)
    assert seen == [("decoder", 3), ("encoder", 2)] + [("decoder", 1)] * 4 + [("encoder", 0)]


@pytest.mark.parametrize("ext", ["mkv", "ts"])
def test_video_timestamps_kept_when_audio_starts_first(media, nvc, tmp_path, ext):
    """AAC's priming packet starts before the first frame; the muxer must not move the video later for it."""
    import av

    out = tmp_path / f"back.{ext}"
    assert nvc("decode", media["nvc"], out)[0] == 0
    assert [f.time for f in read_video(out)] == pytest.approx([f.time for f in read_video(media["clip"])])
    with av.open(str(out)) as c:
        first = next(p for p in c.demux(audio=0) if p.size)
        assert first.pts * first.time_base < 0


def test_audio_a_container_refuses_is_dropped_with_a_warning(tmp_path, nvc):
    """PCM in mp4 is refused only when the muxer writes its trailer: checked first, so the video is still written."""
    clip, coded, out = tmp_path / "pcm.mkv", tmp_path / "pcm.nvc", tmp_path / "pcm.mp4"
    make_clip(clip, frames=2, width=32, height=16, audio_codec="pcm_s16le")
    assert nvc("encode", clip, coded, *MODEL)[0] == 0
    code, _, err = nvc("decode", coded, out)
    assert code == 0, err
    assert "audio track 0 (pcm_s16le) cannot go into mp4: dropped (the mp4 muxer refuses pcm_s16le)" in err
    assert len(read_video(out)) == 2 and audio_packets(out) == []
    assert nvc("decode", coded, tmp_path / "pcm.mov")[0] == 0  # mov takes it
    assert len(audio_packets(tmp_path / "pcm.mov")) == len(audio_packets(clip))


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM])
def test_interrupted_run_exits_255_and_leaves_no_partial_output(media, nvc, tmp_path, monkeypatch, signum):
    """Ctrl-C or kill mid-encode: exit 255, the temporary output removed, an existing output untouched."""
    from nvcodec import transcode

    real_encode = transcode.encode

    def encode_then_signal(*args, **kwargs):
        for i, result in enumerate(real_encode(*args, **kwargs)):
            yield result
            if i == 0:
                assert signal.getsignal(signum) is not signal.SIG_DFL  # nvc must catch it, or this kills pytest
                os.kill(os.getpid(), signum)

    monkeypatch.setattr(transcode, "encode", encode_then_signal)
    originals = {s: signal.getsignal(s) for s in (signal.SIGINT, signal.SIGTERM)}
    # a handler that swallows Ctrl-C, as an earlier in-process command could leave (nvc train stops gently on it)
    signal.signal(signal.SIGINT, lambda *_: None)
    try:
        before = {s: signal.getsignal(s) for s in originals}
        target = tmp_path / "out.nvc"
        target.write_bytes(b"keep me")
        code, _, err = nvc("encode", media["clip"], target, *MODEL, "-y")
        after = {s: signal.getsignal(s) for s in originals}
    finally:
        for s, handler in originals.items():
            signal.signal(s, handler)
    assert code == 255 and err.strip() == "nvc: interrupted"
    assert target.read_bytes() == b"keep me" and sorted(os.listdir(tmp_path)) == ["out.nvc"]
    assert after == before  # nvc puts back the handlers it found


def test_block_skip_option_reaches_the_stream(media, nvc, tmp_path):
    """The tiny (DCVC-RT) config keeps DCVC-RT's syntax unless --block-skip asks; either decodes."""
    from nvcodec.bitstream import SpsUnit, read_units
    from nvcodec.container import NvcReader, VideoPacket

    def sps_flags(path):
        with open(path, "rb") as f:
            units = [u for p in NvcReader(f).packets() if isinstance(p, VideoPacket) for u in read_units(p.units)]
        return {u.block_skip for u in units if isinstance(u, SpsUnit)}

    for option, expected in (("--no-block-skip", {False}), ("--block-skip", {True})):
        coded = tmp_path / f"{option}.nvc"
        assert nvc("encode", media["clip"], coded, *MODEL, "--frames", "4", option)[0] == 0
        assert sps_flags(coded) == expected
        code, out, _ = nvc("info", coded, "--json")
        assert json.loads(out)["settings"]["block_skip"] == expected.pop()
        assert nvc("decode", coded, tmp_path / f"{option}.y4m")[0] == 0


def test_motion_option_reaches_the_stream(media, nvc, tmp_path):
    """--motion sets the SPS flag (nvc info says so) and the file decodes; without it the flag stays off
    (exactness is tests/unit/test_motion_coding.py's)."""
    from nvcodec.bitstream import SpsUnit, read_units
    from nvcodec.container import NvcReader, VideoPacket

    coded = tmp_path / "motion.nvc"
    code, _, err = nvc("encode", media["clip"], coded, *MODEL, "--frames", "4", "--motion", "--psnr")
    assert code == 0
    with open(coded, "rb") as f:
        units = [u for p in NvcReader(f).packets() if isinstance(p, VideoPacket) for u in read_units(p.units)]
    assert {u.motion for u in units if isinstance(u, SpsUnit)} == {True}
    assert json.loads(nvc("info", coded, "--json")[1])["settings"]["motion"] is True
    assert nvc("decode", coded, tmp_path / "motion.y4m")[0] == 0
    plain = tmp_path / "plain.nvc"
    assert nvc("encode", media["clip"], plain, *MODEL, "--frames", "4")[0] == 0
    assert json.loads(nvc("info", plain, "--json")[1])["settings"]["motion"] is False


def test_layer_step_option_reaches_the_stream_and_a_bad_step_is_one_line(media, nvc, tmp_path):
    """--layer-step sets the SPS flag (nvc info says so), the file decodes to the encoder's pictures
    and its I frames come closer to the source (exactness is tests/unit/test_picture_layer.py's)."""
    coded = tmp_path / "layer.nvc"
    code, _, err = nvc("encode", media["clip"], coded, *MODEL, "--frames", "3", "-g", "1", "--layer-step", "4",
                       "--psnr")
    assert code == 0
    layered_psnr = float(err.split("PSNR-YUV")[1].split()[0])
    assert json.loads(nvc("info", coded, "--json")[1])["settings"]["picture_layer"] is True
    assert nvc("decode", coded, tmp_path / "layer.y4m")[0] == 0
    plain = tmp_path / "plain.nvc"
    code, _, err = nvc("encode", media["clip"], plain, *MODEL, "--frames", "3", "-g", "1", "--psnr")
    assert code == 0 and json.loads(nvc("info", plain, "--json")[1])["settings"]["picture_layer"] is False
    assert layered_psnr > float(err.split("PSNR-YUV")[1].split()[0]) + 1
    code, _, err = nvc("encode", media["clip"], tmp_path / "bad.nvc", *MODEL, "--layer-step", "4.01")
    assert code == 1 and err.count("\n") == 1 and "layer_step" in err and not (tmp_path / "bad.nvc").exists()


def test_the_top_of_q_takes_the_layer_where_asked_and_contradictions_are_one_line(media, nvc, tmp_path):
    """-q above 40 takes the picture layer with nvc's own models (here asked for with --layer: the tiny
    test model is of DCVC-RT's kind, whose streams keep DCVC-RT's syntax by default)."""
    def layered(*options: str) -> bool:
        out = tmp_path / "q.nvc"
        assert nvc("encode", media["clip"], out, *MODEL, "--frames", "2", "-y", *options)[0] == 0
        assert nvc("decode", out, tmp_path / "q.y4m", "-y")[0] == 0
        return json.loads(nvc("info", out, "--json")[1])["settings"]["picture_layer"]

    assert layered("-q", "63", "--layer") is True
    assert layered("-q", "40", "--layer") is False  # at and under the knee, the networks alone
    assert layered("-q", "63") is False
    code, _, err = nvc("encode", media["clip"], tmp_path / "bad.nvc", *MODEL, "--no-layer", "--layer-step", "4")
    assert code == 1 and err.count("\n") == 1 and "layer" in err and not (tmp_path / "bad.nvc").exists()


def test_decode_to_mp4_plays_everywhere_by_default(media, nvc, tmp_path):
    import av

    assert nvc("decode", media["nvc"], tmp_path / "play.mp4")[0] == 0
    with av.open(str(tmp_path / "play.mp4")) as container:
        stream = container.streams.video[0]
        assert stream.codec_context.name == "h264" and stream.codec_context.profile == "High"
        assert stream.codec_context.format.name == "yuv420p"


@pytest.mark.parametrize("name", ["r.mp4", "r.mkv", "r.webm", "r.mov"])
def test_outputs_are_reproducible_whatever_the_threads(media, nvc, tmp_path, name):
    first, second = tmp_path / "one" / name, tmp_path / "two" / name
    first.parent.mkdir()
    second.parent.mkdir()
    assert nvc("decode", media["nvc"], first, "--threads", "1")[0] == 0
    assert nvc("decode", media["nvc"], second, "--threads", "4")[0] == 0
    assert first.read_bytes() == second.read_bytes()


def test_crf_where_the_output_encoder_has_none_is_refused(media, nvc, tmp_path):
    from tests.cli.test_bad_input import one_line_error

    code, _, err = nvc("decode", media["nvc"], tmp_path / "out.mkv", "--crf", "20")
    one_line_error(code, err, "crf", "ffv1")
    code, _, err = nvc("decode", media["nvc"], tmp_path / "out.mp4", "-crf", "20", "--lossless")
    one_line_error(code, err, "crf")
    assert not list(tmp_path.iterdir())
    assert nvc("decode", media["nvc"], tmp_path / "out.mp4", "-crf", "30")[0] == 0


@pytest.mark.parametrize("command", ["encode", "decode"])
def test_a_zero_duration_is_an_error(media, nvc, tmp_path, command):
    from tests.cli.test_bad_input import one_line_error

    source = media["clip"] if command == "encode" else media["nvc"]
    code, _, err = nvc(command, source, tmp_path / ("out.nvc" if command == "encode" else "out.y4m"), "-t", "0")
    one_line_error(code, err, "-t")
    assert not list(tmp_path.iterdir())


def test_gray_sources_come_back_gray(nvc, tmp_path):
    import av

    gray = tmp_path / "gray.mkv"
    with av.open(str(gray), "w") as container:
        stream = container.add_stream("ffv1", rate=25)
        stream.width, stream.height, stream.pix_fmt = 48, 32, "gray"
        for i in range(3):
            frame = av.VideoFrame.from_ndarray(((np.indices((32, 48)).sum(0) * 5 + i * 7) % 256).astype(np.uint8),
                                               format="gray")
            for packet in stream.encode(frame):
                container.mux(packet)
        for packet in stream.encode(None):
            container.mux(packet)
    coded, out = tmp_path / "gray.nvc", tmp_path / "gray.y4m"
    assert nvc("encode", gray, coded, *MODEL)[0] == 0
    assert nvc("decode", coded, out)[0] == 0
    _, frames = read_y4m(out)
    for raw in frames:
        chroma = np.frombuffer(raw[48 * 32:], np.uint8)
        assert (chroma == 128).all()  # no tint from the codec's chroma errors


def test_intra_refine_option_reaches_the_encoder_and_the_stream_decodes_as_any_other(media, nvc, tmp_path,
                                                                                     monkeypatch):
    """--intra-refine N searches each I frame's latent, N steps (what the search finds is
    tests/unit/test_latent_refine.py's); the file decodes.  A negative effort is one line."""
    from nvcodec.codec import sequence

    searches = []
    real = sequence.refine_intra_latent

    def spy(model, x, qp, lam, iterations, *args):
        searches.append((qp, iterations))
        return real(model, x, qp, lam, iterations, *args)

    monkeypatch.setattr(sequence, "refine_intra_latent", spy)
    refined = tmp_path / "refined.nvc"
    code, _, err = nvc("encode", media["clip"], refined, *MODEL, "--frames", "3", "-g", "2", "-q", "50",
                       "--intra-refine", "5")
    assert code == 0, err
    assert searches == [(50, 5), (50, 5)]  # the I frames 0 and 2, not the P frame
    assert nvc("encode", media["clip"], tmp_path / "plain.nvc", *MODEL, "--frames", "3")[0] == 0
    assert len(searches) == 2  # off by default
    code, _, err = nvc("decode", refined, tmp_path / "back.y4m")
    assert code == 0, err
    code, _, err = nvc("encode", media["clip"], tmp_path / "bad.nvc", *MODEL, "--intra-refine", "-1")
    assert code == 1 and len(err.strip().splitlines()) == 1 and "--intra-refine" in err
    assert not (tmp_path / "bad.nvc").exists()
