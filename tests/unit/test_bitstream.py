import pytest

from nvcodec.bitstream import (
    FrameType,
    FrameUnit,
    SpsUnit,
    read_adaptive_uint,
    read_units,
    write_adaptive_uint,
)
from nvcodec.bitstream.units import AUINT_MAX
from nvcodec.errors import StreamError, TruncatedStreamError


@pytest.mark.parametrize(
    "value,size",
    [(0, 1), (127, 1), (128, 2), (2**14 - 1, 2), (2**14, 4), (AUINT_MAX, 4)],
)
def test_adaptive_uint_edges(value, size):
    data = write_adaptive_uint(value)
    assert len(data) == size
    assert read_adaptive_uint(data, 0) == (value, size)


def test_adaptive_uint_known_bytes():
    assert write_adaptive_uint(240) == bytes([0x80, 0xF0])
    assert write_adaptive_uint(416) == bytes([0x81, 0xA0])


@pytest.mark.parametrize("value", [-1, AUINT_MAX + 1])
def test_adaptive_uint_out_of_range(value):
    with pytest.raises(ValueError):
        write_adaptive_uint(value)


def test_units_round_trip():
    units = [
        SpsUnit(0, 240, 416, False, False),
        FrameUnit(FrameType.I, 0, 40, b"\x01\x02\x03"),
        SpsUnit(1, 240, 416, True, True),
        FrameUnit(FrameType.P, 1, 71, bytes(300)),
    ]
    data = b"".join(u.to_bytes() for u in units)
    assert data[:5] == bytes([0x00, 0x80, 0xF0, 0x81, 0xA0])
    assert list(read_units(data)) == units


def test_every_truncation_raises_typed_error():
    sps = SpsUnit(0, 1080, 1920, False, False).to_bytes()
    data = sps + FrameUnit(FrameType.I, 0, 3, bytes(200)).to_bytes()
    for cut in range(1, len(data)):
        if cut == len(sps):
            assert len(list(read_units(data[:cut]))) == 1  # a unit boundary: a shorter, valid stream
            continue
        with pytest.raises(TruncatedStreamError):
            list(read_units(data[:cut]))


def test_corrupt_units_raise_stream_error():
    with pytest.raises(StreamError):
        list(read_units(bytes([0x30, 0x00])))  # unknown unit type 3
    with pytest.raises(StreamError):
        list(read_units(bytes([0x00, 0x10, 0x10, 0xFF])))  # reserved SPS flag bits
    with pytest.raises(StreamError):
        list(read_units(bytes([0x00, 0x00, 0x10, 0x00])))  # zero height
    # a length field claiming far more bytes than exist must not allocate or read past the end
    with pytest.raises(TruncatedStreamError):
        list(read_units(bytes([0x10, 0x05, 0xFF, 0xFF, 0xFF, 0xFF, 0x00])))
