"""The .nvc container: round trip, pipes, cuts at every byte, damage, limits."""

import io
import math
import struct
from fractions import Fraction

import pytest

from nvcodec.container import AudioPacket, AudioTrack, ColorInfo, Header, NvcReader, NvcWriter, VideoPacket
from nvcodec.container import format as fmt
from nvcodec.errors import ConfigError, StreamError, TruncatedStreamError
from nvcodec.models.config import get_config
from nvcodec.settings import P_QP_OFFSET, CodingSettings

HEADER = Header("synthetic-tiny-seed1", "ab" * 32, "tiny", "cpu-avx2-t2", 33, 17, "420", ColorInfo(1, 1, 1, 1),
                Fraction(30000, 1001), Fraction(1, 90000), None,
                CodingSettings(qp_i=40, qp_p=30, intra_period=3, reset_interval=0, two_ec=True, skip_threshold=0.12),
                "yuv420p10le", 1)
TRACK = AudioTrack("aac", 48000, 2, Fraction(1, 48000), b"params")


class Pipe(io.RawIOBase):
    """A read-only, non-seekable stream handing out small pieces, like a pipe."""

    def __init__(self, data: bytes) -> None:
        self._data, self._pos = data, 0

    def readable(self):
        return True

    def seekable(self):
        return False

    def read(self, n=-1):
        n = min(n if n >= 0 else 1 << 30, 7)
        out = self._data[self._pos : self._pos + n]
        self._pos += len(out)
        return out


def build(frames: int = 7, seekable: bool = True) -> bytes:
    out = io.BytesIO()
    sink = out if seekable else _WriteOnly(out)
    writer = NvcWriter(sink, HEADER, [TRACK])
    for i in range(frames):
        writer.write_video(i * 3003, 3003, i % 3 == 0, bytes([0x10 | i % 3]) + bytes(range(i + 1)))
        writer.write_audio(AudioPacket(0, i * 1600 - 800, None, 1600, True, b"a" * i))
    writer.close()
    return out.getvalue()


class _WriteOnly(io.RawIOBase):
    def __init__(self, target):
        self._t = target

    def writable(self):
        return True

    def write(self, b):
        return self._t.write(b)

    def seekable(self):
        return False


def read_all(data: bytes, pipe: bool = False):
    reader = NvcReader(Pipe(data) if pipe else io.BytesIO(data))
    return reader, list(reader.packets())


@pytest.mark.parametrize("pipe", [False, True])
def test_round_trip(pipe):
    data = build(seekable=not pipe)
    reader, packets = read_all(data, pipe)
    h = reader.header
    assert h.frame_count == (None if pipe else 7)  # patched in place only where the writer could seek
    assert (h.width, h.height, h.chroma, h.color, h.frame_rate, h.time_base) == (33, 17, "420", ColorInfo(1, 1, 1, 1),
                                                                              Fraction(30000, 1001), Fraction(1, 90000))
    assert h.settings == HEADER.settings and h.source_pix_fmt == "yuv420p10le"
    assert reader.audio == [TRACK] and reader.audio[0].params == b"params"
    video = [p for p in packets if isinstance(p, VideoPacket)]
    audio = [p for p in packets if isinstance(p, AudioPacket)]
    assert [p.index for p in video] == list(range(7)) and [p.intra for p in video][:4] == [True, False, False, True]
    assert [p.pts for p in video] == [i * 3003 for i in range(7)]
    assert audio[0].pts == -800 and audio[0].dts is None and audio[3].data == b"aaa"
    assert reader.trailer.frame_count == 7 and reader.truncated_at is None
    assert [e.frame for e in reader.index] == [0, 3, 6]


def test_skip_threshold_none_and_auto_two_ec_survive():
    header = Header(**{**HEADER.__dict__, "settings": CodingSettings(qp_p=20, skip_threshold=None), "audio_tracks": 0})
    out = io.BytesIO()
    NvcWriter(out, header).close()
    settings = NvcReader(io.BytesIO(out.getvalue())).header.settings
    assert settings.skip_threshold is None and settings.two_ec is None
    assert not math.isnan(HEADER.settings.skip_threshold)


def _header_settings(settings: CodingSettings) -> CodingSettings:
    out = io.BytesIO()
    NvcWriter(out, Header(**{**HEADER.__dict__, "settings": settings, "audio_tracks": 0})).close()
    return NvcReader(io.BytesIO(out.getvalue())).header.settings


def test_the_header_records_the_p_qp_the_stream_was_coded_with(monkeypatch):
    plain = get_config("tiny").inter  # no pixel gate: no block skip, P frames 12 under
    assert _header_settings(CodingSettings(qp_i=40).resolve(plain)).qp_p == 40 - P_QP_OFFSET
    assert _header_settings(CodingSettings(qp_i=5).resolve(plain)).qp_p == 0
    assert _header_settings(CodingSettings(qp_i=40, qp_p=45)).qp_p == 45
    # the default P qp depends on the model, so settings that were never resolved cannot be written
    with pytest.raises(ConfigError, match="resolved"):
        _header_settings(CodingSettings(qp_i=40))
    # streams from before the offset wrote 255 for "the same as qp_i", and were coded so
    monkeypatch.setattr(CodingSettings, "base_qp_p", property(lambda s: fmt.LEGACY_SAME_QP))
    legacy = _header_settings(CodingSettings(qp_i=40))
    monkeypatch.undo()
    assert legacy.qp_p == 40 and legacy.base_qp_p == 40


def test_seek_through_the_index():
    data = build()
    reader = NvcReader(io.BytesIO(data))
    entries = reader.read_index()
    reader.seek_to(entries[1])
    video = [p.index for p in reader.packets() if isinstance(p, VideoPacket)]
    assert video == [3, 4, 5, 6] and reader.trailer is not None


def test_every_cut_keeps_the_complete_frames():
    data = build()
    full = [p for p in read_all(data)[1] if isinstance(p, VideoPacket)]
    header_end = full[0].offset
    for cut in range(len(data)):
        if cut < header_end:
            with pytest.raises(StreamError):
                read_all(data[:cut])
            continue
        reader, packets = read_all(data[:cut])
        video = [p for p in packets if isinstance(p, VideoPacket)]
        assert video == full[: len(video)]
        assert reader.truncated_at is not None and reader.truncated_at <= cut


def test_header_cut_is_truncated_error():
    with pytest.raises(TruncatedStreamError):
        NvcReader(io.BytesIO(build()[:30]))


def test_every_flipped_bit_in_a_chunk_is_caught():
    """Every single-bit flip after the preamble is an error or, at most, looks like a cut; never silent."""
    data = build(frames=3)
    good = read_all(data)[1]
    for at in range(fmt.PREAMBLE_SIZE, len(data)):
        bad = bytearray(data)
        bad[at] ^= 0x08
        try:
            reader, packets = read_all(bytes(bad))
        except StreamError:
            continue
        assert reader.truncated_at is not None or packets == good, at
        assert packets == good[: len(packets)], at


def test_unknown_chunks():
    """Ancillary chunks (lower-case tag) from later versions are skipped; unknown critical ones refused."""
    data = build(frames=1)
    tend = len(data) - fmt.TEND_SIZE
    ancillary = struct.pack(">I", 3) + b"note" + b"abc" + struct.pack(">I", fmt.crc32(b"note", b"abc"))
    critical = struct.pack(">I", 3) + b"NOTE" + b"abc" + struct.pack(">I", fmt.crc32(b"NOTE", b"abc"))
    with pytest.raises(StreamError, match="unknown critical chunk"):
        read_all(data[:tend] + critical + data[tend:])
    reader, packets = read_all(data[:tend] + ancillary + data[tend:])
    assert reader.trailer is not None and len(packets) == 2


def test_signature_and_version():
    data = build(frames=1)
    with pytest.raises(StreamError, match="signature"):
        NvcReader(io.BytesIO(b"X" + data[1:]))
    with pytest.raises(StreamError, match="version 2"):
        NvcReader(io.BytesIO(data[:8] + b"\x02" + data[9:]))


def test_writer_refuses_a_p_frame_first():
    with pytest.raises(ValueError):
        NvcWriter(io.BytesIO(), HEADER, [TRACK]).write_video(0, 1, False, b"\x20")
