"""Hostile and broken inputs: exit 1, one line on stderr, no output left behind, no hang."""

import os
import struct
import subprocess
import sys

import pytest

from nvcodec.container import NvcReader
from tests.cli.conftest import MODEL


def one_line_error(code, err, *words):
    lines = err.strip().splitlines()
    assert code == 1, err
    assert len(lines) == 1 and lines[0].startswith("nvc: "), err
    for word in words:
        assert word in lines[0], lines[0]


def assert_no_output(folder):
    assert [p for p in os.listdir(folder) if p.startswith(("out", ".out"))] == []


def layout(path):
    """Offsets of the HEAD body, the first and second VPKT chunks and the INDX chunk."""
    with open(path, "rb") as f:
        reader = NvcReader(f)
        index = reader.read_index()
        packets = [p for p in reader.packets() if hasattr(p, "units")]
        return {"head": 10 + 8 + 4, "packet": packets[1].offset, "index": reader.trailer.index_offset,
                "first_packet": index[0].offset}


@pytest.mark.parametrize("content", [b"", b"this is not a video at all\n" * 20])
def test_encode_non_video_and_empty(tmp_path, nvc, content):
    bad = tmp_path / "bad.mp4"
    bad.write_bytes(content)
    code, _, err = nvc("encode", bad, tmp_path / "out.nvc", *MODEL)
    one_line_error(code, err, "bad.mp4")
    assert_no_output(tmp_path)


def test_encode_missing_input(tmp_path, nvc):
    code, _, err = nvc("encode", tmp_path / "nope.mp4", tmp_path / "out.nvc", *MODEL)
    one_line_error(code, err, "no such file")
    assert_no_output(tmp_path)


@pytest.mark.parametrize("content", [b"", b"\x8bNVC\r\n", b"RIFF1234WAVEfmt "])
def test_decode_empty_or_foreign_file(tmp_path, nvc, content):
    bad = tmp_path / "bad.nvc"
    bad.write_bytes(content)
    code, _, err = nvc("decode", bad, tmp_path / "out.mkv")
    one_line_error(code, err)
    assert_no_output(tmp_path)


def test_truncated_in_header_is_an_error(media, tmp_path, nvc):
    cut = tmp_path / "cut.nvc"
    cut.write_bytes(media["nvc"].read_bytes()[:40])
    code, _, err = nvc("decode", cut, tmp_path / "out.mkv")
    one_line_error(code, err, "ends inside")
    assert_no_output(tmp_path)


def test_truncated_mid_stream_decodes_complete_frames_with_a_warning(media, tmp_path, nvc):
    data = media["nvc"].read_bytes()
    offsets = layout(media["nvc"])
    cut = tmp_path / "cut.nvc"
    cut.write_bytes(data[: offsets["packet"] + 5])  # inside the second frame's chunk
    code, _, err = nvc("decode", cut, tmp_path / "out.mkv")
    assert code == 0, err
    assert "cut off" in err and "1 complete frames" in err
    code, _, err = nvc("decode", cut, tmp_path / "out2.mkv", "--strict")
    one_line_error(code, err, "cut off")
    assert not (tmp_path / "out2.mkv").exists()


@pytest.mark.parametrize("region", ["head", "first_packet", "packet", "index"])
@pytest.mark.parametrize("delta", [12, 0])  # 12: inside the chunk body; 0: the chunk's length field
def test_flipped_bytes_are_refused(media, tmp_path, nvc, region, delta):
    data = bytearray(media["nvc"].read_bytes())
    at = layout(media["nvc"])[region] + (delta if region != "head" else delta - 12)
    data[at] ^= 0x40
    bad = tmp_path / "bad.nvc"
    bad.write_bytes(bytes(data))
    code, _, err = nvc("decode", bad, tmp_path / "out.mkv")
    one_line_error(code, err)
    assert_no_output(tmp_path)


def test_wrong_model_is_refused(media, tmp_path, nvc):
    code, _, err = nvc("decode", media["nvc"], tmp_path / "out.mkv", "--model", "synthetic:tiny:2")
    one_line_error(code, err, "encoded with model", "synthetic-tiny-seed1")
    assert_no_output(tmp_path)


@pytest.mark.parametrize(("text", "key"), [
    ("[encode]\nqp = 99\n", "encode.qp"),
    ("[encode]\nqpp = 3\n", "encode.qpp"),
    ("[encode\nqp = 3\n", "valid TOML"),
    ("[[rung]]\nname = 'a'\n", "a qp or a bitrate"),
])
def test_malformed_preset_names_the_key(media, tmp_path, nvc, text, key):
    preset = tmp_path / "bad.toml"
    preset.write_text(text)
    command = "ladder" if "rung" in text else "encode"
    code, _, err = nvc(command, media["clip"], tmp_path / "out.nvc", "--preset", preset, *MODEL)
    one_line_error(code, err, key)
    assert_no_output(tmp_path)


def test_unknown_preset_name(media, tmp_path, nvc):
    code, _, err = nvc("encode", media["clip"], tmp_path / "out.nvc", "--preset", "nope", *MODEL)
    one_line_error(code, err, "balanced")


def test_bad_option_values_exit_1(media, tmp_path, nvc):
    one_line_error(*nvc("encode", media["clip"], tmp_path / "out.nvc", "-q", "64")[::2])
    one_line_error(*nvc("encode", media["clip"], tmp_path / "out.nvc", "--ss", "soon")[::2])
    one_line_error(*nvc("encode", media["clip"], tmp_path / "out.nvc", "--pix-fmt", "yuv422p", *MODEL)[::2])
    assert_no_output(tmp_path)


def test_decode_to_unknown_format(media, tmp_path, nvc):
    code, _, err = nvc("decode", media["nvc"], tmp_path / "out.unknownext")
    one_line_error(code, err, "output")
    assert_no_output(tmp_path)


def test_help_does_not_import_torch():
    code = ("import sys; from nvcodec_cli.main import main; rc = main(['--help']); "
            "bad = [m for m in ('torch', 'av', 'numpy', 'rich') if m in sys.modules]; "
            "print(bad); sys.exit(rc)")
    run = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert run.returncode == 0, run.stderr
    assert run.stdout.strip().splitlines()[-1] == "[]"


def test_no_two_options_share_a_flag():
    from nvcodec_cli.main import cli

    for name, command in cli.commands.items():
        flags = [flag for p in command.params for flag in (*p.opts, *p.secondary_opts) if flag.startswith("-")]
        assert len(flags) == len(set(flags)), f"{name}: {sorted(flags)}"


def test_container_limits_checked_before_reading(tmp_path):
    """A chunk that declares 4 GiB is refused at its header, without reading or allocating."""
    from nvcodec.container import format as fmt
    from nvcodec.errors import StreamError

    data = fmt.SIGNATURE + bytes(fmt.VERSION) + struct.pack(">I4s", 0xFFFFFFF0, b"HEAD")
    with pytest.raises(StreamError, match="limit"):
        NvcReader(__import__("io").BytesIO(data))


def test_raw_input_without_a_size(tmp_path, nvc):
    raw = tmp_path / "in.yuv"
    raw.write_bytes(bytes(64 * 48 * 3 // 2))
    code, _, err = nvc("encode", raw, tmp_path / "out.nvc", *MODEL)
    one_line_error(code, err, "in.yuv: raw video input needs its frame size (-s WxH")
    assert_no_output(tmp_path)
