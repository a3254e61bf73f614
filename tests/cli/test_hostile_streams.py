"""A .nvc file is untrusted: what it names never decides which local file nvc opens."""

from __future__ import annotations

import dataclasses
from fractions import Fraction

import pytest

from nvcodec import transcode
from nvcodec.io import InputOptions, open_source
from nvcodec.models.bundle import synthetic_model
from nvcodec.models.registry import save_model_file
from nvcodec.settings import CodingSettings
from tests.cli.test_bad_input import assert_no_output, one_line_error


def _stream_naming(model_name: str, media, tmp_path, save_weights_there: bool):
    """A stream coded by the tiny synthetic model that records ``model_name`` as its model."""
    model = dataclasses.replace(synthetic_model(1, "tiny"), name=model_name)
    if save_weights_there:
        save_model_file(model, model_name, half=False)  # the very weights: a hash check alone would pass
    coded = tmp_path / "named.nvc"
    with open_source(str(media["clip"]), InputOptions(frames=2, audio=False)) as source, open(coded, "wb") as out:
        for _ in transcode.encode(source, out, model, CodingSettings(qp_i=30)):
            pass
    return coded


def test_a_stream_naming_a_model_file_does_not_get_it_opened(media, tmp_path, nvc):
    weights = tmp_path / "weights.pt"
    coded = _stream_naming(str(weights), media, tmp_path, save_weights_there=True)
    out = tmp_path / "out.y4m"
    code, _, err = nvc("decode", coded, out)
    one_line_error(code, err, "--model")
    assert_no_output(tmp_path)
    # the user may name that file, and then its weights must be the stream's
    assert nvc("decode", coded, out, "--model", weights)[0] == 0
    other = tmp_path / "other.pt"
    save_model_file(synthetic_model(2, "tiny"), other)
    code, _, err = nvc("decode", coded, tmp_path / "out2.y4m", "--model", other)
    one_line_error(code, err, "sha256")


@pytest.mark.parametrize("name", ["/etc/passwd", "/dev/zero", "../../secret.pt", "synthetic:tiny:1",
                                  "nvc-compact,/etc/passwd", "synthetic-../x-seed1", "x" * 255])
def test_hostile_model_names_are_refused_by_name(media, tmp_path, nvc, monkeypatch, name):
    coded = _stream_naming(name, media, tmp_path, save_weights_there=False)
    opened = []
    real_open = open

    def watching_open(file, *args, **kwargs):
        opened.append(str(file))
        return real_open(file, *args, **kwargs)

    monkeypatch.setattr("builtins.open", watching_open)
    code, _, err = nvc("decode", coded, tmp_path / "out.y4m")
    monkeypatch.undo()
    one_line_error(code, err)
    assert not any(name in path or path in ("/etc/passwd", "/dev/zero") for path in opened)
    assert_no_output(tmp_path)


def _rewrap(coded, out, **header_changes):
    """``coded`` with its header fields changed (chunks and CRCs rewritten, packets as they were)."""
    from nvcodec.container import NvcReader, NvcWriter, VideoPacket

    with open(coded, "rb") as f:
        reader = NvcReader(f)
        header = dataclasses.replace(reader.header, **header_changes)
        with open(out, "wb") as o:
            writer = NvcWriter(o, header, reader.audio)
            for packet in reader.packets():
                if isinstance(packet, VideoPacket):
                    writer.write_video(packet.pts, packet.duration, packet.intra, packet.units)
                else:
                    writer.write_audio(packet)
            writer.close()


@pytest.mark.parametrize(("changes", "output"), [
    ({"width": 96}, "out.y4m"), ({"height": 16384, "width": 16384}, "out.y4m"), ({"width": 96}, "out.mkv"),
    ({"height": 47}, "out.yuv"),
])
def test_a_header_that_disagrees_with_its_stream_is_refused(media, tmp_path, nvc, changes, output):
    lying = tmp_path / "lying.nvc"
    _rewrap(media["nvc"], lying, **changes)
    code, _, err = nvc("decode", lying, tmp_path / output)
    errors = "\n".join(line for line in err.splitlines() if "warning:" not in line)  # y4m drops the audio
    one_line_error(code, errors, "header says")
    assert_no_output(tmp_path)


@pytest.mark.parametrize(("changes", "what"), [
    ({"time_base": Fraction(1, (1 << 32) - 1)}, "time base"),
    ({"frame_rate": Fraction((1 << 32) - 1, 1)}, "frame rate"),
])
@pytest.mark.parametrize("output", ["out.mkv", "out.mp4"])
def test_rates_a_container_cannot_store_are_one_line(media, tmp_path, nvc, changes, what, output):
    odd = tmp_path / "odd.nvc"
    _rewrap(media["nvc"], odd, **changes)
    code, _, err = nvc("decode", odd, tmp_path / output)
    one_line_error(code, err, what, output)
    assert_no_output(tmp_path)
    assert nvc("decode", odd, tmp_path / "out.y4m")[0] == 0  # y4m has no such limit


def test_a_picture_the_output_encoder_refuses_is_one_line(tmp_path, nvc):
    from tests.cli.media import make_y4m

    thin = make_y4m(tmp_path / "thin.y4m", frames=2, width=1, height=8)
    assert nvc("encode", thin, tmp_path / "thin.nvc", "--model", "synthetic:tiny:1")[0] == 0
    code, _, err = nvc("decode", tmp_path / "thin.nvc", tmp_path / "out.mkv")
    one_line_error(code, err, "1x8", "out.mkv")
    assert_no_output(tmp_path)


def _rewrap_packets(coded, out, change):
    """``coded`` with each packet passed through ``change(packet) -> packet`` (CRCs and index rewritten)."""
    from nvcodec.container import NvcReader, NvcWriter, VideoPacket

    with open(coded, "rb") as f:
        reader = NvcReader(f)
        packets = [change(p) for p in reader.packets()]
        with open(out, "wb") as o:
            writer = NvcWriter(o, reader.header, reader.audio)
            for packet in packets:
                if isinstance(packet, VideoPacket):
                    writer.write_video(packet.pts, packet.duration, packet.intra, packet.units)
                else:
                    writer.write_audio(packet)
            writer.close()


def test_the_parameter_set_is_checked_before_a_frame_is_decoded(media, tmp_path, nvc):
    lying = tmp_path / "lying.nvc"
    _rewrap(media["nvc"], lying, width=32)
    code, _, err = nvc("decode", lying, tmp_path / "out.mkv")
    one_line_error(code, err, "parameter set codes 64x48", "header says 32x48")
    assert_no_output(tmp_path)


@pytest.mark.parametrize("pts", [(1 << 63) - 1, -(1 << 62), 0])
def test_timestamps_out_of_order_or_range_are_stream_errors(media, tmp_path, nvc, pts):
    from nvcodec.container import VideoPacket

    odd = tmp_path / "odd.nvc"
    _rewrap_packets(media["nvc"], odd, lambda p: dataclasses.replace(p, pts=pts)
                    if isinstance(p, VideoPacket) and p.index == 2 else p)
    code, _, err = nvc("decode", odd, tmp_path / "out.mkv")
    one_line_error(code, err, "frame 2 has timestamp")
    assert_no_output(tmp_path)


def test_audio_out_of_order_is_a_stream_error_not_a_write_failure(media, tmp_path, nvc):
    from nvcodec.container import AudioPacket

    odd = tmp_path / "odd.nvc"
    _rewrap_packets(media["nvc"], odd, lambda p: dataclasses.replace(p, pts=0, dts=0)
                    if isinstance(p, AudioPacket) and p.pts and p.pts > 2048 else p)
    code, _, err = nvc("decode", odd, tmp_path / "out.mkv")
    one_line_error(code, err, "audio track 0")
    assert ".partial" not in err
    assert_no_output(tmp_path)


def test_a_tiny_frame_rate_keeps_a_readable_y4m_header(media, tmp_path, nvc):
    slow = tmp_path / "slow.nvc"
    _rewrap(media["nvc"], slow, frame_rate=Fraction(1, (1 << 32) - 1))
    assert nvc("decode", slow, tmp_path / "slow.y4m")[0] == 0
    assert (tmp_path / "slow.y4m").read_bytes().startswith(b"YUV4MPEG2 W64 H48 F1:4294967295 ")
